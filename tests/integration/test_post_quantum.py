"""Post-quantum key exchange against a server tlsmatrix did not make: OpenSSL 3.5's own `openssl
s_server` (Debian trixie's, in the release image), accepting only X25519MLKEM768. `tlsmatrix probe`
drives the clients, as a user would against their endpoint (issue 22, "Done when").
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import tlsmatrix
from tlsmatrix.stacks.clients.containers import CLIENT_IMAGES, VERSIONED, image_missing
from tlsmatrix.stacks.engine import LABEL_PREFIX

from .conftest import spec

pytestmark = [pytest.mark.integration, pytest.mark.docker]

TRIXIE = CLIENT_IMAGES["clients-trixie"].tag


def _require_trixie() -> None:
    why = image_missing(VERSIONED["openssl@3.5"])
    if why:
        if os.environ.get("TLSMATRIX_REQUIRE_DOCKER") == "1":
            pytest.fail(why)
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s_server(chain_files, *options: str):
    """`openssl s_server` from OpenSSL 3.5 on 127.0.0.1 (the host's network), serving the chain's
    files from a read-only mount (as their owner: the cache is private), no capabilities; removed when
    the block ends."""
    _require_trixie()
    port, name = _free_port(), f"tlsmatrix-test-s-server-{uuid.uuid4().hex[:8]}"
    files = Path(chain_files.cert_file).parent
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host", "--user", "0:0",
                    "--cap-drop", "ALL", "--label", f"{LABEL_PREFIX}.managed=true", "-v", f"{files}:/certs:ro",
                    "--entrypoint", "openssl", TRIXIE, "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
                    "-cert", f"/certs/{Path(chain_files.cert_file).name}",
                    "-key", f"/certs/{Path(chain_files.key_file).name}", *options],
                   check=True, capture_output=True, timeout=60)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.2)
        yield port
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def _probe(port: int, ca_file, clients: list[str], **options) -> dict[str, dict]:
    doc = tlsmatrix.probe("127.0.0.1", port, ca_file, clients=clients, servername="localhost", **options)
    return {r["client"]: r for r in doc["results"]}


@pytest.fixture(scope="module")
def p256(pki_cache):
    return pki_cache.chain(spec("P-256", "P-256"))


HYBRID_CLIENTS = ["openssl@3.5", "go@1.24", "rustls-aws-lc-rs"]
CLASSICAL_CLIENTS = ["rustls-ring", "openssl", "java"]


def test_only_x25519mlkem768_accepted(p256):
    with s_server(p256, "-groups", "X25519MLKEM768") as port:
        results = _probe(port, p256.ca_file, HYBRID_CLIENTS + CLASSICAL_CLIENTS)
    for client in HYBRID_CLIENTS:
        r = results[client]
        assert r["outcome"] == "ok", r
        assert r["negotiated"]["group"] == "X25519MLKEM768", r
    for client in CLASSICAL_CLIENTS:
        assert results[client]["outcome"] == "handshake_failure", results[client]


def test_a_classical_client_asked_for_the_hybrid_is_skipped_in_its_words(p256):
    with s_server(p256, "-groups", "X25519MLKEM768:x25519") as port:
        results = _probe(port, p256.ca_file, ["openssl", "go", "rustls-ring", "rustls-aws-lc-rs", "go@1.24",
                                              "nss@3.110"], groups="X25519MLKEM768")
    for client in ("openssl", "go", "rustls-ring"):
        assert results[client]["outcome"] == "skipped" and "unsupported group" in results[client]["error"]
    for client in ("rustls-aws-lc-rs", "go@1.24", "nss@3.110"):  # NSS 3.110 key-shares it when asked
        assert results[client]["outcome"] == "ok" and results[client]["negotiated"]["group"] == "X25519MLKEM768"


def test_a_hybrid_first_client_retries_for_a_classical_only_server(p256):
    """OpenSSL 3.5 key-shares X25519MLKEM768 and x25519 by default; asked to share only the hybrid
    (X25519MLKEM768 first, then secp384r1), it must retry for a server that takes secp384r1 only."""
    with s_server(p256, "-groups", "secp384r1") as port:
        results = _probe(port, p256.ca_file, ["go@1.24", "rustls-aws-lc-rs"], groups="X25519MLKEM768:secp384r1")
    for client, r in results.items():
        assert r["outcome"] == "ok" and r["negotiated"]["group"] == "secp384r1", r
    assert results["go@1.24"]["negotiated"]["hrr"] is True
    assert results["rustls-aws-lc-rs"]["negotiated"]["hrr"] is True


@pytest.fixture(scope="module")
def ml_dsa_65(pki_cache):
    return pki_cache.chain(spec("ML-DSA-65", "ML-DSA-65"))


def test_an_ml_dsa_65_chain(ml_dsa_65):
    """OpenSSL 3.5 and rustls with aws-lc-rs verify it; the others offer no ML-DSA signature scheme,
    so OpenSSL's server has nothing to sign its CertificateVerify with: a negotiation failure before
    any certificate is judged (measured; the issue expected an algorithm class, see the README)."""
    clients = ["openssl@3.5", "rustls-aws-lc-rs", "go@1.24", "rustls-ring", "java", "java@21"]
    with s_server(ml_dsa_65) as port:
        results = _probe(port, ml_dsa_65.ca_file, clients)
    for client in ("openssl@3.5", "rustls-aws-lc-rs"):
        assert results[client]["outcome"] == "ok", results[client]
    for client in ("go@1.24", "rustls-ring", "java", "java@21"):
        assert results[client]["outcome"] == "handshake_failure", results[client]


def test_an_ml_dsa_ca_over_a_classical_leaf_is_refused_for_its_algorithm(pki_cache):
    """With the handshake signed by a P-256 key, what is left is the ML-DSA-65 signature on the leaf:
    rustls with ring refuses it as an algorithm it does not have; Go 1.24 cannot read the CA and finds
    no issuer (its own code: UnknownAuthorityError). Java names signature_algorithms_cert without
    ML-DSA, and OpenSSL's server, which matches its chain against that list, refuses the handshake."""
    chain = pki_cache.chain(spec("ML-DSA-65", "P-256"))
    with s_server(chain) as port:
        results = _probe(port, chain.ca_file, ["openssl@3.5", "rustls-aws-lc-rs", "rustls-ring", "java", "go@1.24"])
    assert results["openssl@3.5"]["outcome"] == results["rustls-aws-lc-rs"]["outcome"] == "ok"
    assert results["rustls-ring"]["outcome"] == "unsupported_algorithm", results["rustls-ring"]
    assert results["java"]["outcome"] == "handshake_failure", results["java"]
    assert results["go@1.24"]["outcome"] == "untrusted" and results["go@1.24"]["code"] == "x509.UnknownAuthorityError"
