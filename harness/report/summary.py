"""The few lines `tlsmatrix matrix` ends with: per scenario, its cells, how many match the
expectations, and which stacks fail on which condition (the ``tlsmatrix explain`` findings, one
line per stack; the full sentences are in the Explain section above and in matrix.html)."""
from __future__ import annotations

from collections import OrderedDict

from ..model.document import CellRecord, ResultsDocument
from ..model.core import ACCEPTED
from .explain import Finding, explain
from .text import clip, join_names

#: outcomes that say nothing about the client (it is not counted as failing or as fine)
NOT_MEASURED = {"skipped", "probe_error", "server_error"}
WIDTH = 160


def render_summary(data: ResultsDocument) -> str:
    """``Summary`` and, per scenario, a count line and one indented line per finding."""
    lines = ["", "Summary:"]
    for info, sub in data.per_scenario():
        lines.append(f"  {info.heading}: {counts_text(sub)}")
        lines.extend(f"    {clip(text, WIDTH)}" for text in finding_lines(sub))
    return "\n".join(lines) + "\n"


def counts_text(sub: ResultsDocument) -> str:
    v = sub.verdicts()
    text = f"{len(sub.cells)} cells, {v['match']} match the expectations"
    for key, words in (("mismatch", "contradict them"), ("unexpected", "have no expectation"), ("not-run", "not run")):
        if v[key]:
            text += f", {v[key]} {words}"
    return text


def explain_entries(sub: ResultsDocument) -> list[tuple[Finding | None, str]]:
    """What a summary says per scenario, text and HTML alike: (finding, its line) per explain
    finding, then (None, line) for the clients that never fail and when no stack fails where the
    others succeed."""
    findings = explain(sub)
    entries: list[tuple[Finding | None, str]] = [(f, finding_line(f)) for f in findings]
    fine = always_ok(sub.cells)
    if fine:
        entries.append((None, f"ok on every cell: {join_names(fine)}"))
    if not any(f.kind != "note" for f in findings):
        entries.append((None, "no stack fails where the others succeed"))
    return entries


def finding_lines(sub: ResultsDocument) -> list[str]:
    """The summary's lines: stacks whose findings say the same thing share one line
    (``rustls-aws-lc-rs and kube-0.94-aws-lc-rs fail 8 of 32 iff …``), however many columns of one
    stack a scenario has."""
    said: dict[str, list[str]] = OrderedDict()
    for f, line in explain_entries(sub):
        if f is None or f.kind != "client":
            said.setdefault(line, [])
            continue
        said.setdefault(line.removeprefix(f.stack + " fails"), []).append(f.stack)
    return [f"{join_names(who)} {'fails' if len(who) == 1 else 'fail'}{rest}" if who else rest
            for rest, who in said.items()]


def finding_line(f: Finding) -> str:
    """``rustls-ring fails 56 of 80 iff the key that signs is P-521 [unsupported_algorithm]``."""
    if f.kind == "note":
        return f"note: {f.note}"
    who = f.stack if f.kind == "client" else f"the {f.stack} server"
    terms = " or ".join(f"{t.text.replace(' (tlsmatrix diagnose)', '')} [{', '.join(t.outcomes)}]" for t in f.terms)
    if f.exact and len(f.terms) == 1 and not f.terms[0].conditions:
        return f"{who} fails on every cell [{', '.join(f.terms[0].outcomes)}]"
    count = f"{f.failing} of {f.failing + f.succeeding}"
    if f.exact:
        return f"{who} fails {count} iff {terms}"
    return f"{who} fails {count}, no exact pattern; best: {terms or '—'} (misses {len(f.missed)})"


def always_ok(cells: list[CellRecord]) -> list[str]:
    """Clients that succeed on every cell they were measured on."""
    measured: dict[str, list[str]] = OrderedDict()
    for r in cells:
        if r.outcome not in NOT_MEASURED:
            measured.setdefault(r.client, []).append(r.outcome)
    return [c for c, outcomes in measured.items() if all(o in ACCEPTED for o in outcomes)]
