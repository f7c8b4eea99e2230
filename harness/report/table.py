"""The matrix as a table (tabulate: terminal and GitHub Markdown) plus a summary of what differs.

Everything here works on the results document (tlsmatrix.model.document), so ``tlsmatrix report
results.json`` renders exactly what the run printed.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict, defaultdict
from typing import Any

from tabulate import tabulate

from ..model.document import CellRecord, ResultsDocument
from ..model.core import ACCEPTED
from .text import join_names, shorten

OK_MARK = "ok"
#: chain_ok: the chain was accepted, the handshake could not complete without the server's key
CHAIN_OK_MARK = "chain✓"
FAIL_MARK = "✗"
MISMATCH_MARK = "⚠"
NOTE_WIDTH = 150


class Footnotes:
    """Numbers each distinct (outcome, raw error) once, so cells stay narrow and errors stay exact."""

    def __init__(self) -> None:
        self.notes: "OrderedDict[tuple[str, str, str], list[str]]" = OrderedDict()

    def ref(self, r: CellRecord) -> int:
        text = shorten(r.error or r.short_error or "", NOTE_WIDTH)
        # the same words for another cause get their own note: the diagnosis finding says which
        key = (r.outcome, text, r.finding or "")
        clients = self.notes.setdefault(key, [])
        if r.client not in clients:
            clients.append(r.client)
        return list(self.notes).index(key) + 1

    def render(self, markdown: bool) -> str:
        lines = []
        for n, ((outcome, text, finding), clients) in enumerate(self.notes.items(), 1):
            body = f"`{text}`" if markdown else text
            cause = f" ← {finding} (`tlsmatrix diagnose`)" if finding else ""
            lines.append(f"[{n}] {outcome} — {', '.join(clients)}: {body}{cause}")
        return ("\n\n" if markdown else "\n").join(lines)


#: more client columns than this and cells shrink to ``✗n`` (the class moves into note n)
COMPACT_ABOVE = 6


def cell_text(r: CellRecord, notes: Footnotes | None = None, compact: bool = False) -> str:
    """``ok``, or ``✗ class [n]`` (compact: ``✗n``) where note n holds the class and the stack's own error."""
    outcome = r.outcome
    if outcome == "ok":
        text = OK_MARK
        if r.error and notes is not None and not compact:  # e.g. the API answered 403 after a good handshake
            text += f" [{notes.ref(r)}]"
    elif outcome == "chain_ok":
        text = CHAIN_OK_MARK + (str(notes.ref(r)) if compact and notes is not None else
                                f" [{notes.ref(r)}]" if notes is not None else "")
    elif compact and notes is not None:
        text = ("—" if outcome == "skipped" else FAIL_MARK) + str(notes.ref(r))
    else:
        text = "— skipped" if outcome == "skipped" else f"{FAIL_MARK} {outcome}"
        if notes is not None and (r.error or r.short_error):
            text += f" [{notes.ref(r)}]"
        elif notes is None and r.short_error and r.short_error != outcome:
            text += f" ({r.short_error})"
    if r.verdict == "mismatch":
        text += MISMATCH_MARK if compact else f" {MISMATCH_MARK}"
    return text


def rows(results: list[CellRecord]) -> tuple[list[str], "OrderedDict[tuple, dict[str, CellRecord]]"]:
    """(client columns in run order, row key → client → record); a row is scenario × chain × TLS × server."""
    clients: list[str] = []
    out: "OrderedDict[tuple, dict[str, CellRecord]]" = OrderedDict()
    for r in results:
        if r.client not in clients:
            clients.append(r.client)
        out.setdefault(r.row_key, {})[r.client] = r
    return clients, out


def render_table(data: ResultsDocument | dict[str, Any], tablefmt: str = "simple") -> str:
    """One table per scenario: rows = chain × server × TLS, columns = client stacks, then the errors."""
    data = ResultsDocument.coerce(data)
    clients, table_rows = rows(data.cells)
    scenarios = list(OrderedDict.fromkeys(k[0] for k in table_rows))
    out = []
    for scenario in scenarios:
        notes = Footnotes()
        body = []
        for (scen, chain, tls, server), cells in table_rows.items():
            if scen != scenario:
                continue
            compact = len(clients) > COMPACT_ABOVE
            body.append([chain, server, tls] + [cell_text(cells[c], notes, compact) if c in cells else "" for c in clients])
        headers = ["chain (root → … → leaf)", "server", "TLS"] + clients
        if len(scenarios) > 1:
            title = data.scenario(scenario).heading
            out.append(f"### {title}" if tablefmt == "github" else f"== {title} ==")
            out.append("")
        out.append(tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True))
        out.append("")
        if notes.notes:
            out.append(notes.render(markdown=tablefmt == "github"))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _condense(rs: list[CellRecord], all_rows: dict[str, set]) -> str:
    """'P-521 → P-256 (TLS 1.2, go)' style list of where a group of failures happened."""
    by_chain: "OrderedDict[str, list[CellRecord]]" = OrderedDict()
    for r in rs:
        by_chain.setdefault(r.chain_label, []).append(r)
    parts = []
    for chain, items in by_chain.items():
        combos = {(i.tls_label, i.server) for i in items}
        every = all_rows.get(chain, set())
        if combos >= every:
            parts.append(chain)
            continue
        tls = sorted({c[0] for c in combos})
        servers = sorted({c[1] for c in combos})
        if combos != {(t, sv) for t in tls for sv in servers}:
            # not a product of TLS versions × servers: name each combination
            listed = ", ".join(f"TLS {t} {sv}" for t, sv in sorted(combos))
            parts.append(f"{chain} ({listed})")
            continue
        quals = []
        if set(tls) != {c[0] for c in every}:
            quals.append("TLS " + "/".join(tls))
        if set(servers) != {c[1] for c in every}:
            quals.append("server " + "/".join(servers))
        parts.append(f"{chain} ({', '.join(quals)})" if quals else chain)
    if len(parts) > 6:
        return "; ".join(parts[:6]) + f"; and {len(parts) - 6} more"
    return "; ".join(parts)


def summarize(data: ResultsDocument | dict[str, Any]) -> str:
    """A paragraph saying which stacks differ, where, and how the run compares to expectations."""
    results = ResultsDocument.coerce(data).cells
    clients, _ = rows(results)
    all_rows: dict[str, set] = defaultdict(set)
    for r in results:
        all_rows[r.chain_label].add((r.tls_label, r.server))
    sentences = []
    clean = []
    skipped_clients = []
    for client in clients:
        mine = [r for r in results if r.client == client]
        measured = [r for r in mine if r.outcome not in ("skipped", "server_error")]
        if not measured:
            reason = next((r.error for r in mine if r.error), "")
            skipped_clients.append(f"{client} ({reason})")
            continue
        failed = [r for r in measured if r.outcome not in ACCEPTED]
        if not failed:
            clean.append(client)
            continue
        groups: "OrderedDict[tuple[str, str], list[CellRecord]]" = OrderedDict()
        for r in failed:
            groups.setdefault((r.outcome, r.short_error or ""), []).append(r)
        pieces = []
        for (outcome, short), rs in groups.items():
            label = f"{outcome} (\"{short}\")" if short and short != outcome else outcome
            pieces.append(f"{label} on {_condense(rs, all_rows)}")
        sentences.append(f"{client} fails {len(failed)} of {len(measured)} cells: " + "; ".join(pieces) + ".")
    if clean:
        verb = "succeeds" if len(clean) == 1 else "succeed"
        sentences.append(f"{join_names(clean)} {verb} on every cell.")
    if skipped_clients:
        sentences.append("Not run: " + "; ".join(skipped_clients) + ".")
    server_errors = [r for r in results if r.outcome == "server_error"]
    if server_errors:
        servers = sorted({r.server for r in server_errors})
        sentences.append(f"The server stack itself could not serve some chains ({', '.join(servers)}): "
                         f"{_condense(server_errors, all_rows)}.")
    sentences.append(expectation_text(results) + ".")
    return " ".join(sentences)


def expectation_text(results: list[CellRecord]) -> str:
    """``N of M cells match the scenario's expectations, …`` (no final period)."""
    verdicts: dict[str, int] = defaultdict(int)
    for r in results:
        verdicts[r.verdict] += 1
    exp = f"{verdicts['match']} of {len(results)} cells match the scenario's expectations"
    if verdicts["mismatch"]:
        exp += f", {verdicts['mismatch']} contradict them (marked {MISMATCH_MARK})"
    if verdicts["unexpected"]:
        exp += f", {verdicts['unexpected']} have no expectation"
    if verdicts["not-run"]:
        exp += f", {verdicts['not-run']} were not run"
    return exp


def mismatches(data: ResultsDocument | dict[str, Any]) -> list[str]:
    lines = []
    for r in ResultsDocument.coerce(data).cells:
        if r.verdict != "mismatch":
            continue
        expected = ", ".join(r.expected.outcomes) if r.expected else ""
        why = f" — {r.expected.why}" if r.expected and r.expected.why else ""
        lines.append(
            f"{r.scenario}: {r.chain_label} | TLS {r.tls_label} | server {r.server} | "
            f"client {r.client}: got {r.outcome}"
            + (f" ({shorten(r.error, 160)})" if r.error else "")
            + f", expected {expected}{why}"
        )
    return lines


def stack_versions(data: ResultsDocument | dict[str, Any]) -> list[str]:
    data = ResultsDocument.coerce(data)
    lines = []
    for kind, entries in (("client", data.clients), ("server", data.servers)):
        for name, entry in entries.items():
            if entry.available and entry.info:
                info = entry.info
                details = ", ".join(f"{k} {v}" for k, v in list(info.details.items())[:3]
                                    if k != "library" and len(str(v)) <= 60)
                where = f" [image {entry.image}]" if entry.image else ""
                lines.append(f"{kind} {name}: {info.describe()}{where}" + (f"; {details}" if details else ""))
            else:
                lines.append(f"{kind} {name}: {entry.describe()}")
    return lines


def render_text(data: ResultsDocument | dict[str, Any]) -> str:
    data = ResultsDocument.coerce(data)
    parts = []
    for info, sub in data.per_scenario():
        parts.append(f"== {info.heading} ==\n")
        parts.append(render_table(dataclasses.replace(sub, scenarios=[]), "simple"))
        parts.append(summarize(sub))
        if info.notes:
            parts.append(f"\nWhy: {info.notes}")
        parts.append("")
    mm = mismatches(data)
    if mm:
        parts.append("Contradicted expectations:\n" + "\n".join(f"  {line}" for line in mm) + "\n")
    parts.append("Stacks: " + "; ".join(stack_versions(data)))
    parts.append("Certificates are tlsmatrix TEST keys (results/cache/pki); never trust them.")
    return "\n".join(parts) + "\n"


#: the at-a-glance grid fits a terminal this wide; the full tables are in matrix.md / matrix.html
GRID_WIDTH = 100
GRID_COLUMN = 5  # a family's header is cut to this many characters (a legend says which)


def render_grid(data: ResultsDocument | dict[str, Any]) -> str:
    """Per scenario, a grid of chains × client families: each cell the family's outcome over every
    server, TLS version and column of it (``ok`` all accepted, ``✗`` all refused, ``~`` some, ``—``
    none measured), for a terminal; `tlsmatrix matrix --full` prints the full tables."""
    from ..stacks.clients import family_of

    data = ResultsDocument.coerce(data)
    parts = []
    for info, sub in data.per_scenario():
        parts += [shorten(f"== {info.heading} ==", GRID_WIDTH), *_grid(sub.cells), ""]
    cut = [f for f in dict.fromkeys(family_of(r.client) for r in data.cells) if len(f) > GRID_COLUMN]
    parts += [f"ok: every column of the family accepts; {FAIL_MARK}: none does; ~: some do; —: none ran; "
              f"{MISMATCH_MARK}: contradicted",
              *([", ".join(f"{f[:GRID_COLUMN]} = {f}" for f in cut)] if cut else [])]
    return "\n".join(parts) + "\n"


def _grid(cells: list[CellRecord]) -> list[str]:
    from ..stacks.clients import family_of

    families = list(dict.fromkeys(family_of(r.client) for r in cells))
    outcomes: dict[tuple[str, str], list[CellRecord]] = {}
    for r in cells:
        outcomes.setdefault((r.chain_label, family_of(r.client)), []).append(r)
    label_width = max(12, GRID_WIDTH - (GRID_COLUMN + 1) * len(families))
    header = "chain".ljust(label_width) + " ".join(f[:GRID_COLUMN].ljust(GRID_COLUMN) for f in families)
    rows = [header.rstrip(), "-" * min(GRID_WIDTH, len(header))]
    fine = 0  # chains every family accepts: counted, not shown
    alike: dict[tuple[str, ...], list[str]] = {}  # chains with the same marks share a row
    for chain in dict.fromkeys(r.chain_label for r in cells):
        marks = tuple(_grid_mark(outcomes.get((chain, f), [])) for f in families)
        if all(m == "ok" for m in marks):
            fine += 1
            continue
        alike.setdefault(marks, []).append(chain)
    for marks, chains in alike.items():
        more = f" +{len(chains) - 1} alike" if len(chains) > 1 else ""
        label = chains[0] if len(chains[0]) + len(more) < label_width else chains[0][:label_width - len(more) - 2] + "…"
        rows.append(((label + more).ljust(label_width) + " ".join(m.ljust(GRID_COLUMN) for m in marks)).rstrip())
    if fine:
        rows.append(f"+ {fine} chain(s) every family accepts")
    return rows


def _grid_mark(records: list[CellRecord]) -> str:
    measured = [r for r in records if r.outcome not in ("skipped", "server_error", "probe_error")]
    if not measured:
        return "—"
    accepted = sum(1 for r in measured if r.outcome in ACCEPTED)
    mark = "ok" if accepted == len(measured) else FAIL_MARK if accepted == 0 else "~"
    return mark + (MISMATCH_MARK if any(r.verdict == "mismatch" for r in records) else "")


def render_markdown(data: ResultsDocument | dict[str, Any]) -> str:
    data = ResultsDocument.coerce(data)
    lines = ["# tlsmatrix results", ""]
    lines.append(f"Run {data.run.started} with tlsmatrix {data.tool.version}. "
                 "Cells: `ok`, or `✗ outcome [n]` (`✗n` in wide tables), where note n under the table gives the outcome "
                 "and the stack's own error text; "
                 f"`{MISMATCH_MARK}` marks a cell that contradicts the scenario's expectation.")
    lines.append("")
    for info, sub in data.per_scenario():
        lines.append(f"## {info.heading}")
        lines.append("")
        lines.append(render_table(dataclasses.replace(sub, scenarios=[]), "github"))
        lines.append(summarize(sub))
        lines.append("")
        if info.notes:
            lines.append(f"**Why:** {info.notes}")
            lines.append("")
    mm = mismatches(data)
    if mm:
        lines.append("## Contradicted expectations")
        lines.append("")
        lines.extend(f"- {line}" for line in mm)
        lines.append("")
    lines.append("## Stacks")
    lines.append("")
    lines.extend(f"- {line}" for line in stack_versions(data))
    lines.append("")
    lines.append("All certificates and keys are tlsmatrix TEST keys; never trust them.")
    return "\n".join(lines) + "\n"
