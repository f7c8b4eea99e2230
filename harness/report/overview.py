"""The top of the HTML page: what differs, before any detail.

Per scenario: its cells, how many match the expectations, and which stacks fail on which
condition (the ``tlsmatrix explain`` findings, one short line per stack; the full sentence on
hover). Then a compact pivot per scenario, chain × client: one square per pair, coloured by the
outcome the client got on that chain over every server and TLS version, so a reader sees the
pattern (a column of failures on every P-521 row) before the long matrix.
"""
from __future__ import annotations

import html
from collections import Counter, OrderedDict

from ..model.document import CellRecord, ResultsDocument, ScenarioInfo
from .explain import Finding
from .legend import outcome_info  # the page's colours, defined once
from .summary import explain_entries
from .text import clean


def esc(value: object) -> str:
    return html.escape(clean(value), quote=True)


def overview(data: ResultsDocument) -> str:
    """The summary section and the pivot section."""
    per = data.per_scenario()
    return _summary(per) + _pivots(per)


def _summary(per: list[tuple[ScenarioInfo, ResultsDocument]]) -> str:
    head = ("<thead><tr><th>scenario</th><th>cells</th><th>match</th><th>contradict</th><th>no expectation</th>"
            "<th>not run</th></tr></thead>")
    body, blocks = [], []
    for info, sub in per:
        v = sub.verdicts()
        warn = ' class="warn"' if v["mismatch"] else ""
        body.append(f'<tr><td><a href="#scenario-{esc(info.name)}">{esc(info.heading)}</a></td>'
                    f"<td>{len(sub.cells)}</td><td>{v['match']}</td><td{warn}>{v['mismatch']}</td>"
                    f"<td>{v['unexpected']}</td><td>{v['not-run']}</td></tr>")
        blocks.append(f'<div class="explain"><h3>{esc(info.heading)}</h3><ul>{_explain_items(sub)}</ul></div>')
    return (f'<section id="summary"><h2>Summary</h2><table class="summary">{head}<tbody>{"".join(body)}</tbody>'
            f"</table>{''.join(blocks)}</section>")


def _explain_items(sub: ResultsDocument) -> str:
    """One line per stack that fails where the others succeed, one for the stacks that never fail."""
    return "".join(_finding_item(f) if f is not None else f'<li class="fine">{esc(line)}</li>'
                   for f, line in explain_entries(sub))


def _finding_item(f: Finding) -> str:
    if f.kind == "note":
        return f'<li class="note">{esc(f.note)}</li>'
    who = f"<b>{esc(f.stack)}</b>" if f.kind == "client" else f"the <b>{esc(f.stack)}</b> server"
    count = f'<span class="n">{f.failing} of {f.failing + f.succeeding}</span>'
    # compact: the outcome classes only (the errors are in the matrix), no pointer to `diagnose` per term
    terms = " <i>or</i> ".join(
        f"{esc(t.text.replace(' (tlsmatrix diagnose)', ''))} <span class=\"oc\">{esc(', '.join(t.outcomes))}</span>"
        for t in f.terms)
    if f.exact and len(f.terms) == 1 and not f.terms[0].conditions:
        text = f"{who} fails on every cell <span class=\"oc\">{esc(', '.join(f.terms[0].outcomes))}</span>"
    elif f.exact:
        text = f"{who} fails {count} iff {terms}"
    else:
        text = f"{who} fails {count}, no exact pattern; best: {terms or '—'} (misses {len(f.missed)})"
    return f'<li title="{esc(f.text)}">{text}</li>'


def _pivots(per: list[tuple[ScenarioInfo, ResultsDocument]]) -> str:
    blocks = "".join(f'<div class="pivot-block"><h3>{esc(info.heading)}</h3>{_pivot(sub.cells)}</div>'
                     for info, sub in per)
    return ('<section id="pivot"><h2>At a glance: chain × client</h2><p class="small">One square per chain and client '
            "stack: the outcome over every server and TLS version; <b>n/m</b> where they differ (n of m cells ok), "
            "⚠ where a cell contradicts the scenario. Hover for the cells; the full matrix follows.</p>"
            f"{blocks}</section>")


def _pivot(cells: list[CellRecord]) -> str:

    clients = list(OrderedDict.fromkeys(r.client for r in cells))
    grid: dict[str, dict[str, list[CellRecord]]] = OrderedDict()
    for r in cells:
        grid.setdefault(r.chain_label, {}).setdefault(r.client, []).append(r)
    head = "".join(f'<th class="client"><span>{esc(c)}</span></th>' for c in clients)
    body = []
    for chain, by_client in grid.items():
        squares = []
        for c in clients:
            rs = by_client.get(c, [])
            outcomes = Counter(r.outcome for r in rs)
            if not rs:
                squares.append("<td></td>")
                continue
            if len(outcomes) == 1:
                label, cls, _ = outcome_info(rs[0].outcome)
            else:
                label, cls = f"{outcomes['ok']}/{len(rs)}", "o-mixed"
            if any(r.verdict == "mismatch" for r in rs):
                label, cls = label + "⚠", cls + " mismatch"
            title = f"{chain} | {c}\n" + "\n".join(f"server {r.server}, TLS {r.tls_label}: {r.outcome}" for r in rs)
            squares.append(f'<td class="pv {cls}" title="{esc(title)}">{esc(label)}</td>')
        body.append(f'<tr><th class="chain">{esc(chain)}</th>{"".join(squares)}</tr>')
    return (f'<div class="scroll"><table class="pivot"><thead><tr><th class="rowh">chain</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")
