"""Baselines for the nightly regression job: what each cell gave last time it was blessed.

Why baselines and not only the scenarios' expectations: expectations are claims that hold
across versions (lists of acceptable outcomes, e.g. BadSignature *or*
UnsupportedSignatureAlgorithm); a baseline pins the exact outcome each cell had with the
runner's stack versions, so *any* change pages: a new rustls that starts accepting P-521, a
distro update that changes an alert. ``--update-baseline`` blesses a change on purpose.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.errors import TlsmatrixError
from ..model.document import CellRecord, ResultsDocument, StackEntry
from .text import shorten

BASELINE_VERSION = 1


class BaselineError(TlsmatrixError):
    pass


@dataclass(frozen=True)
class Change:
    scenario: str
    cell_id: str
    label: str  # chain | server | TLS | client
    was: str | None  # outcome, None = cell is new
    now: str | None  # outcome, None = cell disappeared
    was_error: str | None
    now_error: str | None


def baseline_path(directory: Path, scenario: str) -> Path:
    """``directory/<scenario>.json``; the name comes from a results file, which may be crafted,
    so anything that could land outside ``directory`` is refused."""
    from ..running.scenarios import name_problem

    problem = name_problem(scenario)
    if problem:
        raise BaselineError(f"scenario name in the results: {problem}; refusing to write a baseline for it")
    path = Path(directory) / f"{scenario}.json"
    if path.resolve().parent != Path(directory).resolve():
        raise BaselineError(f"baseline for {scenario!r} would be written outside {directory}: refused")
    return path


def load_baselines(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BaselineError(f"baseline {path} is unreadable: {exc}") from None
        if data.get("baseline_version") != BASELINE_VERSION or "cells" not in data:
            raise BaselineError(f"{path} is not a tlsmatrix baseline (baseline_version {BASELINE_VERSION})")
        out[data["scenario"]] = data
    return out


def make_baseline(results: ResultsDocument | dict[str, Any], scenario: str) -> dict[str, Any]:
    doc = ResultsDocument.coerce(results)
    info = doc.scenario(scenario)
    records = [r for r in doc.cells if r.scenario == scenario]
    clients = sorted({r.client for r in records})
    servers = sorted({r.server for r in records})
    return {
        "baseline_version": BASELINE_VERSION,
        "scenario": scenario,
        "scenario_path": info.path,
        "scenario_sha256": info.sha256,
        "blessed_from": doc.run.started,
        "stacks": {
            "clients": {c: _describe(doc.clients.get(c)) for c in clients},
            "servers": {s: _describe(doc.servers.get(s)) for s in servers},
        },
        "cells": {r.id: {"outcome": r.outcome, "error": r.error} for r in records},
    }


def write_baselines(results: ResultsDocument, directory: Path) -> list[str]:
    """Bless every scenario of ``results`` (`regress --update-baseline`); returns their names. Every
    name is checked before any file is written."""
    from ..model.paths import write_atomic

    names = sorted({r.scenario for r in results.cells})
    targets = {name: baseline_path(directory, name) for name in names}
    for name, target in targets.items():
        write_atomic(target, json.dumps(make_baseline(results, name), indent=1, ensure_ascii=False) + "\n")
    return names


def baseline_scenarios(baselines: dict[str, dict[str, Any]]) -> list[Path]:
    """The scenario files the baselines were blessed from, found again (checkout, home or shipped)."""
    from ..model.paths import checkout_root, home, resolve_scenario

    paths = []
    for b in baselines.values():
        recorded = b.get("scenario_path")
        if not recorded:
            continue
        found = [root / recorded for root in (home(), checkout_root()) if root is not None and (root / recorded).is_file()]
        paths.append(found[0] if found else resolve_scenario(recorded))
    return paths


def _describe(info: StackEntry | None) -> str:
    return info.describe() if info else "?"


def compare(results: ResultsDocument | dict[str, Any],
            baselines: dict[str, dict[str, Any]]) -> tuple[list[Change], list[Change]]:
    """(changes that fail the job, error-text-only changes that do not)."""
    changes: list[Change] = []
    texts: list[Change] = []
    by_scenario: dict[str, dict[str, CellRecord]] = {}
    for r in ResultsDocument.coerce(results).cells:
        by_scenario.setdefault(r.scenario, {})[r.id] = r
    for scenario, base in baselines.items():
        now = by_scenario.get(scenario)
        if now is None:
            continue  # not part of this run
        for cell_id, was in base["cells"].items():
            rec = now.get(cell_id)
            if rec is None:
                changes.append(Change(scenario, cell_id, _label(cell_id), was["outcome"], None, was.get("error"), None))
            elif rec.outcome != was["outcome"]:
                changes.append(Change(scenario, cell_id, _label(cell_id), was["outcome"], rec.outcome,
                                      was.get("error"), rec.error))
            elif _stable(rec.error) != _stable(was.get("error")) and not _volatile(rec.error):
                texts.append(Change(scenario, cell_id, _label(cell_id), was["outcome"], rec.outcome,
                                    was.get("error"), rec.error))
        for cell_id, rec in now.items():
            if cell_id not in base["cells"]:
                changes.append(Change(scenario, cell_id, _label(cell_id), None, rec.outcome, None, rec.error))
    return changes, texts


def missing_here(data: ResultsDocument, changes: list[Change]) -> tuple[list[Change], dict[str, list[str]]]:
    """Split off what is only this environment lacking a stack: a cell now ``skipped`` whose client or
    server stack did not run here at all (no Docker engine, an image or a probe not built). Returns
    the real changes and, per reason, the stacks missing for it. A stack that ran and skipped a cell
    for a reason of its own (an mTLS client that presents no certificate) stays a change."""
    stacks = {**{("client", n): e for n, e in data.clients.items()}, **{("server", n): e for n, e in data.servers.items()}}
    real: list[Change] = []
    missing: dict[str, list[str]] = {}
    for change in changes:
        parts = change.cell_id.split("|")
        sides = [("server", parts[3]), ("client", parts[4])] if len(parts) == 5 else []
        absent = [(name, stacks[(kind, name)]) for kind, name in sides
                  if (kind, name) in stacks and stacks[(kind, name)].available is False]
        if change.now != "skipped" or not absent:
            real.append(change)
            continue
        for name, entry in absent:
            names = missing.setdefault(entry.reason or "not available", [])
            if name not in names:
                names.append(name)
    return real, missing


def render_missing(missing: dict[str, list[str]], cells: int) -> str:
    """One line per reason a stack is missing here (with the stacks it takes away)."""
    lines = [f"{cells} cell(s) could not run here: these stacks are missing in this environment (not a regression)"]
    lines += [f"  {', '.join(names)}: {shorten(reason, 300)}" for reason, names in missing.items()]
    return "\n".join(lines) + "\n"


def _stable(error: str | None) -> str | None:
    """The error without what OpenSSL 3 prefixes per thread ("80DC4AA4A87F0000:error:0A00041B:…")."""
    import re

    return re.sub(r"\b[0-9A-F]{8,16}:error:", "error:", error) if error else None


def _volatile(error: str | None) -> bool:
    """Errors that carry ports, times or pids differ on every run; only their class is compared."""
    import re

    return bool(error and re.search(r"127\.0\.0\.1:\d+|\d+ ms|current time|verification time|tlsmatrix-capture", error))


def _label(cell_id: str) -> str:
    parts = cell_id.split("|")
    if len(parts) == 5:
        _, chain, tls, server, client = parts
        return f"{chain} | {server} | TLS {tls} | {client}"
    return cell_id


def render_changes(changes: list[Change], texts: list[Change], width: int = 90) -> str:
    from tabulate import tabulate

    def clip(text: str | None) -> str:
        return shorten(text or "", width)

    lines = []
    if changes:
        rows = [[c.scenario, c.label, c.was or "(new cell)", c.now or "(gone)", clip(c.was_error), clip(c.now_error)]
                for c in changes]
        lines.append(f"{len(changes)} changed cell(s):\n")
        lines.append(tabulate(rows, headers=["scenario", "cell", "was", "now", "error was", "error now"],
                              disable_numparse=True))
    else:
        lines.append("No cell changed its outcome.")
    if texts:
        lines.append(f"\n{len(texts)} cell(s) kept their outcome but the stack's error text changed (not a failure):\n")
        rows = [[c.scenario, c.label, c.now, clip(c.was_error), clip(c.now_error)] for c in texts]
        lines.append(tabulate(rows, headers=["scenario", "cell", "outcome", "error was", "error now"],
                              disable_numparse=True))
    return "\n".join(lines) + "\n"
