"""Misbehaving peers: one loopback listener per way a server breaks TLS (the classification corpus).

Each behaviour is something real endpoints do: a port that closes or resets, a plain HTTP
server or another protocol on the TLS port, a server that refuses with an alert, a connection
cut mid-record, an SSL 3.0 server, a certificate bundle far over every client's size limit, a
peer that accepts and then never reads. ``tests/capture_errors.py`` records every client
stack's own words for each, and the tests check that every stack lands in the one class
listed here (documented in docs/probe-contract.md, "Outcome classes").

Test infrastructure like :mod:`.silent`: plain sockets, hand-made TLS bytes, no TLS library, so
the peer does exactly what it says and nothing more. Loopback only; every connection and the
endpoint itself have a hard lifetime, so a client that never gives up cannot hang a run.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ...model.core import Outcome
from .base import LOOPBACK

from ...certs.tlswire import (ALERT, CERTIFICATE, EXT_KEY_SHARE, EXT_SUPPORTED_VERSIONS, HANDSHAKE, SERVER_HELLO,
    SSL3, TLS12, ClientHello, handshake_message, parse_client_hello, tls_records)
from ...certs.tlswire import extension as _extension

FATAL, HANDSHAKE_FAILURE_ALERT = 2, 40
EXT_RENEGOTIATION_INFO, EXT_EXTENDED_MASTER_SECRET = 0xFF01, 0x0017
RENEGOTIATION_SCSV = 0x00FF  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV, the suite form of the extension

#: Certificate message size of the oversized-chain behaviour. Over every client's limit (Java
#: 32 KiB, Go up to 1.19 and rustls 64 KiB, OpenSSL/BoringSSL 100 KiB, NSS and GnuTLS 128 KiB,
#: Go 1.24 256 KiB for a Certificate message), so every stack refuses it for its size; a 64 KiB
#: chain splits the stacks by their limits instead (docs/probe-contract.md).
BIG_CHAIN_BYTES = 320 * 1024

#: TLS 1.2 suites the oversized-chain ServerHello may pick, the first one the client offers
_TLS12_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C, 0x002F)


# --- TLS bytes (the common ones: harness/certs/tlswire.py) ----------------------------------------------

def server_hello(version: int, suite: int, extensions: bytes = b"") -> bytes:
    """A ServerHello handshake message: empty session id (no resumption), no compression.

    The random is fixed and carries no TLS 1.3 downgrade sentinel, so only ``version`` speaks."""
    body = struct.pack("!H", version) + bytes(range(32)) + b"\x00" + struct.pack("!H", suite) + b"\x00"
    if extensions:
        body += struct.pack("!H", len(extensions)) + extensions
    return handshake_message(SERVER_HELLO, body)


ILLEGAL_PARAMETER_ALERT, DECODE_ERROR_ALERT = 47, 50
#: the ServerHello random that makes it a HelloRetryRequest (RFC 8446, 4.1.3)
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
#: one Ethernet segment's payload: a server or middlebox that parses the ClientHello from one read
#: of this size fails once the hello is longer (the ~1.2 KB X25519MLKEM768 key share makes it so)
SEGMENT = 1460


def big_certificate_message(total: int) -> bytes:
    """A Certificate message of about ``total`` bytes: one real self-signed certificate, repeated.

    Real DER, so a stack without a size limit would parse it and fail verification (unknown
    issuer) instead; none does at this size."""
    der = _throwaway_certificate()
    count = max(1, total // (len(der) + 3))
    entries = b"".join(len(der).to_bytes(3, "big") + der for _ in range(count))
    return handshake_message(CERTIFICATE, len(entries).to_bytes(3, "big") + entries)


def _throwaway_certificate() -> bytes:
    """A self-signed TEST-ONLY P-256 certificate (DER), made fresh: it is never trusted anywhere."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tlsmatrix TEST-ONLY misbehaving peer")])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start.replace(year=2045))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


# --- one connection ----------------------------------------------------------------------------

class Conn:
    """An accepted connection with a hard deadline on every operation."""

    def __init__(self, sock: socket.socket, deadline: float, stop: threading.Event) -> None:
        self.sock, self.deadline, self.stop = sock, deadline, stop

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.stop.is_set():
            raise TimeoutError("misbehaving peer: connection lifetime over")
        return left

    def recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            self.sock.settimeout(self._left())
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("client closed")
            data += chunk
        return data

    def read_client_hello(self) -> ClientHello | None:
        """Read the client's first handshake message *completely*: closing with unread bytes
        would turn our FIN into a RST and change what the client sees."""
        message = b""
        while len(message) < 4 or len(message) < 4 + int.from_bytes(message[1:4], "big"):
            content_type, _, length = struct.unpack("!BHH", self.recv_exact(5))
            fragment = self.recv_exact(length)
            if content_type != HANDSHAKE:
                return None
            message += fragment
        return parse_client_hello(message)

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self._left())
        self.sock.sendall(data)

    def linger_until_client_closes(self) -> None:
        """Half-close and read until the client closes, so the client judges our bytes, not a RST
        or an EOF; bounded by the connection's lifetime."""
        self.sock.shutdown(socket.SHUT_WR)
        while True:
            self.sock.settimeout(self._left())
            if not self.sock.recv(4096):
                return

    def stall(self, read: bool) -> None:
        """Keep the connection open, saying nothing, until the client gives up (``read``) or, for
        a peer that never reads, until the lifetime ends (stop wakes it early)."""
        if read:
            while True:
                self.sock.settimeout(self._left())
                if not self.sock.recv(4096):
                    return
        self.stop.wait(max(0.0, self.deadline - time.monotonic()))


# --- the behaviours --------------------------------------------------------------------------

def _close(c: Conn) -> None:
    """Close straight after accept (a port whose service exits, a filtering proxy)."""


def _reset(c: Conn) -> None:
    """Read the ClientHello, then reset (SO_LINGER 0 + close sends RST; a middlebox killing it)."""
    c.read_client_hello()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


_HTTP_RESPONSE = (b"HTTP/1.1 400 Bad Request\r\nServer: tlsmatrix-misbehaving-peer\r\n"
                  b"Content-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request")


def _http(c: Conn) -> None:
    """Answer the ClientHello like a plain HTTP/1.1 server does (https:// to an http port)."""
    c.read_client_hello()
    c.send(_HTTP_RESPONSE)
    c.linger_until_client_closes()


def _mysql_greeting() -> bytes:
    """A MySQL 8 server greeting (protocol 10), what a TLS client pointed at port 3306 reads first.

    Unlike a text banner (an SSH one claims an 11 KB "record" and NSS would wait for it), its
    first five bytes read as a complete 10-byte record of content type 0x4a, so every stack
    judges them at once."""
    payload = (b"\x0a" + b"8.0.36\x00" + struct.pack("<I", 8) + b"abcdefgh\x00" + struct.pack("<HBHH", 0xFFFF, 0xFF, 2, 0xDFFF)
               + b"\x15" + bytes(10) + b"ijklmnopqrst\x00" + b"caching_sha2_password\x00")
    return len(payload).to_bytes(3, "little") + b"\x00" + payload  # 3-byte length, sequence id 0


def _not_tls(c: Conn) -> None:
    """Talk first, in another protocol (a MySQL greeting), then wait for the client to give up."""
    c.send(_mysql_greeting())
    c.linger_until_client_closes()


def _alert(c: Conn) -> None:
    """Refuse the ClientHello with a fatal handshake_failure alert (no common parameters)."""
    c.read_client_hello()
    c.send(tls_records(ALERT, bytes([FATAL, HANDSHAKE_FAILURE_ALERT])))
    c.linger_until_client_closes()


def _truncated(c: Conn) -> None:
    """Announce a 100-byte handshake record, send 10 bytes of it, then stall (a cut-off link)."""
    c.read_client_hello()
    c.send(struct.pack("!BHH", HANDSHAKE, TLS12, 100) + server_hello(TLS12, 0xC02F)[:10])
    c.stall(read=True)


def _wrong_version(c: Conn) -> None:
    """Answer with an SSL 3.0 ServerHello, a version no client offers (an ancient server), with a
    suite the client offered: only the version is wrong (a JDK that disabled TLS_RSA_* otherwise
    reports the suite first)."""
    hello = c.read_client_hello()
    suite = next((s for s in _TLS12_SUITES if hello and s in hello.suites), 0x002F)
    c.send(tls_records(HANDSHAKE, server_hello(SSL3, suite), version=SSL3))
    c.linger_until_client_closes()


def _big_chain(c: Conn) -> None:
    """A real TLS 1.2 ServerHello (a suite the client offered) and a Certificate message far
    over every client's size limit (a server configured with a whole CA bundle as its chain)."""
    hello = c.read_client_hello()
    suite = next((s for s in _TLS12_SUITES if hello and s in hello.suites), 0xC02F)
    exts = b""
    # echo only what the client asked for (RFC 5746, 7627): OpenSSL insists on secure
    # renegotiation, wolfSSL rejects an extension it did not offer
    if hello and (EXT_RENEGOTIATION_INFO in hello.extensions or RENEGOTIATION_SCSV in hello.suites):
        exts += _extension(EXT_RENEGOTIATION_INFO, b"\x00")
    if hello and EXT_EXTENDED_MASTER_SECRET in hello.extensions:
        exts += _extension(EXT_EXTENDED_MASTER_SECRET, b"")
    c.send(tls_records(HANDSHAKE, server_hello(TLS12, suite, exts) + _big_certificate()))
    c.linger_until_client_closes()


_BIG_CERT: list[bytes] = []


def _big_certificate() -> bytes:
    if not _BIG_CERT:  # one certificate per process: key generation is the slow part
        _BIG_CERT.append(big_certificate_message(BIG_CHAIN_BYTES))
    return _BIG_CERT[0]


def _one_read(c: Conn) -> None:
    """Parse the ClientHello from one read of one segment (a legacy server or middlebox): a longer
    hello (the hybrid key share's) arrives cut, and it answers decode_error; one that fits it refuses
    with handshake_failure (it speaks no TLS itself). Which alert came tells the two apart."""
    c.sock.settimeout(c._left())
    first = c.sock.recv(SEGMENT)
    cut = len(first) < 5 or len(first) < 5 + int.from_bytes(first[3:5], "big")
    c.send(tls_records(ALERT, bytes([FATAL, DECODE_ERROR_ALERT if cut else HANDSHAKE_FAILURE_ALERT])))
    c.linger_until_client_closes()


def _rejects_hybrid(c: Conn) -> None:
    """Refuse a ClientHello that offers an ML-KEM group with a fatal illegal_parameter alert, as
    servers that choke on unknown group code points do; any other with handshake_failure."""
    hello = c.read_client_hello()
    alert = ILLEGAL_PARAMETER_ALERT if hello and hello.offers_ml_kem else HANDSHAKE_FAILURE_ALERT
    c.send(tls_records(ALERT, bytes([FATAL, alert])))
    c.linger_until_client_closes()


#: a group no client offers (a code point the registry left unassigned): what the HRR below asks for
UNOFFERED_GROUP = 0x0A0A


def _hrr_unoffered(c: Conn) -> None:
    """Answer with a HelloRetryRequest for a group the client did not offer: RFC 8446 4.1.4 has the
    client abort (illegal_parameter)."""
    hello = c.read_client_hello()
    suite = next((s for s in (0x1301, 0x1302, 0x1303) if hello and s in hello.suites), 0x1301)
    exts = _extension(EXT_SUPPORTED_VERSIONS, struct.pack("!H", 0x0304)) + _extension(
        EXT_KEY_SHARE, struct.pack("!H", UNOFFERED_GROUP))
    session_id = hello.session_id if hello else b""
    body = (struct.pack("!H", TLS12) + HRR_RANDOM + bytes([len(session_id)]) + session_id + struct.pack("!H", suite)
            + b"\x00" + struct.pack("!H", len(exts)) + exts)
    c.send(tls_records(HANDSHAKE, handshake_message(SERVER_HELLO, body)))
    c.linger_until_client_closes()


def _never_read(c: Conn) -> None:
    """Accept and then neither read nor write until the lifetime ends (a hung service)."""
    c.stall(read=False)


@dataclass(frozen=True)
class Behaviour:
    name: str  # listener id
    case: str  # case name in tests/data/errors.json
    outcome: Outcome  # the one class every client stack lands in (docs/probe-contract.md)
    act: Callable[[Conn], None]
    #: the groups a job offers (None: the stack's own): a peer of the post-quantum era needs the hybrid
    groups: tuple[str, ...] | None = None
    tls: str | None = None  # the TLS version a job pins (HelloRetryRequest is TLS 1.3's)

    @property
    def stalls(self) -> bool:
        """Only the client's own timeout ends it: jobs give these a short ``timeout_ms``."""
        return self.outcome is Outcome.TIMEOUT


BEHAVIOURS: dict[str, Behaviour] = {b.name: b for b in (
    Behaviour("close", "peer: closes at once", Outcome.CONNECTION, _close),
    Behaviour("reset", "peer: resets after the ClientHello", Outcome.CONNECTION, _reset),
    Behaviour("http", "peer: answers HTTP/1.1", Outcome.NOT_TLS, _http),
    Behaviour("not-tls", "peer: sends non-TLS bytes (a MySQL greeting)", Outcome.NOT_TLS, _not_tls),
    Behaviour("alert", "peer: handshake_failure alert", Outcome.HANDSHAKE_FAILURE, _alert),
    Behaviour("truncated", "peer: truncated record, then stalls", Outcome.TIMEOUT, _truncated),
    Behaviour("wrong-version", "peer: SSL 3.0 ServerHello", Outcome.PROTOCOL_VERSION, _wrong_version),
    Behaviour("big-chain", "peer: oversized certificate chain", Outcome.HANDSHAKE_FAILURE, _big_chain),
    Behaviour("never-read", "peer: accepts, never reads", Outcome.TIMEOUT, _never_read),
    # the post-quantum era's peers: the tests send X25519MLKEM768 first (the hybrid's ~1.2 KB key
    # share) to the stacks that have it
    Behaviour("one-read", "peer: parses the ClientHello from one 1460-byte read", Outcome.HANDSHAKE_FAILURE, _one_read,
              groups=("X25519MLKEM768", "x25519")),
    Behaviour("rejects-hybrid", "peer: illegal_parameter alert for an ML-KEM group", Outcome.HANDSHAKE_FAILURE,
              _rejects_hybrid, groups=("X25519MLKEM768", "x25519")),
    Behaviour("hrr-unoffered", "peer: HelloRetryRequest for a group the client did not offer",
              Outcome.HANDSHAKE_FAILURE, _hrr_unoffered, tls="1.3"),
)}


# --- the endpoint ------------------------------------------------------------------------------

class MisbehavingEndpoint:
    """One listener per behaviour on loopback; ``ports[name]`` is where to connect.

    ``conn_lifetime`` bounds every connection, ``lifetime`` the whole endpoint (then it closes
    itself): nothing here can outlive a hung client or a forgotten ``close()`` for long."""

    def __init__(self, behaviours: list[str] | None = None, host: str = LOOPBACK,
                 conn_lifetime: float = 30.0, lifetime: float = 900.0) -> None:
        self.host, self.conn_lifetime = host, conn_lifetime
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._servers: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}
        for name in behaviours or list(BEHAVIOURS):
            server = socket.socket()
            server.bind((host, 0))
            server.listen(64)
            self._servers[name] = server
            self.ports[name] = server.getsockname()[1]
            threading.Thread(target=self._accept, args=(server, BEHAVIOURS[name]), daemon=True).start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    def _accept(self, server: socket.socket, behaviour: Behaviour) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = server.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(sock)
            threading.Thread(target=self._serve, args=(sock, behaviour), daemon=True).start()

    def _serve(self, sock: socket.socket, behaviour: Behaviour) -> None:
        try:
            behaviour.act(Conn(sock, time.monotonic() + self.conn_lifetime, self._stop))
        except (OSError, EOFError):  # the client gave up first, or the lifetime ended
            pass
        finally:
            with self._lock:
                if sock in self._conns:
                    self._conns.remove(sock)
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._timer.cancel()
        for server in self._servers.values():
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            except OSError:
                pass

    def __enter__(self) -> MisbehavingEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
