"""The matrix as one standalone HTML page: what differs first, then the heat map, metadata last.

The page opens with the summary (per scenario: cells, matches, and which stacks fail on which
condition: the ``tlsmatrix explain`` lines) and a compact pivot (chain × client, one colour per
outcome), then the full matrix with filters, and ends with the stacks, chains and run metadata.
It has no external assets (inline CSS and a little inline JavaScript), so it works offline as a
CI artifact. Every cell keeps the stack's own error, the versions and the expectation's "why": on
hover (``title``) and on click (a ``<details>`` per cell that opens as a side panel, no JavaScript
needed).
"""
from __future__ import annotations

import functools
import html
import json
from collections import Counter, OrderedDict
from typing import Any

from ..model.document import CellRecord, ResultsDocument, StackEntry
from .legend import OUTCOMES, outcome_info
from .overview import overview
from .table import mismatches, rows, stack_versions
from .text import clean, clip, negotiated


VERDICTS = OrderedDict([
    ("match", "matches the scenario's expectation"),
    ("mismatch", "contradicts the scenario's expectation (outlined, ⚠)"),
    ("unexpected", "the scenario states no expectation (dashed outline)"),
    ("not-run", "not run"),
])

#: run metadata in the order the page lists it (older documents lack some)
RUN_FACTS = [("started", "run started"), ("duration_s", "duration (s)"), ("backend", "backend"),
             ("timeout_ms", "timeout (ms)"), ("git_commit", "git commit"), ("git_dirty", "uncommitted changes"),
             ("shard", "shard"), ("merged_from", "merged from"), ("certificates_generated", "certificates generated"),
             ("machine", "machine")]

TITLE_ERROR_WIDTH = 600
EXTRA_VALUE_WIDTH = 2000


def esc(value: Any) -> str:
    return _esc_text(value) if isinstance(value, str) else html.escape(clean(value), quote=True)


@functools.lru_cache(maxsize=8192)
def _esc_text(text: str) -> str:
    """A page of 3,528 cells escapes ~110,000 strings, most of them repeated (terms, outcomes, labels)."""
    return html.escape(clean(text), quote=True)


def _fact_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _expected(r: CellRecord) -> tuple[str, str]:
    if r.expected is None:
        return "", ""
    return ", ".join(str(o) for o in r.expected.outcomes), str(r.expected.why or "")


def _cell_title(r: CellRecord) -> str:
    """Plain text for the hover tooltip (escaped by the caller)."""
    lines = [f"{r.client} ← server {r.server}, TLS {r.tls_label}, chain {r.chain_label}",
             f"outcome: {r.outcome}   verdict: {r.verdict}"]
    expected, why = _expected(r)
    if expected:
        lines.append(f"expected: {expected}" + (f" — {why}" if why else ""))
    if r.error:
        lines.append("error: " + clip(r.error, TITLE_ERROR_WIDTH))
    if r.error_detail and r.error_detail != r.error:
        lines.append("detail: " + clip(r.error_detail, TITLE_ERROR_WIDTH))
    if r.code:
        lines.append(f"code: {r.code}")
    if negotiated(r.negotiated):
        lines.append("negotiated: " + negotiated(r.negotiated))
    versions = [f"{who}: {v}" for who, v in (("client", r.client_version), ("server", r.server_version)) if v]
    if versions:
        lines.append("; ".join(versions))
    if r.elapsed_ms is not None:
        lines.append(f"elapsed: {r.elapsed_ms} ms")
    if r.attempts > 1:
        lines.append(f"attempts: {r.attempts}")
    lines.append("(click for the full record)")
    return "\n".join(lines)


def _dl(items: list[tuple[str, str, bool]]) -> str:
    """``<dl>`` from (term, value, preformatted) triples; values are escaped here."""
    out = ["<dl>"]
    for term, value, pre in items:
        body = f"<pre>{esc(value)}</pre>" if pre else esc(value)
        out.append(f"<dt>{esc(term)}</dt><dd>{body}</dd>")
    out.append("</dl>")
    return "".join(out)


def _chain_text(r: CellRecord) -> str:
    chain = r.chain
    if chain is None:
        return "?"
    inter = ", ".join(i.key for i in chain.intermediates) or "none"
    root_hash = f"/{chain.root.hash}" if chain.root.hash else ""
    return (f"root {chain.root.key}{root_hash}, intermediates {inter}, leaf {chain.leaf.key}"
            + (", expired" if chain.expired else ""))


def _cell_panel(r: CellRecord) -> str:
    expected, why = _expected(r)
    items: list[tuple[str, str, bool]] = [
        ("cell", f"{r.scenario} | {r.chain_label} | server {r.server} | TLS {r.tls_label} | client {r.client}", False),
        ("outcome", r.outcome + (f" ({r.short_error})" if r.short_error else ""), False),
        ("verdict", r.verdict, False),
    ]
    items += [(term, value, pre) for term, value, pre in (
        ("expected", expected, False), ("why", why, False), ("error", r.error, True),
        ("error detail", r.error_detail, True), ("code", r.code, False), ("negotiated", negotiated(r.negotiated), False))
        if value]
    items.append(("client version", r.client_version or "?", False))
    items.append(("server version", r.server_version or "?", False))
    items.append(("chain", _chain_text(r), False))
    if r.servername:
        items.append(("server name", r.servername, False))
    if r.elapsed_ms is not None:
        items.append(("elapsed", f"{r.elapsed_ms} ms", False))
    if r.attempts != 1:
        items.append(("attempts", str(r.attempts), False))
    for k, v in sorted(({"app": r.app, "finding": r.finding} | r.extra).items()):
        if v is None:
            continue  # keys of a newer version, shown as written
        items.append((k, clip(json.dumps(v, ensure_ascii=False, default=str), EXTRA_VALUE_WIDTH), True))
    items.append(("id", r.id, False))
    return _dl(items)


def _cell(r: CellRecord) -> str:
    abbr, cls, _ = outcome_info(r.outcome)
    classes = ["cell", cls]
    label = abbr
    if r.verdict == "mismatch":
        classes.append("mismatch")
        label += " ⚠"
    elif r.verdict == "unexpected":
        classes.append("unexpected")
    return (f'<td class="{" ".join(classes)}" data-client="{esc(r.client)}" data-outcome="{esc(r.outcome)}" '
            f'data-verdict="{esc(r.verdict)}" data-id="{esc(r.id)}" title="{esc(_cell_title(r))}">'
            f'<details><summary>{esc(label)}</summary><div class="panel" title="">'
            f'<button type="button" class="close" aria-label="close">×</button>{_cell_panel(r)}</div></details></td>')


def stack_label(entry: StackEntry | None) -> str:
    return entry.describe() if entry else ""


def _chain_title(data: ResultsDocument, first: CellRecord) -> str:
    title = _chain_text(first)
    meta = data.chains.get(first.chain_label)
    if meta is not None:
        title += f"\nfingerprint {meta.fingerprint}\nleaf sha256 {meta.leaf_sha256}"
    return title


def _matrix(data: ResultsDocument, sub: ResultsDocument) -> str:
    clients, table_rows = rows(sub.cells)
    out = ['<div class="scroll"><table class="matrix"><thead><tr>'
           '<th class="rowh">chain (root → … → leaf)</th><th class="rowh">server</th><th class="rowh">TLS</th>']
    for c in clients:
        out.append(f'<th class="client" data-client="{esc(c)}" title="{esc(c + ": " + stack_label(data.clients.get(c)))}">'
                   f"<span>{esc(c)}</span></th>")
    out.append("</tr></thead><tbody>")
    for (_scen, chain, tls, server), cells in table_rows.items():
        first = next(iter(cells.values()))
        out.append(f'<tr data-server="{esc(server)}" data-tls="{esc(tls)}" data-root="{esc(first.root_key)}" '
                   f'data-leaf="{esc(first.leaf_key)}"><th class="chain" title="{esc(_chain_title(data, first))}">'
                   f'{esc(chain)}</th><td class="server" title="{esc(stack_label(data.servers.get(server)))}">'
                   f'{esc(server)}</td><td class="tls">{esc(tls)}</td>')
        for c in clients:
            out.append(_cell(cells[c]) if c in cells else f'<td class="empty" data-client="{esc(c)}"></td>')
        out.append("</tr>")
    out.append('</tbody></table></div><p class="none" hidden>No cell of this scenario passes the filters.</p>')
    return "".join(out)


def _checkboxes(name: str, title: str, values: list[tuple[str, str]]) -> str:
    boxes = "".join(
        f'<label title="{esc(hint)}"><input type="checkbox" name="{esc(name)}" value="{esc(v)}" checked> {esc(v)}</label>'
        for v, hint in values)
    return (f'<fieldset><legend>{esc(title)} <button type="button" data-group="{esc(name)}" data-set="1">all</button>'
            f'<button type="button" data-group="{esc(name)}" data-set="0">none</button></legend>{boxes}</fieldset>')


def _filters(data: ResultsDocument) -> str:
    results = data.cells
    clients, _ = rows(results)
    servers = list(OrderedDict.fromkeys(r.server for r in results))
    outcomes = Counter(r.outcome for r in results)
    verdicts = data.verdicts()
    order = list(OUTCOMES) + sorted(set(outcomes) - set(OUTCOMES))
    vorder = list(VERDICTS) + sorted(set(verdicts) - set(VERDICTS))
    return "".join([
        '<form id="filters" onsubmit="return false"><noscript><p>The filters need JavaScript; '
        "everything else works without it.</p></noscript>",
        _checkboxes("client", "client stack", [(c, stack_label(data.clients.get(c))) for c in clients]),
        _checkboxes("server", "server stack", [(s, stack_label(data.servers.get(s))) for s in servers]),
        _checkboxes("tls", "TLS", [(t, "") for t in sorted({r.tls_label for r in results})]),
        _checkboxes("root", "root key", [(k, "") for k in OrderedDict.fromkeys(r.root_key for r in results)]),
        _checkboxes("leaf", "leaf key", [(k, "") for k in OrderedDict.fromkeys(r.leaf_key for r in results)]),
        _checkboxes("outcome", "outcome", [(o, f"{outcomes[o]} cells: {outcome_info(o)[2]}") for o in order
                                           if o in outcomes]),
        _checkboxes("verdict", "verdict", [(v, f"{verdicts[v]} cells: {VERDICTS.get(v, '')}") for v in vorder
                                           if v in verdicts]),
        f'<p id="count">{len(results)} of {len(results)} cells shown</p></form>',
    ])


def _legend(data: ResultsDocument) -> str:
    present = Counter(r.outcome for r in data.cells)
    items = []
    for outcome in list(OUTCOMES) + sorted(set(present) - set(OUTCOMES)):
        if outcome not in present:
            continue
        abbr, cls, meaning = outcome_info(outcome)
        items.append(f'<li><span class="swatch {cls}">{esc(abbr)}</span> <b>{esc(outcome)}</b> '
                     f"({present[outcome]}): {esc(meaning)}</li>")
    items.append('<li><span class="swatch o-ok mismatch">⚠</span> outlined: contradicts the scenario\'s expectation</li>')
    items.append('<li><span class="swatch o-ok unexpected">&nbsp;</span> dashed: no expectation stated</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _stack_row(kind: str, name: str, entry: StackEntry) -> str:
    if not (entry.available and entry.info):
        return (f"<tr class=\"unavailable\"><td>{esc(kind)}</td><td>{esc(name)}</td>"
                f"<td colspan=\"5\">{esc(entry.describe())}</td></tr>")
    info = entry.info
    detail = "; ".join(f"{k} {v}" for k, v in info.details.items())
    where = " ".join(f"{k} {v}" for k, v in (("backend", entry.backend), ("image", entry.image),
                                             ("image_id", entry.image_id)) if v)
    where += "".join(f"; {v} {label}" for label, v in (("restarts", entry.restarts),
                                                      ("listener errors", entry.listener_errors)) if v)
    return (f"<tr><td>{esc(kind)}</td><td>{esc(name)}</td><td>{esc(info.stack)}</td><td>{esc(info.version)}</td>"
            f"<td>{esc(info.provider or '')}</td><td>{esc(where)}</td><td class=\"small\">{esc(detail)}</td></tr>")


def _stacks(data: ResultsDocument) -> str:
    body = [_stack_row(kind, name, entry) for kind, entries in (("client", data.clients), ("server", data.servers))
            for name, entry in entries.items()]
    if not body:
        return ""
    return ('<details open><summary>Stacks and versions</summary><table class="stacks"><thead><tr><th>role</th>'
            "<th>name</th><th>stack</th><th>version</th><th>provider</th><th>runs in</th><th>details</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></details>")


def _chains(data: ResultsDocument) -> str:
    if not data.chains:
        return ""
    body = "".join(
        f"<tr><td>{esc(label)}</td><td><code>{esc(m.fingerprint)}</code></td><td><code>{esc(m.root_sha256)}</code></td>"
        f"<td><code>{esc(m.leaf_sha256)}</code></td><td>{esc(', '.join(f.id for f in m.diagnosis))}</td></tr>"
        for label, m in data.chains.items())
    return ('<details><summary>Certificate chains (TEST keys)</summary><table class="stacks"><thead><tr><th>chain</th>'
            "<th>fingerprint</th><th>root SHA-256</th><th>leaf SHA-256</th><th>diagnosis</th></tr></thead>"
            f"<tbody>{body}</tbody></table></details>")


def _run_facts(data: ResultsDocument) -> str:
    """The run's metadata, last on the page: what a reader needs only to reproduce or compare."""
    run = data.run.to_json()
    facts: list[tuple[str, Any]] = [("tool", f"{data.tool.name} {data.tool.version or ''}".strip()),
                                    ("schema version", data.schema_version)]
    facts += [(label, _fact_text(run[key])) for key, label in RUN_FACTS if run.get(key) is not None]
    facts += [(key, _fact_text(value)) for key, value in run.items() if key not in dict(RUN_FACTS) and value is not None]
    verdicts = data.verdicts()
    facts.append(("cells", f"{len(data.cells)}: " + ", ".join(f"{n} {v}" for v, n in verdicts.most_common())))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v not in (None, ""))
    return f'<section id="run"><h2>Run</h2><dl class="facts">{dl}</dl></section>'


def _scenario_section(data: ResultsDocument, info: Any, sub: ResultsDocument) -> str:
    out = [f'<section class="scenario" id="scenario-{esc(info.name)}"><h3>{esc(info.heading)}</h3>']
    if info.path or info.sha256:
        sha = f" (sha256 {str(info.sha256)[:16]}…)" if info.sha256 else ""
        out.append(f'<p class="small">{esc(info.path or "")}{esc(sha)}</p>')
    if info.notes:
        out.append(f"<details><summary>Why (scenario notes)</summary><p>{esc(info.notes)}</p></details>")
    out.append(_matrix(data, sub))
    out.append("</section>")
    return "".join(out)


def render_html(data: ResultsDocument | dict[str, Any]) -> str:
    """One standalone HTML page for a results document (no external assets; works offline)."""
    data = ResultsDocument.coerce(data)
    mm = mismatches(data)
    top = (f'<header><h1>tlsmatrix results</h1><p>{len(data.cells)} cells, '
           f'{len(data.per_scenario())} scenario(s), {len(mm)} contradicting the expectations; run '
           f'{esc(data.run.started or "?")}. <span class="testkeys"><b>TEST keys:</b> {esc(data.test_keys_note)}'
           "</span></p></header>")
    body = [top, overview(data), '<section id="matrix"><h2>Full matrix</h2>', _legend(data), _filters(data)]
    body += [_scenario_section(data, info, sub) for info, sub in data.per_scenario()]
    body.append("</section>")
    if mm:
        body.append('<h2>Contradicted expectations</h2><ul class="mm">' + "".join(f"<li>{esc(m)}</li>" for m in mm)
                    + "</ul>")
    body += [_chains(data), _stacks(data), _run_facts(data)]
    body.append(f"<footer><p>{esc(data.test_keys_note)}</p><p>Stacks: {esc('; '.join(stack_versions(data)))}</p>"
                "</footer>")
    title = f"tlsmatrix results {data.run.started or ''}".strip()
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(b for b in body if b)
            + f"\n<script>{JS}</script></body></html>\n")


CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:1em 1.5em}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid var(--line)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.testkeys{background:#fff8c5;border:1px solid #d4a72c;padding:.4em .8em;border-radius:4px}
table.stacks{border-collapse:collapse;margin:.5em 0}table.stacks td,table.stacks th{border:1px solid var(--line);padding:2px 6px;text-align:left;vertical-align:top}
.small{font-size:12px;color:var(--muted)}tr.unavailable td{color:#9a6700}
#filters{border-bottom:1px solid var(--line);padding:.3em 0;display:flex;flex-wrap:wrap;gap:.3em;align-items:flex-start}
#filters fieldset{border:1px solid var(--line);border-radius:4px;padding:.1em .5em;margin:0;max-width:46em}
#filters legend{font-weight:600}#filters label{margin-right:.6em;white-space:nowrap;font-size:12px}
#filters button{font-size:11px;margin-left:.3em;padding:0 .3em}#count{margin:.2em .5em;color:var(--muted)}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1.2em}
.swatch{display:inline-block;min-width:2.6em;text-align:center;border-radius:2px;padding:0 .2em}
.scroll{overflow-x:auto}
table.matrix{border-collapse:separate;border-spacing:2px;font-size:12px}
table.matrix th.client{vertical-align:bottom;position:sticky;top:0;background:var(--bg)}
table.matrix th.client span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;display:inline-block}
table.matrix th.rowh{vertical-align:bottom;text-align:left}
table.matrix th.chain{text-align:left;font-weight:normal;white-space:nowrap}
table.matrix td.server,table.matrix td.tls{white-space:nowrap;color:var(--muted)}
td.cell{text-align:center;min-width:2.6em;padding:0;border-radius:2px}
td.cell summary{list-style:none;cursor:pointer;padding:2px 4px}td.cell summary::-webkit-details-marker{display:none}
td.cell details[open]>summary{box-shadow:inset 0 0 0 2px #0969da}
td.cell .panel{position:fixed;right:1em;bottom:1em;width:min(46em,92vw);max-height:70vh;overflow:auto;z-index:20;
 background:#fff;color:var(--fg);text-align:left;border:1px solid #8c959f;border-radius:6px;box-shadow:0 8px 24px rgba(0,0,0,.25);padding:.6em 1em;font-size:13px}
.panel dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em .8em;margin:0}.panel dt{color:var(--muted)}.panel dd{margin:0}
.panel pre{white-space:pre-wrap;word-break:break-word;margin:0;background:#f6f8fa;padding:.3em .5em;border-radius:4px}
.panel .close{float:right;border:0;background:none;font-size:18px;cursor:pointer}
td.cell.mismatch,.swatch.mismatch{outline:3px solid #000;outline-offset:-3px;font-weight:700}
td.cell.unexpected,.swatch.unexpected{outline:1px dashed #000;outline-offset:-2px}
td.cell.off{background:transparent;color:#afb8c1;outline:none;font-weight:normal}
.o-ok{background:#4caf50;color:#fff}.o-chainok{background:#95d5b2;color:#1b1f24}.o-untrusted{background:#e76f51;color:#fff}.o-alg{background:#f4a261;color:#1b1f24}
.o-sig{background:#c1121f;color:#fff}.o-name{background:#e9c46a;color:#1b1f24}.o-exp{background:#b5838d;color:#fff}
.o-hs{background:#7b2cbf;color:#fff}.o-ver{background:#c77dff;color:#1b1f24}.o-timeout{background:#457b9d;color:#fff}
.o-conn{background:#1d3557;color:#fff}.o-nottls{background:#264653;color:#fff}.o-crash{background:#6a040f;color:#fff}.o-probe{background:#6c757d;color:#fff}.o-srv{background:#343a40;color:#fff}
.o-ku{background:#f28482;color:#1b1f24}.o-nc{background:#e5989b;color:#1b1f24}.o-bc{background:#d62828;color:#fff}
.o-crit{background:#9d0208;color:#fff}.o-malf{background:#370617;color:#fff}.o-cafile{background:#495057;color:#fff}
.o-skipped{background:#e9ecef;color:#6c757d}.o-other{background:#adb5bd;color:#1b1f24}
ul.mm li{margin:.2em 0}footer{margin-top:2em;color:var(--muted)}
h3{margin:.8em 0 .3em}.testkeys{display:inline-block}
table.summary{border-collapse:collapse}table.summary td,table.summary th{border:1px solid var(--line);padding:2px 8px;text-align:right}
table.summary td:first-child,table.summary th:first-child{text-align:left}table.summary td.warn{background:#ffebe9;font-weight:700}
.explain ul{margin:.2em 0;padding-left:1.2em}.explain li{margin:.15em 0}.explain li.fine,.explain li.note{color:var(--muted)}
.explain .oc{font-size:12px;background:#f6f8fa;border:1px solid var(--line);border-radius:3px;padding:0 .3em}
.explain .n{color:var(--muted)}
.pivot-block{display:inline-block;vertical-align:top;margin:0 2em 1em 0}
table.pivot{border-collapse:separate;border-spacing:1px;font-size:11px}
table.pivot th.client{vertical-align:bottom}table.pivot th.client span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
table.pivot th.chain{text-align:left;font-weight:normal;white-space:nowrap}table.pivot th.rowh{text-align:left;vertical-align:bottom}
td.pv{min-width:2.2em;text-align:center;padding:1px 2px;border-radius:2px;cursor:default}
td.pv.mismatch{outline:2px solid #000;outline-offset:-2px;font-weight:700}
.o-mixed{background:repeating-linear-gradient(45deg,#4caf50 0 5px,#f4a261 5px 10px);color:#1b1f24}
"""

JS = """
(function () {
  document.documentElement.classList.add('js');
  var form = document.getElementById('filters');
  if (!form) return;
  function checked(name) {
    var set = {}, boxes = form.querySelectorAll('input[name="' + name + '"]');
    for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) set[boxes[i].value] = true;
    return set;
  }
  function apply() {
    var f = {client: checked('client'), server: checked('server'), tls: checked('tls'), root: checked('root'),
             leaf: checked('leaf'), outcome: checked('outcome'), verdict: checked('verdict')};
    var shown = 0, total = 0, tables = document.querySelectorAll('table.matrix');
    for (var t = 0; t < tables.length; t++) {
      var table = tables[t], heads = table.querySelectorAll('th[data-client]'), rowsShown = 0;
      for (var h = 0; h < heads.length; h++) heads[h].style.display = f.client[heads[h].getAttribute('data-client')] ? '' : 'none';
      var rows = table.querySelectorAll('tbody tr');
      for (var r = 0; r < rows.length; r++) {
        var row = rows[r], any = false;
        var rowOn = f.server[row.getAttribute('data-server')] && f.tls[row.getAttribute('data-tls')] &&
                    f.root[row.getAttribute('data-root')] && f.leaf[row.getAttribute('data-leaf')];
        var cells = row.querySelectorAll('td[data-client]');
        for (var c = 0; c < cells.length; c++) {
          var cell = cells[c], colOn = !!f.client[cell.getAttribute('data-client')];
          cell.style.display = colOn ? '' : 'none';
          if (!cell.classList.contains('cell')) continue;
          total++;
          var hit = colOn && rowOn && f.outcome[cell.getAttribute('data-outcome')] && f.verdict[cell.getAttribute('data-verdict')];
          cell.classList.toggle('off', !hit);
          if (hit) { any = true; shown++; }
        }
        row.style.display = any ? '' : 'none';
        if (any) rowsShown++;
      }
      var none = table.parentNode.nextElementSibling;
      if (none && none.classList.contains('none')) none.hidden = rowsShown > 0;
    }
    document.getElementById('count').textContent = shown + ' of ' + total + ' cells shown';
  }
  form.addEventListener('change', apply);
  form.addEventListener('click', function (e) {
    var b = e.target;
    if (!b.getAttribute || !b.getAttribute('data-group')) return;
    var boxes = form.querySelectorAll('input[name="' + b.getAttribute('data-group') + '"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = b.getAttribute('data-set') === '1';
    apply();
  });
  function closeAll(except) {
    var open = document.querySelectorAll('td.cell details[open]');
    for (var i = 0; i < open.length; i++) if (open[i] !== except) open[i].open = false;
  }
  document.addEventListener('toggle', function (e) { if (e.target.open) closeAll(e.target); }, true);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closeAll(null); });
  document.addEventListener('click', function (e) {
    if (e.target.classList && e.target.classList.contains('close')) {
      var d = e.target.closest('details'); if (d) d.open = false;
    }
  });
  apply();
})();
"""
