"""kube-rs issue 1562 with the real kube crate (and the Python client) against the Go Kubernetes API."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tlsmatrix.stacks.classify import classify
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.model.core import Job, Outcome
from tlsmatrix.running.runner import RunOptions, run_cells
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack
from .conftest import run_scenario, spec

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
#: the report's program without a provider panics before connecting: it has its own tests below
CRASHING = {"kube-0.93-two-providers"}
#: the Kubernetes clients that connect at all: every negative control runs for each of them
KUBE_CLIENTS = [name for name, c in CLIENTS.items() if c.needs_app == "kubernetes" and name not in CRASHING]
PANIC = ("panicked at ", "/rustls-0.23.12/src/crypto/mod.rs:",
         ": no process-level CryptoProvider available -- call CryptoProvider::install_default() before this point")


@pytest.fixture(scope="module")
def report(pki_cache):
    return run_scenario(pki_cache, "kube-rs-1562.toml")


def outcome(report, client, chain_prefix, tls="1.3"):
    [r] = [r for r in report.results
           if r.cell.client == client and r.cell.chain.label.startswith(chain_prefix) and r.cell.tls == tls]
    return r


def test_every_cell_matches_the_scenario(report):
    assert [(r.cell.id, r.outcome.value, r.error) for r in report.results if r.verdict != "match"] == []


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_the_report_reproduced(report, tls):
    """0.93.1 rustls fails on a P-521 CA; openssl-tls and 0.94 aws-lc-rs list the pods."""
    failing = outcome(report, "kube-0.93-rustls", "CA signature", tls)
    assert failing.outcome is Outcome.UNSUPPORTED_ALGORITHM
    assert failing.error.startswith("ServiceError: client error (Connect): invalid peer certificate: UnsupportedSignature")
    assert outcome(report, "kube-0.93-rustls-2024-08", "CA signature", tls).error == \
        "ServiceError: client error (Connect): invalid peer certificate: BadSignature"
    for fixed in ("kube-0.93-openssl", "kube-0.94-aws-lc-rs", "kube-latest-aws-lc-rs", "kubernetes-python"):
        ok = outcome(report, fixed, "CA signature", tls)
        assert ok.outcome is Outcome.OK and ok.negotiated["pods"] == 3, (fixed, ok.error)
    assert report.clients["kube-0.93-rustls"].info.version == "0.93.1"
    assert report.clients["kube-0.94-aws-lc-rs"].info.provider == "aws-lc-rs"


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_a_p521_client_certificate_key_fails_with_ring_only(report, tls):
    """The kubeconfig's client key is P-521 (server chain P-256): ring refuses the key before connecting."""
    for failing in ("kube-0.93-rustls", "kube-0.93-rustls-2024-08", "kube-latest-rustls"):
        r = outcome(report, failing, "client certificate key", tls)
        assert r.outcome is Outcome.UNSUPPORTED_ALGORITHM
        assert r.error == ("rustls tls error: invalid private key: unexpected error: "
                           "failed to parse private key as RSA, ECDSA, or EdDSA"), r.error
        assert outcome(report, failing, "client certificate (control)", tls).outcome is Outcome.OK
    for fixed in ("kube-0.93-openssl", "kube-0.94-aws-lc-rs", "kube-latest-aws-lc-rs", "kubernetes-python"):
        ok = outcome(report, fixed, "client certificate key", tls)
        assert ok.outcome is Outcome.OK and ok.error is None and ok.negotiated["pods"] == 3, (fixed, ok.error)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("chain", ["control", "CA signature", "whole chain", "client certificate key"])
def test_the_reporters_fix_program_as_written(report, chain, tls):
    """kube 0.93.1 + rustls 0.23.12 (ring and aws-lc-rs compiled in): with install_default() first
    the pods are listed; without it rustls has no process default and the program panics."""
    fixed = outcome(report, "kube-0.93-install-aws-lc-rs", chain, tls)
    assert fixed.outcome is Outcome.OK and fixed.error is None and fixed.negotiated["pods"] == 3, fixed.error
    crashed = outcome(report, "kube-0.93-two-providers", chain, tls)
    assert crashed.outcome is Outcome.CRASH, crashed.error
    assert crashed.error.startswith("crash: thread 'main' panicked at ") and all(p in crashed.error for p in PANIC)
    assert "thread 'main' (" in crashed.error_detail  # stderr as printed, thread id included


def test_the_fix_programs_report_the_locked_versions(report):
    for name, provider in (("kube-0.93-install-aws-lc-rs", "aws-lc-rs (installed by main)"),
                           ("kube-0.93-two-providers", "none installed: ring + aws-lc-rs compiled in")):
        hello = report.clients[name].info.to_json()
        assert (hello["stack"], hello["version"], hello["provider"]) == ("kube-rs", "0.93.1", provider)
        assert {k: hello["details"][k] for k in ("rustls", "rustls-webpki", "ring")} == {
            "rustls": "0.23.12", "rustls-webpki": "0.102.6", "ring": "0.17.8"}
        assert hello["details"]["aws-lc-rs"]


def test_without_a_provider_the_program_crashes_even_against_no_server(pki_cache, tmp_path):
    """The panic comes from Client::try_from, before any connection: a closed port changes nothing."""
    require_stack(CLIENTS["kube-0.93-two-providers"])
    files = pki_cache.chain(spec("P-256", "P-256"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the job runs
    with ProbeSession(CLIENTS["kube-0.93-two-providers"]) as session:
        r = session.run(Job("1", "127.0.0.1", port, "localhost", str(files.ca_file), None, 10_000))
    assert classify("kube", r).outcome is Outcome.CRASH and all(p in r.error for p in PANIC), r


def test_no_placement_gives_unknown_issuer(report):
    assert not [r.cell.id for r in report.results if r.error and "UnknownIssuer" in r.error]


@pytest.mark.parametrize("client", KUBE_CLIENTS)
def test_wrong_ca_fails_for_every_kubernetes_client(pki_cache, trustme_chain, client):
    require_stack(CLIENTS[client])
    require_stack(SERVERS["go"])
    files = pki_cache.chain(spec("P-256", "P-256"))
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("K", files, "1.3", "kubernetes")]) as ep, \
            ProbeSession(CLIENTS[client]) as session:
        port = ep.listeners["K"].port
        good = session.run(Job("1", "127.0.0.1", port, "localhost", str(files.ca_file), None, 10_000))
        assert good.ok and good.negotiated["pods"] == 3, good
        bad = session.run(Job("2", "127.0.0.1", port, "localhost", str(trustme_chain.ca_file), None, 10_000))
    c = classify(CLIENTS[client].family, bad)
    assert c.outcome is Outcome.UNTRUSTED, bad
    if client == "kube-0.93-install-aws-lc-rs":  # the report's program says exactly what the issue quotes
        assert bad.error == "ServiceError: client error (Connect): invalid peer certificate: UnknownIssuer"


def test_probe_a_kubernetes_endpoint_with_kube_clients(pki_cache, tmp_path):
    """`tlsmatrix probe HOST:PORT --ca CA --clients kube-…`: what a user runs against a real cluster."""
    import json
    import os
    import subprocess
    import sys

    names = ["kube-0.93-rustls", "kube-0.93-openssl", "kube-0.94-aws-lc-rs"]
    for name in names:
        require_stack(CLIENTS[name])
    files = pki_cache.chain(spec("P-521", "P-256"))
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("K", files, None, "kubernetes")]) as ep:
        r = subprocess.run([sys.executable, "-m", "tlsmatrix", "probe", f"127.0.0.1:{ep.listeners['K'].port}",
                            "--ca", str(files.ca_file), "--servername", "localhost", "--clients", ",".join(names),
                            "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    got = {x["client"]: x["outcome"] for x in json.loads(r.stdout)["results"]}
    assert got == {"kube-0.93-rustls": "unsupported_algorithm", "kube-0.93-openssl": "ok", "kube-0.94-aws-lc-rs": "ok"}


def test_serve_hands_out_kubeconfigs_that_real_clients_read(tmp_path):
    """`tlsmatrix serve`: endpoints stay up and each gets a kubeconfig; Ctrl-C stops and removes them."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import yaml

    for name in ("kube-0.93-rustls", "kube-0.94-aws-lc-rs", "kubernetes-python"):
        require_stack(CLIENTS[name])
    require_stack(SERVERS["go"])
    out = tmp_path / "serve"
    proc = subprocess.Popen([sys.executable, "-m", "tlsmatrix", "serve", str(ROOT / "scenarios" / "kube-rs-1562.toml"),
                             "--chain", "client certificate key*,CA signature*", "--tls", "1.3", "--output", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path)))
    try:
        deadline = time.monotonic() + 60
        while not (out / "endpoints.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "serve did not write endpoints.json"
            time.sleep(0.2)
        doc = json.loads((out / "endpoints.json").read_text())
        eps = {e["chain"].split(":")[0]: e for e in doc["endpoints"]}
        assert set(eps) == {"client certificate key", "CA signature"} and all(e["tls"] == "1.3" for e in eps.values())
        mtls = eps["client certificate key"]
        kc = yaml.safe_load(open(mtls["kubeconfig"]))
        assert kc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{mtls['port']}"
        assert kc["users"][0]["user"]["client-certificate-data"]
        outcomes = {}
        for name in ("kube-0.93-rustls", "kube-0.94-aws-lc-rs", "kubernetes-python"):
            with ProbeSession(CLIENTS[name]) as session:
                for chain, e in eps.items():
                    # only the kubeconfig carries what is needed: the job's other fields point nowhere useful
                    job = Job("1", "127.0.0.1", 9, "wrong.example", e["ca_file"], None, 10_000,
                              kubeconfig=e["kubeconfig"])
                    r = session.run(job)
                    outcomes[(name, chain)] = (classify(CLIENTS[name].family, r).outcome, r.negotiated, r.error)
        assert outcomes[("kube-0.94-aws-lc-rs", "client certificate key")][:2] == (Outcome.OK, {
            "version": None, "cipher": None, "group": None, "sigalg": None, "pods": 3})
        assert outcomes[("kubernetes-python", "client certificate key")][0] is Outcome.OK
        assert outcomes[("kube-0.93-rustls", "client certificate key")][0] is Outcome.UNSUPPORTED_ALGORITHM
        assert outcomes[("kube-0.93-rustls", "CA signature")][0] is Outcome.UNSUPPORTED_ALGORITHM
        assert outcomes[("kubernetes-python", "CA signature")][0] is Outcome.OK
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "client certificate key" in stdout and "kubectl --kubeconfig" in stdout
    assert not out.exists()  # files naming dead ports are gone
    for e in eps.values():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", e["port"]), timeout=2).close()


def test_matrix_writes_the_kubeconfigs_its_clients_read(pki_cache, tmp_path):
    import yaml

    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec, Cell

    require_stack(CLIENTS["kubernetes-python"])
    require_stack(SERVERS["go"])
    chain = ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256")), client_cert=KeySpec("P-384"))
    cells = [Cell("t", chain, "go", tls, "kubernetes-python", app="kubernetes") for tls in ("1.2", "1.3")]
    report = run_cells(cells, pki_cache, RunOptions(kubeconfig_dir=tmp_path / "kc"))
    assert [r.outcome for r in report.results] == [Outcome.OK, Outcome.OK], [r.error for r in report.results]
    files = sorted(p.name for p in (tmp_path / "kc").iterdir())
    assert files == ["P-256-to-P-256-client-P-384.tls1.2.go.yaml", "P-256-to-P-256-client-P-384.tls1.3.go.yaml"]
    kc = yaml.safe_load((tmp_path / "kc" / files[0]).read_text())
    assert kc["users"][0]["user"]["client-key-data"] and kc["clusters"][0]["cluster"]["tls-server-name"] == "localhost"


@pytest.mark.parametrize("client", KUBE_CLIENTS)
def test_without_a_client_certificate_the_api_refuses_after_a_good_handshake(pki_cache, client):
    """As on a real cluster: no credentials → 403 Forbidden, which is TLS ok, with the API's words kept."""
    require_stack(CLIENTS[client])
    require_stack(SERVERS["go"])
    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256")),
                                      client_cert=KeySpec("P-256")))
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("K", files, "1.3", "kubernetes")]) as ep, \
            ProbeSession(CLIENTS[client]) as session:
        port = ep.listeners["K"].port
        anonymous = session.run(Job("1", "127.0.0.1", port, "localhost", str(files.ca_file), None, 10_000))
        admin = session.run(Job("2", "127.0.0.1", port, "localhost", str(files.ca_file), None, 10_000,
                                str(files.client_cert_file), str(files.client_key_file)))
    assert not anonymous.ok and "403" in anonymous.error and "Forbidden" in anonymous.error, anonymous
    c = classify(CLIENTS[client].family, anonymous)
    assert c.outcome is Outcome.OK and c.short == "TLS ok; API answered HTTP 403", (c, anonymous.error)
    assert admin.ok and admin.negotiated["pods"] == 3, admin


def test_probe_with_and_without_client_certificate(pki_cache, tmp_path):
    """A cluster that wants credentials: anonymous gets 403 (TLS ok), --client-cert lists the pods;
    ring cannot use a P-521 client key; a non-mTLS stack is skipped with the reason."""
    import json
    import os
    import subprocess
    import sys

    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

    names = ["kube-0.93-rustls", "kube-0.94-aws-lc-rs", "kubernetes-python"]
    for name in names:
        require_stack(CLIENTS[name])
    require_stack(CLIENTS["gnutls-cli"])
    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256")),
                                      client_cert=KeySpec("P-521")))

    def probe(port, *extra):
        r = subprocess.run([sys.executable, "-m", "tlsmatrix", "probe", f"127.0.0.1:{port}", "--ca", str(files.ca_file),
                            "--servername", "localhost", "--clients", ",".join(names), "--format", "json", *extra],
                           cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path)))
        assert r.returncode == 0, r.stderr
        return {x["client"]: x for x in json.loads(r.stdout)["results"]}

    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("K", files, None, "kubernetes")]) as ep:
        port = ep.listeners["K"].port
        anonymous = probe(port)
        with_cert = probe(port, "--client-cert", str(files.client_cert_file), "--client-key", str(files.client_key_file))
        names.append("gnutls-cli")
        gnutls = probe(port, "--client-cert", str(files.client_cert_file), "--client-key", str(files.client_key_file))
    for name in ("kube-0.93-rustls", "kube-0.94-aws-lc-rs", "kubernetes-python"):
        assert anonymous[name]["outcome"] == "ok" and "403" in anonymous[name]["error"], anonymous[name]
        assert anonymous[name]["short_error"] == "TLS ok; API answered HTTP 403"
    assert with_cert["kube-0.94-aws-lc-rs"]["outcome"] == "ok" and with_cert["kube-0.94-aws-lc-rs"]["error"] is None
    assert with_cert["kubernetes-python"]["negotiated"]["pods"] == 3
    assert with_cert["kube-0.93-rustls"]["outcome"] == "unsupported_algorithm"
    assert gnutls["gnutls-cli"]["outcome"] == "skipped" and "presents no client certificate" in gnutls["gnutls-cli"]["error"]


def test_probe_rejects_half_given_or_unreadable_client_credentials(tmp_path, pki_cache):
    import subprocess
    import sys

    files = pki_cache.chain(spec("P-256", "P-256"))
    base = [sys.executable, "-m", "tlsmatrix", "probe", "127.0.0.1:1", "--ca", str(files.ca_file)]
    half = subprocess.run([*base, "--client-cert", str(files.leaf_file)], cwd=ROOT, capture_output=True, text=True)
    assert half.returncode == 2 and "--client-cert and --client-key go together" in half.stderr
    missing = subprocess.run([*base, "--client-cert", str(tmp_path / "nope.pem"), "--client-key", str(files.key_file)],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "--client-cert" in missing.stderr and "nope.pem" in missing.stderr


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("client", KUBE_CLIENTS)
def test_a_client_certificate_from_another_ca_fails_for_every_kubernetes_client(pki_cache, tmp_path, client, tls):
    """The mTLS negative control: the API server refuses a client certificate it cannot verify."""
    import trustme

    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

    require_stack(CLIENTS[client])
    require_stack(SERVERS["go"])
    ca = trustme.CA(organization_name="tlsmatrix TEST foreign client CA")
    foreign = ca.issue_cert("tlsmatrix-test-client")
    foreign.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    foreign.private_key_pem.write_to_path(str(tmp_path / "TEST-ONLY-client-key.pem"))
    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256")),
                                      client_cert=KeySpec("P-256")))
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("K", files, tls, "kubernetes")]) as ep, \
            ProbeSession(CLIENTS[client]) as session:
        port = ep.listeners["K"].port
        r = session.run(Job("1", "127.0.0.1", port, "localhost", str(files.ca_file), None, 10_000,
                            str(tmp_path / "client.pem"), str(tmp_path / "TEST-ONLY-client-key.pem")))
    c = classify(CLIENTS[client].family, r, client_cert=True)
    assert not r.ok and c.outcome is Outcome.HANDSHAKE_FAILURE, (c, r.error)
    # the server's bad_certificate alert, or (TLS 1.3, under load) hyper's canceled request once the
    # server closed after that alert (tlsmatrix.stacks.classify.classify)
    assert ("badcertificate" in r.error.lower().replace(" ", "") or "connection was not ready" in r.error), r.error
