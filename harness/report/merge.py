"""Shards: split a run's cells deterministically (--shard K/N) and merge shard results."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence, TypeVar

from ..model.errors import TlsmatrixError
from ..model.document import (ResultsDocument, ScenarioInfo, load_results)  # noqa: F401 - load_results: where cli finds it

T = TypeVar("T")


class ShardError(TlsmatrixError, ValueError):
    pass


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ShardError(f"--shard {text!r}: expected K/N, e.g. 2/4") from None
    if not (n >= 1 and 1 <= k <= n):
        raise ShardError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def select_shard(items: Sequence[T], shard: str | None) -> list[T]:
    """Cell i belongs to shard (i mod N) + 1: deterministic, balanced, independent of timing."""
    if not shard:
        return list(items)
    k, n = parse_shard(shard)
    return [item for i, item in enumerate(items) if i % n == k - 1]


def merge(docs: list[ResultsDocument], sources: list[str]) -> ResultsDocument:
    """Join shard documents into the document the unsharded run would have written."""
    if not docs:
        raise ShardError("nothing to merge")
    versions = {d.schema_version for d in docs}
    if len(versions) != 1:
        raise ShardError(f"cannot merge results of different schema versions: {sorted(map(str, versions))}")
    backends = {d.run.backend for d in docs}
    if len(backends) != 1:
        raise ShardError(f"cannot merge results of different backends: {sorted(map(str, backends))}")
    seen: dict[str, str] = {}
    cells = []
    for doc, source in zip(docs, sources):
        for record in doc.cells:
            if record.id in seen:
                raise ShardError(f"cell {record.id!r} is in both {seen[record.id]} and {source}")
            seen[record.id] = source
            cells.append(record)
    cells.sort(key=lambda r: r.index)
    first = docs[0]
    starts = [d.run.started for d in docs if d.run.started]
    run = dataclasses.replace(
        first.run, started=min(starts) if starts else first.run.started,
        duration_s=round(max(d.run.duration_s or 0 for d in docs), 3),
        certificates_generated=sum(d.run.certificates_generated or 0 for d in docs), shard=None,
        merged_from=list(sources), cpu_s=_cpu_total(d.run.cpu_s for d in docs))
    scenarios: dict[str, ScenarioInfo] = {}
    for doc in docs:
        for s in doc.scenarios:
            scenarios.setdefault(s.name, s)
    return dataclasses.replace(first, run=run, clients=_stacks([d.clients for d in docs]),
                               servers=_stacks([d.servers for d in docs]), chains=_union(d.chains for d in docs),
                               cells=cells, scenarios=list(scenarios.values()))


def _stacks(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The stacks of every shard (``_union``), each with the CPU it used in all of them together."""
    return {name: dataclasses.replace(entry, cpu_s=_cpu_total(p[name].cpu_s for p in parts if name in p))
            for name, entry in _union(parts).items()}


def _cpu_total(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 2) if known else None


def _union(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Entries of every shard; a stack that ran in one shard wins over one that did not run in another."""
    combined: dict[str, Any] = {}
    for part in parts:
        for name, info in part.items():
            old = combined.get(name)
            if old is None or (not getattr(old, "available", True) and getattr(info, "available", False)):
                combined[name] = info
    return combined
