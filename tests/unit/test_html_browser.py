"""The HTML page in a real browser: Debian's headless chromium loads it from a file and dumps the DOM
after its JavaScript ran; the summary and the pivot come before the long matrix, metadata last.

Skipped when chromium is missing (failed under TLSMATRIX_REQUIRE_STACKS=1, as CI runs). The browser
may open nothing but the file: every host resolves to nothing and any proxy use goes to a closed
127.0.0.1 port.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tlsmatrix.model.document import load_results
from tlsmatrix.report.html import render_html

from .test_report_formats import handmade

ROOT = Path(__file__).resolve().parents[2]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    why = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("TLSMATRIX_REQUIRE_STACKS") == "1":
        pytest.fail(why)
    pytest.skip(why)


def dump_dom(page: Path, profile: Path) -> str:
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--mute-audio",
            f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(profile)))
    assert out.returncode == 0 and "<html" in out.stdout, out.stderr[-2000:]
    return out.stdout


class Landmarks(HTMLParser):
    """Where (in document order) the page's parts start, and what the script changed."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.html_class = ""
        self.count_text: list[str] = []
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html_class = a.get("class") or ""
        if a.get("id") in ("summary", "pivot", "matrix", "run"):
            self.order.append(a["id"])
        if tag == "table" and "matrix" in (a.get("class") or "").split() and "table.matrix" not in self.order:
            self.order.append("table.matrix")
        self._in_count = a.get("id") == "count"

    def handle_data(self, data):
        if self._in_count:
            self.count_text.append(data)


@pytest.mark.parametrize("source", ["handmade", "legacy-file"])
def test_page_opens_on_summary_and_pivot_in_a_real_browser(tmp_path, source):
    data = handmade() if source == "handmade" else load_results(ROOT / "tests" / "data" / "results-legacy.json")
    page = tmp_path / "matrix.html"
    page.write_text(render_html(data), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    marks = Landmarks()
    marks.feed(dom)
    assert "js" in marks.html_class.split(), "the page's script did not run"
    assert marks.order == ["summary", "pivot", "matrix", "table.matrix", "run"], marks.order
    assert "cells shown" in "".join(marks.count_text)
    summary = dom[dom.index('id="summary"'):dom.index('id="pivot"')]
    assert "fails" in summary and "iff" in summary or "fails on" in summary, summary[:2000]
