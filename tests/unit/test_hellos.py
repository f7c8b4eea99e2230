"""A client's default ClientHello, read into what `tlsmatrix list --format json` shows."""
from __future__ import annotations

import ssl
import struct

from tlsmatrix.certs.tlswire import parse_client_hello
from tlsmatrix.running.hellos import _grease, hello_facts


def cpython_client_hello() -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    record = outgoing.read()
    return record[5:5 + struct.unpack("!H", record[3:5])[0]]


def test_a_real_hello_reads_as_groups_shares_key_types_and_versions():
    facts = hello_facts(parse_client_hello(cpython_client_hello()))
    assert facts["groups"][0] == "x25519" and "secp256r1" in facts["groups"] and facts["key_shares"] == ["x25519"]
    assert {"P-256", "RSA", "Ed25519"} <= set(facts["key_types"])
    assert facts["tls_versions"][0] == "1.3" and facts["bytes"] > 100


def test_grease_is_no_group():
    assert _grease(0x0A0A) and _grease(0xFAFA) and not _grease(0x0A0B) and not _grease(0x001D)
