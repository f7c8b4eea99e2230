"""TLS bytes by hand (RFC 5246, RFC 8446): records, handshake messages, and reading the certificates
a TLS 1.2 server sends without a TLS library.

Two users: the misbehaving peers (harness/running/endpoints/misbehaving.py) send bytes no TLS library would,
and :func:`certificates_sent` reads a server's Certificate message when every TLS library refuses it
(a certificate that does not parse): the chain a user needs diagnosed is exactly that one. TLS 1.2
only: TLS 1.3 encrypts the Certificate message.
"""
from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

# TLS numbers (RFC 5246 §6.2.1, §7.4; RFC 8446 §4, §5.1)
HANDSHAKE, ALERT = 22, 21
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, SERVER_HELLO_DONE = 1, 2, 11, 14
MAX_FRAGMENT = 1 << 14  # a record carries at most 2^14 bytes of plaintext
SSL3, TLS12 = 0x0300, 0x0303
EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS, EXT_SIGNATURE_ALGORITHMS = 0, 10, 11, 13
EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 43, 51
#: what a 2020s client offers in TLS 1.2: ECDHE and RSA key exchange, AES-GCM, ChaCha20
CLIENT_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C, 0x009D, 0x002F, 0x0035)
GROUPS = (0x001D, 0x0017, 0x0018, 0x0019)  # x25519, P-256, P-384, P-521
SIGNATURE_SCHEMES = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0807, 0x0201, 0x0203)
MAX_CERTIFICATE_MESSAGE = 1 << 20  # read at most this much of a server's first flight


@dataclass(frozen=True)
class ClientHello:
    """What a ClientHello offers (the numbers as sent; harness/model/groups.py names the groups)."""

    suites: tuple[int, ...]
    extensions: frozenset[int]
    session_id: bytes = b""
    groups: tuple[int, ...] = ()  # supported_groups, in the client's order
    key_shares: tuple[int, ...] = ()  # the groups of the key_share entries (TLS 1.3)
    signature_schemes: tuple[int, ...] = ()  # signature_algorithms
    size: int = 0  # the handshake message's bytes
    #: supported_versions (TLS 1.3 clients), else the legacy version field alone
    versions: tuple[int, ...] = ()

    @property
    def offers_ml_kem(self) -> bool:
        return any(g in (0x0200, 0x0201, 0x0202, 0x11EB, 0x11EC, 0x11ED, 0x6399) for g in self.groups)


def parse_client_hello(message: bytes) -> ClientHello | None:
    """A ClientHello handshake message (header included) read without trusting it; None if it is
    not one or does not parse."""
    if len(message) < 4 or message[0] != CLIENT_HELLO:
        return None
    body, i = message[4:], 2 + 32  # legacy_version, random
    try:
        session_id = body[i + 1:i + 1 + body[i]]
        i += 1 + body[i]
        n = struct.unpack_from("!H", body, i)[0]
        suites = struct.unpack_from(f"!{n // 2}H", body, i + 2)
        i += 2 + n
        i += 1 + body[i]  # compression methods
        exts = _extensions(body, i)
    except (IndexError, struct.error):
        return None
    versions = _u16s(exts[EXT_SUPPORTED_VERSIONS][1:]) if EXT_SUPPORTED_VERSIONS in exts else (
        int.from_bytes(body[:2], "big"),)
    return ClientHello(tuple(suites), frozenset(exts), bytes(session_id), _u16s(exts.get(EXT_SUPPORTED_GROUPS, b"")[2:]),
                       _key_share_groups(exts.get(EXT_KEY_SHARE, b"")[2:]),
                       _u16s(exts.get(EXT_SIGNATURE_ALGORITHMS, b"")[2:]), len(message), versions)


def _extensions(body: bytes, i: int) -> dict[int, bytes]:
    exts: dict[int, bytes] = {}
    if i + 2 <= len(body):
        end = i + 2 + struct.unpack_from("!H", body, i)[0]
        i += 2
        while i + 4 <= end:
            ext_type, ext_len = struct.unpack_from("!HH", body, i)
            exts[ext_type] = body[i + 4:i + 4 + ext_len]
            i += 4 + ext_len
    return exts


def _u16s(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"!{len(data) // 2}H", data[:len(data) // 2 * 2])


def _key_share_groups(entries: bytes) -> tuple[int, ...]:
    groups, i = [], 0
    while i + 4 <= len(entries):
        group, size = struct.unpack_from("!HH", entries, i)
        groups.append(group)
        i += 4 + size
    return tuple(groups)


def tls_records(content_type: int, payload: bytes, version: int = TLS12) -> bytes:
    """``payload`` as records of at most 2^14 bytes each (what a real peer must send)."""
    out = b""
    for i in range(0, max(len(payload), 1), MAX_FRAGMENT):
        chunk = payload[i:i + MAX_FRAGMENT]
        out += struct.pack("!BHH", content_type, version, len(chunk)) + chunk
    return out


def handshake_message(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def extension(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def _u16_list(values: tuple[int, ...], length_bytes: int = 2) -> bytes:
    body = b"".join(struct.pack("!H", v) for v in values)
    return len(body).to_bytes(length_bytes, "big") + body


def client_hello_12(servername: str | None) -> bytes:
    """A TLS 1.2 ClientHello record (SNI for a DNS name)."""
    exts = extension(EXT_SUPPORTED_GROUPS, _u16_list(GROUPS)) + extension(EXT_EC_POINT_FORMATS, b"\x01\x00")
    exts += extension(EXT_SIGNATURE_ALGORITHMS, _u16_list(SIGNATURE_SCHEMES))
    if servername:
        name = servername.encode("idna")
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        exts += extension(EXT_SERVER_NAME, struct.pack("!H", len(entry)) + entry)
    body = struct.pack("!H", TLS12) + os.urandom(32) + b"\x00" + _u16_list(CLIENT_SUITES) + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    return tls_records(HANDSHAKE, handshake_message(CLIENT_HELLO, body), version=0x0301)


def _handshake_stream(sock: socket.socket):
    """The server's handshake bytes, record by record (stops at an alert, a non-handshake record or EOF)."""
    buf, total = b"", 0
    while total < MAX_CERTIFICATE_MESSAGE:
        while len(buf) < 5:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        content_type, _, length = struct.unpack("!BHH", buf[:5])
        while len(buf) < 5 + length:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        if content_type != HANDSHAKE:
            return
        yield buf[5:5 + length]
        total += length
        buf = buf[5 + length:]


def certificates_sent(host: str, port: int, servername: str | None, timeout_s: float) -> list[bytes]:
    """The DER of each certificate in a TLS 1.2 server's Certificate message, in its order, unparsed.
    Empty when the server answers otherwise (TLS 1.3 only, an alert, not TLS)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(client_hello_12(servername))
        data = b""
        for fragment in _handshake_stream(sock):
            data += fragment
            while len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[1:4], "big"):
                msg_type, size = data[0], int.from_bytes(data[1:4], "big")
                body, data = data[4:4 + size], data[4 + size:]
                if msg_type == CERTIFICATE:
                    return _certificate_list(body)
                if msg_type == SERVER_HELLO_DONE:
                    return []
    return []


def _certificate_list(body: bytes) -> list[bytes]:
    out, at, end = [], 3, min(len(body), 3 + int.from_bytes(body[:3], "big"))
    while at + 3 <= end:
        size = int.from_bytes(body[at:at + 3], "big")
        out.append(body[at + 3:at + 3 + size])
        at += 3 + size
    return out


#: the content types a TLS record starts with (change_cipher_spec … heartbeat), RFC 8446 §5.1
RECORD_TYPES = range(20, 25)


def is_record_header(data: bytes) -> bool:
    """Whether the first bytes a peer sent can begin a TLS (or SSL 3) record: a known content type
    and a 3.x version. A text banner ("SSH-2.0-…") cannot; what follows the header is not judged."""
    return len(data) >= 3 and data[0] in RECORD_TYPES and data[1] == 3


def first_bytes(host: str, port: int, servername: str | None, timeout_s: float) -> bytes:
    """Up to five bytes the peer sends first, after a ClientHello of our own (or before it, for a peer
    that talks first); empty when it sends nothing in time or the connection fails."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.sendall(client_hello_12(servername))
            except OSError:
                pass  # a peer that talked first and hung up: what it said may still be readable
            data = b""
            while len(data) < 5:
                chunk = sock.recv(5 - len(data))
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return b""
