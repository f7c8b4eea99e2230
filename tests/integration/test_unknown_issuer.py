"""Where `UnknownIssuer` comes from: scenarios/unknown-issuer.toml (every chain defect, every
client stack and the Kubernetes clients, real handshakes), and the diagnosis that names the
defect on a live endpoint (`tlsmatrix probe` / `tlsmatrix diagnose`)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.defects import DEFECTS
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec, Outcome
from tlsmatrix.running.scenarios import load_scenario
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack
from .conftest import run_scenario
from .test_cli import cli_env, tlsmatrix  # noqa: F401  (module fixture)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
P256 = CertSpec(KeySpec("P-256"))


@pytest.fixture(scope="module")
def report(pki_cache):
    return run_scenario(pki_cache, "unknown-issuer.toml")


def by_chain(report, label: str) -> dict[tuple[str, str], object]:
    out = {(r.cell.client, r.cell.tls): r for r in report.results if r.cell.chain.label == label}
    assert out, label
    return out


def test_every_cell_matches_its_measured_expectation(report):
    bad = [(r.cell.id, r.outcome.value, r.error) for r in report.results if r.verdict != "match"]
    assert bad == []
    # every defect of the path (scenarios/certificate-verdicts.toml has the certificate-verdict ones)
    verdicts = load_scenario(ROOT / "scenarios" / "certificate-verdicts.toml", CLIENTS, SERVERS)
    assert {r.cell.chain.defect for r in report.results} | {c.defect for c in verdicts.chains} >= set(DEFECTS)


@pytest.mark.parametrize("label", ["issuer name: PrintableString vs UTF8String", "issuer name: case differs",
                                   "issuer name: whitespace differs"])
def test_the_reported_text_where_openssl_accepts_the_chain(report, label):
    """kube-rs issue 1562's words, from rustls and kube-rs on rustls, where OpenSSL (and the
    OpenSSL-based Kubernetes clients) list pods with the same CA data."""
    cells = by_chain(report, label)
    for tls in ("1.2", "1.3"):
        for client in ("openssl", "kube-0.93-openssl", "kubernetes-python"):
            assert cells[(client, tls)].outcome is Outcome.OK, cells[(client, tls)].error
        for client in ("rustls-ring", "rustls-aws-lc-rs", "rustls-ring@0.23.12"):
            assert cells[(client, tls)].error == "invalid peer certificate: UnknownIssuer"
        for client in ("kube-0.93-rustls", "kube-0.93-rustls-2024-08", "kube-0.94-aws-lc-rs"):
            r = cells[(client, tls)]
            assert r.error.endswith("invalid peer certificate: UnknownIssuer"), r.error
            assert r.finding == "issuer-name-encoding"


def test_failing_cells_name_the_defect_that_breaks_them(report):
    named = [r for r in report.results if r.cell.chain.defect and r.outcome not in (Outcome.OK, Outcome.CRASH)]
    assert named
    for r in named:
        assert r.finding == DEFECTS[r.cell.chain.defect].finding_id, (r.cell.id, r.finding)


@pytest.fixture(scope="module")
def defect_endpoint(pki_cache):
    """A Go server presenting a chain with each defect (one listener per defect)."""
    require_stack(SERVERS["go"])
    files = {d.id: pki_cache.chain(ChainSpec(P256, P256, (P256,) * max(d.min_intermediates, 0), defect=d.id))
             for d in DEFECTS.values()}
    specs = [ListenerSpec(d, f, "1.3") for d, f in files.items()]
    with ProcessEndpoint(SERVERS["go"], specs) as endpoint:
        yield endpoint, files


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_diagnose_names_each_defect_on_a_live_endpoint(cli_env, defect_endpoint, defect):
    endpoint, files = defect_endpoint
    port = endpoint.listeners[defect].port
    r = tlsmatrix("diagnose", f"127.0.0.1:{port}", "--ca", files[defect].ca_file, "--servername", "localhost",
                  "--format", "json", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert [f["id"] for f in json.loads(r.stdout)["diagnosis"]] == [DEFECTS[defect].finding_id]


def test_probe_json_carries_the_diagnosis(cli_env, defect_endpoint):
    require_stack(CLIENTS["rustls-ring"])
    endpoint, files = defect_endpoint
    port = endpoint.listeners["issuer-name-string-type"].port
    r = tlsmatrix("probe", f"127.0.0.1:{port}", "--ca", files["issuer-name-string-type"].ca_file, "--servername",
                  "localhost", "--clients", "openssl,rustls-ring", "--format", "json", env=cli_env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (finding,) = doc["diagnosis"]
    assert finding["id"] == "issuer-name-encoding" and set(finding) == {"id", "detail", "certificates", "affects"}
    results = {x["client"]: x for x in doc["results"]}
    assert results["openssl"]["outcome"] == "ok" and results["openssl"]["finding"] is None
    assert results["rustls-ring"]["error"] == "invalid peer certificate: UnknownIssuer"
    assert results["rustls-ring"]["finding"] == "issuer-name-encoding"
    table = tlsmatrix("probe", f"127.0.0.1:{port}", "--ca", files["issuer-name-string-type"].ca_file,
                      "--servername", "localhost", "--clients", "rustls-ring", env=cli_env)
    assert "[issuer-name-encoding]" in table.stdout and "PrintableString vs UTF8String" in table.stdout


def test_diagnose_a_chain_file_and_bad_input(cli_env, pki_cache):
    files = pki_cache.chain(ChainSpec(P256, P256))
    r = tlsmatrix("diagnose", "--ca", files.ca_file, "--chain", files.cert_file, env=cli_env)
    assert r.returncode == 0 and "no finding" in r.stdout, r.stdout + r.stderr
    for args, needle in ((["--ca", files.ca_file], "either HOST:PORT or --chain"),
                         (["--ca", "/nonexistent.pem", "--chain", files.cert_file], "/nonexistent.pem"),
                         (["--ca", Path(__file__), "--chain", files.cert_file], "no PEM certificate")):
        r = tlsmatrix("diagnose", *args, env=cli_env)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_bundle_of_a_defect_cell_carries_the_exact_chain(cli_env, tmp_path):
    import tarfile

    out = tmp_path / "run"
    r = tlsmatrix("matrix", Path(__file__).resolve().parents[2] / "scenarios" / "unknown-issuer.toml", "-q",
                  "--clients", "openssl,rustls-ring", "--tls", "1.3", "--output", out, env=cli_env)
    assert r.returncode == 0, r.stderr
    cell = "unknown-issuer|issuer name: case differs|1.3|go|rustls-ring"
    for with_keys in (False, True):
        tarball = tmp_path / f"b{with_keys}.tar.gz"
        r = tlsmatrix("bundle", out, "--cell", cell, "-o", tarball, *(["--with-keys"] if with_keys else []), env=cli_env)
        assert r.returncode == 0, r.stderr
        dest = tmp_path / f"x{with_keys}"
        with tarfile.open(tarball) as tar:
            tar.extractall(dest, filter="data")
        readme = next(dest.rglob("REPRODUCE.md")).read_text()
        assert "defect issuer-name-case" in readme
        assert ("does NOT rebuild" in readme) is (not with_keys)
        cell_dir = next(p.parent for p in dest.rglob("chain.pem") if "regenerated" not in p.parts)
        d = tlsmatrix("diagnose", "--ca", cell_dir / "ca.pem", "--chain", cell_dir / "chain.pem", "--format", "json",
                      env=cli_env)
        assert [f["id"] for f in json.loads(d.stdout)["diagnosis"]] == ["issuer-name-encoding"], d.stdout + d.stderr


def test_the_summary_keeps_the_scenarios_headline(report):
    """explain counts each stack family once: with 17 of 27 columns rustls, kube-rs, Go, GnuTLS, NSS or
    wolfSSL variants, rustls' UnknownIssuer on an issuer name's encoding must not be left out."""
    from tlsmatrix.report.summary import finding_lines

    lines = finding_lines(report.document)
    rustls = next(line for line in lines if line.startswith(("rustls-ring fails", "rustls-ring,", "rustls-ring and")))
    assert "issuer-name-encoding" in rustls, lines
