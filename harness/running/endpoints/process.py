"""The process backend: one local server process per server stack, one listener per chain × TLS version."""
from __future__ import annotations

import threading
from typing import Iterable

from ..jsonproc import JsonLineProcess, ProcessError
from ...model.core import ServerConfig, StackInfo
from ...stacks import Stack
from ...model.paths import PACKAGE_DIR
from .base import LOOPBACK, EndpointError, Listener, ListenerSpec, Started, wait_all_ready

READY_TIMEOUT = 30.0


class ProcessEndpoint(Started):
    """A server stack running as a local process (context manager; cleans up on any failure)."""

    def __init__(self, stack: Stack, specs: Iterable[ListenerSpec], host: str = LOOPBACK,
                 ready_timeout: float = READY_TIMEOUT) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise EndpointError(f"refusing to bind {host!r}: endpoints bind loopback only")
        self.stack = stack
        self.stack_name = stack.name
        self.host = host
        self.ready_timeout = ready_timeout
        self.listeners: dict[str, Listener] = {s.id: Listener(s, host=host) for s in specs}
        self.info: StackInfo | None = None
        self.cpu_s: float | None = None  # CPU seconds of the server program, once it has stopped
        self.proc: JsonLineProcess | None = None
        self.closed = False  # a closed endpoint starts nothing (start() may run in another thread)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the server program and wait until every listener is ready (a real handshake presents
        its leaf) or has an error of its own; raises EndpointError when the stack cannot start at all."""
        argv = self.stack.argv()
        try:
            with self._lock:
                if self.closed:
                    raise EndpointError(f"server stack {self.stack.name!r}: the endpoint was closed before it started")
                self.proc = proc = JsonLineProcess(argv, cwd=str(PACKAGE_DIR.parent))
            proc.send(ServerConfig(host=self.host,
                           listeners=[l.spec.config() for l in self.listeners.values()]).to_json())
            hello = proc.receive(self.ready_timeout)
            if "hello" not in hello:
                raise proc.error(f"first line is not a hello: {hello!r}")
            self.info = StackInfo.from_hello(hello["hello"])
            while True:
                line = proc.receive(self.ready_timeout)
                if line.get("ready"):
                    break
                listener = self.listeners.get(str(line.get("id")))
                if listener is None:
                    raise proc.error(f"reported an unknown listener: {line!r}")
                if line.get("error"):
                    listener.error = str(line["error"])
                elif isinstance(line.get("port"), int):
                    listener.port = line["port"]
                else:
                    raise proc.error(f"listener line has neither port nor error: {line!r}")
        except ProcessError as exc:
            raise EndpointError(f"server stack {self.stack.name!r} failed to start: {exc}") from None
        for listener in self.listeners.values():
            if listener.port is None and listener.error is None:
                listener.error = "the server did not report this listener"
        for lid, exc in wait_all_ready(list(self.listeners.values()), self.ready_timeout).items():
            self.listeners[lid].error = str(exc)
            self.listeners[lid].port = None

    def close(self) -> None:
        """Stop the server program (its listeners go with it); safe to call twice, or before start()."""
        with self._lock:
            self.closed = True
            proc, self.proc = self.proc, None
        if proc is not None:
            self.cpu_s = proc.cpu_seconds()  # the run's report says what each server cost
            proc.close()
