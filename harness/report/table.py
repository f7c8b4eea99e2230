"""The matrix as a table (tabulate: terminal and GitHub Markdown) plus a summary of what differs.

Everything here works on the results JSON, so ``tlsmatrix report results.json`` renders
exactly what the run printed.
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Any

from tabulate import tabulate

OK_MARK = "ok"
FAIL_MARK = "✗"
MISMATCH_MARK = "⚠"
NOTE_WIDTH = 150


class Footnotes:
    """Numbers each distinct (outcome, raw error) once, so cells stay narrow and errors stay exact."""

    def __init__(self) -> None:
        self.notes: "OrderedDict[tuple[str, str, str], list[str]]" = OrderedDict()

    def ref(self, r: dict[str, Any]) -> int:
        text = " ".join((r.get("error") or r.get("short_error") or "").split())
        if len(text) > NOTE_WIDTH:
            text = text[: NOTE_WIDTH - 1] + "…"
        # the same words for another cause get their own note: the diagnosis finding says which
        key = (r["outcome"], text, r.get("finding") or "")
        clients = self.notes.setdefault(key, [])
        if r["client"] not in clients:
            clients.append(r["client"])
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


def cell_text(r: dict[str, Any], notes: Footnotes | None = None, compact: bool = False) -> str:
    """``ok``, or ``✗ class [n]`` (compact: ``✗n``) where note n holds the class and the stack's own error."""
    outcome = r["outcome"]
    if outcome == "ok":
        text = OK_MARK
        if r.get("error") and notes is not None and not compact:  # e.g. the API answered 403 after a good handshake
            text += f" [{notes.ref(r)}]"
    elif compact and notes is not None:
        text = ("—" if outcome == "skipped" else FAIL_MARK) + str(notes.ref(r))
    else:
        text = "— skipped" if outcome == "skipped" else f"{FAIL_MARK} {outcome}"
        if notes is not None and (r.get("error") or r.get("short_error")):
            text += f" [{notes.ref(r)}]"
        elif notes is None and r.get("short_error") and r["short_error"] != outcome:
            text += f" ({r['short_error']})"
    if r.get("verdict") == "mismatch":
        text += MISMATCH_MARK if compact else f" {MISMATCH_MARK}"
    return text


def _rows(results: list[dict[str, Any]]):
    clients: list[str] = []
    rows: "OrderedDict[tuple, dict[str, dict]]" = OrderedDict()
    for r in results:
        if r["client"] not in clients:
            clients.append(r["client"])
        key = (r["scenario"], r["chain"]["label"], r["tls"] or "any", r["server"])
        rows.setdefault(key, {})[r["client"]] = r
    return clients, rows


def render_table(data: dict[str, Any], tablefmt: str = "simple") -> str:
    """One table per scenario: rows = chain × server × TLS, columns = client stacks, then the errors."""
    results = data["results"]
    clients, rows = _rows(results)
    scenarios = list(OrderedDict.fromkeys(k[0] for k in rows))
    out = []
    for scenario in scenarios:
        notes = Footnotes()
        body = []
        for (scen, chain, tls, server), cells in rows.items():
            if scen != scenario:
                continue
            compact = len(clients) > COMPACT_ABOVE
            body.append([chain, server, tls] + [cell_text(cells[c], notes, compact) if c in cells else "" for c in clients])
        headers = ["chain (root → … → leaf)", "server", "TLS"] + clients
        if len(scenarios) > 1:
            title = _scenario_title(data, scenario)
            out.append(f"### {title}" if tablefmt == "github" else f"== {title} ==")
            out.append("")
        out.append(tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True))
        out.append("")
        if notes.notes:
            out.append(notes.render(markdown=tablefmt == "github"))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _scenario_title(data: dict[str, Any], name: str) -> str:
    for s in data.get("scenarios", []):
        if s.get("name") == name:
            return f"{name}: {s['title']}" if s.get("title") and s["title"] != name else name
    return name


def _condense(rs: list[dict[str, Any]], all_rows: dict[str, set]) -> str:
    """'P-521 → P-256 (TLS 1.2, go)' style list of where a group of failures happened."""
    by_chain: "OrderedDict[str, list[dict]]" = OrderedDict()
    for r in rs:
        by_chain.setdefault(r["chain"]["label"], []).append(r)
    parts = []
    for chain, items in by_chain.items():
        combos = {(i["tls"] or "any", i["server"]) for i in items}
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


def summarize(data: dict[str, Any]) -> str:
    """A paragraph saying which stacks differ, where, and how the run compares to expectations."""
    results = data["results"]
    clients, _ = _rows(results)
    all_rows: dict[str, set] = defaultdict(set)
    for r in results:
        all_rows[r["chain"]["label"]].add((r["tls"] or "any", r["server"]))
    sentences = []
    clean = []
    skipped_clients = []
    for client in clients:
        mine = [r for r in results if r["client"] == client]
        measured = [r for r in mine if r["outcome"] not in ("skipped", "server_error")]
        if not measured:
            reason = next((r["error"] for r in mine if r.get("error")), "")
            skipped_clients.append(f"{client} ({reason})")
            continue
        failed = [r for r in measured if r["outcome"] != "ok"]
        if not failed:
            clean.append(client)
            continue
        groups: "OrderedDict[tuple[str, str], list[dict]]" = OrderedDict()
        for r in failed:
            groups.setdefault((r["outcome"], r.get("short_error") or ""), []).append(r)
        pieces = []
        for (outcome, short), rs in groups.items():
            label = f"{outcome} (\"{short}\")" if short and short != outcome else outcome
            pieces.append(f"{label} on {_condense(rs, all_rows)}")
        sentences.append(f"{client} fails {len(failed)} of {len(measured)} cells: " + "; ".join(pieces) + ".")
    if clean:
        verb = "succeeds" if len(clean) == 1 else "succeed"
        sentences.append(f"{_join(clean)} {verb} on every cell.")
    if skipped_clients:
        sentences.append("Not run: " + "; ".join(skipped_clients) + ".")
    server_errors = [r for r in results if r["outcome"] == "server_error"]
    if server_errors:
        servers = sorted({r["server"] for r in server_errors})
        sentences.append(f"The server stack itself could not serve some chains ({', '.join(servers)}): "
                         f"{_condense(server_errors, all_rows)}.")
    verdicts = defaultdict(int)
    for r in results:
        verdicts[r.get("verdict", "unexpected")] += 1
    total = len(results)
    exp = f"{verdicts['match']} of {total} cells match the scenario's expectations"
    if verdicts["mismatch"]:
        exp += f", {verdicts['mismatch']} contradict them (marked {MISMATCH_MARK})"
    if verdicts["unexpected"]:
        exp += f", {verdicts['unexpected']} have no expectation"
    if verdicts["not-run"]:
        exp += f", {verdicts['not-run']} were not run"
    sentences.append(exp + ".")
    return " ".join(sentences)


def mismatches(data: dict[str, Any]) -> list[str]:
    lines = []
    for r in data["results"]:
        if r.get("verdict") != "mismatch":
            continue
        expected = ", ".join(r["expected"]["outcomes"])
        why = f" — {r['expected']['why']}" if r["expected"].get("why") else ""
        lines.append(
            f"{r['scenario']}: {r['chain']['label']} | TLS {r['tls'] or 'any'} | server {r['server']} | "
            f"client {r['client']}: got {r['outcome']}"
            + (f" ({_clip(r['error'], 160)})" if r.get("error") else "")
            + f", expected {expected}{why}"
        )
    return lines


def stack_versions(data: dict[str, Any]) -> list[str]:
    lines = []
    for kind in ("clients", "servers"):
        for name, info in data.get(kind, {}).items():
            if info.get("available"):
                ver = f"{info['stack']} {info['version']}" + (f" ({info['provider']})" if info.get("provider") else "")
                details = ", ".join(f"{k} {v}" for k, v in list((info.get("details") or {}).items())[:3]
                                    if k != "library" and len(str(v)) <= 60)
                where = f" [image {info['image']}]" if info.get("image") else ""
                lines.append(f"{kind[:-1]} {name}: {ver}{where}" + (f"; {details}" if details else ""))
            else:
                lines.append(f"{kind[:-1]} {name}: not available: {info.get('reason')}")
    return lines


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _per_scenario(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(scenario info, data restricted to that scenario) in run order."""
    names = list(OrderedDict.fromkeys(r["scenario"] for r in data["results"]))
    infos = {s.get("name"): s for s in data.get("scenarios", [])}
    return [
        (infos.get(n, {"name": n}), dict(data, results=[r for r in data["results"] if r["scenario"] == n]))
        for n in names
    ]


def render_text(data: dict[str, Any]) -> str:
    parts = []
    for info, sub in _per_scenario(data):
        title = _scenario_title(data, info["name"])
        parts.append(f"== {title} ==\n")
        parts.append(render_table(dict(sub, scenarios=[]), "simple"))
        parts.append(summarize(sub))
        if info.get("notes"):
            parts.append(f"\nWhy: {info['notes']}")
        parts.append("")
    mm = mismatches(data)
    if mm:
        parts.append("Contradicted expectations:\n" + "\n".join(f"  {line}" for line in mm) + "\n")
    parts.append("Stacks: " + "; ".join(stack_versions(data)))
    parts.append("Certificates are tlsmatrix TEST keys (results/cache/pki); never trust them.")
    return "\n".join(parts) + "\n"


def render_markdown(data: dict[str, Any]) -> str:
    lines = ["# tlsmatrix results", ""]
    started = (data.get("run") or {}).get("started") or data.get("started")
    lines.append(f"Run {started} with tlsmatrix {data.get('tool', {}).get('version')}. "
                 "Cells: `ok`, or `✗ outcome [n]` (`✗n` in wide tables), where note n under the table gives the outcome "
                 "and the stack's own error text; "
                 f"`{MISMATCH_MARK}` marks a cell that contradicts the scenario's expectation.")
    lines.append("")
    for info, sub in _per_scenario(data):
        lines.append(f"## {_scenario_title(data, info['name'])}")
        lines.append("")
        lines.append(render_table(dict(sub, scenarios=[]), "github"))
        lines.append(summarize(sub))
        lines.append("")
        if info.get("notes"):
            lines.append(f"**Why:** {info['notes']}")
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
