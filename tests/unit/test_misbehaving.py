"""The misbehaving peer's hand-made TLS bytes (no network: a ClientHello from a memory BIO)."""
from __future__ import annotations

import ssl
import struct

from tlsmatrix.running.endpoints import misbehaving as m
from tlsmatrix.model.core import Outcome


def real_client_hello() -> bytes:
    """The first flight of CPython's OpenSSL client, without a socket."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def test_client_hello_parses_suites_and_extensions():
    record = real_client_hello()
    content_type, _, length = struct.unpack("!BHH", record[:5])
    hello = m.parse_client_hello(record[5:5 + length])
    assert content_type == m.HANDSHAKE and hello is not None
    assert 0xC02F in hello.suites and m.EXT_EXTENDED_MASTER_SECRET in hello.extensions


def test_records_never_exceed_the_tls_fragment_limit():
    data = m.tls_records(m.HANDSHAKE, bytes(40_000))
    sizes, i = [], 0
    while i < len(data):
        size = struct.unpack_from("!H", data, i + 3)[0]
        sizes.append(size)
        i += 5 + size
    assert sizes == [16384, 16384, 40_000 - 2 * 16384]


def test_big_chain_is_over_every_client_limit():
    message = m.big_certificate_message(m.BIG_CHAIN_BYTES)
    assert message[0] == m.CERTIFICATE
    assert int.from_bytes(message[1:4], "big") > 128 * 1024  # NSS and GnuTLS, the largest limits


def test_mysql_greeting_reads_as_one_complete_record_of_no_tls_type():
    greeting = m._mysql_greeting()
    content_type, _, length = struct.unpack("!BHH", greeting[:5])
    assert content_type not in range(20, 25) and 5 + length <= len(greeting)


def test_every_behaviour_has_one_case_and_a_class():
    cases = [b.case for b in m.BEHAVIOURS.values()]
    assert len(set(cases)) == len(cases) and all(c.startswith("peer: ") for c in cases)
    assert {b.name for b in m.BEHAVIOURS.values() if b.stalls} == {"truncated", "never-read"}
    assert m.BEHAVIOURS["http"].outcome is Outcome.NOT_TLS


def _answer(act, client_bytes: bytes) -> bytes:
    """What a behaviour writes to a client that sent ``client_bytes`` and then half-closed."""
    import socket
    import threading
    import time

    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(client_bytes)
        worker = threading.Thread(target=act, args=(m.Conn(ours, time.monotonic() + 5, threading.Event()),))
        worker.start()
        answer = b""
        while chunk := theirs.recv(65536):
            answer += chunk
            if len(answer) >= 7:
                break
        theirs.shutdown(socket.SHUT_WR)
        worker.join(5)
    return answer


def test_client_hello_parses_session_id_and_groups():
    record = real_client_hello()
    hello = m.parse_client_hello(record[5:])
    assert len(hello.session_id) in (0, 32) and 0x001D in hello.groups and not hello.offers_ml_kem


def test_one_read_answers_decode_error_to_a_hello_longer_than_a_segment():
    small = m.tls_records(m.HANDSHAKE, m.handshake_message(1, bytes(300)))
    large = m.tls_records(m.HANDSHAKE, m.handshake_message(1, bytes(1500)))
    assert _answer(m._one_read, small)[-2:] == bytes([m.FATAL, m.HANDSHAKE_FAILURE_ALERT])
    assert _answer(m._one_read, large)[-2:] == bytes([m.FATAL, m.DECODE_ERROR_ALERT])


def test_the_hello_retry_request_names_a_group_the_client_did_not_offer():
    record = real_client_hello()
    answer = _answer(m._hrr_unoffered, record)
    content_type, _, length = struct.unpack("!BHH", answer[:5])
    body = answer[5 + 4:5 + length]
    assert content_type == m.HANDSHAKE and answer[5] == m.SERVER_HELLO and body[2:34] == m.HRR_RANDOM
    hello = m.parse_client_hello(record[5:])
    assert body[35:35 + body[34]] == hello.session_id  # echoed, as RFC 8446 wants
    assert struct.pack("!HHH", m.EXT_KEY_SHARE, 2, m.UNOFFERED_GROUP) in body and m.UNOFFERED_GROUP not in hello.groups
