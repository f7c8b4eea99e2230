"""A long-lived client probe fed a batch of jobs, restarted if it breaks or hangs."""
from __future__ import annotations

from ..jsonproc import DeadlineExceeded, JsonLineProcess, ProcessError
from ..model import HandshakeResult, Job, StackInfo
from ..stacks import Stack
from ..toolchain import PACKAGE_DIR

#: extra seconds the harness waits beyond a job's own timeout before it kills the probe
GRACE_SECONDS = 5.0
START_TIMEOUT = 30.0


class ProbeSession:
    def __init__(self, stack: Stack, grace: float = GRACE_SECONDS) -> None:
        self.stack = stack
        self.grace = grace
        self.proc: JsonLineProcess | None = None
        self.info: StackInfo | None = None
        self.restarts = 0

    def start(self) -> StackInfo:
        """Start the probe and read its hello; raises ProcessError with context on failure."""
        proc = JsonLineProcess(self.stack.argv(), cwd=str(PACKAGE_DIR.parent))
        try:
            first = proc.receive(START_TIMEOUT)
            if "hello" not in first or not isinstance(first["hello"], dict):
                raise proc.error(f"first line is not a hello: {first!r}")
        except ProcessError:
            proc.kill()
            raise
        self.proc = proc
        self.info = StackInfo.from_hello(first["hello"])
        return self.info

    def run(self, job: Job) -> HandshakeResult:
        """One handshake. Probe failures become results; they never propagate."""
        if self.proc is None:
            try:
                self.start()
            except ProcessError as exc:
                return HandshakeResult(ok=False, error=f"probe: {exc.short}", error_detail=str(exc))
        assert self.proc is not None
        try:
            self.proc.send(job.to_json())
            answer = self.proc.receive(job.timeout_ms / 1000.0 + self.grace)
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
        if self.proc is not None:
            self.proc.kill()
            self.proc = None
            self.restarts += 1

    def close(self) -> None:
        if self.proc is not None:
            self.proc.close()
            self.proc = None

    def __enter__(self) -> ProbeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
