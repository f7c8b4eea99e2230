"""A child process that speaks JSON lines, read with deadlines so a hung peer never hangs us."""
from __future__ import annotations

import collections
import json
import queue
import subprocess
import threading
import time
from typing import Any

from ..model.errors import TlsmatrixError
from ..model.owner import cpu_seconds

_EOF = object()

#: every live child, so a signal handler or atexit can stop them all
_LIVE: set["JsonLineProcess"] = set()
_LIVE_LOCK = threading.Lock()
#: children stopped while still running (closed or killed by whoever started them): what an interrupted
#: command reports having stopped
_STOPPED = [0]


class ProcessError(TlsmatrixError):
    """The child broke: it exited, wrote garbage, or did not answer in time.

    Carries the command, the exit status and the tail of its stderr, like docker-py's
    ContainerError.
    """

    def __init__(self, message: str, argv: list[str], returncode: int | None, stderr_tail: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        detail = f"{message} [command: {' '.join(argv)}"
        if returncode is not None:
            detail += f"; exit status {returncode}"
        detail += "]"
        if stderr_tail:
            detail += f"\n--- stderr tail ---\n{stderr_tail}"
        super().__init__(detail)
        self.short = message


class DeadlineExceeded(ProcessError):
    pass


class JsonLineProcess:
    def __init__(self, argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                # buffered: an unbuffered pipe's readline reads one byte per system call (0.3 ms of
                # CPU per answer line, each call taking the GIL from the other clients' threads)
                bufsize=-1,
            )
        except OSError as exc:
            raise ProcessError(f"cannot start: {exc.strerror or exc}", argv, None, "") from None
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._lines: queue.Queue[Any] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._lines.put(raw.decode("utf-8", "replace"))
        self._lines.put(_EOF)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def cpu_seconds(self) -> float | None:
        """CPU seconds the child used so far, with the children it waited for (the command-line tool a
        probe runs per handshake); None where that cannot be read."""
        return cpu_seconds(self.proc.pid)

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def error(self, message: str, kind: type[ProcessError] = ProcessError) -> ProcessError:
        time.sleep(0.05)  # let the stderr reader catch the last lines
        return kind(message, self.argv, self.proc.poll(), self.stderr_tail)

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self.error(f"cannot write to the process: {exc}") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        """Next JSON object from stdout; raises on EOF, garbage or deadline."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.error(f"no answer within {timeout:.1f}s", DeadlineExceeded)
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                raise self.error(f"no answer within {timeout:.1f}s", DeadlineExceeded) from None
            if line is _EOF:
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                raise self.error("exited unexpectedly")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise self.error(f"wrote a line that is not JSON: {line.strip()[:200]!r}") from None
            if not isinstance(obj, dict):
                raise self.error(f"wrote JSON that is not an object: {line.strip()[:200]!r}")
            return obj

    def close(self, grace: float = 2.0) -> None:
        """Close stdin (the contract's "stop"), then TERM, then KILL."""
        proc = self.proc
        self._count_stop()
        try:
            if proc.stdin and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def kill(self) -> None:
        self._count_stop()
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        with _LIVE_LOCK:
            _LIVE.discard(self)


    def _count_stop(self) -> None:
        with _LIVE_LOCK:
            if self in _LIVE and self.proc.poll() is None:
                _STOPPED[0] += 1


def stopped_count() -> int:
    """How many children were stopped while running, so far (compare two readings). No lock: a
    signal handler reads it, and the interrupted thread may hold the lock."""
    return _STOPPED[0]


def kill_all() -> int:
    """Kill every child still alive (signal handlers, atexit). Returns how many."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for child in live:
        child.kill()
    return len(live)


def live_count() -> int:
    with _LIVE_LOCK:
        return sum(1 for c in _LIVE if c.proc.poll() is None)
