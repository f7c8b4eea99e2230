from __future__ import annotations

import io

from tlsmatrix.model.core import CertSpec, Cell, ChainSpec, KeySpec, Outcome, Result
from tlsmatrix.running.progress import Progress


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
    assert len(lines) == 2
    assert lines[0].startswith("[ 1/12]   8% ") and lines[1].startswith("[12/12] 100% ")
    assert all(line.endswith("last: rustls-ring ← go | P-521 → P-256 | TLS 1.3: unsupported_algorithm")
               for line in lines)


def test_a_pipe_gets_a_line_every_ten_percent_not_one_per_cell():
    """`make matrix | tee log` on curves.toml used to print 2940 progress lines."""
    out = io.StringIO()
    p = Progress(out)
    for done in range(1, 2941):
        p(result(), done, 2940)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # the first cell, then 10%, 20%, ... 100%
    assert [line.split("]")[1].split()[0] for line in lines[1:]] == [f"{n}%" for n in range(10, 101, 10)]


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
