"""OpenSSL client probe: CPython's ``ssl`` module (linked OpenSSL), docs/probe-contract.md.

Standard library only, so it runs anywhere a Python 3.11 does (also inside containers). The
JSON-lines loop and the job's field types are ../jsonlines.py's; this file is the handshake.
"""
from __future__ import annotations

import os
import socket
import ssl
import sys
import time

from ..jsonlines import run
from .kx import Watch, set_groups

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def hello() -> dict:
    return {
        "hello": {
            "stack": "OpenSSL",
            "version": ssl.OPENSSL_VERSION.split()[1] if ssl.OPENSSL_VERSION.startswith("OpenSSL") else ssl.OPENSSL_VERSION,
            "provider": None,
            "details": {"library": ssl.OPENSSL_VERSION, "binding": f"CPython {sys.version.split()[0]} ssl"},
        }
    }


#: how long to wait after the handshake for a server's rejection of our client certificate
ACCEPT_WAIT_S = 2.0


#: SSLContexts by what configures them (CA file, TLS version, client certificate and key, each file
#: by its path and stat): building one and loading the CA costs ~0.4 ms under OpenSSL 3.0, a sixth
#: of a P-256 handshake. Sharing a context resumes nothing: OpenSSL keeps client sessions in its
#: SSL_CTX cache only in SSL_SESS_CACHE_CLIENT mode (CPython leaves the default, server-only), and a
#: client offers a session only when one is set on its SSL object (wrap_socket(session=...)), which
#: this probe never does (tests/integration/test_session_reuse.py checks at the server).
_CONTEXTS: dict[tuple, ssl.SSLContext] = {}


def _file_key(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _new_context(job: dict, out: dict) -> ssl.SSLContext | None:
    """A context with only the job's CA as trust anchor; None with ``out`` filled when it cannot be made."""
    try:
        # PROTOCOL_TLS_CLIENT: CERT_REQUIRED + check_hostname. Not create_default_context(): that
        # would also load the system trust store, and the CA file must be the only anchor.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=job["ca_file"])
        if ctx.verify_mode != ssl.CERT_REQUIRED or not ctx.check_hostname:  # pragma: no cover - defensive
            raise ssl.SSLError("verification is not fully on")
    except (OSError, ssl.SSLError, KeyError, TypeError) as exc:
        out["error"] = f"probe: cannot load CA file {job.get('ca_file')!r}: {exc}"
        return None
    client_cert = job.get("client_cert_file")
    if client_cert is not None:
        try:
            ctx.load_cert_chain(client_cert, job.get("client_key_file"))
        except (OSError, ssl.SSLError, TypeError) as exc:
            # OpenSSL refusing the key is the stack's result (e.g. an unsupported key type), not a probe bug
            out["error"] = f"cannot load client certificate {client_cert!r}: {exc}"
            out["error_detail"] = type(exc).__name__
            return None
    version = job.get("tls_version")
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = _VERSIONS[version]
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if job.get("groups"):
        why = set_groups(ctx, job["groups"], job.get("key_shares"))
        if why is not None:
            out["error"] = f"unsupported group: {why}"
            return None
    ctx.tlsmatrix_watch = Watch(ctx)
    return ctx


def _context(job: dict, out: dict) -> ssl.SSLContext | None:
    """The cached context for this job's configuration, made on first use (failures are not cached)."""
    files = [job.get("ca_file"), job.get("client_cert_file"), job.get("client_key_file")]
    try:
        key = (job.get("tls_version"), tuple(job.get("groups") or ()), tuple(job.get("key_shares") or ()),
               *(_file_key(f) if f is not None else None for f in files))
    except (OSError, TypeError):
        return _new_context(job, out)  # an unreadable file: the error in OpenSSL's words, as before
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _new_context(job, out)
        if ctx is not None:
            _CONTEXTS[key] = ctx
    return ctx


def handshake(job: dict) -> dict:
    """One job (its fields checked by jsonlines.check_job) -> its result line."""
    start = time.monotonic()
    out = {"id": job.get("id"), "ok": False, "error": None, "negotiated": None, "elapsed_ms": None}
    ctx = _context(job, out)
    if ctx is None:
        return out
    watch = ctx.tlsmatrix_watch
    watch.reset()
    client_cert = job.get("client_cert_file")
    timeout = max(int(job.get("timeout_ms") or 10000), 1) / 1000.0
    deadline = start + timeout
    sock = None
    try:
        sock = socket.create_connection((job["host"], int(job["port"])), timeout=timeout)
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        tls = ctx.wrap_socket(sock, server_hostname=job["servername"])
        sock = tls
        # connect + handshake, as the other probes report it: not the wait for an mTLS verdict below
        handshake_ms = round((time.monotonic() - start) * 1000, 3)
        if client_cert is not None:
            # TLS 1.3: the server judges the client certificate after our handshake is done, so its
            # verdict (close_notify, or an alert such as certificate_required) arrives on the next read.
            # A server that waits for a request (an HTTP app) sends nothing: silence means accepted.
            tls.settimeout(max(min(deadline - time.monotonic(), ACCEPT_WAIT_S), 0.001))
            try:
                tls.recv(1)
            except (TimeoutError, socket.timeout):
                pass
        out["ok"] = True
        cipher = tls.cipher()
        out["negotiated"] = {"version": tls.version(), "cipher": cipher[0] if cipher else None, "group": watch.group,
                             "sigalg": None, "hrr": watch.hrr}
        out["elapsed_ms"] = handshake_ms
    except ssl.SSLCertVerificationError as exc:
        out["error"] = str(exc)
        out["error_detail"] = f"SSLCertVerificationError verify_code={exc.verify_code} verify_message={exc.verify_message!r}"
    except (TimeoutError, socket.timeout) as exc:
        out["error"] = f"timeout: {exc}"
    except ssl.SSLError as exc:
        out["error"] = str(exc)
        out["error_detail"] = f"{type(exc).__name__} library={exc.library} reason={exc.reason}"
    except OSError as exc:
        out["error"] = str(exc)
        out["error_detail"] = type(exc).__name__
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
    if out["elapsed_ms"] is None:
        out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 3)
    return out


def main() -> int:
    return run(hello(), handshake)


if __name__ == "__main__":
    sys.exit(main())
