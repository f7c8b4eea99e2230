"""What `tlsmatrix limbo` reports: agreement with x509-limbo per client column, then the divergences
grouped by limbo feature (or the testcase's namespace), each in the stack's own words.

Everything is read from the results document: a cell's chain is named by the testcase id and its
expectation says limbo's verdict (harness/running/limbo.py ``limbo_says``), so `tlsmatrix report`
and this module agree on any results.json a limbo run wrote."""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from ..model.core import ACCEPTED, NOT_MEASURED
from ..model.document import CellRecord, ResultsDocument
from ..running.limbo import KNOWN
from .text import clean, shorten

_SAYS = re.compile(r"^x509-limbo: (SUCCESS|FAILURE)(?: \(features: ([^)]*)\))?")


@dataclass
class Column:
    """One client column's agreement with limbo."""

    client: str
    version: str = ""
    agree: int = 0
    disagree: int = 0
    known: int = 0  # disagreements an expected-divergence file lists
    stale: int = 0  # listed divergences where the stack agrees with limbo now
    not_measured: int = 0  # skipped, probe or server errors, timeouts

    @property
    def measured(self) -> int:
        return self.agree + self.disagree


@dataclass
class Divergent:
    """A testcase where some client disagrees with limbo."""

    case: str
    expected: str
    group: str
    answers: list[CellRecord] = field(default_factory=list)


def limbo_verdict(record: CellRecord) -> tuple[str, tuple[str, ...]] | None:
    """(limbo's expected result, the testcase's features) from a cell's expectation; None: not a limbo cell."""
    m = _SAYS.match(record.expected.why or "") if record.expected else None
    if m is None:
        return None
    return m.group(1), tuple(f.strip() for f in (m.group(2) or "").split(",") if f.strip())


def agrees(record: CellRecord, expected: str) -> bool | None:
    """SUCCESS ⇔ ok/chain_ok; None when the cell measured nothing."""
    if record.outcome in NOT_MEASURED or record.outcome == "timeout":
        return None
    return (record.outcome in ACCEPTED) == (expected == "SUCCESS")


def agreement(doc: ResultsDocument) -> tuple[list[Column], list[Divergent]]:
    columns: "OrderedDict[str, Column]" = OrderedDict()
    divergent: "OrderedDict[str, Divergent]" = OrderedDict()
    for r in doc.cells:
        said = limbo_verdict(r)
        if said is None:
            continue
        expected, features = said
        col = columns.setdefault(r.client, Column(r.client, r.client_version or ""))
        verdict = agrees(r, expected)
        listed = KNOWN in (r.expected.why or "")
        if verdict is None:
            col.not_measured += 1
        elif verdict:
            col.agree += 1
            col.stale += listed
        else:
            col.disagree += 1
            col.known += listed
            group = features[0] if features else r.chain_label.rsplit("::", 1)[0]
            divergent.setdefault(r.chain_label, Divergent(r.chain_label, expected, group)).answers.append(r)
    return list(columns.values()), list(divergent.values())


def render_markdown(doc: ResultsDocument, not_expressed: list[tuple[str, str]] | None = None) -> str:
    columns, divergent = agreement(doc)
    out = ["# x509-limbo through real handshakes", "",
           "Agreement with limbo's expected result (SUCCESS ⇔ `ok`/`chain_ok`), per client column; "
           "\"known\" counts disagreements an expected-divergence file lists, \"stale\" listed ones where the "
           "stack agrees now.", "",
           "| client | version | agree | disagree | known | stale | not measured |", "|---|---|---:|---:|---:|---:|---:|"]
    for c in columns:
        out.append(f"| {c.client} | {clean(c.version)} | {c.agree}/{c.measured} | {c.disagree} | {c.known} | "
                   f"{c.stale} | {c.not_measured} |")
    out += ["", "## Divergences by feature", ""]
    groups: "OrderedDict[str, list[Divergent]]" = OrderedDict()
    for d in sorted(divergent, key=lambda d: (d.group, d.case)):
        groups.setdefault(d.group, []).append(d)
    for group, items in groups.items():
        out += [f"### {group}", ""]
        for d in items:
            out.append(f"- `{d.case}` (limbo: {d.expected})")
            for r in d.answers:
                words = shorten(clean(r.error or r.outcome), 160)
                out.append(f"  - {r.client}: **{r.outcome}**{f' `{r.code}`' if r.code else ''} — {words}")
        out.append("")
    if not_expressed:
        out += [f"## Not expressed as a handshake ({len(not_expressed)})", ""]
        out += [f"- `{case}`: {reason}" for case, reason in not_expressed]
    return "\n".join(out).rstrip() + "\n"


def render_text(doc: ResultsDocument) -> str:
    """The agreement table for a terminal."""
    from tabulate import tabulate

    columns, divergent = agreement(doc)
    rows = [[c.client, shorten(c.version, 40), f"{c.agree}/{c.measured}", c.disagree, c.known, c.stale,
             c.not_measured] for c in columns]
    table = tabulate(rows, headers=["client", "version", "agree", "disagree", "known", "stale", "not measured"])
    return f"{table}\n\n{len(divergent)} testcases where some client disagrees with limbo\n"


def divergence_file(doc: ResultsDocument, corpus: str) -> str:
    """Every disagreement of this run as an expected-divergence file (``tlsmatrix limbo
    --write-divergences``): one ``[[divergence]]`` per testcase and outcome, the stacks' own words as why."""
    _, divergent = agreement(doc)
    out = [f"# Divergences from x509-limbo measured by `tlsmatrix limbo` on {corpus}",
           f"# ({doc.run.started}; tlsmatrix {doc.tool.version}). A nightly run with this file fails only on a new one.",
           ""]
    for d in divergent:
        by_outcome: "OrderedDict[str, list[CellRecord]]" = OrderedDict()
        for r in d.answers:
            by_outcome.setdefault(r.outcome, []).append(r)
        for outcome, records in by_outcome.items():
            accepted = outcome in ACCEPTED
            why = f"measured: {outcome}" + ("" if accepted else f" ({shorten(clean(records[0].error or ''), 120)})")
            out += ["[[divergence]]", f"id = {_toml(d.case)}",
                    f"clients = [{', '.join(_toml(r.client) for r in records)}]",
                    f'instead = "{"accepts" if accepted else "rejects"}"', f"why = {_toml(why)}", ""]
    return "\n".join(out)


def _toml(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string
