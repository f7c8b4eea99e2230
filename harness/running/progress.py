"""Progress while a run goes: a bar on a terminal; on a pipe (CI logs, `make matrix | tee`) a line
when the first cell is in and then every ``step`` percent, not one per cell (a big run has thousands)."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from ..model.core import Result


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True, step: int = 10) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.step = step
        self.started = time.monotonic()
        self._last_draw = 0.0

    def __call__(self, result: Result, done: int, total: int) -> None:
        if not self.enabled:
            return
        cell = result.cell
        what = f"{cell.client} ← {cell.server} | {cell.chain.label} | TLS {cell.tls or 'any'}: {result.outcome.value}"
        now = time.monotonic()
        if self.tty:
            if done != total and now - self._last_draw < 0.05:
                return
            self._last_draw = now
            width = 28
            filled = int(width * done / max(total, 1))
            bar = "█" * filled + "·" * (width - filled)
            line = f"\r[{bar}] {done}/{total} {now - self.started:5.1f}s {what}"
            self.stream.write(line[:160].ljust(160) if done != total else "\r" + " " * 160 + "\r")
        elif self._reports(done, total):
            percent = done * 100 // max(total, 1)
            self.stream.write(f"[{done:>{len(str(total))}}/{total}] {percent:3d}% {now - self.started:6.1f}s  "
                              f"last: {what}\n")
        else:
            return
        self.stream.flush()

    def _reports(self, done: int, total: int) -> bool:
        """The first cell (the run has started), each ``step`` percent crossed, the last cell."""
        if done in (1, total):
            return True
        return done * 100 // (total * self.step) > (done - 1) * 100 // (total * self.step)

    def message(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()
