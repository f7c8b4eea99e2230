from __future__ import annotations

import io

from harness.model import CertSpec, Cell, ChainSpec, KeySpec, Outcome, Result
from harness.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def result() -> Result:
    chain = ChainSpec(CertSpec(KeySpec("P-521")), CertSpec(KeySpec("P-256")))
    return Result(Cell("s", chain, "go", "1.3", "rustls-ring"), Outcome.UNSUPPORTED_ALGORITHM)


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    p = Progress(out)
    p(result(), 1, 12)
    p(result(), 12, 12)
    lines = out.getvalue().splitlines()
    assert lines == ["[ 1/12] rustls-ring ← go | P-521 → P-256 | TLS 1.3: unsupported_algorithm",
                     "[12/12] rustls-ring ← go | P-521 → P-256 | TLS 1.3: unsupported_algorithm"]


def test_bar_on_a_terminal_and_cleared_at_the_end():
    out = FakeTTY()
    p = Progress(out)
    p(result(), 1, 4)
    text = out.getvalue()
    assert text.startswith("\r[") and "█" in text and "1/4" in text and "\n" not in text
    p(result(), 4, 4)
    assert out.getvalue().endswith("\r")  # the bar line is wiped before the table prints


def test_quiet_prints_nothing():
    out = io.StringIO()
    Progress(out, enabled=False)(result(), 1, 1)
    assert out.getvalue() == ""
