"""The matrix as one standalone HTML page: a heat map per scenario, filters, and every raw error.

The page has no external assets (inline CSS and a little inline JavaScript), so it works offline as a
CI artifact. Every cell keeps the stack's own error, the versions and the expectation's "why": on hover
(``title``) and on click (a ``<details>`` per cell that opens as a side panel, no JavaScript needed).
"""
from __future__ import annotations

import html
import json
import re
from collections import Counter, OrderedDict
from typing import Any

from .table import _per_scenario, _rows, _scenario_title, mismatches, stack_versions, summarize

#: outcome → (abbreviation shown in the cell, CSS class, one-line meaning for the legend)
OUTCOMES: "OrderedDict[str, tuple[str, str, str]]" = OrderedDict([
    ("ok", ("ok", "o-ok", "handshake and verification succeeded")),
    ("untrusted", ("untr", "o-untrusted", "chain not trusted (unknown issuer, no path)")),
    ("unsupported_algorithm", ("alg", "o-alg", "a signature or key algorithm the stack does not implement")),
    ("bad_signature", ("sig", "o-sig", "a signature did not verify")),
    ("hostname_mismatch", ("name", "o-name", "certificate does not match the server name")),
    ("expired", ("exp", "o-exp", "certificate outside its validity window")),
    ("handshake_failure", ("hs", "o-hs", "handshake aborted (no common algorithm, alert)")),
    ("protocol_version", ("ver", "o-ver", "no common TLS version")),
    ("timeout", ("t/o", "o-timeout", "no answer in time")),
    ("connection", ("conn", "o-conn", "connection closed or refused")),
    ("not_tls", ("!tls", "o-nottls", "the peer answered, but not in TLS (plain HTTP, another protocol)")),
    ("crash", ("crash", "o-crash", "the client program under test aborted (panic, signal); its own words are the error")),
    ("probe_error", ("probe", "o-probe", "the client probe itself failed (harness problem)")),
    ("server_error", ("srv", "o-srv", "the server stack could not serve the chain (not the client's fault)")),
    ("skipped", ("—", "o-skipped", "not run (stack not available)")),
])
OTHER = ("?", "o-other", "an outcome this report does not know")

VERDICTS = OrderedDict([
    ("match", "matches the scenario's expectation"),
    ("mismatch", "contradicts the scenario's expectation (outlined, ⚠)"),
    ("unexpected", "the scenario states no expectation (dashed outline)"),
    ("not-run", "not run"),
])

#: keys of a record this page knows; anything else is shown verbatim in the cell's panel
KNOWN_RECORD_KEYS = {
    "id", "scenario", "chain", "server", "tls", "client", "servername", "outcome", "error", "short_error",
    "error_detail", "negotiated", "elapsed_ms", "client_version", "server_version", "expected", "verdict",
    "index", "attempts",
}

#: run metadata shown first in the header, in this order (schema v1 keeps them under "run"; older documents
#: have started/duration_s/certificates_generated/host at the top level)
RUN_FACTS = [("started", "run started"), ("duration_s", "duration (s)"), ("backend", "backend"),
             ("timeout_ms", "timeout (ms)"), ("git_commit", "git commit"), ("git_dirty", "uncommitted changes"),
             ("shard", "shard"), ("merged_from", "merged from"), ("certificates_generated", "certificates generated"),
             ("machine", "machine")]

TITLE_ERROR_WIDTH = 600
EXTRA_VALUE_WIDTH = 2000

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _clean(value: Any) -> str:
    """Text with the characters HTML cannot carry (C0 controls, lone surrogates) removed."""
    return _CONTROL.sub("", "" if value is None else str(value))


def esc(value: Any) -> str:
    return html.escape(_clean(value), quote=True)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run_info(data: dict[str, Any]) -> dict[str, Any]:
    """The run's metadata whatever the document's age: ``data["run"]`` (schema v1) over the old top-level keys."""
    info: dict[str, Any] = {k: data[k] for k in ("started", "duration_s", "certificates_generated")
                            if data.get(k) is not None}
    if isinstance(data.get("host"), dict):
        info["machine"] = data["host"]
    run = data.get("run")
    if isinstance(run, dict):
        info.update({k: v for k, v in run.items() if v is not None})
    return info


def _fact_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _outcome_info(outcome: str) -> tuple[str, str, str]:
    return OUTCOMES.get(outcome, OTHER)


def _key(part: Any) -> str:
    return str(part.get("key")) if isinstance(part, dict) and part.get("key") else "?"


def _root_key(r: dict[str, Any]) -> str:
    return _key((r.get("chain") or {}).get("root"))


def _leaf_key(r: dict[str, Any]) -> str:
    return _key((r.get("chain") or {}).get("leaf"))


def _tls(r: dict[str, Any]) -> str:
    return r.get("tls") or "any"


def _negotiated(r: dict[str, Any]) -> str:
    neg = r.get("negotiated")
    if not isinstance(neg, dict):
        return ""
    return " ".join(f"{k}={v}" for k, v in neg.items() if v)


def _expected(r: dict[str, Any]) -> tuple[str, str]:
    exp = r.get("expected")
    if not isinstance(exp, dict):
        return "", ""
    return ", ".join(str(o) for o in exp.get("outcomes") or []), str(exp.get("why") or "")


def _cell_title(r: dict[str, Any]) -> str:
    """Plain text for the hover tooltip (escaped by the caller)."""
    lines = [f"{r.get('client')} ← server {r.get('server')}, TLS {_tls(r)}, chain {r['chain'].get('label')}",
             f"outcome: {r.get('outcome')}   verdict: {r.get('verdict', 'unexpected')}"]
    expected, why = _expected(r)
    if expected:
        lines.append(f"expected: {expected}" + (f" — {why}" if why else ""))
    if r.get("error"):
        lines.append("error: " + _clip(str(r["error"]), TITLE_ERROR_WIDTH))
    if r.get("error_detail") and r.get("error_detail") != r.get("error"):
        lines.append("detail: " + _clip(str(r["error_detail"]), TITLE_ERROR_WIDTH))
    neg = _negotiated(r)
    if neg:
        lines.append("negotiated: " + neg)
    versions = [f"{who}: {r[k]}" for who, k in (("client", "client_version"), ("server", "server_version")) if r.get(k)]
    if versions:
        lines.append("; ".join(versions))
    if r.get("elapsed_ms") is not None:
        lines.append(f"elapsed: {r['elapsed_ms']} ms")
    if isinstance(r.get("attempts"), int) and r["attempts"] > 1:
        lines.append(f"attempts: {r['attempts']}")
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


def _cell_panel(r: dict[str, Any]) -> str:
    expected, why = _expected(r)
    chain = r.get("chain") or {}
    inter = ", ".join(_key(i) for i in chain.get("intermediates") or []) or "none"
    items: list[tuple[str, str, bool]] = [
        ("cell", f"{r.get('scenario')} | {chain.get('label')} | server {r.get('server')} | TLS {_tls(r)} | "
                 f"client {r.get('client')}", False),
        ("outcome", f"{r.get('outcome')}" + (f" ({r['short_error']})" if r.get("short_error") else ""), False),
        ("verdict", str(r.get("verdict", "unexpected")), False),
    ]
    if expected:
        items.append(("expected", expected, False))
    if why:
        items.append(("why", why, False))
    if r.get("error"):
        items.append(("error", str(r["error"]), True))
    if r.get("error_detail"):
        items.append(("error detail", str(r["error_detail"]), True))
    neg = _negotiated(r)
    if neg:
        items.append(("negotiated", neg, False))
    items.append(("client version", str(r.get("client_version") or "?"), False))
    items.append(("server version", str(r.get("server_version") or "?"), False))
    root = chain.get("root") if isinstance(chain.get("root"), dict) else {}
    root_hash = f"/{root['hash']}" if root.get("hash") else ""
    items.append(("chain", f"root {_root_key(r)}{root_hash}, intermediates {inter}, leaf {_leaf_key(r)}"
                  + (", expired" if chain.get("expired") else ""), False))
    if r.get("servername"):
        items.append(("server name", str(r["servername"]), False))
    if r.get("elapsed_ms") is not None:
        items.append(("elapsed", f"{r['elapsed_ms']} ms", False))
    if r.get("attempts") not in (None, 1):
        items.append(("attempts", str(r["attempts"]), False))
    for k in sorted(set(r) - KNOWN_RECORD_KEYS):
        try:
            value = json.dumps(r[k], ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            value = str(r[k])
        items.append((k, _clip(value, EXTRA_VALUE_WIDTH), True))
    if r.get("id"):
        items.append(("id", str(r["id"]), False))
    return _dl(items)


def _cell(r: dict[str, Any]) -> str:
    outcome = str(r.get("outcome"))
    verdict = str(r.get("verdict", "unexpected"))
    abbr, cls, _ = _outcome_info(outcome)
    classes = ["cell", cls]
    label = abbr
    if verdict == "mismatch":
        classes.append("mismatch")
        label += " ⚠"
    elif verdict == "unexpected":
        classes.append("unexpected")
    return (f'<td class="{" ".join(classes)}" data-client="{esc(r.get("client"))}" data-outcome="{esc(outcome)}" '
            f'data-verdict="{esc(verdict)}" data-id="{esc(r.get("id", ""))}" title="{esc(_cell_title(r))}">'
            f'<details><summary>{esc(label)}</summary><div class="panel" title="">'
            f'<button type="button" class="close" aria-label="close">×</button>{_cell_panel(r)}</div></details></td>')


def _stack_label(info: dict[str, Any] | None) -> str:
    if not isinstance(info, dict):
        return ""
    if not info.get("available", True):
        return f"not available: {info.get('reason')}"
    text = " ".join(str(x) for x in (info.get("stack"), info.get("version")) if x)
    return text + (f" ({info['provider']})" if info.get("provider") else "")


def _matrix(data: dict[str, Any], sub: dict[str, Any]) -> str:
    clients, rows = _rows(sub["results"])
    cinfo = data.get("clients") or {}
    chains = data.get("chains") or {}
    out = ['<div class="scroll"><table class="matrix"><thead><tr>'
           '<th class="rowh">chain (root → … → leaf)</th><th class="rowh">server</th><th class="rowh">TLS</th>']
    for c in clients:
        out.append(f'<th class="client" data-client="{esc(c)}" title="{esc(c + ": " + _stack_label(cinfo.get(c)))}">'
                   f"<span>{esc(c)}</span></th>")
    out.append("</tr></thead><tbody>")
    for (_scen, chain, tls, server), cells in rows.items():
        first = next(iter(cells.values()))
        ch = first.get("chain") or {}
        meta = chains.get(chain) if isinstance(chains.get(chain), dict) else {}
        chain_title = f"root {_root_key(first)}, intermediates " + (
            ", ".join(_key(i) for i in ch.get("intermediates") or []) or "none") + f", leaf {_leaf_key(first)}"
        if ch.get("expired"):
            chain_title += ", expired"
        if meta.get("fingerprint"):
            chain_title += f"\nfingerprint {meta['fingerprint']}"
        if meta.get("leaf_sha256"):
            chain_title += f"\nleaf sha256 {meta['leaf_sha256']}"
        sinfo = (data.get("servers") or {}).get(server)
        out.append(f'<tr data-server="{esc(server)}" data-tls="{esc(tls)}" data-root="{esc(_root_key(first))}" '
                   f'data-leaf="{esc(_leaf_key(first))}"><th class="chain" title="{esc(chain_title)}">{esc(chain)}</th>'
                   f'<td class="server" title="{esc(_stack_label(sinfo))}">{esc(server)}</td><td class="tls">{esc(tls)}</td>')
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


def _filters(data: dict[str, Any]) -> str:
    results = data["results"]
    clients, _ = _rows(results)
    cinfo = data.get("clients") or {}
    sinfo = data.get("servers") or {}
    servers = list(OrderedDict.fromkeys(r.get("server") for r in results))
    outcomes = Counter(str(r.get("outcome")) for r in results)
    verdicts = Counter(str(r.get("verdict", "unexpected")) for r in results)
    order = list(OUTCOMES) + sorted(set(outcomes) - set(OUTCOMES))
    vorder = list(VERDICTS) + sorted(set(verdicts) - set(VERDICTS))
    parts = [
        '<form id="filters" onsubmit="return false"><noscript><p>The filters need JavaScript; '
        "everything else works without it.</p></noscript>",
        _checkboxes("client", "client stack", [(c, _stack_label(cinfo.get(c))) for c in clients]),
        _checkboxes("server", "server stack", [(s, _stack_label(sinfo.get(s))) for s in servers]),
        _checkboxes("tls", "TLS", [(t, "") for t in sorted({_tls(r) for r in results})]),
        _checkboxes("root", "root key", [(k, "") for k in OrderedDict.fromkeys(_root_key(r) for r in results)]),
        _checkboxes("leaf", "leaf key", [(k, "") for k in OrderedDict.fromkeys(_leaf_key(r) for r in results)]),
        _checkboxes("outcome", "outcome", [(o, f"{outcomes[o]} cells: {_outcome_info(o)[2]}") for o in order if o in outcomes]),
        _checkboxes("verdict", "verdict", [(v, f"{verdicts[v]} cells: {VERDICTS.get(v, '')}") for v in vorder if v in verdicts]),
        f'<p id="count">{len(results)} of {len(results)} cells shown</p></form>',
    ]
    return "".join(parts)


def _legend(data: dict[str, Any]) -> str:
    present = Counter(str(r.get("outcome")) for r in data["results"])
    items = []
    for outcome in list(OUTCOMES) + sorted(set(present) - set(OUTCOMES)):
        if outcome not in present:
            continue
        abbr, cls, meaning = _outcome_info(outcome)
        items.append(f'<li><span class="swatch {cls}">{esc(abbr)}</span> <b>{esc(outcome)}</b> '
                     f"({present[outcome]}): {esc(meaning)}</li>")
    items.append('<li><span class="swatch o-ok mismatch">⚠</span> outlined: contradicts the scenario\'s expectation</li>')
    items.append('<li><span class="swatch o-ok unexpected">&nbsp;</span> dashed: no expectation stated</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _stacks(data: dict[str, Any]) -> str:
    rows = []
    for kind in ("clients", "servers"):
        for name, info in (data.get(kind) or {}).items():
            info = info if isinstance(info, dict) else {}
            if info.get("available"):
                details = info.get("details") or {}
                detail = "; ".join(f"{k} {v}" for k, v in details.items()) if isinstance(details, dict) else str(details)
                where = " ".join(f"{k} {info[k]}" for k in ("backend", "image", "image_id") if info.get(k))
                where += "".join(f"; {info[k]} {k.replace('_', ' ')}" for k in ("restarts", "listener_errors")
                                 if info.get(k))
                rows.append(f"<tr><td>{esc(kind[:-1])}</td><td>{esc(name)}</td><td>{esc(info.get('stack'))}</td>"
                            f"<td>{esc(info.get('version'))}</td><td>{esc(info.get('provider') or '')}</td>"
                            f"<td>{esc(where)}</td><td class=\"small\">{esc(detail)}</td></tr>")
            else:
                rows.append(f"<tr class=\"unavailable\"><td>{esc(kind[:-1])}</td><td>{esc(name)}</td>"
                            f"<td colspan=\"5\">not available: {esc(info.get('reason'))}</td></tr>")
    if not rows:
        return ""
    return ('<details open><summary>Stacks and versions</summary><table class="stacks"><thead><tr><th>role</th>'
            "<th>name</th><th>stack</th><th>version</th><th>provider</th><th>runs in</th><th>details</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></details>")


def _chains(data: dict[str, Any]) -> str:
    chains = data.get("chains") or {}
    if not isinstance(chains, dict) or not chains:
        return ""
    rows = "".join(
        f"<tr><td>{esc(label)}</td><td><code>{esc((m or {}).get('fingerprint', ''))}</code></td>"
        f"<td><code>{esc((m or {}).get('root_sha256', ''))}</code></td><td><code>{esc((m or {}).get('leaf_sha256', ''))}</code></td></tr>"
        for label, m in chains.items() if isinstance(m, dict) or m is None)
    return ('<details><summary>Certificate chains (TEST keys)</summary><table class="stacks"><thead><tr><th>chain</th>'
            f"<th>fingerprint</th><th>root SHA-256</th><th>leaf SHA-256</th></tr></thead><tbody>{rows}</tbody></table></details>")


def _header(data: dict[str, Any]) -> str:
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    run = run_info(data)
    facts: list[tuple[str, Any]] = [
        ("tool", " ".join(str(x) for x in (tool.get("name") or "tlsmatrix", tool.get("version")) if x)),
        ("schema version", data.get("schema_version")),
    ]
    facts += [(label, _fact_text(run[key])) for key, label in RUN_FACTS if key in run]
    facts += [(key, _fact_text(value)) for key, value in run.items() if key not in dict(RUN_FACTS)]
    verdicts = Counter(str(r.get("verdict", "unexpected")) for r in data["results"])
    facts.append(("cells", f"{len(data['results'])}: " + ", ".join(f"{n} {v}" for v, n in verdicts.most_common())))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v not in (None, ""))
    note = data.get("note") or "All certificates and keys in this run are tlsmatrix TEST keys; never trust them."
    return (f'<header><h1>tlsmatrix results</h1><dl class="facts">{dl}</dl>'
            f'<p class="testkeys"><b>TEST keys:</b> {esc(note)}</p></header>')


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
.o-ok{background:#4caf50;color:#fff}.o-untrusted{background:#e76f51;color:#fff}.o-alg{background:#f4a261;color:#1b1f24}
.o-sig{background:#c1121f;color:#fff}.o-name{background:#e9c46a;color:#1b1f24}.o-exp{background:#b5838d;color:#fff}
.o-hs{background:#7b2cbf;color:#fff}.o-ver{background:#c77dff;color:#1b1f24}.o-timeout{background:#457b9d;color:#fff}
.o-conn{background:#1d3557;color:#fff}.o-nottls{background:#264653;color:#fff}.o-crash{background:#6a040f;color:#fff}.o-probe{background:#6c757d;color:#fff}.o-srv{background:#343a40;color:#fff}
.o-skipped{background:#e9ecef;color:#6c757d}.o-other{background:#adb5bd;color:#1b1f24}
ul.mm li{margin:.2em 0}footer{margin-top:2em;color:var(--muted)}
"""

JS = """
(function () {
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


def render_html(data: dict[str, Any]) -> str:
    """One standalone HTML page for a results document (no external assets; works offline)."""
    title = f"tlsmatrix results {run_info(data).get('started') or ''}".strip()
    body = [_header(data), _stacks(data), "<h2>Legend and filters</h2>", _legend(data), _filters(data)]
    for info, sub in _per_scenario(data):
        name = info.get("name")
        body.append(f'<section class="scenario" id="scenario-{esc(name)}"><h2>{esc(_scenario_title(data, name))}</h2>')
        if info.get("path") or info.get("sha256"):
            sha = f" (sha256 {str(info['sha256'])[:16]}…)" if info.get("sha256") else ""
            body.append(f'<p class="small">{esc(info.get("path") or "")}{esc(sha)}</p>')
        body.append(f"<p>{esc(summarize(sub))}</p>")
        if info.get("notes"):
            body.append(f"<details><summary>Why (scenario notes)</summary><p>{esc(info['notes'])}</p></details>")
        body.append(_matrix(data, sub))
        body.append("</section>")
    mm = mismatches(data)
    if mm:
        body.append("<h2>Contradicted expectations</h2><ul class=\"mm\">" + "".join(f"<li>{esc(m)}</li>" for m in mm) + "</ul>")
    body.append(_chains(data))
    note = data.get("note") or "All certificates and keys in this run are tlsmatrix TEST keys; never trust them."
    body.append(f"<footer><p>{esc(note)}</p><p>Stacks: {esc('; '.join(stack_versions(data)))}</p></footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(b for b in body if b)
            + f"\n<script>{JS}</script></body></html>\n")
