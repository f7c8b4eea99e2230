"""Progress while a run goes: a bar on a terminal, plain lines otherwise (CI logs)."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from .model import Result


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.started = time.monotonic()
        self._last_draw = 0.0

    def __call__(self, result: Result, done: int, total: int) -> None:
        if not self.enabled:
            return
        cell = result.cell
        what = f"{cell.client} ← {cell.server} | {cell.chain.label} | TLS {cell.tls or 'any'}: {result.outcome.value}"
        if self.tty:
            now = time.monotonic()
            if done != total and now - self._last_draw < 0.05:
                return
            self._last_draw = now
            width = 28
            filled = int(width * done / max(total, 1))
            bar = "█" * filled + "·" * (width - filled)
            line = f"\r[{bar}] {done}/{total} {now - self.started:5.1f}s {what}"
            self.stream.write(line[:160].ljust(160) if done != total else "\r" + " " * 160 + "\r")
        else:
            self.stream.write(f"[{done:>{len(str(total))}}/{total}] {what}\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()
