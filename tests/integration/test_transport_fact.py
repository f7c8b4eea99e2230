"""The transport fact decides before the stack's words (issue 23): a peer whose first bytes cannot
begin a TLS record is ``not_tls`` for every client stack. An SSH server's banner is such a peer:
its first five bytes read as a record header announcing 11 KB, so NSS waits for that "record" and
then reports the connection's end in its own words; the cell is still ``not_tls``."""
from __future__ import annotations

import socket
import threading

import pytest

from tlsmatrix import api
from tlsmatrix.certs.tlswire import first_bytes, is_record_header
from tlsmatrix.stacks.clients import CLIENTS, TLS_CLIENTS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
HOST_CLIENTS = [c for c in TLS_CLIENTS if "@" not in c]
BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n"


@pytest.fixture
def ssh_like_peer():
    """Says its banner, reads what the client sends for a moment, hangs up (as sshd does on garbage)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(BANNER)
                conn.settimeout(0.5)
                try:
                    conn.recv(65536)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def test_a_banner_is_no_record_header_and_a_tls_record_is():
    assert not is_record_header(BANNER[:5]) and is_record_header(b"\x16\x03\x03\x00\x31")
    assert is_record_header(b"\x15\x03\x01\x00\x02") and not is_record_header(b"")


def test_every_stack_calls_a_non_tls_peer_not_tls(ssh_like_peer, pki_cache):
    for name in HOST_CLIENTS:
        require_stack(CLIENTS[name])
    assert first_bytes("127.0.0.1", ssh_like_peer, "localhost", 2.0) == BANNER[:5]
    ca = pki_cache.chain(api.chain()).ca_file
    doc = api.probe("127.0.0.1", ssh_like_peer, ca, clients=HOST_CLIENTS, servername="localhost", timeout=5)
    assert {r["client"]: r["outcome"] for r in doc["results"]} == dict.fromkeys(HOST_CLIENTS, "not_tls")
