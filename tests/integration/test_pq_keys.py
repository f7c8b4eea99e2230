"""ML-DSA and Ed448 certificates against real stacks (docs/stacks.md, "ML-DSA and Ed448 certificates"):
the refusals land in the measured classes and name the key (diagnose's unsupported-key), and OpenSSL 3.5
accepts a whole ML-DSA-65 chain (docker: the trixie image)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tlsmatrix.api import run
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration


def _scenario(tmp_path: Path, chains: str, servers: list[str], clients: list[str]) -> Path:
    path = tmp_path / "pq.toml"
    path.write_text(f'name = "pq"\n[axes]\ntls = ["1.2", "1.3"]\nservers = {servers!r}\nclients = {clients!r}\n'
                    .replace("'", '"') + chains)
    return path


def _outcomes(document) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    """(chain label, TLS version, client) → (outcome, diagnosis finding)."""
    return {(c.chain.label, c.tls, c.client): (c.outcome, c.finding) for c in document.cells}


def _go_minor(version: str | None) -> int:
    """19 for "go1.19.8"."""
    return int((version or "go1.0").removeprefix("go").split(".")[1])


def test_an_ml_dsa_or_ed448_ca_is_unsupported_for_go_and_rustls_ring(tmp_path, pki_cache):
    """A P-256 leaf signed by an ML-DSA-65 (or Ed448) root, served by Go: Go and rustls+ring cannot verify
    the CA's signature (unsupported_algorithm, diagnose: unsupported-key); rustls+aws-lc-rs verifies ML-DSA."""
    clients = ["go", "rustls-ring", "rustls-aws-lc-rs"]
    for name in clients:
        require_stack(CLIENTS[name])
    require_stack(SERVERS["go"])
    chains = '[[chain]]\nroot = ["ML-DSA-65", "Ed448"]\nleaf = "P-256"\n'
    document = run(_scenario(tmp_path, chains, ["go"], clients), pki_cache=pki_cache.root)
    got = _outcomes(document)
    go = _go_minor(next(c.client_version for c in document.cells if c.client == "go"))
    if 20 <= go < 24:
        pytest.skip(f"Go 1.{go}: not measured (1.15 and 1.19 say why, unsupported_algorithm; 1.24 does not: untrusted)")
    go_class = "untrusted" if go >= 24 else "unsupported_algorithm"
    for tls in ("1.2", "1.3"):
        for client, outcome in (("go", go_class), ("rustls-ring", "unsupported_algorithm")):
            for label in ("ML-DSA-65 → P-256", "Ed448 → P-256"):
                assert got[(label, tls, client)] == (outcome, "unsupported-key"), (label, tls, client)
        assert got[("ML-DSA-65 → P-256", tls, "rustls-aws-lc-rs")] == ("ok", None)
        assert got[("Ed448 → P-256", tls, "rustls-aws-lc-rs")] == ("unsupported_algorithm", "unsupported-key")


def test_an_ed448_leaf_is_a_handshake_failure_for_go_and_rustls_ring(tmp_path, pki_cache):
    """OpenSSL serves an Ed448 leaf; Go and rustls offer no ed448 scheme, so the server alerts."""
    clients = ["openssl", "go", "rustls-ring"]
    for name in clients:
        require_stack(CLIENTS[name])
    require_stack(SERVERS["openssl"])
    chains = '[[chain]]\nroot = "Ed448"\nintermediates = ["Ed448"]\nleaf = "Ed448"\n'
    got = _outcomes(run(_scenario(tmp_path, chains, ["openssl"], clients), pki_cache=pki_cache.root))
    label = "Ed448 → Ed448 → Ed448"
    for tls in ("1.2", "1.3"):
        assert got[(label, tls, "openssl")] == ("ok", None)
        for client in ("go", "rustls-ring"):
            assert got[(label, tls, client)] == ("handshake_failure", "unsupported-key"), (tls, client)


# --- docker: OpenSSL 3.5 (Debian trixie) ------------------------------------------------------


def _need(reason: str):
    if os.environ.get("TLSMATRIX_REQUIRE_DOCKER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def trixie():
    from tlsmatrix.stacks.engine import DockerUnavailable, docker_client
    from tlsmatrix.stacks.images import image_for

    try:
        client = docker_client()
    except DockerUnavailable as exc:
        _need(f"no Docker engine: {exc}")
    try:
        image_for(client, "openssl@3.5")
    except Exception as exc:  # noqa: BLE001 - the image is missing: what to build is in the message
        _need(str(exc))


@pytest.mark.docker
def test_openssl_3_5_accepts_a_whole_ml_dsa_65_chain_on_tls_1_3(tmp_path, pki_cache, trixie):
    """openssl@3.5 serves ML-DSA-65 → ML-DSA-65 → ML-DSA-65 and its client accepts it on TLS 1.3; TLS 1.2
    has no ML-DSA scheme. Go and rustls+ring offer none either: the server alerts (handshake_failure)."""
    clients = ["openssl@3.5", "go", "rustls-ring"]
    for name in ("go", "rustls-ring"):
        require_stack(CLIENTS[name])
    chains = '[[chain]]\nroot = "ML-DSA-65"\nintermediates = ["ML-DSA-65"]\nleaf = "ML-DSA-65"\n'
    document = run(_scenario(tmp_path, chains, ["openssl@3.5"], clients), backend="docker", pki_cache=pki_cache.root)
    got = _outcomes(document)
    label = "ML-DSA-65 → ML-DSA-65 → ML-DSA-65"
    assert got[(label, "1.3", "openssl@3.5")] == ("ok", None)
    ok = next(c for c in document.cells if c.client == "openssl@3.5" and c.tls == "1.3")
    assert ok.server_version and ok.server_version.startswith("OpenSSL 3.5")
    assert got[(label, "1.2", "openssl@3.5")] == ("handshake_failure", None)  # the key is not why: TLS 1.2 is
    for tls in ("1.2", "1.3"):
        for client in ("go", "rustls-ring"):
            assert got[(label, tls, client)] == ("handshake_failure", "unsupported-key"), (tls, client)
