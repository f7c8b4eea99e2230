"""The library, the pytest plugin and the matrix's closing output, on real stacks (issue 11, items 2, 3, 5)."""
from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tlsmatrix
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running.scenarios import load_scenario
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

SMALL = """
name = "lib"
[axes]
tls = ["1.3"]
servers = ["openssl", "go"]
clients = ["openssl", "go"]
[[chain]]
root = ["P-256", "P-521"]
leaf = "P-256"
[[expect]]
outcome = "ok"
"""


def handshake(host: str, port: int, ca_file: str, client_cert: tuple[str, str] | None = None) -> tuple[str, bytes]:
    """A verifying Python client: (TLS version, the leaf it got)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if client_cert:
        ctx.load_cert_chain(*client_cert)
    with socket.create_connection((host, port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            if client_cert:
                tls.recv(1)  # TLS 1.3: the server checks the client certificate after the handshake
            return tls.version(), tls.getpeercert(binary_form=True)


def closed(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return True
    return False


# --- the fixture ---------------------------------------------------------------------------------------


def test_tls_endpoint_serves_the_chain_asked_for(tls_endpoint):
    require_stack(SERVERS["go"])
    ep = tls_endpoint(server="go", root="P-521", leaf="P-256", tls="1.3")
    assert (ep.server, ep.tls, ep.chain) == ("go", "1.3", "P-521 → P-256")
    version, leaf = handshake(ep.host, ep.port, ep.ca_file)  # verified against the chain's root only
    from cryptography import x509

    cert = x509.load_der_x509_certificate(leaf)
    assert version == "TLSv1.3" and cert.public_key().curve.name == "secp256r1"
    issuer_key = x509.load_pem_x509_certificate(Path(ep.ca_file).read_bytes()).public_key()
    assert issuer_key.curve.name == "secp521r1"


def test_tls_endpoint_with_a_client_certificate(tls_endpoint):
    ep = tls_endpoint(server="openssl", root="P-256", leaf="P-256", client_cert="P-384", tls="1.2")
    assert ep.client_cert_file and ep.client_key_file
    assert handshake(ep.host, ep.port, ep.ca_file, (ep.client_cert_file, ep.client_key_file))[0] == "TLSv1.2"
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(ep.host, ep.port, ep.ca_file)  # without one: refused


def test_tls_endpoint_says_when_a_stack_cannot_serve_a_chain(tls_endpoint):
    require_stack(SERVERS["rustls-ring"])
    with pytest.raises(tlsmatrix.TlsmatrixError, match="server rustls-ring: .*private key"):
        tls_endpoint(server="rustls-ring", root="P-256", leaf="P-521")


# --- run, serve, probe ------------------------------------------------------------------------------------


def test_run_returns_the_document_and_writes_the_run_files(pki_cache, tmp_path):
    scenario = tmp_path / "lib.toml"
    scenario.write_text(SMALL)
    doc = tlsmatrix.run(scenario, clients=["openssl", "go"], pki_cache=pki_cache.root, output=tmp_path / "out")
    assert len(doc.cells) == 8 and doc.verdicts()["match"] == 8
    assert [c.index for c in doc.cells] == list(range(8)) and doc.scenarios[0].name == "lib"
    for name in ("results.json", "matrix.md", "matrix.html"):
        assert (tmp_path / "out" / name).is_file()
    assert tlsmatrix.load_results(tmp_path / "out").cells == doc.cells
    raw = tlsmatrix.run(scenario, clients=["openssl"], servers=["go"], pki_cache=pki_cache.root)  # writes nothing
    assert [c.client for c in raw.cells] == ["openssl", "openssl"]


def test_serve_then_probe_then_everything_is_gone(pki_cache, tmp_path):
    require_stack(CLIENTS["go"])
    spec = tlsmatrix.chain(root="P-521", leaf="P-256")
    with tlsmatrix.serve(chains=[spec], servers=["openssl", "go"], tls=["1.2", "1.3"], pki_cache=pki_cache.root) as s:
        assert len(s.endpoints) == 4 and not s.errors
        assert (s.directory / "endpoints.json").is_file()
        ep = s.endpoints[0]
        report = tlsmatrix.probe(ep.host, ep.port, ep.ca_file, clients=["openssl", "go", "rustls-ring"],
                               servername="localhost", timeout=5)
        outcomes = {r["client"]: r["outcome"] for r in report["results"]}
        assert outcomes["openssl"] == outcomes["go"] == "ok"
        if not CLIENTS["rustls-ring"].unavailable_reason():
            assert outcomes["rustls-ring"] == "unsupported_algorithm"
            failing = next(r for r in report["results"] if r["client"] == "rustls-ring")
            assert failing["finding"] == "unsupported-key"
        assert [f["id"] for f in report["diagnosis"]] == ["unsupported-key"]
        addresses = [(e.host, e.port) for e in s.endpoints]
    assert all(closed(*a) for a in addresses) and not s.directory.exists()


def test_serve_a_scenario_with_kubeconfigs(pki_cache, tmp_path):
    require_stack(SERVERS["go"])
    with tlsmatrix.serve(ROOT / "scenarios" / "kube-rs-1562.toml", chains=["CA signature*"], tls=["1.3"],
                       output=tmp_path / "serve", pki_cache=pki_cache.root) as s:
        [ep] = s.endpoints
        assert ep.app == "kubernetes" and Path(ep.kubeconfig).is_file()
        assert f"127.0.0.1:{ep.port}" in Path(ep.kubeconfig).read_text()
    assert not (tmp_path / "serve").exists()


# --- the CLI's closing output -------------------------------------------------------------------------------


def test_matrix_ends_with_the_summary_and_writes_the_html(pki_cache, tmp_path):
    scenario = tmp_path / "lib.toml"
    scenario.write_text(SMALL)
    env = dict(os.environ, TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    r = subprocess.run([sys.executable, "-m", "tlsmatrix", "matrix", str(scenario), "--output", str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    tail = r.stdout.rstrip().splitlines()[-4:]
    assert tail == ["Summary:", "  lib: 8 cells, 8 match the expectations",
                    "    ok on every cell: openssl and go", "    no stack fails where the others succeed"]
    html = (tmp_path / "out" / "matrix.html").read_text()
    assert html.index('id="summary"') < html.index('id="pivot"')  # the page opens on the summary
    progress = [line for line in r.stderr.splitlines() if line.startswith("[")]
    assert 2 <= len(progress) <= 11  # on a pipe: the first cell, then every 10%, not one line per cell
    assert "matrix.html" in r.stderr.splitlines()[-1]


# --- the pytest plugin ---------------------------------------------------------------------------------------


def test_pytest_tlsmatrix_from_outside_the_repo_passes_one_test_per_cell(pki_cache, tmp_path):
    """`pytest --tlsmatrix scenarios/rustls-p521.toml` in a directory that is not the checkout: the
    shipped scenario is found, and every one of its cells is a passing test named by its cell id."""
    scenario = load_scenario(ROOT / "scenarios" / "rustls-p521.toml", CLIENTS, SERVERS)
    for name in [*scenario.clients, *scenario.servers]:
        require_stack(CLIENTS.get(name) or SERVERS[name])
    env = dict(os.environ, TLSMATRIX_PKI_CACHE=str(pki_cache.root), TLSMATRIX_REQUIRE_STACKS="1")
    junit = tmp_path / "cells.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "--tlsmatrix", "scenarios/rustls-p521.toml", "-q",
                        "-p", "no:cacheprovider", f"--junitxml={junit}"], cwd=tmp_path, capture_output=True,
                       text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    cells = scenario.cells()
    assert re.search(rf"^{len(cells)} passed in ", r.stdout.splitlines()[-1]), r.stdout[-2000:]
    names = [case.get("name") for case in ET.parse(junit).iter("testcase")]
    assert names == [c.id for c in cells]

    # a subset runs only its cells; -x stops at the first contradiction
    r = subprocess.run([sys.executable, "-m", "pytest", "--tlsmatrix", "rustls-p521", "-q", "-p", "no:cacheprovider",
                        "-k", "wolfssl and 1.2"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    wolfssl_12 = sum(1 for c in cells if c.client == "wolfssl" and c.tls == "1.2")
    assert r.returncode == 0 and f"{wolfssl_12} passed, {len(cells) - wolfssl_12} deselected" in r.stdout, r.stdout[-2000:]


def test_pytest_tlsmatrix_fails_a_contradicted_cell_with_the_stacks_own_error(pki_cache, tmp_path):
    require_stack(CLIENTS["rustls-ring"])
    (tmp_path / "wrong.toml").write_text(SMALL.replace('"lib"', '"wrong"').replace(
        'clients = ["openssl", "go"]', 'clients = ["openssl", "rustls-ring"]'))
    (tmp_path / "test_mine.py").write_text("def test_mine():\n    pass\n")
    env = dict(os.environ, TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    r = subprocess.run([sys.executable, "-m", "pytest", "--tlsmatrix", "wrong.toml", "-q", "-p", "no:cacheprovider",
                        "-x"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1
    assert "rustls-ring ← openssl | P-521 → P-256 | TLS 1.3: got unsupported_algorithm, expected ok" in r.stdout
    assert "error: invalid peer certificate: UnsupportedSignatureAlgorithm" in r.stdout
    assert "1 failed" in r.stdout and "test_mine" not in r.stdout  # --tlsmatrix alone: the cells only
    r = subprocess.run([sys.executable, "-m", "pytest", "--tlsmatrix", "wrong.toml", "test_mine.py", "-q",
                        "-p", "no:cacheprovider", "-k", "not rustls"], cwd=tmp_path, capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0 and "5 passed, 4 deselected" in r.stdout, r.stdout  # with test paths: both
