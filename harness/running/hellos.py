"""What each client column offers by default, measured from its own ClientHello (not typed in).

Every available client gets one job pointed at a loopback listener of ours that reads the ClientHello
and closes: the groups it offers and key-shares, the signature schemes it accepts (what key types it
can verify a handshake signature of), the TLS versions and the hello's size. The client's answer
(a connection failure) is thrown away. ``tlsmatrix list --format json`` shows the result per column.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

from ..certs.tlswire import HANDSHAKE, ClientHello, parse_client_hello
from ..model.core import Job
from ..model.groups import name_of
from ..stacks import Stack
from .drive import ClientDriver
from .endpoints.base import LOOPBACK

#: signature schemes (RFC 8446 4.2.3, the ML-DSA code points of draft-ietf-tls-mldsa) → the key type they verify
SCHEME_KEYS = {
    0x0401: "RSA", 0x0501: "RSA", 0x0601: "RSA", 0x0804: "RSA", 0x0805: "RSA", 0x0806: "RSA",
    0x0809: "RSA", 0x080A: "RSA", 0x080B: "RSA", 0x0201: "RSA",
    0x0403: "P-256", 0x0503: "P-384", 0x0603: "P-521",
    0x0807: "Ed25519", 0x0808: "Ed448", 0x0904: "ML-DSA-44", 0x0905: "ML-DSA-65", 0x0906: "ML-DSA-87",
}
_VERSIONS = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0"}
READ_TIMEOUT_S = 10.0


def hello_facts(hello: ClientHello) -> dict[str, Any]:
    """A ClientHello as ``list --format json`` shows it (group names in the registry's spelling)."""
    return {"groups": [name_of(g) for g in hello.groups if not _grease(g)],
            "key_shares": [name_of(g) for g in hello.key_shares if not _grease(g)],
            "key_types": list(dict.fromkeys(SCHEME_KEYS[s] for s in hello.signature_schemes if s in SCHEME_KEYS)),
            "signature_schemes": [f"0x{s:04x}" for s in hello.signature_schemes if not _grease(s)],
            "tls_versions": [_VERSIONS[v] for v in hello.versions if v in _VERSIONS], "bytes": hello.size}


def _grease(value: int) -> bool:
    """RFC 8701's GREASE values (0x?A?A) are no real group or scheme."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


class _Capture:
    """One loopback listener per client: the ClientHello each one sends, read and parsed."""

    def __init__(self, names: list[str]) -> None:
        self.seen: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, int] = {}
        self._servers = []
        for name in names:
            server = socket.create_server((LOOPBACK, 0))
            self._servers.append(server)
            self.ports[name] = server.getsockname()[1]
            threading.Thread(target=self._accept, args=(name, server), daemon=True).start()

    def _accept(self, name: str, server: socket.socket) -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(READ_TIMEOUT_S)
            try:
                message = _read_handshake_message(conn)
            except (OSError, struct.error, ValueError):
                return
            hello = parse_client_hello(message)
            if hello is not None:
                self.seen[name] = hello_facts(hello)

    def close(self) -> None:
        for server in self._servers:
            server.close()


def _read_handshake_message(conn: socket.socket) -> bytes:
    """The first handshake message, whatever records it spans (bounded: 64 KiB)."""
    message, deadline = b"", time.monotonic() + READ_TIMEOUT_S
    while len(message) < 4 or len(message) < 4 + int.from_bytes(message[1:4], "big"):
        if time.monotonic() > deadline or len(message) > 1 << 16:
            raise ValueError("no complete ClientHello")
        content_type, _, length = struct.unpack("!BHH", _exact(conn, 5))
        if content_type != HANDSHAKE:
            raise ValueError("not a handshake record")
        message += _exact(conn, length)
    return message


def _exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ValueError("closed")
        data += chunk
    return data


def measure_hellos(clients: dict[str, Stack], ca_file: str, timeout_ms: int = 10_000,
                   groups: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each available client's ClientHello (clients that did not send one are missing): its default
    one, or the one it sends for ``groups`` (job fields: harness/model/groups.py group_fields)."""
    names = [n for n, s in clients.items() if s.needs_app is None and s.unavailable_reason() is None]
    capture = _Capture(names)
    try:
        batches = {n: [(n, Job(id="hello", host=LOOPBACK, port=capture.ports[n], servername="localhost",
                               ca_file=ca_file, tls_version=None, timeout_ms=timeout_ms, **(groups or {})))]
                   for n in names}
        ClientDriver({n: clients[n] for n in names}, retry_timeouts=False).run(batches, lambda *_: None)
    finally:
        capture.close()
    return capture.seen
