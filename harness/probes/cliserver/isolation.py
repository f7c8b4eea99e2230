"""Keep the CLI servers' listening sockets off the host's network: private namespace + relay.

Neither CLI server can be told which address to listen on:

- ``gnutls-serv`` 3.7.9 has no listen-address option; it binds ``getaddrinfo(NULL, port,
  AI_PASSIVE)``, i.e. 0.0.0.0 and :: (and keeps running, listening nowhere, if both fail);
- ``selfserv`` (NSS 3.87, NSPR 4.35) binds ``PR_GetPrefLoopbackAddrInfo()``. Meant as ::1,
  it comes out as ``::`` (all addresses, dual stack) whenever getaddrinfo lists ::1 before
  127.0.0.1, because NSPR zeroes the tail of the IPv6 result while skipping the IPv4 entries;
  with IPv6 disabled (Docker's default) it is a real ::1, which then cannot be bound.

So the supervisor owns the contract's sockets and relays (see supervisor.py). Outside a
container it first binds them on the host's loopback, then moves itself into a new user +
network namespace (unprivileged: the user namespace maps only the caller's own uid/gid), brings
that namespace's loopback up and starts the CLIs there. Sockets keep the namespace they were
created in: the listening sockets stay on the host's 127.0.0.1, every socket created afterwards
(the CLIs', the relay's connections to them) lives in the private, interface-less namespace.

The relay is transparent to TLS: bytes are copied both ways, an orderly close is passed on as a
half-close (shutdown SHUT_WR), a reset from either side as a reset (SO_LINGER 0).
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
