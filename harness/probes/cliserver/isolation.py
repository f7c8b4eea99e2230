"""Keep wildcard-binding CLI servers off the host's network: a private network namespace + relay.

``gnutls-serv`` (3.7.9) and ``selfserv`` (NSS 3.87) have no listen-address option: both bind
the wildcard address (``gnutls-serv``: 0.0.0.0 and ::, ``selfserv``: dual-stack ``*``). The
contract forbids that outside a container, so in host mode the supervisor

1. binds the contract's listening sockets itself, on ``host`` (127.0.0.1) and the requested
   port (or one the OS picks), while still in the host's network namespace;
2. moves itself into a new user + network namespace (``unshare``; unprivileged, the user
   namespace only maps the caller's own uid/gid) and brings its loopback up;
3. starts the CLI servers there: their wildcard binds reach nothing but that private,
   interface-less namespace;
4. relays each accepted connection byte for byte to the CLI server's inner port. The relay is
   transparent to TLS; a reset from either side is passed on as a reset (SO_LINGER 0), an
   orderly close as a half-close.

Sockets keep the namespace they were created in, so the listening sockets of step 1 stay on
the host's loopback while every socket created after step 2 lives in the private namespace.
"""
from __future__ import annotations

import errno
import os
import selectors
import socket
import struct
import sys
import threading

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

RELAY_IDLE_S = 120.0  # a relayed connection with no traffic either way for this long is closed


class IsolationError(Exception):
    pass


def _unshare(flags: int) -> None:
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    if unshare is not None:
        unshare(flags)
        return
    try:
        import ctypes
    except ImportError as exc:
        raise IsolationError(f"unshare needs os.unshare (Python 3.12+) or ctypes: {exc}") from None
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_private_network() -> None:
    """Move this (still single-threaded) process into a fresh network namespace with lo up."""
    if not sys.platform.startswith("linux"):
        raise IsolationError("network namespaces need Linux")
    if threading.active_count() != 1:
        raise IsolationError("must run before any thread is started")
    uid, gid = os.geteuid(), os.getegid()
    try:
        if uid == 0:
            try:  # real root: a network namespace alone, no uid mapping games
                _unshare(CLONE_NEWNET)
            except PermissionError:
                uid = -1
        if uid != 0:
            uid = os.geteuid()
            _unshare(CLONE_NEWUSER | CLONE_NEWNET)
            try:
                _write("/proc/self/setgroups", "deny")
            except FileNotFoundError:  # kernels before 3.19
                pass
            _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
            _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    except OSError as exc:
        raise IsolationError(
            f"cannot create a private network namespace (unshare: {exc.strerror or exc}); "
            "unprivileged user namespaces may be disabled (sysctl user.max_user_namespaces, "
            "kernel.apparmor_restrict_unprivileged_userns, a container's seccomp profile)"
        ) from None
    try:
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifreq = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, ifreq)[:18])[1]
            fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    except OSError as exc:
        raise IsolationError(f"cannot bring up loopback in the private network namespace: {exc}") from None


def _reset(sock: socket.socket) -> None:
    """Close with RST, as the peer we relay for did."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def relay(client: socket.socket, inner: tuple[str, int], label: str, log) -> None:
    try:
        backend = socket.create_connection(inner, timeout=5)
    except OSError as exc:
        log(f"{label}: relay: cannot reach the server at {inner[0]}:{inner[1]}: {exc}")
        _reset(client)
        return
    backend.settimeout(None)
    client.settimeout(None)
    peer = {client: backend, backend: client}
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ)
    sel.register(backend, selectors.EVENT_READ)
    reading = 2
    try:
        while reading:
            events = sel.select(RELAY_IDLE_S)
            if not events:
                log(f"{label}: relay: idle for {RELAY_IDLE_S:.0f} s, closing")
                _reset(client)
                _reset(backend)
                return
            for key, _ in events:
                src = key.fileobj
                dst = peer[src]
                try:
                    data = src.recv(65536)
                except ConnectionResetError:
                    _reset(dst)
                    src.close()
                    return
                except OSError as exc:
                    log(f"{label}: relay: {exc}")
                    _reset(dst)
                    src.close()
                    return
                if data:
                    try:
                        dst.sendall(data)
                    except OSError:  # dst went away (reset): tell src the same way
                        _reset(src)
                        dst.close()
                        return
                else:
                    sel.unregister(src)
                    reading -= 1
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
        client.close()
        backend.close()
    finally:
        sel.close()
        for s in (client, backend):
            if s.fileno() != -1:
                s.close()


def accept_loop(server: socket.socket, inner: tuple[str, int], label: str, log) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError as exc:
            if exc.errno in (errno.EBADF, errno.EINVAL) or server.fileno() == -1:
                return  # closed at shutdown
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log(f"{label}: accept: {exc}")
                threading.Event().wait(0.1)
            continue
        threading.Thread(target=relay, args=(conn, inner, label, log), daemon=True).start()
