"""Key-exchange groups for CPython's ``ssl`` (client and server probes), standard library only.

CPython (up to 3.14) cannot set a group list (``set_ecdh_curve`` sets one curve by NID, and the
hybrid ML-KEM groups have no NID), nor say which group a handshake used. So this module goes one
level down, to the OpenSSL the ``ssl`` module is linked with:

- :func:`set_groups` calls ``SSL_CTX_set1_groups_list`` (``SSL_CTX_ctrl(ctx, 92, …)``) on the
  context's own ``SSL_CTX`` (the first field after the object header of CPython's ``PySSLContext``;
  checked by reading the options back through OpenSSL before anything is written);
- :class:`Watch` reads the ServerHello (and TLS 1.2's ServerKeyExchange) the handshake received,
  through ``SSLContext._msg_callback`` (OpenSSL's message callback): the negotiated group and
  whether a HelloRetryRequest came. It only reads; verification is untouched.
"""
from __future__ import annotations

import ctypes
import ssl

_SSL_CTRL_SET_GROUPS_LIST = 92  # SSL_CTX_set1_groups_list is this ctrl (OpenSSL 1.1.1 and 3.x)
#: the registry's names OpenSSL 1.1.1 does not take (it looks names up as NIDs); 3.x takes both
_OPENSSL_SPELLING = {"x25519": "X25519", "x448": "X448", "secp256r1": "P-256", "secp384r1": "P-384",
                     "secp521r1": "P-521"}
#: the ServerHello random of a HelloRetryRequest (RFC 8446, 4.1.3)
_HRR = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def openssl_list(names: list[str], key_shares: list[str] | None = None) -> str:
    """A group setting in OpenSSL's syntax (``s_client -groups``, ``ecdhCurve``, ``curl --curves``); the
    groups in ``key_shares`` marked ``*`` (OpenSSL 3.5: send a key share for exactly those; older
    OpenSSL refuses the mark, in its words)."""
    shares = set(key_shares or ())
    return ":".join(("*" if n in shares else "") + _OPENSSL_SPELLING.get(n, n) for n in names)


def _libssl() -> ctypes.CDLL:
    """The libssl this process's ``ssl`` module uses (the same mapping, found in /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "/libssl.so" in path:
                return ctypes.CDLL(path)
    raise OSError("the ssl module's libssl is not mapped (statically linked?)")


def set_groups(ctx: ssl.SSLContext, names: list[str], key_shares: list[str] | None = None) -> str | None:
    """Restrict ``ctx`` to ``names`` (preference order; key shares for ``key_shares`` only, when
    given); None, or why not in OpenSSL's words."""
    lib = _libssl()
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not pointer or lib.SSL_CTX_get_options(pointer) != int(ctx.options):
        return "this CPython's SSLContext layout is not the one tlsmatrix knows"
    wanted = openssl_list(names, key_shares)
    if lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, wanted.encode()) != 1:
        return f"{ssl.OPENSSL_VERSION} refuses the group list {wanted!r} ({_openssl_error(lib)})"
    return None


def _openssl_error(lib: ctypes.CDLL) -> str:
    """OpenSSL's own words for the error it just queued (libssl re-exports nothing: libcrypto has it)."""
    try:
        crypto = ctypes.CDLL(lib._name.replace("libssl", "libcrypto"))
        crypto.ERR_get_error.restype = ctypes.c_ulong
        buf = ctypes.create_string_buffer(256)
        crypto.ERR_error_string_n(ctypes.c_ulong(crypto.ERR_get_error()), buf, ctypes.c_size_t(len(buf)))
        return buf.value.decode(errors="replace") or "no error queued"
    except (OSError, AttributeError):
        return "no error text"


class Watch:
    """The group and HelloRetryRequest of the current handshake, read from its messages."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.group: str | None = None
        self.hrr = False
        ctx._msg_callback = self._message  # noqa: SLF001 - the only way CPython hands out the messages

    def reset(self) -> None:
        self.group, self.hrr = None, False

    def _message(self, conn, direction, version, content_type, msg_type, data) -> None:
        try:
            self._read(direction, content_type, data)
        except Exception:  # noqa: BLE001 - an observer must never break the handshake it watches
            pass

    def _read(self, direction, content_type, data) -> None:
        if direction != "read" or content_type != ssl._TLSContentType.HANDSHAKE or len(data) < 4:
            return
        body = data[4:]
        if data[0] == 2:  # ServerHello (or HelloRetryRequest)
            self._server_hello(body)
        elif data[0] == 12 and len(body) >= 3 and body[0] == 3:  # ServerKeyExchange, named curve
            self.group = f"0x{int.from_bytes(body[1:3], 'big'):04x}"

    def _server_hello(self, body: bytes) -> None:
        if len(body) < 38:
            return
        retry = body[2:34] == _HRR
        self.hrr = self.hrr or retry
        offset = 35 + body[34] + 3  # version, random, session id, cipher suite, compression
        end = offset + 2 + int.from_bytes(body[offset:offset + 2], "big")
        offset += 2
        while offset + 4 <= min(end, len(body)):
            kind, size = int.from_bytes(body[offset:offset + 2], "big"), int.from_bytes(body[offset + 2:offset + 4], "big")
            if kind == 0x0033 and size >= 2 and not retry:  # key_share: the group the server chose
                self.group = f"0x{int.from_bytes(body[offset + 4:offset + 6], 'big'):04x}"
            offset += 4 + size
