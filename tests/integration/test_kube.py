"""kube-rs issue 1562 with the real kube crate (and the Python client) against the Go Kubernetes API."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.classify import classify
from harness.clients import CLIENTS
from harness.clients.session import ProbeSession
from harness.endpoints.base import ListenerSpec
from harness.endpoints.process import ProcessEndpoint
from harness.model import Job, Outcome
from harness.runner import RunOptions, run_cells
from harness.scenarios import load_scenario
from harness.servers import SERVERS

from ..conftest import require_stack
from .conftest import spec

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KUBE_CLIENTS = [name for name, c in CLIENTS.items() if c.needs_app == "kubernetes"]


@pytest.fixture(scope="module")
def report(pki_cache):
    scenario = load_scenario(ROOT / "scenarios" / "kube-rs-1562.toml", CLIENTS, SERVERS)
    for name in [*scenario.clients, *scenario.servers]:
        require_stack(CLIENTS.get(name) or SERVERS[name])
    return run_cells(scenario.cells(), pki_cache, RunOptions(timeout_ms=10_000))


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
    assert report.clients["kube-0.93-rustls"]["version"] == "0.93.1"
    assert report.clients["kube-0.94-aws-lc-rs"]["provider"] == "aws-lc-rs"


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
        r = subprocess.run([sys.executable, "-m", "harness", "probe", f"127.0.0.1:{ep.listeners['K'].port}",
                            "--ca", str(files.ca_file), "--servername", "localhost", "--clients", ",".join(names),
                            "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    got = {x["client"]: x["outcome"] for x in json.loads(r.stdout)["results"]}
    assert got == {"kube-0.93-rustls": "unsupported_algorithm", "kube-0.93-openssl": "ok", "kube-0.94-aws-lc-rs": "ok"}
