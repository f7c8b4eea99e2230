"""Differential summary: which conditions separate a stack's failures from its successes.

Computed from a results document (``results/latest/results.json``), never hand-written.

For every client stack, a cell (scenario × chain × server × TLS version) is

- *failing* when the client fails there while most of the *other* clients succeed,
- *succeeding* when the client succeeds there,
- left out when the client fails where most other clients fail too (a server that cannot
  load the chain fails for everyone: that is the server's finding, not the client's).

Every cell has features: "a P-521 key signs in the chain" (root or intermediate key), "the
leaf key is X", "the root key is X", "TLS is 1.2", "the server is S", "the chain has an
intermediate", "the leaf is expired", "a certificate is signed with SHA-x" (only where a
scenario overrides a signer's usual hash). A *term* is a conjunction of at most
:data:`MAX_CONDITIONS` features that holds on no succeeding cell. A greedy set cover
picks terms (most newly covered failing cells first, then fewer conditions, then wider
terms) until every failing cell is covered; the result is a small DNF: "X fails iff T1 or
T2". When no such DNF of at most :data:`MAX_TERMS` terms exists (a term of two or
more conditions must newly cover at least :data:`MIN_TERM_CELLS` failing cells: a lone
cell pinned down by three conditions is not a pattern), the best one is reported with the failing
cells it misses.

Server stacks are examined the same way on ``server_error`` cells (the server could not
load or serve the chain) per chain × TLS version, against the other server stacks.

``skipped`` and ``probe_error`` cells say nothing about a stack and are ignored (counted).

Pure computation on the document: integer bitsets, so the 2744 cells of
scenarios/curves.toml take milliseconds.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterable

from ..model.document import CellRecord, ResultsDocument
from ..model.core import ACCEPTED, KEY_NAMES, ChainRecord, KeySpec
from ..stacks.clients import family_of

#: at most this many conditions per term
MAX_CONDITIONS = 3
#: at most this many terms per explanation
MAX_TERMS = 6
#: a term must newly cover at least this many failing cells (a lone cell is not a pattern)
MIN_TERM_CELLS = 2
#: outcomes that say nothing about the stack under test
IGNORED_OUTCOMES = frozenset({"skipped", "probe_error"})
#: distinct short errors listed per outcome in a term
MAX_ERRORS_PER_OUTCOME = 3
#: failing cells named in a finding's `missed` text
MAX_MISSED_SHOWN = 5

# feature kinds, in the order terms list them and ties are broken
_KIND_ORDER = ("signer", "leaf", "client_cert", "root", "finding", "intermediate", "expired", "hash", "tls", "server", "accepts", "offers")


@dataclass
class Term:
    """One conjunction of conditions and what the failing cells it covers looked like."""

    conditions: tuple[str, ...]  # machine keys, e.g. ("leaf=P-521", "tls=1.2", "server=openssl")
    text: str  # "the leaf key is P-521 and TLS is 1.2 and the server is openssl"
    cells: int  # failing cells this term covers
    # outcome class -> distinct short errors (most frequent first), of the failing cells this
    # term covers and no other term does (cells where several terms hold: Finding.overlap)
    outcomes: dict[str, list[str]]
    same_cells_as: list[str] = field(default_factory=list)  # other terms of equal length, same extent

    def to_dict(self) -> dict[str, Any]:
        return {"conditions": list(self.conditions), "text": self.text, "cells": self.cells,
                "outcomes": self.outcomes, "same_cells_as": self.same_cells_as}


@dataclass
class Finding:
    """What separates one stack's failing cells from its succeeding cells.

    ``kind`` is ``"client"`` or ``"server"`` (``stack`` names it), or ``"note"`` (``stack``
    is None; ``text`` says which cells were ignored and why).
    """

    kind: str
    stack: str | None
    failing: int = 0  # cells where this stack fails and most others do not
    succeeding: int = 0  # cells where this stack succeeds
    terms: list[Term] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # failing cell ids no term covers
    overlap: dict[str, list[str]] = field(default_factory=dict)  # outcomes where several terms hold
    missed_outcomes: dict[str, list[str]] = field(default_factory=dict)  # outcomes of the missed cells
    overlap_cells: int = 0
    left_out: int = 0  # cells where most other stacks fail too
    ignored: int = 0  # skipped / probe_error cells of this stack
    note: str | None = None

    @property
    def exact(self) -> bool:
        return not self.missed

    @property
    def text(self) -> str:
        return _render_finding(self)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "stack": self.stack, "failing": self.failing, "succeeding": self.succeeding,
                "exact": self.exact, "terms": [t.to_dict() for t in self.terms], "missed": self.missed,
                "overlap": {"cells": self.overlap_cells, "outcomes": self.overlap},
                "missed_outcomes": self.missed_outcomes,
                "left_out": self.left_out, "ignored": self.ignored, "text": self.text}


# --- features ------------------------------------------------------------------------------


def _chain_features(chain: ChainRecord | None, findings: Iterable[str] = ()) -> set[str]:
    """``findings``: the ids of the chain's diagnosis (harness/certs/diagnose.py), e.g. issuer-name-encoding."""
    # unsupported-key is what the key features already say, more precisely (signer vs leaf)
    feats: set[str] = {f"finding={f}" for f in findings if f != "unsupported-key"}
    if chain is None:
        return feats
    for s in chain.signers:
        feats.add(f"signer={s.key}")
        if s.hash and s.hash != KeySpec(s.key).default_hash:  # only where a scenario overrides the usual hash
            feats.add(f"hash={s.hash}")
    feats |= {f"root={chain.root.key}", f"leaf={chain.leaf.key}"}
    if chain.intermediates:
        feats.add("intermediate=yes")
    if chain.expired:
        feats.add("expired=yes")
    if chain.client_cert:
        feats.add(f"client_cert={chain.client_cert.key}")
    return feats


def condition_text(cond: str) -> str:
    """Human text of one condition key (``leaf=P-521`` -> ``the leaf key is P-521``)."""
    kind, _, value = cond.partition("=")
    # by sound: "an RSA-2048", "an Ed448", "an ML-DSA-65" key
    article = "an" if value[:1].upper() in "AEIOU" or value.startswith(("RSA", "Ed", "ML-")) else "a"
    return {
        "signer": f"{article} {value} key signs in the chain",
        "leaf": f"the leaf key is {value}",
        "client_cert": f"the client certificate key is {value}",
        "root": f"the root key is {value}",
        "intermediate": "the chain has an intermediate",
        "expired": "the leaf is expired",
        "hash": f"a certificate is signed with {value}",
        "tls": f"TLS is {value}",
        "server": f"the server is {value}",
        "accepts": f"the server accepts only {value}",
        "offers": f"the client offers only {value}",
        "finding": f"the chain shows {value} (tlsmatrix diagnose)",
    }.get(kind, cond)


def _cond_sort_key(cond: str, order: dict[str, int]) -> tuple:
    kind = cond.partition("=")[0]
    return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER), order.get(cond, 0), cond)


# --- the cover -----------------------------------------------------------------------------


@dataclass
class _Problem:
    """Cells of one stack: which fail (positive), which succeed (negative), their features."""

    ids: list[str]  # cell id per bit
    records: list[list[CellRecord]]  # failing records per bit (for outcomes/errors)
    pos: int = 0
    neg: int = 0
    features: dict[str, int] = field(default_factory=dict)  # condition -> bitset of cells

    def add(self, cell_id: str, feats: Iterable[str], failing: bool, records: list[CellRecord]) -> None:
        bit = 1 << len(self.ids)
        self.ids.append(cell_id)
        self.records.append(records)
        if failing:
            self.pos |= bit
        else:
            self.neg |= bit
        for f in feats:
            self.features[f] = self.features.get(f, 0) | bit


def _bits(mask: int) -> Iterable[int]:
    i = 0
    while mask:
        if mask & 1:
            yield i
        mask >>= 1
        i += 1


def _cover(p: _Problem, order: dict[str, int]) -> tuple[list[tuple[tuple[str, ...], int]], int, dict]:
    """Greedy DNF: returns [(conditions, extent)], uncovered positives, valid terms by extent."""
    universe = p.pos | p.neg
    # a feature true on every considered cell (or none) separates nothing
    conds = sorted((c for c, m in p.features.items() if m & universe and (m & universe) != universe),
                   key=lambda c: _cond_sort_key(c, order))
    valid: dict[tuple[str, ...], int] = {}  # terms that hold on no succeeding cell
    kinds = {c: c.partition("=")[0] for c in conds}
    masks = {c: p.features[c] & universe for c in conds}
    for size in range(1, MAX_CONDITIONS + 1):
        for combo in combinations(conds, size):
            if size > 1:
                ks = [kinds[c] for c in combo]
                # two values of a single-valued axis never hold together
                if len(set(ks)) < size and any(ks.count(k) > 1 for k in ("leaf", "root", "tls", "server")):
                    continue
                # a shorter valid term covers a superset: the longer one is never better
                if any(sub in valid for sub in combinations(combo, size - 1)):
                    continue
            m = universe
            for c in combo:
                m &= masks[c]
                if not m & p.pos:
                    break
            if m & p.pos and not m & p.neg:
                valid[combo] = m
    chosen: list[tuple[tuple[str, ...], int]] = []
    left = p.pos
    while left and len(chosen) < MAX_TERMS:
        best, best_key = None, None
        for combo, m in valid.items():
            new = (m & left).bit_count()
            if not new or (new < MIN_TERM_CELLS and len(combo) > 1):
                continue
            key = (new, -len(combo), (m & p.pos).bit_count())
            if best_key is None or key > best_key:  # first (feature order) wins ties
                best, best_key = combo, key
        if best is None:
            break
        chosen.append((best, valid[best]))
        left &= ~valid[best]
    # drop terms that later terms made redundant
    pruned = list(chosen)
    for term in list(chosen):
        others = 0
        for t in pruned:
            if t is not term:
                others |= t[1]
        if (term[1] & p.pos) & ~others == 0 and len(pruned) > 1:
            pruned.remove(term)
    return pruned, left, valid


def _outcomes(p: _Problem, mask: int) -> dict[str, list[str]]:
    by_outcome: dict[str, Counter] = defaultdict(Counter)
    for i in _bits(mask):
        for r in p.records[i]:
            by_outcome[r.outcome or "?"][_short(r)] += 1
    return {
        o: [e for e, _ in c.most_common(MAX_ERRORS_PER_OUTCOME) if e]
        for o, c in sorted(by_outcome.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    }


def _term(p: _Problem, combo: tuple[str, ...], mask: int, others: int, valid: dict) -> Term:
    outcomes = _outcomes(p, mask & p.pos & ~others)
    same = [" and ".join(condition_text(c) for c in other) for other, m in valid.items()
            if other != combo and len(other) == len(combo) and m == mask][:2]
    return Term(conditions=combo, text=" and ".join(condition_text(c) for c in combo),
                cells=(mask & p.pos).bit_count(), outcomes=outcomes, same_cells_as=same)


def _short(record: CellRecord) -> str:
    text = str(record.short_error or "")
    if not text or text.endswith("…"):  # the matrix's short form was cut: the stack's own text
        text = str(record.error or text)
    text = " ".join(text.split())
    if record.outcome == "server_error":  # "server rustls-ring: <the stack's words>"
        text = text.removeprefix(f"server {record.server}: ")
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return text if len(text) <= 72 else text[:34].rstrip() + " … " + text[-34:].lstrip()


def _solve(kind: str, stack: str, p: _Problem, order: dict[str, int], left_out: int, ignored: int) -> Finding:
    if not p.neg:  # it never succeeds (a program that always crashes): any condition would be noise
        every = Term(conditions=(), text="every cell", cells=p.pos.bit_count(), outcomes=_outcomes(p, p.pos))
        return Finding(kind=kind, stack=stack, failing=p.pos.bit_count(), terms=[every], left_out=left_out,
                       ignored=ignored)
    chosen, left, valid = _cover(p, order)
    terms, seen, several = [], 0, 0
    for combo, m in chosen:
        several |= seen & m
        seen |= m
    for combo, m in chosen:
        others = 0
        for c2, m2 in chosen:
            if c2 != combo:
                others |= m2
        terms.append(_term(p, combo, m, others, valid))
    several &= p.pos
    return Finding(
        kind=kind, stack=stack, failing=p.pos.bit_count(), succeeding=p.neg.bit_count(), terms=terms,
        missed=[p.ids[i] for i in _bits(left)], left_out=left_out, ignored=ignored,
        overlap=_outcomes(p, several), overlap_cells=several.bit_count(), missed_outcomes=_outcomes(p, left),
    )


# --- the document --------------------------------------------------------------------------


def _group_features(r: CellRecord) -> set[str]:
    """The key-exchange group settings of the cell's row (none: the stacks' own lists)."""
    return ({f"accepts={':'.join(r.server_groups)}"} if r.server_groups else set()) | (
        {f"offers={':'.join(r.client_groups)}"} if r.client_groups else set())


def _failed(record: CellRecord) -> bool:
    return record.outcome not in ACCEPTED


def _value_order(records: list[CellRecord]) -> dict[str, int]:
    """Condition -> rank: key types in the canonical order, other values in first-seen order."""
    order: dict[str, int] = {}
    for r in records:
        for kind, value in (("tls", r.tls), ("server", r.server)):
            order.setdefault(f"{kind}={value}", len(order))
    for kind in ("signer", "leaf", "client_cert", "root"):
        for i, k in enumerate(KEY_NAMES):
            order[f"{kind}={k}"] = i - len(KEY_NAMES)
    return order


def _majority_fails(flags: list[bool]) -> bool:
    return bool(flags) and 2 * sum(flags) > len(flags)


def _most_others_fail(by_client: dict[str, CellRecord], client: str) -> bool:
    """Whether most other stack families fail this cell too: each family counted once (failing when
    most of its columns do), however many columns of it the scenario has, the client's own left aside."""
    mine = family_of(client)
    families: dict[str, list[bool]] = defaultdict(list)
    for other, record in by_client.items():
        if family_of(other) != mine:
            families[family_of(other)].append(_failed(record))
    return _majority_fails([_majority_fails(flags) for flags in families.values()])


def _diagnosis(data: ResultsDocument) -> dict[str, list[str]]:
    """Chain label → ids of its diagnosis findings (results documents from before the diagnosis have none)."""
    return {label: [f.id for f in info.diagnosis] for label, info in data.chains.items()}


def _client_findings(records: list[CellRecord], order: dict[str, int],
                     diagnosis: dict[str, list[str]]) -> list[Finding]:
    cells: dict[tuple, dict[str, CellRecord]] = defaultdict(dict)  # cell -> client -> record
    ignored: Counter = Counter()
    for r in records:
        if r.outcome in IGNORED_OUTCOMES:
            ignored[r.client] += 1
            continue
        cells[(*r.row_key, r.servername)][r.client] = r  # the row: its group settings too
    clients = list(dict.fromkeys(r.client for r in records))
    findings = []
    for client in clients:
        p = _Problem(ids=[], records=[])
        left_out = 0
        for key, by_client in cells.items():
            r = by_client.get(client)
            if r is None:
                continue
            feats = (_chain_features(r.chain, diagnosis.get(r.chain_label, ())) | {f"tls={r.tls}", f"server={r.server}"}
                     | _group_features(r))
            if not _failed(r):
                p.add(r.id, feats, False, [])
            elif _most_others_fail(by_client, client):
                left_out += 1
            else:
                p.add(r.id, feats, True, [r])
        if p.pos:
            findings.append(_solve("client", client, p, order, left_out, ignored[client]))
    return findings


def _server_findings(records: list[CellRecord], order: dict[str, int],
                     diagnosis: dict[str, list[str]]) -> list[Finding]:
    # unit: scenario × chain × TLS version × servername; a server fails there on any server_error
    units: dict[tuple, dict[str, list[CellRecord]]] = defaultdict(lambda: defaultdict(list))
    chains: dict[tuple, CellRecord] = {}
    for r in records:
        if r.outcome in IGNORED_OUTCOMES:
            continue
        key = (r.scenario, r.chain_label, r.tls, r.servername)
        units[key][r.server].append(r)
        chains.setdefault(key, r)
    servers = list(dict.fromkeys(r.server for r in records))
    findings = []
    for server in servers:
        p = _Problem(ids=[], records=[])
        left_out = 0
        for key, by_server in units.items():
            recs = by_server.get(server)
            if not recs:
                continue
            errors = [r for r in recs if r.outcome == "server_error"]
            others = [any(r.outcome == "server_error" for r in rs) for s, rs in by_server.items() if s != server]
            r0 = chains[key]
            feats = _chain_features(r0.chain, diagnosis.get(r0.chain_label, ())) | {f"tls={r0.tls}"}
            unit_id = f"{key[0]}|{key[1]}|{key[2]}|{server}"
            if not errors:
                p.add(unit_id, feats, False, [])
            elif _majority_fails(others):
                left_out += 1
            else:
                p.add(unit_id, feats, True, errors[:1])
        if p.pos:
            findings.append(_solve("server", server, p, order, left_out, 0))
    return findings


def explain(data: ResultsDocument | dict) -> list[Finding]:
    """Findings for every client and server stack that fails where the others succeed.

    A leading ``kind="note"`` finding reports ignored skipped/probe_error cells, if any.
    Stacks that never differ from the others get no finding.
    """
    data = ResultsDocument.coerce(data)
    records = data.cells
    order = _value_order(records)
    findings: list[Finding] = []
    ignored = Counter((r.outcome, r.client) for r in records if r.outcome in IGNORED_OUTCOMES)
    if ignored:
        parts = []
        for outcome in sorted({o for o, _ in ignored}):
            per = {c: n for (o, c), n in ignored.items() if o == outcome}
            parts.append(f"{sum(per.values())} {outcome} cells ("
                         + ", ".join(f"{c}: {n}" for c, n in sorted(per.items(), key=lambda kv: str(kv[0]))) + ")")
        findings.append(Finding(kind="note", stack=None, ignored=sum(ignored.values()),
                                note="ignored " + "; ".join(parts) + ": they say nothing about the stacks"))
    findings += _client_findings(records, order, _diagnosis(data))
    findings += _server_findings(records, order, _diagnosis(data))
    return findings


# --- rendering -----------------------------------------------------------------------------


def _outcome_text(outcomes: dict[str, list[str]]) -> str:
    parts = []
    for o, errs in outcomes.items():
        errs = [e for e in errs if e != o]
        parts.append(f"{o}: {', '.join(errs)}" if errs else o)
    return "; ".join(parts)


def _term_text(t: Term) -> str:
    text = f"{t.text} ({_outcome_text(t.outcomes)})"
    if t.same_cells_as and len(t.conditions) == 1:  # longer rewrites are mostly noise
        text += " [same cells as: " + "; ".join(t.same_cells_as) + "]"
    return text


def _render_finding(f: Finding) -> str:
    if f.kind == "note":
        return f"Note: {f.note}."
    who = f.stack if f.kind == "client" else f"the {f.stack} server"
    counts = f"{f.failing} failing, {f.succeeding} succeeding cells"
    extras = []
    if f.left_out:
        extras.append(f"{f.left_out} cells where most other {'clients' if f.kind == 'client' else 'servers'} "
                      f"fail too left out")
    if f.ignored:
        extras.append(f"{f.ignored} skipped/probe_error cells ignored")
    tail = f" [{counts}" + ("; " + "; ".join(extras) if extras else "") + "]"
    terms = " or ".join(_term_text(t) for t in f.terms)
    if f.overlap_cells:
        terms += f"; where several hold: {_outcome_text(f.overlap)}"
    if f.exact and len(f.terms) == 1 and not f.terms[0].conditions:
        return f"{who} fails on every cell ({_outcome_text(f.terms[0].outcomes)}).{tail}"
    if f.exact:
        return f"{who} fails iff {terms}.{tail}"
    shown = ", ".join(f.missed[:MAX_MISSED_SHOWN]) + (f", and {len(f.missed) - MAX_MISSED_SHOWN} more"
                                                     if len(f.missed) > MAX_MISSED_SHOWN else "")
    miss = f"misses {len(f.missed)} of {f.failing} failing cells: {shown}"
    covered = f.failing - len(f.missed)
    if not f.terms or 2 * covered < f.failing:
        best = f"; the best {len(f.terms)} terms cover only {covered}" if f.terms else ""
        return (f"{who} fails on {f.failing} cells with no pattern of at most {MAX_CONDITIONS} conditions per term "
                f"({_outcome_text(_merge(f))}{best}; {miss}).{tail}")
    return (f"{who} fails on {f.failing} cells; no exact explanation with at most {MAX_CONDITIONS} conditions "
            f"per term; best: fails if {terms} ({miss}).{tail}")


def _merge(f: Finding) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for outcomes in [*(t.outcomes for t in f.terms), f.overlap, f.missed_outcomes]:
        for o, errs in outcomes.items():
            merged.setdefault(o, [])
            merged[o] += [e for e in errs if e not in merged[o]][: MAX_ERRORS_PER_OUTCOME - len(merged[o])]
    return merged


def render_explain(findings: list[Finding]) -> str:
    """One paragraph per finding; a line saying so when no stack differs from the others."""
    lines = [f.text for f in findings]
    if not any(f.kind != "note" for f in findings):
        lines.append("No client or server stack fails where the others succeed.")
    return "\n".join(lines)
