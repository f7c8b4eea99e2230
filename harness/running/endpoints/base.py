"""What every endpoint backend provides, and the readiness check they share.

Readiness is a real TLS handshake: a listener is ready when a handshake completes and the
server presents exactly the leaf certificate it was given.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from ...certs.certread import read_der, split_pem
from ...model.errors import TlsmatrixError
from ...model.core import ListenerConfig, StackInfo
from ...model.groups import group_fields
from ...certs.pki import ChainFiles

LOOPBACK = "127.0.0.1"


class EndpointError(TlsmatrixError):
    """A server stack could not be started at all (not: could not use one chain)."""


@dataclass(frozen=True)
class ListenerSpec:
    id: str
    chain: ChainFiles
    tls: str | None
    app: str | None = None  # None: handshake and close; "kubernetes": serve a small Kubernetes API
    #: present the chain file as given and sign with a key that may not be the leaf's (tlsmatrix replay)
    replay: bool = False
    groups: tuple[str, ...] | None = None  # the key-exchange groups to accept (None: the stack's own list)

    def config(self, path: Callable[[Path], str] = str, port: int | None = None) -> ListenerConfig:
        """This listener in a server program's configuration; ``path`` maps a file to where the program
        sees it (a container mounts the certificate cache elsewhere)."""
        chain = self.chain
        return ListenerConfig(id=self.id, cert_file=path(chain.cert_file), key_file=path(chain.key_file),
                              tls_version=self.tls, port=port, app=self.app,
                              client_ca_file=path(chain.ca_file) if chain.client_cert_file else None,
                              replay=self.replay or None, **group_fields(self.groups))


@dataclass
class Listener:
    spec: ListenerSpec
    host: str = LOOPBACK
    port: int | None = None
    error: str | None = None  # the server stack's own words when it cannot serve this chain
    #: docker backend: (the run's internal network, the container's address there, the container port),
    #: where the versioned client containers reach this listener
    internal: tuple[str, str, int] | None = None


class Started:
    """A context manager that starts on entering and closes on leaving, also when start() fails half
    way (what it started so far is stopped): the endpoints' shared lifecycle."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Endpoint(Protocol):
    """A running server stack (process.py: a local process; docker.py: a container), one listener per
    (chain, TLS version, app). ``start()`` blocks until every listener is ready or has an error of its
    own and raises EndpointError when the stack cannot start at all; ``close()`` stops it (twice is
    fine, and so is before ``start()``). As a context manager it starts and closes itself."""

    stack_name: str
    info: StackInfo | None
    listeners: dict[str, Listener]
    cpu_s: float | None  # CPU seconds of its program once stopped; None where not measured (containers)

    def start(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> "Endpoint": ...

    def __exit__(self, *exc: object) -> None: ...


_TLS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def handshake_presents(host: str, port: int, leaf_file: str, tls: str | None, timeout: float,
                       client_cert: tuple[str, str] | None = None) -> None:
    """One TLS handshake; raises unless the server presents the expected leaf certificate.

    Verification is deliberately not used here: this checks that the *server* works, for any
    key type, independently of what the readiness client could verify. Probes always verify.
    ``client_cert`` (certificate file, key file) answers a server that requires mTLS.
    """
    expected = split_pem(Path(leaf_file).read_bytes())[0]  # as given: a replayed leaf need not parse
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        ctx.load_cert_chain(*client_cert)
    if tls is not None:
        ctx.minimum_version = ctx.maximum_version = _TLS[tls]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls_sock:
            presented = tls_sock.getpeercert(binary_form=True)
    if presented != expected:
        raise EndpointError(f"{host}:{port} presented a different certificate than the one configured")


def _as_given(listener: Listener) -> bool:
    """A listener whose chain OpenSSL's readiness client may refuse: replayed, or with a malformed leaf."""
    if listener.spec.replay:
        return True
    leaf = split_pem(Path(listener.spec.chain.leaf_file).read_bytes())[0]
    return bool(read_der(leaf).problems)


def wait_ready(listener: Listener, timeout: float) -> None:
    """Retry the readiness handshake until it succeeds or ``timeout`` passes."""
    assert listener.port is not None
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            chain = listener.spec.chain
            handshake_presents(listener.host, listener.port, str(chain.leaf_file), listener.spec.tls,
                               timeout=max(0.5, min(5.0, deadline - time.monotonic())),
                               client_cert=(str(chain.client_cert_file), str(chain.client_key_file))
                               if chain.client_cert_file else None)
            return
        except ssl.SSLError as exc:
            if "ALERT" in str(exc.reason or ""):
                # the server answered with a TLS alert: it is up and speaking TLS. What it refused is
                # what the cells measure: this client's certificate under mTLS (a ring server and a
                # P-521 client key), the groups this client offers (a listener restricted to
                # X25519MLKEM768), a signature scheme for its key (an ML-DSA leaf)
                return
            if _as_given(listener) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                # a replayed chain signed with a substitute key fails even this unverified handshake
                # (OpenSSL always checks the handshake signature), as does a leaf that does not parse:
                # the server answered in TLS, so it is up; what the chain does is what the cells measure
                return
            last = exc
            time.sleep(0.1)
        except (OSError, EndpointError) as exc:
            last = exc
            time.sleep(0.1)
    raise EndpointError(f"not ready after {timeout:.0f}s: readiness handshake failed: {last}")


#: readiness handshakes in flight at once per endpoint. The server's signature and OpenSSL's work run
#: outside the GIL, so a few at once shorten the start of an endpoint with many listeners (curves.toml:
#: two servers × 196 listeners took ~1.1 s one by one) before any client can begin.
READY_PARALLEL = 4


def wait_all_ready(listeners: list[Listener], timeout: float) -> dict[str, EndpointError]:
    """``wait_ready`` for every listener with a port, :data:`READY_PARALLEL` at a time; the failures by
    listener id. Daemon threads: an interrupted run does not wait for a readiness retry loop."""
    todo = [listener for listener in listeners if listener.port is not None]
    errors: dict[str, EndpointError] = {}

    def ready(share: list[Listener]) -> None:
        for listener in share:
            try:
                wait_ready(listener, timeout)
            except EndpointError as exc:
                errors[listener.spec.id] = exc

    threads = [threading.Thread(target=ready, args=(todo[i::READY_PARALLEL],), daemon=True)
               for i in range(min(READY_PARALLEL, len(todo)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
