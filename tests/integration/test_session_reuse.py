"""No session resumption across jobs: a long-lived probe's second handshake is a full one.

The batch probes cache what is expensive to build per CA file (trust stores, OpenSSL contexts,
Node SecureContexts, Go cert pools, JSSE trust managers) and must still never resume a session or
reuse a ticket of an earlier job. The judge is the server: a CPython/OpenSSL server with its
session cache on and tickets enabled (the defaults) reports ``session_reused`` per connection, and
a positive control shows it does see a resumption when a client offers one.
"""
from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.model.core import CertSpec, ChainSpec, Job, KeySpec

from .conftest import client_stack

pytestmark = pytest.mark.integration

#: the long-lived in-process probes: one process keeps its library state across every job of a batch
#: (the CLI stacks start one process per handshake, so nothing can carry over there)
IN_PROCESS = ("openssl", "go", "java", "node", "boringssl", "wolfssl", "nss", "libcurl", "gnutls", "rustls-ring", "rustls-aws-lc-rs",
              "rustls-ring@0.23.12", "rustls-ring@0.21.12", "rustls-ring@0.21.0")
CLIENT_NAMES = [n for n in IN_PROCESS if n in CLIENTS]
MTLS_CLIENTS = [n for n in CLIENT_NAMES if CLIENTS[n].client_auth]
VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
JOBS = 3  # the first handshake gives the client a session/ticket; the next ones could offer it


class ResumingServer:
    """One listener per TLS version that would resume any session a client offers (session IDs and
    tickets on: OpenSSL's server defaults) and records, per connection, whether it did."""

    def __init__(self, files, client_auth: bool = False) -> None:
        self.reused: dict[str, list[bool]] = {v: [] for v in VERSIONS}
        self.lock = threading.Lock()
        self.ports: dict[str, int] = {}
        self.sockets: list[socket.socket] = []
        for version, pinned in VERSIONS.items():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(files.cert_file, files.key_file)
            ctx.minimum_version = ctx.maximum_version = pinned
            if client_auth:
                ctx.load_verify_locations(cafile=files.ca_file)
                ctx.verify_mode = ssl.CERT_REQUIRED
            server = socket.create_server(("127.0.0.1", 0))
            self.sockets.append(server)
            self.ports[version] = server.getsockname()[1]
            threading.Thread(target=self._accept, args=(ctx, server, version), daemon=True).start()

    def _accept(self, ctx: ssl.SSLContext, server: socket.socket, version: str) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(ctx, conn, version), daemon=True).start()

    def _serve(self, ctx: ssl.SSLContext, conn: socket.socket, version: str) -> None:
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
                try:
                    tls.do_handshake()
                except (OSError, ssl.SSLError):
                    # TLS 1.3: OpenSSL writes the tickets at the end of the server's handshake; a client
                    # that closed right after its Finished makes that write fail. Whether the server
                    # resumed was decided with the ClientHello, so it is recorded all the same.
                    pass
                with self.lock:
                    self.reused[version].append(tls.session_reused)
                with contextlib.suppress(OSError, ValueError):
                    tls.unwrap()  # close_notify
        finally:
            conn.close()

    def close(self) -> None:
        for s in self.sockets:
            s.close()


def _wait_for(server: ResumingServer, version: str, count: int) -> list[bool]:
    deadline = time.monotonic() + 5
    while len(server.reused[version]) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.reused[version])


@pytest.fixture(scope="module")
def chain(pki_cache):
    return pki_cache.chain(ChainSpec(root=CertSpec(KeySpec("P-256")), leaf=CertSpec(KeySpec("P-256")),
                                     client_cert=KeySpec("P-256")))


@pytest.fixture
def resuming(chain):
    servers = []

    def make(client_auth: bool = False) -> ResumingServer:
        servers.append(ResumingServer(chain, client_auth))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.mark.parametrize("version", list(VERSIONS))
def test_the_server_sees_a_resumption_when_a_client_offers_one(chain, resuming, version):
    """Positive control: without it, 'never resumed' could mean 'this server never resumes'."""
    server = resuming()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=chain.ca_file)
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    session = None
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", server.ports[version]), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname="localhost", session=session) as tls:
                tls.recv(1)  # reads the TLS 1.3 tickets, then the server's close_notify
                session = tls.session
    assert _wait_for(server, version, 2) == [False, True]


def _jobs(session: ProbeSession, chain, port: int, version: str, mtls: bool) -> list:
    results = []
    for n in range(JOBS):
        job = Job(id=f"reuse-{n}", host="127.0.0.1", port=port, servername="localhost", ca_file=str(chain.ca_file),
                  tls_version=version, timeout_ms=10_000,
                  client_cert_file=str(chain.client_cert_file) if mtls else None,
                  client_key_file=str(chain.client_key_file) if mtls else None)
        results.append(session.run(job))
    return results


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_a_second_handshake_to_the_same_server_is_a_full_one(chain, resuming, client, version):
    server = resuming()
    with ProbeSession(client_stack(client)) as session:
        session.start()
        results = _jobs(session, chain, server.ports[version], version, mtls=False)
    assert all(r.ok for r in results), results
    assert _wait_for(server, version, JOBS) == [False] * JOBS


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("client", MTLS_CLIENTS)
def test_mtls_jobs_do_not_resume_either(chain, resuming, client, version):
    """mTLS jobs read after the handshake (the server's verdict), so a TLS 1.3 client has received
    the server's tickets by then: still, the next job must not offer one."""
    server = resuming(client_auth=True)
    with ProbeSession(client_stack(client)) as session:
        session.start()
        results = _jobs(session, chain, server.ports[version], version, mtls=True)
    assert all(r.ok for r in results), results
    assert _wait_for(server, version, JOBS) == [False] * JOBS
