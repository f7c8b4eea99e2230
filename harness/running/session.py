"""A long-lived client probe fed a batch of jobs, restarted if it breaks or hangs."""
from __future__ import annotations

import os
import threading

from .jsonproc import DeadlineExceeded, JsonLineProcess, ProcessError
from ..model.core import HandshakeResult, Job, StackInfo
from ..stacks import Stack
from ..model.paths import PACKAGE_DIR

#: extra seconds the harness waits beyond a job's own timeout before it kills the probe
GRACE_SECONDS = 5.0
START_TIMEOUT = 30.0


class ProbeSession:
    def __init__(self, stack: Stack, grace: float = GRACE_SECONDS, env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.env = {**os.environ, **env} if env else None  # None: inherit ours
        self.grace = grace
        self.proc: JsonLineProcess | None = None
        self.info: StackInfo | None = None
        self.restarts = 0
        #: CPU seconds of the probes this session ran (and the tools they started); None: not measurable
        self.cpu_s: float | None = None
        #: once closed (or killed by an interrupted caller) the session starts no probe again, even
        #: when a thread still drives it: nothing outlives the run that owned it
        self.closed = False
        self._lock = threading.Lock()

    def start(self) -> StackInfo:
        """Start the probe and read its hello; raises ProcessError with context on failure."""
        with self._lock:
            if self.closed:
                raise ProcessError("the session was closed", self.stack.argv(), None, "")
            proc = JsonLineProcess(self.stack.argv(), cwd=str(PACKAGE_DIR.parent), env=self.env)
            self.proc = proc
        try:
            first = proc.receive(START_TIMEOUT)
            if "hello" not in first or not isinstance(first["hello"], dict):
                raise proc.error(f"first line is not a hello: {first!r}")
        except ProcessError:
            with self._lock:
                self.proc = None
            proc.kill()
            raise
        self.info = StackInfo.from_hello(first["hello"])
        return self.info

    def run(self, job: Job) -> HandshakeResult:
        """One handshake. Probe failures become results; they never propagate."""
        proc = self.proc  # a local: an interrupted caller may kill the session from another thread
        if proc is None:
            try:
                self.start()
            except ProcessError as exc:
                return HandshakeResult(ok=False, error=f"probe: {exc.short}", error_detail=str(exc))
            proc = self.proc
            if proc is None:
                return HandshakeResult(ok=False, error="probe: the session was closed")
        try:
            proc.send(job.to_json())
            answer = proc.receive(job.timeout_ms / 1000.0 + self.grace)
        except DeadlineExceeded:
            self._restart()
            return HandshakeResult(
                ok=False,
                error=f"timeout: the {self.stack.name} probe gave no answer within "
                f"{job.timeout_ms / 1000.0 + self.grace:.1f}s; the harness killed it",
            )
        except ProcessError as exc:
            self._restart()
            return HandshakeResult(ok=False, error=f"probe: {exc.short}", error_detail=str(exc))
        if str(answer.get("id")) != job.id:
            self._restart()
            return HandshakeResult(ok=False, error=f"probe: answered job {answer.get('id')!r}, expected {job.id!r}")
        return HandshakeResult(
            ok=bool(answer.get("ok")),
            error=answer.get("error"),
            error_detail=answer.get("error_detail"),
            negotiated=answer.get("negotiated"),
            elapsed_ms=answer.get("elapsed_ms"),
        )

    def _restart(self) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
        if proc is not None:
            self._count_cpu(proc)
            proc.kill()
            self.restarts += 1

    def _count_cpu(self, proc: JsonLineProcess) -> None:
        used = proc.cpu_seconds()  # read before it stops: afterwards /proc no longer has it
        if used is not None:
            self.cpu_s = round((self.cpu_s or 0.0) + used, 2)

    def close(self) -> None:
        """Stop the probe (closing its stdin, the contract's "stop"); the session starts none again."""
        with self._lock:
            self.closed = True
            proc, self.proc = self.proc, None
        if proc is not None:
            self._count_cpu(proc)
            proc.close()

    def kill(self) -> None:
        """Like :meth:`close`, at once (an interrupted run): another thread may be waiting on the probe."""
        with self._lock:
            self.closed = True
            proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()

    def __enter__(self) -> ProbeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
