"""mTLS with real stacks: servers that require a client certificate, clients that present one.

Every success has its failure twin: a client certificate from another CA, no client certificate
at all, and a half-given job (certificate without key) are refused.
"""
from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import trustme

from tlsmatrix.stacks.classify import classify
from tlsmatrix.stacks.clients import CLIENTS, HOST_TLS_CLIENTS
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.model.core import CertSpec, ChainSpec, Job, KeySpec, Outcome
from tlsmatrix.running.runner import RunOptions, run_cells
from tlsmatrix.stacks.servers import HOST_SERVERS, SERVERS

from ..conftest import require_stack
from .conftest import run_scenario

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MTLS_SERVERS = [n for n in HOST_SERVERS if SERVERS[n].client_auth]
MTLS_CLIENTS = [n for n in HOST_TLS_CLIENTS if CLIENTS[n].client_auth]
TLS = ["1.2", "1.3"]


def mtls_chain(client_key: str = "P-256") -> ChainSpec:
    return ChainSpec(root=CertSpec(KeySpec("P-256")), leaf=CertSpec(KeySpec("P-256")), client_cert=KeySpec(client_key))


@pytest.fixture(scope="module")
def foreign_client_cert(tmp_path_factory):
    """A clientAuth certificate from an unrelated CA (trustme): the server must refuse it."""
    d = tmp_path_factory.mktemp("foreign-client")
    ca = trustme.CA(organization_name="tlsmatrix TEST foreign client CA")
    cert = ca.issue_cert("tlsmatrix-test-client")
    cert.cert_chain_pems[0].write_to_path(str(d / "client.pem"))
    cert.private_key_pem.write_to_path(str(d / "TEST-ONLY-client-key.pem"))
    return str(d / "client.pem"), str(d / "TEST-ONLY-client-key.pem")


@pytest.fixture(scope="module")
def mtls_servers(pki_cache):
    """Each mTLS-capable server stack with one listener per TLS version requiring a P-256 client cert."""
    files = pki_cache.chain(mtls_chain())
    started = {}
    import contextlib

    with contextlib.ExitStack() as stack:
        for name in MTLS_SERVERS:
            if SERVERS[name].unavailable_reason():
                continue
            ep = stack.enter_context(ProcessEndpoint(SERVERS[name], [ListenerSpec(t, files, t) for t in TLS]))
            started[name] = ep
        yield files, started


def endpoint(mtls_servers, server):
    require_stack(SERVERS[server])
    files, started = mtls_servers
    return files, started[server]


@pytest.fixture(scope="module")
def sessions():
    opened: dict[str, ProbeSession] = {}

    def get(name: str) -> ProbeSession:
        require_stack(CLIENTS[name])
        if name not in opened:
            opened[name] = ProbeSession(CLIENTS[name])
            opened[name].start()
        return opened[name]

    yield get
    for s in opened.values():
        s.close()


def job(files, port, tls, cert=None, key=None) -> Job:
    return Job("1", "127.0.0.1", port, "localhost", str(files.ca_file), tls, 10_000, cert, key)


@pytest.mark.parametrize("tls", TLS)
@pytest.mark.parametrize("server", MTLS_SERVERS)
@pytest.mark.parametrize("client", MTLS_CLIENTS)
def test_client_certificate_from_the_servers_ca_is_accepted(mtls_servers, sessions, client, server, tls):
    files, ep = endpoint(mtls_servers, server)
    r = sessions(client).run(job(files, ep.listeners[tls].port, tls, str(files.client_cert_file),
                                 str(files.client_key_file)))
    assert r.ok, r


@pytest.mark.parametrize("tls", TLS)
@pytest.mark.parametrize("server", MTLS_SERVERS)
@pytest.mark.parametrize("client", MTLS_CLIENTS)
def test_client_certificate_from_another_ca_is_refused(mtls_servers, sessions, foreign_client_cert, client, server,
                                                       tls):
    """TLS 1.3 included: the server's verdict comes after the client's handshake, and still counts."""
    files, ep = endpoint(mtls_servers, server)
    r = sessions(client).run(job(files, ep.listeners[tls].port, tls, *foreign_client_cert))
    assert not r.ok, r
    assert classify(CLIENTS[client].family, r).outcome is Outcome.HANDSHAKE_FAILURE, r


@pytest.mark.parametrize("client", MTLS_CLIENTS)
def test_certificate_without_key_is_a_probe_error(mtls_servers, sessions, client):
    files, ep = endpoint(mtls_servers, MTLS_SERVERS[0])
    r = sessions(client).run(job(files, ep.listeners["1.3"].port, "1.3", str(files.client_cert_file), None))
    assert not r.ok and classify(CLIENTS[client].family, r).outcome is Outcome.PROBE_ERROR, r


@pytest.mark.parametrize("tls", TLS)
@pytest.mark.parametrize("server", MTLS_SERVERS)
def test_server_refuses_a_client_without_certificate(mtls_servers, server, tls):
    """The server really requires the certificate (the control for every 'accepted' above)."""
    files, ep = endpoint(mtls_servers, server)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(files.ca_file))
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if tls == "1.2" else ssl.TLSVersion.TLSv1_3
    with pytest.raises(ssl.SSLError, match="(?i)certificate|HANDSHAKE_FAILURE"):
        with socket.create_connection(("127.0.0.1", ep.listeners[tls].port), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls_sock:
                tls_sock.recv(1)  # TLS 1.3: the refusal arrives after the handshake


@pytest.fixture(scope="module")
def client_certs_report(pki_cache):
    return run_scenario(pki_cache, "client-certs.toml")


def test_client_certs_scenario_matches_its_expectations(client_certs_report):
    assert [(r.cell.id, r.outcome.value, r.error) for r in client_certs_report.results if r.verdict != "match"] == []


@pytest.mark.parametrize("tls", TLS)
def test_ring_cannot_present_a_p521_client_certificate(client_certs_report, tls):
    """ring has no P-521 signing: rustls refuses the key before any byte is sent; aws-lc-rs signs."""
    by = {(r.cell.client, r.cell.server, r.cell.chain.client_cert.name, r.cell.tls): r
          for r in client_certs_report.results}
    for server in ("go", "openssl"):
        ring = by[("rustls-ring", server, "P-521", tls)]
        assert ring.outcome is Outcome.UNSUPPORTED_ALGORITHM, ring
        assert ring.error.startswith("cannot use client certificate:"), ring.error
        aws = by[("rustls-aws-lc-rs", server, "P-521", tls)]
        if server == "openssl" and tls == "1.2":
            # rustls lists no secp521r1 group; OpenSSL's TLS 1.2 refuses the key's curve (WRONG_CURVE)
            assert (aws.outcome, aws.error) == (Outcome.HANDSHAKE_FAILURE, "received fatal alert: IllegalParameter")
        else:
            assert aws.outcome is Outcome.OK, aws
        assert by[("rustls-ring", server, "P-384", tls)].outcome is Outcome.OK


def test_a_client_that_cannot_present_a_certificate_is_skipped_with_the_reason(pki_cache):
    import dataclasses

    from tlsmatrix.model.core import Cell

    clients = dict(CLIENTS, openssl=dataclasses.replace(CLIENTS["openssl"], client_auth=False))
    cells = [Cell("t", mtls_chain(), "openssl", "1.3", "openssl"),
             Cell("t", mtls_chain(), "openssl", "1.3", "go")]
    require_stack(CLIENTS["go"])
    report = run_cells(cells, pki_cache, RunOptions(clients=clients))
    skipped, presented = report.results
    assert skipped.outcome is Outcome.SKIPPED and "presents no client certificate" in skipped.error
    assert presented.outcome is Outcome.OK, presented


@pytest.mark.parametrize("tls", TLS)
def test_a_ring_server_cannot_accept_a_p521_client_certificate(client_certs_report, tls):
    """Server side of the same gap: ring offers no ecdsa_secp521r1_sha512 in its CertificateRequest."""
    by = {(r.cell.client, r.cell.server, r.cell.chain.client_cert.name, r.cell.tls): r
          for r in client_certs_report.results}
    for client in ("openssl", "go", "rustls-aws-lc-rs"):
        refused = by[(client, "rustls-ring", "P-521", tls)]
        assert refused.outcome is Outcome.HANDSHAKE_FAILURE, refused
        assert by[(client, "rustls-aws-lc-rs", "P-521", tls)].outcome is Outcome.OK
        assert by[(client, "rustls-ring", "P-384", tls)].outcome is Outcome.OK
    expected = {"1.3": "remote error: tls: certificate required", "1.2": "remote error: tls: error decrypting message"}
    assert by[("go", "rustls-ring", "P-521", tls)].error == expected[tls]
