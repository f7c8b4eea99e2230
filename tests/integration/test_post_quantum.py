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

from .conftest import run_text, spec

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


PQ_SERVERS = """
name = "pq-servers"
[axes]
tls = ["1.3"]
servers = ["openssl@3.5", "go@1.24", "nss@3.110", "gnutls@3.8", "rustls-aws-lc-rs"]
server_groups = ["X25519MLKEM768"]
clients = ["rustls-aws-lc-rs", "go@1.24", "openssl@3.5", "rustls-ring", "openssl"]
[[chain]]
root = "P-256"
leaf = "P-256"
[[chain]]
root = "ML-DSA-65"
leaf = "ML-DSA-65"
"""


@pytest.fixture(scope="module")
def pq_server_cells(tmp_path_factory, pki_cache):
    _require_trixie()
    cells = run_text(tmp_path_factory.mktemp("pq-servers"), PQ_SERVERS, pki_cache, backend="docker")
    return {(c.chain.label.split(" ")[0], c.server, c.client): c for c in cells}


@pytest.mark.parametrize("server", ["openssl@3.5", "go@1.24", "nss@3.110", "rustls-aws-lc-rs"])
def test_the_post_quantum_servers_accept_only_the_hybrid_when_told(pq_server_cells, server):
    """Issue 22, item 4: the release servers of the post-quantum era (in their images) and rustls with
    aws-lc-rs, restricted to X25519MLKEM768: the hybrid clients negotiate it, the classical ones have
    no common group."""
    for client in ("rustls-aws-lc-rs", "go@1.24", "openssl@3.5"):
        c = pq_server_cells[("P-256", server, client)]
        assert c.outcome == "ok" and c.negotiated["group"] == "X25519MLKEM768", c
    for client in ("rustls-ring", "openssl"):
        assert pq_server_cells[("P-256", server, client)].outcome == "handshake_failure"


def test_gnutls_3_8_as_debian_builds_it_has_no_hybrid_to_accept(pq_server_cells):
    c = pq_server_cells[("P-256", "gnutls@3.8", "go@1.24")]
    assert c.outcome == "skipped" and "unsupported group: Syntax error at: +GROUP-X25519-MLKEM768" in c.error, c


@pytest.mark.parametrize("server", ["openssl@3.5", "rustls-aws-lc-rs"])
def test_the_servers_that_sign_with_ml_dsa_serve_it_to_the_clients_that_verify_it(pq_server_cells, server):
    for client in ("rustls-aws-lc-rs", "openssl@3.5"):
        c = pq_server_cells[("ML-DSA-65", server, client)]
        assert c.outcome == "ok" and c.negotiated["group"] == "X25519MLKEM768", c
    assert pq_server_cells[("ML-DSA-65", server, "rustls-ring")].outcome == "handshake_failure"


def _slh_dsa_chain(directory: Path) -> None:
    """A TEST-ONLY SLH-DSA-SHA2-128s CA over a P-256 leaf for localhost, made by OpenSSL 3.5 (trixie's
    openssl: cryptography cannot sign SLH-DSA) into ``directory``: ca.pem, leaf.pem, leaf.key."""
    script = (
        "set -e; cd /out; "
        "openssl req -x509 -newkey SLH-DSA-SHA2-128s -nodes -keyout ca.key -out ca.pem -days 30 "
        "-subj '/CN=tlsmatrix TEST SLH-DSA CA' -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign; "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr "
        "-subj /CN=localhost; "
        "printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > ext; "
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile ext -out leaf.pem; "
        "rm ca.key leaf.csr ext ca.srl")
    subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
                    "--cap-drop", "ALL", "--label", f"{LABEL_PREFIX}.managed=true", "-v", f"{directory}:/out",
                    "--entrypoint", "sh", TRIXIE, "-c", script], check=True, capture_output=True, timeout=120)


def test_an_slh_dsa_ca_is_verified_by_openssl_3_5_alone(tmp_path, pki_cache):
    """SLH-DSA (FIPS 205) where a stack implements it: OpenSSL 3.5 verifies an SLH-DSA certificate
    signature; no TLS stack here has an SLH-DSA signature scheme, so the CA signs and a P-256 leaf
    does the handshake. The chain is given (chain_file), as a chain from OpenSSL 3.5 would be."""
    _require_trixie()
    _slh_dsa_chain(tmp_path)
    text = ('name = "slh-dsa"\n[axes]\ntls = ["1.3"]\nservers = ["go", "openssl"]\n'
            'clients = ["openssl@3.5", "node@20", "rustls-aws-lc-rs", "rustls-ring", "go", "java", '
            '"boringssl", "openssl", "go@1.24", "gnutls", "gnutls-cli", "nss"]\n'
            '[[chain]]\nname = "SLH-DSA CA, P-256 leaf"\nchain_file = "leaf.pem"\nca_file = "ca.pem"\n'
            'key_file = "leaf.key"\n')
    cells = {(c.server, c.client): c for c in run_text(tmp_path, text, pki_cache)}
    measured = {"openssl@3.5": "ok", "node@20": "ok",
                # webpki, JSSE, Go 1.19, BoringSSL name the algorithm they lack
                "rustls-aws-lc-rs": "unsupported_algorithm", "rustls-ring": "unsupported_algorithm",
                "go": "unsupported_algorithm", "java": "unsupported_algorithm", "boringssl": "unsupported_algorithm",
                # OpenSSL 3.0 and Go 1.24 find no issuer they can use, GnuTLS says only "not trusted"
                "openssl": "untrusted", "go@1.24": "untrusted", "gnutls": "untrusted", "gnutls-cli": "untrusted",
                "nss": "bad_signature"}
    for client, outcome in measured.items():
        assert cells[("go", client)].outcome == outcome, cells[("go", client)]
    # OpenSSL 3.0 will not even load a certificate an algorithm it does not know signed, as a server
    refused = cells[("openssl", "openssl@3.5")]
    assert refused.outcome == "server_error" and "CA_MD_TOO_WEAK" in refused.error, refused


KEY_SHARES = """
name = "key-shares"
[axes]
tls = ["1.3"]
servers = ["rustls-aws-lc-rs"]
server_groups = ["X25519MLKEM768"]
client_groups = ["*x25519:X25519MLKEM768", "*X25519MLKEM768:x25519"]
clients = ["openssl@3.5", "openssl-cli@3.5", "curl@8.14", "node@20", "openssl", "go@1.24"]
[[chain]]
root = "P-256"
leaf = "P-256"
"""


def test_a_client_told_its_key_shares_sends_those(tmp_path, pki_cache):
    """OpenSSL 3.5's '*' marks: a key share for x25519 alone makes a hybrid-only server ask again
    (HelloRetryRequest), one for the hybrid does not. OpenSSL 3.0 refuses the mark in its own words;
    Go has no way to be told (skipped by the harness)."""
    _require_trixie()
    cells = {(c.client_groups[0], c.client): c for c in run_text(tmp_path, KEY_SHARES, pki_cache)}
    for client in ("openssl@3.5", "openssl-cli@3.5", "curl@8.14", "node@20"):
        retried, direct = cells[("*x25519", client)], cells[("*X25519MLKEM768", client)]
        assert retried.outcome == direct.outcome == "ok", (retried, direct)
        if client != "node@20":  # Node names no hybrid group and cannot tell a retry
            assert retried.negotiated["group"] == direct.negotiated["group"] == "X25519MLKEM768"
            assert retried.negotiated["hrr"] is True and direct.negotiated["hrr"] is False, client
    refused = cells[("*x25519", "openssl")]
    assert refused.outcome == "skipped" and refused.error.startswith("unsupported group:"), refused
    go = cells[("*x25519", "go@1.24")]
    assert go.outcome == "skipped" and "cannot choose the groups it sends key shares for" in go.error, go
