"""Real handshakes: every client stack × every server stack, with the negative controls."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import HOST_TLS_CLIENTS
from tlsmatrix.running.endpoints.silent import SilentEndpoint
from tlsmatrix.model.core import Outcome
from tlsmatrix.stacks.servers import HOST_SERVERS

from .conftest import client_stack, handshake, probe_pool, server_for

pytestmark = pytest.mark.integration

#: the host's stacks (the versioned ones in containers: tests/integration/test_versions.py)
CLIENT_NAMES = HOST_TLS_CLIENTS

#: measured limits of a client stack's defaults: (client, chain) → (outcome, text in its error)
KNOWN_LIMITS = {
    ("tstclnt", "ed25519"): ({Outcome.UNSUPPORTED_ALGORITHM}, "SEC_ERROR_ADDING_CERT"),  # cannot import an Ed25519 CA
    # offers no ed25519 by default: servers answer with an alert, except a rustls server on TLS 1.2,
    # which closes without one ("Connection closed abruptly": a transport fact, `connection`)
    ("boringssl", "ed25519"): ({Outcome.HANDSHAKE_FAILURE, Outcome.CONNECTION}, "curl: (35)"),
    # NSS 3.87 (libssl3 in-process) offers no ed25519 scheme: the server's alert, or no common scheme found by
    # the server (Go on TLS 1.2 signs anyway: NSS cannot extract the Ed25519 key), or a rustls server's close
    # on TLS 1.2 without an alert (`connection`). tstclnt never gets this far (certutil refuses the CA).
    ("nss", "ed25519"): ({Outcome.HANDSHAKE_FAILURE, Outcome.CONNECTION},
                         ("SSL_ERROR_NO_CYPHER_OVERLAP", "SSL_ERROR_HANDSHAKE_FAILURE_ALERT",
                          "SSL_ERROR_EXTRACT_PUBLIC_KEY_FAILURE", "PR_END_OF_FILE_ERROR")),
}
SERVER_NAMES = HOST_SERVERS


@pytest.fixture(scope="module")
def sessions():
    """One long-lived probe per client stack for the whole module (the batch mode under test)."""
    with probe_pool(client_stack) as get:
        yield get


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("chain", ["good", "ed25519", "rsa"])
def test_good_chains_succeed(sessions, served, client, server, tls, chain):
    s = server_for(served, server)
    if server == "nss" and chain == "ed25519":
        # measured: NSS 3.87's pk12util cannot import an Ed25519 key; the stack says so itself
        error = s.endpoint.listeners[f"{chain}@{tls}"].error
        assert error and "UNABLE_TO_IMPORT_KEY" in error
        return
    c, raw = handshake(sessions(client), s.port(chain, tls), s.files[chain].ca_file, tls=tls)
    known = KNOWN_LIMITS.get((client, chain))
    if known:
        texts = (known[1],) if isinstance(known[1], str) else known[1]
        assert c.outcome in known[0] and any(t in raw.error for t in texts), raw
        return
    assert c.outcome is Outcome.OK, raw
    assert raw.negotiated["version"] == {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[tls]


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_unpinned_client_negotiates_tls13(sessions, served, client, server):
    s = server_for(served, server)
    c, raw = handshake(sessions(client), s.port("good"), s.files["good"].ca_file)
    assert c.outcome is Outcome.OK, raw
    assert raw.negotiated["version"] == "TLSv1.3"


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_trustme_control_chain(sessions, served, trustme_chain, client, server):
    """An independent PKI (trustme) is accepted with its own CA and refused with ours."""
    s = server_for(served, server)
    ok, raw = handshake(sessions(client), s.port("trustme"), trustme_chain.ca_file)
    assert ok.outcome is Outcome.OK, raw
    bad, raw = handshake(sessions(client), s.port("trustme"), s.files["good"].ca_file)
    assert bad.outcome is Outcome.UNTRUSTED, raw


# --- negative controls: verification is really on ------------------------------------------


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_wrong_ca_is_untrusted(sessions, served, trustme_chain, client, server, tls):
    s = server_for(served, server)
    c, raw = handshake(sessions(client), s.port("good", tls), trustme_chain.ca_file, tls=tls)
    assert c.outcome is Outcome.UNTRUSTED, raw
    assert c.rule is not None


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
@pytest.mark.parametrize("servername", ["wrong.example", "127.0.0.2"])
def test_wrong_name_is_a_hostname_mismatch(sessions, served, client, server, servername):
    s = server_for(served, server)
    c, raw = handshake(sessions(client), s.port("good"), s.files["good"].ca_file, servername=servername)
    assert c.outcome is Outcome.HOSTNAME_MISMATCH, raw


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_ip_address_servername_matches_ip_san(sessions, served, client, server):
    s = server_for(served, server)
    c, raw = handshake(sessions(client), s.port("good"), s.files["good"].ca_file, servername="127.0.0.1")
    assert c.outcome is Outcome.OK, raw


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_expired_leaf_is_expired(sessions, served, client, server, tls):
    s = server_for(served, server)
    c, raw = handshake(sessions(client), s.port("expired", tls), s.files["expired"].ca_file, tls=tls)
    assert c.outcome is Outcome.EXPIRED, raw


@pytest.mark.parametrize("server", SERVER_NAMES)
@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_version_mismatch_is_protocol_version(sessions, served, client, server):
    s = server_for(served, server)
    c, raw = handshake(sessions(client), s.port("good", "1.2"), s.files["good"].ca_file, tls="1.3")
    if server == "gnutls" and not (client == "go" or client.startswith("rustls")):
        # measured: GnuTLS answers a TLS 1.3-only ClientHello with alert 40 (handshake_failure), not 70;
        # Go and rustls notice the version themselves first
        assert c.outcome is Outcome.HANDSHAKE_FAILURE, raw
        return
    assert c.outcome is Outcome.PROTOCOL_VERSION, raw


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_silent_peer_times_out_within_the_bound(sessions, pki_cache, client):
    session = sessions(client)
    with SilentEndpoint() as silent:
        started = time.monotonic()
        from .conftest import CHAINS

        c, raw = handshake(session, silent.port, pki_cache.chain(CHAINS["good"]).ca_file,
                           timeout_ms=1000)
        took = time.monotonic() - started
    assert c.outcome is Outcome.TIMEOUT, raw
    assert 0.9 <= took < 3.0, took


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_closed_port_is_a_connection_error(sessions, pki_cache, client):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    from .conftest import CHAINS

    c, raw = handshake(sessions(client), port, pki_cache.chain(CHAINS["good"]).ca_file, timeout_ms=2000)
    assert c.outcome is Outcome.CONNECTION, raw


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_unreadable_ca_file_is_a_probe_error_not_a_crash(sessions, served, tmp_path, client):
    s = server_for(served, "openssl")
    c, raw = handshake(sessions(client), s.port("good"), tmp_path / "missing-ca.pem")
    assert c.outcome is Outcome.PROBE_ERROR, raw
    # and the probe is still alive for the next job
    c2, raw2 = handshake(sessions(client), s.port("good"), s.files["good"].ca_file)
    assert c2.outcome is Outcome.OK, raw2


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_probe_reports_its_exact_version(sessions, client):
    info = sessions(client).info
    assert info is not None and info.version not in ("", "?")
    if client.startswith("rustls"):
        name, _, pinned = client.partition("@")
        assert info.stack == "rustls" and info.provider == name.removeprefix("rustls-")
        assert info.version == pinned if pinned else info.version.startswith("0.23.")
    if client == "go":
        assert info.version.startswith("go1.")


def test_openssl_probe_trusts_only_the_ca_file(tmp_path):
    """The probe must not add the system trust store (create_default_context would)."""
    import json
    import subprocess
    import sys

    system = Path("/etc/ssl/certs/ca-certificates.crt")
    if not system.exists():
        pytest.skip("no system trust store to compare with")
    code = (
        "import ssl, tlsmatrix.probes.pyssl.client as c, unittest.mock as m\n"
        "seen = []\n"
        "orig = ssl.SSLContext.load_verify_locations\n"
        "def spy(self, *a, **k):\n"
        "    r = orig(self, *a, **k); seen.append(self.cert_store_stats()['x509_ca']); return r\n"
        "with m.patch.object(ssl.SSLContext, 'load_verify_locations', spy):\n"
        f"    c.handshake({{'id': '1', 'host': '127.0.0.1', 'port': 1, 'servername': 'localhost', 'ca_file': {str(tmp_path / 'ca.pem')!r}, 'tls_version': None, 'timeout_ms': 200}})\n"
        "print(seen)\n"
    )
    import trustme

    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert json.loads(out.stdout.strip()) == [1], out.stderr  # exactly the one CA from the file
