"""A PKCS#12 file from a PEM chain + PEM key, with the standard library only.

NSS's ``selfserv`` serves certificates from an NSS database, and the only NSS tool that
imports a private key is ``pk12util``, which reads PKCS#12. The server containers have no
``openssl`` CLI and Python's stdlib cannot write PKCS#12, so this module builds one:

- one unencrypted ``data`` SafeContents holding a ``keyBag`` (plain PKCS#8 PrivateKeyInfo,
  RFC 7292 4.2.1) and one ``certBag`` per certificate of the chain;
- ``friendlyName`` (the NSS nickname) and ``localKeyId`` on the key and leaf bags;
- integrity: HMAC-SHA256 keyed with the RFC 7292 appendix B KDF (what OpenSSL 3 writes).

Nothing is encrypted (no cipher in the stdlib); the file lives in the supervisor's private
temp directory for the moment ``pk12util`` reads it and is deleted right after.
"""
from __future__ import annotations

import base64
import hashlib
import re

# --- DER ------------------------------------------------------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(0x31, b"".join(sorted(items)))  # DER: SET OF sorted by encoding


def integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, body)


def octets(b: bytes) -> bytes:
    return tlv(0x04, b)


def null() -> bytes:
    return b"\x05\x00"


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def bmp(text: str) -> bytes:
    return tlv(0x1E, text.encode("utf-16-be"))


def explicit(n: int, content: bytes) -> bytes:
    return tlv(0xA0 | n, content)


def read_tlv(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        tag, s, e = read_tlv(data, start)
        out.append((tag, s, e))
        start = e
    return out


# --- PEM and keys ---------------------------------------------------------------------------

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)

OID_RSA = "1.2.840.113549.1.1.1"
OID_EC = "1.2.840.10045.2.1"


def pem_blocks(data: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    blocks = []
    for m in _PEM.finditer(data):
        label = m.group(1).decode()
        headers: dict[str, str] = {}
        body_lines = []
        for line in m.group(2).decode("ascii", "replace").splitlines():
            line = line.strip()
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip()] = value.strip()
            elif line:
                body_lines.append(line)
        blocks.append((label, headers, base64.b64decode("".join(body_lines))))
    return blocks


def load_certificates(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    certs = [der for label, _, der in pem_blocks(data) if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")]
    if not certs:
        if data[:1] == b"\x30":  # a single DER certificate
            return [data]
        raise ValueError(f"{path}: no PEM certificate found")
    return certs


def load_private_key_pkcs8(path: str) -> bytes:
    """The key as DER PKCS#8 PrivateKeyInfo (converting PKCS#1 RSA and SEC1 EC keys)."""
    with open(path, "rb") as f:
        data = f.read()
    blocks = [b for b in pem_blocks(data) if b[0].endswith("PRIVATE KEY")]
    if not blocks:
        if data[:1] == b"\x30":
            return data  # DER, assumed PKCS#8
        raise ValueError(f"{path}: no PEM private key found")
    label, headers, der = blocks[0]
    if label == "ENCRYPTED PRIVATE KEY" or "DEK-Info" in headers:
        raise ValueError(f"{path}: encrypted private keys are not supported")
    if label == "PRIVATE KEY":
        return der
    if label == "RSA PRIVATE KEY":
        return seq(integer(0), seq(oid(OID_RSA), null()), octets(der))
    if label == "EC PRIVATE KEY":
        _, s, e = read_tlv(der)
        curve = None
        for tag, cs, ce in children(der, s, e):
            if tag == 0xA0:
                curve = der[cs:ce]  # the named-curve OID TLV
        if curve is None:
            raise ValueError(f"{path}: EC key without named curve parameters")
        return seq(integer(0), seq(oid(OID_EC), curve), octets(der))
    raise ValueError(f"{path}: unsupported private key type {label!r}")


# --- PKCS#12 --------------------------------------------------------------------------------

OID_DATA = "1.2.840.113549.1.7.1"
OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
OID_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
OID_X509_CERT = "1.2.840.113549.1.9.22.1"
OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"


def _hmac_sha256(key: bytes, msg: bytes) -> bytes:  # the stdlib ``hmac`` module is not in python3-minimal
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + msg).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def pkcs12_kdf(password: str, salt: bytes, ident: int, iterations: int, n: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64)."""
    u, v = 32, 64
    pw = password.encode("utf-16-be") + b"\0\0"

    def stretch(b: bytes) -> bytes:
        if not b:
            return b""
        size = v * ((len(b) + v - 1) // v)
        return (b * (size // len(b) + 1))[:size]

    d = bytes([ident]) * v
    i = bytearray(stretch(salt) + stretch(pw))
    out = b""
    while len(out) < n:
        a = hashlib.sha256(d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = hashlib.sha256(a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big")
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b + 1) % (1 << (8 * v))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:n]


def _attrs(friendly_name: str | None, local_key_id: bytes | None) -> bytes:
    attrs = []
    if friendly_name is not None:
        attrs.append(seq(oid(OID_FRIENDLY_NAME), set_of(bmp(friendly_name))))
    if local_key_id is not None:
        attrs.append(seq(oid(OID_LOCAL_KEY_ID), set_of(octets(local_key_id))))
    return set_of(*attrs) if attrs else b""


def build_pkcs12(chain_der: list[bytes], key_pkcs8: bytes, nickname: str, password: str,
                 iterations: int = 2048, salt: bytes | None = None) -> bytes:
    """PFX with the key (``keyBag``) and the chain (leaf first) for ``pk12util -i``."""
    import os

    key_id = hashlib.sha1(chain_der[0]).digest()
    bags = [seq(oid(OID_KEY_BAG), explicit(0, key_pkcs8), _attrs(nickname, key_id))]
    for index, cert in enumerate(chain_der):
        cert_bag = seq(oid(OID_X509_CERT), explicit(0, octets(cert)))
        if index == 0:
            attrs = _attrs(nickname, key_id)
        else:
            attrs = _attrs(f"{nickname}-chain-{index}", None)
        bags.append(seq(oid(OID_CERT_BAG), explicit(0, cert_bag), attrs))
    safe_contents = seq(*bags)
    auth_safe = seq(seq(oid(OID_DATA), explicit(0, octets(safe_contents))))
    salt = os.urandom(16) if salt is None else salt
    mac_key = pkcs12_kdf(password, salt, 3, iterations, 32)
    digest = _hmac_sha256(mac_key, auth_safe)
    mac_data = seq(seq(seq(oid(OID_SHA256), null()), octets(digest)), octets(salt), integer(iterations))
    return seq(integer(3), seq(oid(OID_DATA), explicit(0, octets(auth_safe))), mac_data)
