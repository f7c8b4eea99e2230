"""OpenSSL server program: CPython's ``ssl`` module, one process, many listeners.

Implements the server side of docs/probe-contract.md with the standard library only; the
configuration and the JSON lines are read and written by ../jsonlines.py.
"""
from __future__ import annotations

import os
import signal
import socket
import ssl
import sys
import threading

from ..jsonlines import read_config, write_line
from .client import hello
from .kx import set_groups

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def log(message: str) -> None:
    sys.stderr.write(f"tlsmatrix-openssl-server: {message}\n")
    sys.stderr.flush()


def serve_connection(ctx: ssl.SSLContext, conn: socket.socket, listener_id: str) -> None:
    try:
        conn.settimeout(10)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            try:
                tls.unwrap()
            except (OSError, ValueError):
                pass
    except (OSError, ssl.SSLError, ValueError) as exc:
        log(f"{listener_id}: handshake: {exc}")
    finally:
        try:
            conn.close()
        except OSError:
            pass


def accept_loop(ctx: ssl.SSLContext, server: socket.socket, listener_id: str) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        threading.Thread(target=serve_connection, args=(ctx, conn, listener_id), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    config_file = argv[1] if len(argv) == 2 and argv[0] == "--config" else None
    try:
        config = read_config(config_file)
    except (OSError, ValueError) as exc:
        log(f"invalid configuration: {exc}")
        return 2
    host = config.get("host", "127.0.0.1")
    if host not in _LOOPBACK and not (host == "0.0.0.0" and config.get("container") is True):
        log(f"refusing to bind {host!r}: tlsmatrix endpoints bind loopback only (0.0.0.0 only with container: true)")
        return 2
    write_line(hello())
    for spec in config["listeners"]:
        lid = spec.get("id")
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(spec["cert_file"], spec["key_file"])
            if spec.get("client_ca_file"):  # mTLS: require a client certificate from this CA
                ctx.load_verify_locations(cafile=spec["client_ca_file"])
                ctx.verify_mode = ssl.CERT_REQUIRED
            version = spec.get("tls_version")
            if version is not None:
                ctx.minimum_version = ctx.maximum_version = _VERSIONS[version]
            else:
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            why = set_groups(ctx, spec["groups"]) if spec.get("groups") else None
            if why is not None:
                write_line({"id": lid, "error": f"unsupported group: {why}"})
                continue
            server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            server.bind((host, int(spec.get("port") or 0)))
            server.listen(128)
        except (OSError, ssl.SSLError, KeyError) as exc:
            write_line({"id": lid, "error": str(exc)})
            continue
        threading.Thread(target=accept_loop, args=(ctx, server, lid), daemon=True).start()
        write_line({"id": lid, "port": server.getsockname()[1]})
    write_line({"ready": True})
    if config_file:
        signal.pause()  # in a container: serve until SIGTERM
    else:
        sys.stdin.read()  # serve until the harness closes stdin
    return 0


if __name__ == "__main__":
    sys.exit(main())
