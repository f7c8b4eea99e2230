"""The matrix as GitHub-flavoured Markdown sized for one issue or PR comment.

A compact table per scenario, the summary, the contradicted expectations, then a collapsed
``<details>`` block with every distinct raw error in full, the stack versions and the TEST-keys
note. GitHub refuses comments over 65536 characters: when the report would be longer, rows where
every client succeeded go first, then table rows, mismatch lines and raw errors are cut, each with
a note saying what is missing (results.json always has everything).
"""
from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..model.document import CellRecord, ResultsDocument, ScenarioInfo
from ..model.core import ACCEPTED
from .table import MISMATCH_MARK, mismatches, render_table, rows, stack_versions, summarize
from .text import clean as _clean
from .text import clip as _clip

#: GitHub's limit for an issue or PR comment
GITHUB_COMMENT_LIMIT = 65536
#: what this report aims for (margin for a line the caller prepends, e.g. a heading or a link)
MAX_CHARS = GITHUB_COMMENT_LIMIT - 1536
NOTES_WIDTH = 1200
TEST_KEYS = "All certificates and keys are tlsmatrix TEST keys; never trust them."

def _compact_table(md: str) -> str:
    """tabulate pads every cell to the column width; GitHub does not need that, the comment limit does."""
    out = []
    for line in md.splitlines():
        s = line.strip()
        if s.startswith("|") and s.endswith("|") and len(s) > 1:
            cells = [c.strip() for c in s[1:-1].split("|")]
            if all(c and set(c) <= set("-:") for c in cells):
                cells = [(":" if c.startswith(":") else "") + "---" + (":" if c.endswith(":") and len(c) > 1 else "")
                         for c in cells]
            line = "| " + " | ".join(cells) + " |"
        out.append(line)
    return "\n".join(out)


def _fence(text: str) -> str:
    """A fenced code block that survives backticks inside the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


@dataclass(frozen=True)
class _Plan:
    drop_ok_rows: bool = False
    max_rows: int | None = None  # per scenario table
    text_width: int | None = None  # per scenario summary and notes


PLANS = ([_Plan(), _Plan(drop_ok_rows=True)]
         + [_Plan(True, n, 3000) for n in (400, 200, 100, 50)]
         + [_Plan(True, n, 800) for n in (25, 12, 6, 3, 1)])


def _table(sub: ResultsDocument, plan: _Plan) -> str:
    _, table_rows = rows(sub.cells)
    keys = list(table_rows)
    notes = []
    if plan.drop_ok_rows:
        failing = [k for k in keys if any(r.outcome not in ACCEPTED for r in table_rows[k].values())]
        # with no failing row at all, a few rows still show the table's columns
        kept = failing or keys[:3]
        if len(kept) < len(keys):
            notes.append(f"{len(keys) - len(kept)} rows where every client succeeded are not shown")
        keys = kept
    if plan.max_rows is not None and len(keys) > plan.max_rows:
        notes.append(f"{len(keys) - plan.max_rows} more rows with failures are cut")
        keys = keys[: plan.max_rows]
    if not keys:
        table = "_(no rows to show)_\n"
    else:
        chosen = set(keys)
        results = [r for r in sub.cells if r.row_key in chosen]
        table = _compact_table(render_table(dataclasses.replace(sub, cells=results, scenarios=[]), "github")) + "\n"
    if notes:
        table += f"\n_({'; '.join(notes)} to fit a GitHub comment; the full matrix is in results.json.)_\n"
    return table


def _scenario_block(info: ScenarioInfo, sub: ResultsDocument, plan: _Plan) -> str:
    width = plan.text_width or 10**9
    parts = [f"### {_clean(info.heading)}", "", _clean(_table(sub, plan)).rstrip(), "",
             _clip(_clean(summarize(sub)), width)]
    if info.notes:
        parts += ["", f"**Why:** {_clip(_clean(info.notes), min(NOTES_WIDTH, width))}"]
    return "\n".join(parts) + "\n"


def _head(data: ResultsDocument) -> str:
    n = len(data.cells)
    mm = data.verdicts()["mismatch"]
    line = (f"Run {data.run.started or '?'} with tlsmatrix {data.tool.version or '?'}: {n} cells"
            + (f", **{mm} contradict the scenarios' expectations** ({MISMATCH_MARK})" if mm else
               ", none contradicts the scenarios' expectations")
            + ". Cells: `ok`, or `✗ outcome [n]` (`✗n` in wide tables) with note n giving the stack's own error.")
    return f"## tlsmatrix results\n\n{_clean(line)}\n"


def _error_groups(data: ResultsDocument) -> "OrderedDict[tuple[str, str, str], list[CellRecord]]":
    groups: "OrderedDict[tuple[str, str, str], list[CellRecord]]" = OrderedDict()
    for r in data.cells:
        if r.outcome == "ok" or not (r.error or r.error_detail):
            continue
        key = (str(r.outcome), _clean(r.error or ""), _clean(r.error_detail or ""))
        groups.setdefault(key, []).append(r)
    return groups


def _error_entry(n: int, key: tuple[str, str, str], rs: list[CellRecord], clip: int | None = None) -> str:
    outcome, error, detail = key
    clients = list(OrderedDict.fromkeys(str(r.client) for r in rs))
    scenarios = list(OrderedDict.fromkeys(str(r.scenario) for r in rs))
    example = rs[0]
    where = (f"{len(rs)} cell{'s' if len(rs) != 1 else ''} in {', '.join(scenarios)}; "
             f"e.g. {example.chain_label} | server {example.server} | TLS {example.tls_label}")
    versions = sorted({str(r.client_version) for r in rs if r.client_version})
    lines = [f"**{n}. {outcome}** — {_clip(', '.join(clients), 300)} ({_clip(where, 300)})"
             + (f"; client {_clip(', '.join(versions), 200)}" if versions else ""), ""]
    if error:
        lines += [_fence(_clip(error, clip) if clip else error), ""]
    if detail and detail != error:
        lines += ["detail:", "", _fence(_clip(detail, clip) if clip else detail), ""]
    return _clean("\n".join(lines)) + "\n"


def _tail(data: ResultsDocument) -> str:
    lines = ["#### Stack versions", ""]
    lines += [f"- {_clean(v)}" for v in stack_versions(data)]
    run = data.run
    machine = run.machine.to_json() if run.machine else {}
    if machine:
        lines.append(f"- machine: {_clean(', '.join(f'{k} {v}' for k, v in machine.items() if v is not None))}")
    facts = [f"{k} {getattr(run, k)}" for k in ("backend", "timeout_ms", "git_commit", "shard")
             if getattr(run, k) is not None]
    if run.git_dirty:
        facts.append("uncommitted changes")
    if facts:
        lines.append(f"- run: {_clean(', '.join(facts))}")
    lines += ["", f"**TEST keys:** {_clean(data.note or TEST_KEYS)}", "", "</details>", ""]
    return "\n".join(lines)


def _fill(items: list[str], budget: int, more: str) -> str:
    """As many items as fit in budget chars, then a note saying how many are missing."""
    out, used = [], 0
    for i, item in enumerate(items):
        if used + len(item) > budget - len(more) - 20:
            out.append(more.format(n=len(items) - i))
            break
        out.append(item)
        used += len(item)
    return "".join(out)


def render_markdown_report(data: ResultsDocument | dict[str, Any], max_chars: int = MAX_CHARS) -> str:
    """GitHub Markdown for one comment (at most ``max_chars`` characters, below GitHub's 65536)."""
    data = ResultsDocument.coerce(data)
    head = _head(data)
    per = data.per_scenario()
    mm_lines = [f"- {_clean(m)}\n" for m in mismatches(data)]
    mm_title = "\n#### Contradicted expectations\n\n"
    groups = _error_groups(data)
    details_open = "\n<details><summary>Raw errors and versions</summary>\n\n"
    err_title = f"#### Distinct raw errors ({len(groups)})\n\n" if groups else ""
    entries = [_error_entry(n, k, rs) for n, (k, rs) in enumerate(groups.items(), 1)]
    tail = _tail(data)

    for plan in PLANS:
        blocks = "\n".join(_scenario_block(info, sub, plan) for info, sub in per)
        body = head + "\n" + blocks
        full = (body + (mm_title + "".join(mm_lines) if mm_lines else "") + details_open + err_title
                + "".join(entries) + tail)
        if len(full) <= max_chars:
            return full
        fixed = len(body) + len(details_open) + len(err_title) + len(tail)
        if fixed > max_chars * 0.7 and plan != PLANS[-1]:
            continue  # the tables leave too little room: make them smaller first
        room = max_chars - fixed - 100
        text = body
        if mm_lines:
            mm = _fill(mm_lines, min(room // 2, len("".join(mm_lines)) + 200) - len(mm_title),
                       "- … and {n} more (see results.json)\n")
            text += mm_title + mm
            room -= len(mm_title) + len(mm)
        text += details_open + err_title
        if entries:
            text += _errors_within(groups, entries, room)
        text += tail
        if len(text) <= max_chars:
            return text
    return _hard_cut(text, max_chars)


def _errors_within(groups, entries: list[str], budget: int) -> str:
    """Whole entries while they fit; then one clipped entry if there is room; then a note."""
    out, used = [], 0
    keys = list(groups)
    for i, entry in enumerate(entries):
        left = budget - used - 120
        if len(entry) <= left:
            out.append(entry)
            used += len(entry)
            continue
        if left > 600:
            clipped = _error_entry(i + 1, keys[i], groups[keys[i]], clip=max((left - 400) // 2, 100))
            if len(clipped) <= left:
                out.append(clipped)
                used += len(clipped)
                i += 1
        missing = len(entries) - i
        if missing > 0:
            out.append(f"_… {missing} more distinct error{'s' if missing != 1 else ''} not shown "
                       "(comment size limit); results.json has every error in full._\n\n")
        break
    return "".join(out)


def _hard_cut(text: str, max_chars: int) -> str:
    """Last resort: cut at a line, close an open code fence and the details block, say so."""
    note = "\n\n_(report cut to fit a GitHub comment; results.json has everything.)_\n"
    cut = text[: max(max_chars - len(note) - 200, 0)]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    fences = re.findall(r"^(`{3,})", cut, flags=re.M)
    if len(fences) % 2:
        cut += "\n" + fences[-1]
    if cut.count("<details>") > cut.count("</details>"):
        cut += "\n\n</details>"
    return cut + note + f"\n**TEST keys:** {TEST_KEYS}\n"
