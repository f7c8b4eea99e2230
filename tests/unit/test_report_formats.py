"""HTML, JUnit and GitHub-comment Markdown reports, on a hand-made document and on a real run."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tlsmatrix.report.details import GITHUB_COMMENT_LIMIT, render_markdown_report
from tlsmatrix.report.html import render_html
from tlsmatrix.report.junit import render_junit

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(\"pwned\" & 'x')</script>"


def record(scenario, root, leaf, server, tls, client, outcome, verdict, *, error=None, detail=None,
           expected=("ok",), why="because", elapsed=12.5, **extra):
    label = f"{root} → {leaf}"
    rec = {
        "id": f"{scenario}|{label}|{tls}|{server}|{client}",
        "scenario": scenario,
        "chain": {"label": label, "root": {"key": root, "hash": "SHA-256"}, "intermediates": [],
                  "leaf": {"key": leaf}, "expired": False},
        "server": server, "tls": tls, "client": client, "servername": "localhost",
        "outcome": outcome, "error": error, "short_error": (error or "")[:20] or None, "error_detail": detail,
        "negotiated": {"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "group": None, "sigalg": None}
        if outcome == "ok" else None,
        "elapsed_ms": elapsed, "client_version": f"{client} 1.0", "server_version": f"{server} 2.0",
        "expected": {"outcomes": list(expected), "why": why} if expected is not None else None,
        "verdict": verdict,
    }
    rec.update(extra)
    return rec


def handmade(layout: str = "v1") -> dict:
    """A small document; ``layout="legacy"`` puts the run metadata at the top level as before schema v1."""
    results = [
        record("demo", "P-256", "P-256", "go", "1.3", "openssl", "ok", "match", attempts=2, index=0,
               future_key={"a": 1}),
        record("demo", "P-256", "P-256", "go", "1.3", "rustls-ring", "ok", "match"),
        record("demo", "P-521", "P-256", "go", "1.3", "openssl", "ok", "match"),
        record("demo", "P-521", "P-256", "go", "1.3", "rustls-ring", "bad_signature", "mismatch",
               error=f"invalid peer certificate: {EVIL}\x00\x1b", detail="InvalidCertificate(BadSignature) & <more>",
               expected=("unsupported_algorithm",), why="ring has no \"P-521\" <verification>"),
        record("demo", "P-521", "P-256", "go", "1.2", "openssl", "ok", "match", elapsed=None),
        record("demo", "P-521", "P-256", "go", "1.2", "rustls-ring", "handshake_failure", "match",
               error="received fatal alert: HandshakeFailure", expected=("handshake_failure",)),
        record("demo", "P-521", "P-256", "go", "1.2", "wolfssl", "skipped", "not-run",
               error="client stack wolfssl: probe not built", elapsed=None),
        record("other", "RSA-2048", "P-521", "openssl", "1.3", "go", "untrusted", "unexpected",
               error="x509: certificate signed by unknown authority", expected=None),
        record("other", "RSA-2048", "P-521", "openssl", "1.3", "openssl", "connection", "mismatch",
               error="EOF `with` ```backticks```", expected=("ok",)),
    ]
    if layout == "legacy":
        meta = {"started": "2026-01-01T00:00:00+00:00", "duration_s": 1.5, "certificates_generated": 3,
                "host": {"platform": "Linux", "python": "3.11"}}
    else:
        meta = {"schema_version": 1, "run": {
            "started": "2026-01-01T00:00:00+00:00", "duration_s": 1.5, "backend": "process", "timeout_ms": 10000,
            "git_commit": "deadbeef", "git_dirty": True, "shard": None, "certificates_generated": 3,
            "machine": {"platform": "Linux", "python": "3.11", "cpus": 2, "hostname": "ci"}, "future_run_key": "z"}}
    return {
        **meta,
        "tool": {"name": "tlsmatrix", "version": "0.1.0"},
        "note": "All certificates and keys in this run are tlsmatrix TEST keys; never trust them.",
        "clients": {
            "openssl": {"available": True, "stack": "OpenSSL", "version": "3.0.19", "provider": None, "details": {}},
            "rustls-ring": {"available": True, "stack": "rustls", "version": "0.23.46", "provider": "ring",
                            "details": {"ring": "0.17.14"}},
            "wolfssl": {"available": False, "reason": "probe not built <see make>"},
            "go": {"available": True, "stack": "go crypto/tls", "version": "go1.19.8", "provider": None, "details": {}},
        },
        "servers": {"go": {"available": True, "stack": "go crypto/tls", "version": "go1.19.8", "provider": None,
                           "details": {}, "backend": "process"},
                    "openssl": {"available": True, "stack": "OpenSSL", "version": "3.0.19", "provider": None,
                                "details": {}, "backend": "process"}},
        "chains": {"P-256 → P-256": {"fingerprint": "abc", "leaf_sha256": "00", "root_sha256": "11", "dir": "/x"}},
        "results": results,
        "scenarios": [{"name": "demo", "title": "Demo <P-521>", "notes": "Because & why.", "path": "s/demo.toml"},
                      {"name": "other", "title": "Other", "notes": "", "path": None}],
    }


# --- checks shared by the hand-made and the real document ---------------------------------------


def check_junit(data: dict) -> ET.Element:
    root = ET.fromstring(render_junit(data).encode("utf-8"))
    results = data["results"]
    skipped = sum(1 for r in results if r["outcome"] == "skipped")
    failures = sum(1 for r in results if r["verdict"] == "mismatch" and r["outcome"] != "skipped")
    assert root.tag == "testsuites"
    assert int(root.get("tests")) == len(results)
    assert int(root.get("failures")) == failures
    assert int(root.get("skipped")) == skipped
    assert int(root.get("errors")) == 0
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(results)
    assert len(root.findall("./testsuite/testcase/failure")) == failures
    assert len(root.findall("./testsuite/testcase/skipped")) == skipped
    scenarios = list(dict.fromkeys(r["scenario"] for r in results))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == scenarios
    for suite in suites:
        mine = [r for r in results if r["scenario"] == suite.get("name")]
        assert int(suite.get("tests")) == len(mine) == len(suite.findall("testcase"))
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))
        total = sum((r.get("elapsed_ms") or 0) / 1000 for r in mine)
        assert float(suite.get("time")) == pytest.approx(total, abs=0.002 * len(mine) + 0.001)
    names = {(c.get("classname"), c.get("name")) for c in cases}
    for r in results:
        assert (f"{r['scenario']}.{r['client']}", f"{r['chain']['label']} | {r['server']} | TLS {r['tls']}") in names
    return root


class StrictParser(HTMLParser):
    """Collects tags and checks that every non-void element is closed in order."""

    VOID = {"meta", "input", "br", "hr", "img", "link", "col", "wbr", "source", "area", "base", "embed"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(data: dict) -> tuple[str, StrictParser]:
    page = render_html(data)
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    assert page.startswith("<!DOCTYPE html>")
    for tag, attrs in parser.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
        assert tag not in ("link", "img", "iframe", "object", "embed")
    scripts = [a for t, a in parser.tags if t == "script"]
    assert len(scripts) == 1 and "src" not in scripts[0]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "@import" not in page and "url(" not in page
    cells = [a for t, a in parser.tags if t == "td" and "cell" in (a.get("class") or "").split()]
    assert len(cells) == len(data["results"])
    assert sorted(c["data-id"] for c in cells) == sorted(r["id"] for r in data["results"])
    assert sum("mismatch" in c["class"].split() for c in cells) == sum(r["verdict"] == "mismatch" for r in data["results"])
    # every cell carries its raw error for hover
    by_id = {c["data-id"]: c for c in cells}
    for r in data["results"]:
        if r.get("error"):
            assert r["error"].replace("\x00", "").replace("\x1b", "")[:100] in by_id[r["id"]]["title"]
    names = {a.get("name") for t, a in parser.tags if t == "input"}
    assert {"client", "server", "root", "leaf", "outcome"} <= names
    assert data["note"] in "".join(parser.text)
    return page, parser


def check_markdown(data: dict) -> str:
    md = render_markdown_report(data)
    assert len(md) < GITHUB_COMMENT_LIMIT
    assert "| chain (root → … → leaf) | server | TLS |" in md
    assert re.search(r"^\| --- \| --- \| --- \|", md, re.M)
    assert "<details><summary>Raw errors and versions</summary>" in md
    assert md.count("<details>") == md.count("</details>") == 1
    assert md.index("<details>") < md.index("#### Stack versions") < md.index("</details>")
    assert "TEST keys" in md[md.index("<details>"):]
    fences = re.findall(r"^(`{3,})", md, re.M)
    assert len(fences) % 2 == 0
    return md


# --- hand-made document ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["v1", "legacy"])
def test_junit_counts_failures_skips_and_passes(layout):
    data = handmade(layout)
    root = check_junit(data)
    assert root.get("tests") == "9" and root.get("failures") == "2" and root.get("skipped") == "1"
    demo = root.find("testsuite[@name='demo']")
    case = demo.find("testcase[@classname='demo.rustls-ring'][@name='P-521 → P-256 | go | TLS 1.3']")
    failure = case.find("failure")
    assert failure.get("message") == "expected unsupported_algorithm, got bad_signature (invalid peer certifi)"
    assert EVIL in failure.text and "InvalidCertificate(BadSignature) & <more>" in failure.text
    assert "rustls-ring 1.0" in failure.text and "go 2.0" in failure.text
    assert "\x00" not in failure.text and "\x1b" not in failure.text
    assert case.get("time") == "0.013"
    # an expected handshake failure passes, with the stack's error kept for CI
    hs = demo.find("testcase[@classname='demo.rustls-ring'][@name='P-521 → P-256 | go | TLS 1.2']")
    assert hs.find("failure") is None and "HandshakeFailure" in hs.find("system-out").text
    skipped = demo.find("testcase[@classname='demo.wolfssl']/skipped")
    assert skipped.get("message") == "client stack wolfssl: probe not built"
    assert demo.find("testcase[@classname='demo.openssl']").find("*") is None
    props = {p.get("name"): p.get("value") for p in demo.findall("properties/property")}
    assert props["client.rustls-ring"] == "rustls 0.23.46 (ring)"
    assert props["client.wolfssl"] == "not available: probe not built <see make>"
    assert "TEST keys" in props["note"]
    assert props["run.started"] == demo.get("timestamp") == "2026-01-01T00:00:00+00:00"
    failure_text = root.find(".//failure").text
    assert "client_version:" in failure_text and "server_version:" in failure_text


def test_junit_strips_characters_invalid_in_xml():
    data = handmade()
    data["results"][3]["error_detail"] = "bell\x07 vt\x0b ffff\uffff ok"
    data["results"][3]["client"] = "rustls\x01-ring"
    text = render_junit(data)
    ET.fromstring(text.encode())
    assert "\x07" not in text and "\uffff" not in text
    assert "bell vt ffff ok" in text


@pytest.mark.parametrize("layout", ["v1", "legacy"])
def test_html_is_standalone_escaped_and_has_one_cell_per_record(layout):
    data = handmade(layout)
    page, parser = check_html(data)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot; &amp; &#x27;x&#x27;)&lt;/script&gt;" in page
    assert "\x00" not in page and "\x1b" not in page
    assert "Demo &lt;P-521&gt;" in page
    # hover text carries versions and the expectation's why
    cell = next(a for t, a in parser.tags if a.get("data-id") == data["results"][3]["id"])
    assert "ring has no \"P-521\" <verification>" in cell["title"]
    assert "rustls-ring 1.0" in cell["title"] and "go 2.0" in cell["title"]
    assert cell["data-outcome"] == "bad_signature" and cell["data-verdict"] == "mismatch"
    # the click panel has the full error and unknown record keys
    assert "<dt>attempts</dt><dd>2</dd>" in page
    assert "<dt>future_key</dt><dd><pre>{&quot;a&quot;: 1}</pre></dd>" in page
    assert "<dt>index</dt>" not in page
    assert page.count("<details><summary>") >= len(data["results"])
    # rows carry what the filters need; the legend and the header are there
    rows = [a for t, a in parser.tags if t == "tr" and "data-server" in a]
    assert {(a["data-root"], a["data-leaf"]) for a in rows} == {("P-256", "P-256"), ("P-521", "P-256"), ("RSA-2048", "P-521")}
    values = {(a.get("name"), a.get("value")) for t, a in parser.tags if t == "input"}
    assert ("outcome", "skipped") in values and ("client", "wolfssl") in values and ("leaf", "P-521") in values
    text = "".join(parser.text)
    assert "tlsmatrix 0.1.0" in text and "2026-01-01T00:00:00+00:00" in text
    assert "<dt>run started</dt><dd>2026-01-01T00:00:00+00:00</dd>" in page
    assert "platform Linux, python 3.11" in text
    if layout == "v1":
        assert "deadbeef" in text and "future_run_key" in text
    assert "not available: probe not built <see make>" in text
    assert "contradicts the scenario's expectation" in text


def test_html_tolerates_missing_optional_parts():
    data = {"results": [record("x", "P-256", "P-256", "go", None, "openssl", "weird_new_outcome", "match",
                               error="boom", expected=None)]}
    del data["results"][0]["negotiated"]
    page, parser = check_html(dict(data, note="n"))
    assert 'data-outcome="weird_new_outcome"' in page
    assert render_junit(data).count("<testcase") == 1
    md = render_markdown_report(data)
    assert "boom" in md and "TEST keys" in md


@pytest.mark.parametrize("layout", ["v1", "legacy"])
def test_markdown_has_table_summary_and_raw_errors(layout):
    data = handmade(layout)
    md = check_markdown(data)
    assert "### demo: Demo <P-521>" in md
    assert "| P-521 → P-256 | go | 1.3 | ok | ✗ bad_signature [1] ⚠ |" in md
    assert "rustls-ring fails 2 of 3 cells" in md
    details = md[md.index("<details>"):]
    assert f"invalid peer certificate: {EVIL}" in details
    assert "````text\nEOF `with` ```backticks```\n````" in details
    assert "client rustls-ring: rustls 0.23.46 (ring)" in details
    assert "#### Contradicted expectations" in md
    assert md.startswith("## tlsmatrix results\n\nRun 2026-01-01T00:00:00+00:00 with tlsmatrix 0.1.0: 9 cells")
    assert "- machine: platform Linux, python 3.11" in details


def big_document(n: int = 3000) -> dict:
    """Many chains, clients and distinct long errors: far more than a GitHub comment holds."""
    data = handmade()
    clients = [f"client-{i}" for i in range(10)]
    results = []
    for i in range(n):
        row, col = divmod(i, len(clients))
        failing = i % 3 != 0
        results.append(record(
            f"scen-{row % 3}", f"KEY-{row}", f"LEAF-{row % 7}", "go", "1.3" if row % 2 else "1.2", clients[col],
            "bad_signature" if failing else "ok", "mismatch" if i % 5 == 1 else "match",
            error=(f"error number {i}: " + "x" * 400 + " <b>&</b>") if failing else None,
            detail=f"Detail({i})" if failing else None, why="w" * 200))
    data["results"] = results
    data["scenarios"] = [{"name": f"scen-{k}", "title": f"Scenario {k}", "notes": "n" * 3000} for k in range(3)]
    return data


def test_markdown_stays_under_the_comment_limit_for_a_large_document():
    data = big_document()
    md = check_markdown(data)
    assert len(md) <= 65000
    assert "more distinct errors not shown" in md
    assert "to fit a GitHub comment" in md
    assert "error number 1: " in md  # the first raw error is there in full
    assert "x" * 400 in md


def test_markdown_limit_holds_for_many_ok_rows_and_for_tiny_limits():
    data = big_document(9000)
    for r in data["results"]:
        r.update(outcome="ok", error=None, error_detail=None, short_error=None, verdict="match")
    md = check_markdown(data)
    assert "rows where every client succeeded are not shown" in md
    small = render_markdown_report(big_document(), max_chars=8000)
    assert len(small) <= 8000
    assert "TEST keys" in small


def test_renderers_do_not_modify_the_document():
    data = handmade()
    before = copy.deepcopy(data)
    render_html(data)
    render_junit(data)
    render_markdown_report(data)
    assert data == before


# --- a real run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_document(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("report-formats")
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp / "results"), TLSMATRIX_PKI_CACHE=str(tmp / "pki"))
    out = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "tlsmatrix", "matrix", str(ROOT / "scenarios" / "rustls-p521.toml"),
         "--clients", "openssl,rustls-ring", "--servers", "openssl", "--output", str(out), "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr  # 1: some cell contradicts the scenario
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.mark.integration
def test_real_run_renders_in_every_format(real_document):
    data = real_document
    assert data["results"] and {r["client"] for r in data["results"]} <= {"openssl", "rustls-ring"}
    check_junit(data)
    page, _ = check_html(data)
    md = check_markdown(data)
    for r in data["results"]:
        if r.get("error") and r["outcome"] != "skipped":
            assert r["error"] in md  # small run: every raw error in full
    assert data["tool"]["version"] in page


# --- documents written by earlier versions ------------------------------------------------------


@pytest.mark.parametrize("fixture", ["results-legacy.json", "results-v1.json"])
@pytest.mark.parametrize("fmt", ["table", "markdown", "html", "junit", "json"])
def test_report_renders_documents_of_earlier_versions(tmp_path, fixture, fmt):
    """`tlsmatrix report` on a document an earlier version wrote (tests/data): the legacy layout keeps the
    run metadata at the top level; results-v1.json is a real run from before the typed model."""
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "tlsmatrix", "report", str(ROOT / "tests" / "data" / fixture),
                           "--format", fmt], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "issuer name: PrintableString vs UTF8String" in proc.stdout
    if fmt == "json":
        again = json.loads(proc.stdout)
        assert again["run"]["started"] == "2026-11-30T18:57:27+00:00" and len(again["results"]) == 48
        if fixture == "results-v1.json":  # read and written back unchanged
            assert again == json.loads((ROOT / "tests" / "data" / fixture).read_text())
    if fmt == "html":
        assert proc.stdout.index('id="summary"') < proc.stdout.index('id="pivot"') < proc.stdout.index('class="matrix"')


def test_explain_and_regress_read_documents_of_earlier_versions(tmp_path):
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path))

    def tlsmatrix(*args):
        return subprocess.run([sys.executable, "-m", "tlsmatrix", *map(str, args)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    legacy = ROOT / "tests" / "data" / "results-legacy.json"
    r = tlsmatrix("explain", legacy)
    assert r.returncode == 0 and "kube-0.93-two-providers fails on every cell (crash: " in r.stdout, r.stdout + r.stderr
    r = tlsmatrix("regress", "--results", legacy, "--baseline", tmp_path / "base", "--update-baseline")
    assert r.returncode == 0, r.stderr
    r = tlsmatrix("regress", "--results", ROOT / "tests" / "data" / "results-v1.json", "--baseline", tmp_path / "base")
    assert r.returncode == 0 and "No cell changed" in r.stdout, r.stdout + r.stderr
