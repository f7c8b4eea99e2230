from __future__ import annotations

from tlsmatrix.model.document import CellRecord, ResultsDocument
from tlsmatrix.model.core import CertSpec, Cell, ChainSpec, Expectation, KeySpec, Outcome, Result
from tlsmatrix.report.table import Footnotes, cell_text, mismatches, render_markdown, render_table, render_text, summarize


def chain(root: str, leaf: str) -> ChainSpec:
    return ChainSpec(root=CertSpec(KeySpec.parse(root)), leaf=CertSpec(KeySpec.parse(leaf)))


def result(root, leaf, client, outcome, short=None, expect=(Outcome.OK,), tls="1.3", server="go", error=None):
    cell = Cell("demo", chain(root, leaf), server, tls, client, Expectation(frozenset(expect), "because"))
    return CellRecord.of(Result(cell, outcome, error=error or short, short_error=short))


def data(results):
    """A document as an older version wrote it (run metadata at the top level), read into the typed model."""
    return ResultsDocument.from_json({
        "results": [r.to_json() for r in results],
        "scenarios": [{"name": "demo", "title": "Demo", "notes": "Because P-521."}],
        "clients": {"openssl": {"available": True, "stack": "OpenSSL", "version": "3.0.19", "provider": None}},
        "servers": {"go": {"available": False, "reason": "not built"}}, "started": "2026", "tool": {"version": "x"}})


def sample():
    return data([
        result("P-256", "P-256", "openssl", Outcome.OK),
        result("P-256", "P-256", "rustls-ring", Outcome.OK),
        result("P-521", "P-256", "openssl", Outcome.OK),
        result("P-521", "P-256", "rustls-ring", Outcome.BAD_SIGNATURE, "BadSignature",
               expect=(Outcome.BAD_SIGNATURE, Outcome.UNSUPPORTED_ALGORITHM)),
        result("P-521", "P-256", "openssl", Outcome.OK, tls="1.2"),
        result("P-521", "P-256", "rustls-ring", Outcome.UNTRUSTED, "UnknownIssuer", tls="1.2",
               expect=(Outcome.BAD_SIGNATURE,)),
    ])


def test_cell_text_shows_class_and_short_error_and_marks_mismatches():
    d = sample()
    assert cell_text(d.cells[0]) == "ok"
    assert cell_text(d.cells[3]) == "✗ bad_signature (BadSignature)"
    assert cell_text(d.cells[5]) == "✗ untrusted (UnknownIssuer) ⚠"
    notes = Footnotes()
    assert cell_text(d.cells[3], notes) == "✗ bad_signature [1]"
    assert cell_text(d.cells[5], notes) == "✗ untrusted [2] ⚠"
    assert cell_text(d.cells[3], notes) == "✗ bad_signature [1]"  # same error, same note
    assert notes.render(markdown=False) == ("[1] bad_signature — rustls-ring: BadSignature\n"
                                            "[2] untrusted — rustls-ring: UnknownIssuer")
    assert cell_text(d.cells[5], notes, compact=True) == "✗2⚠"


def test_table_has_one_row_per_chain_server_tls_and_one_column_per_client():
    text = render_table(sample())
    lines = text.strip().splitlines()
    assert "openssl" in lines[0] and "rustls-ring" in lines[0]
    assert len(lines) == 2 + 3 + 1 + 2  # header, rule, three rows, blank, two notes
    assert any("P-521 → P-256" in l and "bad_signature [1]" in l for l in lines)
    assert lines[-2] == "[1] bad_signature — rustls-ring: BadSignature"


def test_markdown_is_a_github_table():
    md = render_markdown(sample())
    assert "| chain (root → … → leaf)" in md and "|---" in md.replace(":", "-").replace("|-", "|-")
    assert "## Demo" in md or "## demo: Demo" in md
    assert "TEST keys" in md


def test_summary_names_the_failing_client_where_and_how():
    s = summarize(sample())
    assert "rustls-ring fails 2 of 3 cells" in s
    assert 'bad_signature ("BadSignature") on P-521 → P-256 (TLS 1.3)' in s
    assert "openssl succeeds on every cell" in s
    assert "5 of 6 cells match" in s and "1 contradict" in s


def test_mismatches_list_expected_and_got():
    mm = mismatches(sample())
    assert len(mm) == 1
    assert "client rustls-ring: got untrusted (UnknownIssuer), expected bad_signature — because" in mm[0]


def test_text_report_includes_notes_versions_and_test_key_warning():
    text = render_text(sample())
    assert "Why: Because P-521." in text
    assert "client openssl: OpenSSL 3.0.19" in text
    assert "server go: not available: not built" in text
    assert "TEST keys" in text


def test_skipped_client_is_reported_as_not_run():
    d = data([result("P-256", "P-256", "go", Outcome.SKIPPED, "not available", error="go not built")])
    s = summarize(d)
    assert "Not run: go (go not built)" in s
    assert "were not run" in s


def test_summary_names_combinations_that_are_not_a_product():
    d = data([
        result("P-521", "P-521", "rustls-ring", Outcome.HANDSHAKE_FAILURE, "alert HandshakeFailure", tls="1.3", server="go"),
        result("P-521", "P-521", "rustls-ring", Outcome.UNSUPPORTED_ALGORITHM, "Unsupported", tls="1.2", server="go"),
        result("P-521", "P-521", "rustls-ring", Outcome.HANDSHAKE_FAILURE, "alert HandshakeFailure", tls="1.2", server="openssl"),
        result("P-521", "P-521", "rustls-ring", Outcome.HANDSHAKE_FAILURE, "alert HandshakeFailure", tls="1.3", server="openssl"),
    ])
    s = summarize(d)
    assert 'handshake_failure ("alert HandshakeFailure") on P-521 → P-521 (TLS 1.2 openssl, TLS 1.3 go, TLS 1.3 openssl)' in s
    assert 'unsupported_algorithm ("Unsupported") on P-521 → P-521 (TLS 1.2, server go)' in s


def test_the_grid_fits_a_terminal_and_counts_what_every_family_accepts():
    from tlsmatrix.report.table import GRID_WIDTH, render_grid

    chain = {"label": "a chain whose label is much too long to fit beside ten families of stacks, really",
             "root": {"key": "P-256", "hash": "SHA-256"}, "intermediates": [], "leaf": {"key": "P-256"}}
    fine = dict(chain, label="fine")
    clients = ["openssl", "rustls-ring", "rustls-ring@0.21.0", "go", "java", "node", "gnutls", "nss", "boringssl",
               "curl", "wolfssl", "kube-0.93-rustls"]
    results = [{"id": f"s|{c['label']}|1.3|go|{client}", "scenario": "s", "chain": c, "server": "go", "tls": "1.3",
                "client": client, "outcome": "ok" if c is fine or client != "rustls-ring" else "untrusted",
                "verdict": "unexpected"} for c in (chain, fine) for client in clients]
    grid = render_grid({"schema_version": 1, "run": {"started": "2026"}, "clients": {}, "servers": {}, "chains": {},
                        "scenarios": [{"name": "s"}], "results": results})
    lines = grid.splitlines()
    assert all(len(line) <= GRID_WIDTH for line in lines), max(lines, key=len)
    row = next(line for line in lines if line.startswith("a chain"))
    assert row.split()[-11:][1] == "~"  # 11 families; rustls: one of its two columns refuses
    assert "+ 1 chain(s) every family accepts" in grid and "rustl = rustls" in grid


def test_grid_rows_alike_share_one_line():
    from tlsmatrix.report.table import render_grid

    def chain(label):
        return {"label": label, "root": {"key": "P-256", "hash": "SHA-256"}, "intermediates": [], "leaf": {"key": "P-256"}}

    refused = {"openssl": "ok", "rustls-ring": "untrusted"}
    outcomes = {"a": refused, "b": refused, "c": {"openssl": "untrusted", "rustls-ring": "untrusted"}}
    results = [{"id": f"s|{label}|1.3|go|{client}", "scenario": "s", "chain": chain(label), "server": "go", "tls": "1.3",
                "client": client, "outcome": outcome, "verdict": "unexpected"}
               for label, by_client in outcomes.items() for client, outcome in by_client.items()]
    grid = render_grid({"schema_version": 1, "run": {"started": "2026"}, "clients": {}, "servers": {}, "chains": {},
                        "scenarios": [{"name": "s"}], "results": results}).splitlines()
    assert [line.split()[:3] for line in grid if line.split()[:1] in (["a"], ["b"], ["c"])] == [["a", "+1", "alike"], ["c", "✗", "✗"]]


def test_summary_lines_name_every_stack_that_fails_alike():
    from tlsmatrix.report.summary import finding_lines

    ring = ("rustls-ring", "rustls-ring@0.21.0", "kube-0.93-rustls")
    d = data([result(root, "P-256", client, Outcome.BAD_SIGNATURE if root == "P-521" and client in ring else Outcome.OK,
                     "BadSignature")
              for root in ("P-256", "P-521") for client in (*ring, "openssl", "go", "java", "node", "gnutls")])
    lines = finding_lines(d)
    together = [line for line in lines if "iff" in line]
    assert len(together) == 1 and together[0].startswith("rustls-ring, rustls-ring@0.21.0 and kube-0.93-rustls fail 1 of 2 iff")
    assert any(line == "ok on every cell: openssl, go, java, node and gnutls" for line in lines), lines
