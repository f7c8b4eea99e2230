"""Shards: split a run's cells deterministically (--shard K/N) and merge shard results."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence, TypeVar

T = TypeVar("T")


class ShardError(ValueError):
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


def load_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShardError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ShardError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ShardError(f"{path} is not a tlsmatrix results document")
    return data


def merge(docs: list[dict[str, Any]], sources: list[str]) -> dict[str, Any]:
    """Join shard documents into the document the unsharded run would have written."""
    if not docs:
        raise ShardError("nothing to merge")
    versions = {d.get("schema_version") for d in docs}
    if len(versions) != 1:
        raise ShardError(f"cannot merge results of different schema versions: {sorted(map(str, versions))}")
    backends = {(d.get("run") or {}).get("backend") for d in docs}
    if len(backends) != 1:
        raise ShardError(f"cannot merge results of different backends: {sorted(map(str, backends))}")
    seen: dict[str, str] = {}
    results = []
    for doc, source in zip(docs, sources):
        for record in doc["results"]:
            if record["id"] in seen:
                raise ShardError(f"cell {record['id']!r} is in both {seen[record['id']]} and {source}")
            seen[record["id"]] = source
            results.append(record)
    results.sort(key=lambda r: r.get("index", 0))
    first = docs[0]
    merged: dict[str, Any] = {k: v for k, v in first.items() if k not in ("results",)}
    run = dict(first.get("run") or {})
    starts = [(d.get("run") or {}).get("started") for d in docs if (d.get("run") or {}).get("started")]
    run["started"] = min(starts) if starts else run.get("started")
    run["duration_s"] = round(max((d.get("run") or {}).get("duration_s", 0) for d in docs), 3)
    run["certificates_generated"] = sum((d.get("run") or {}).get("certificates_generated", 0) for d in docs)
    run["shard"] = None
    run["merged_from"] = list(sources)
    merged["run"] = run
    for key in ("clients", "servers", "chains"):
        combined: dict[str, Any] = {}
        for doc in docs:
            for name, info in (doc.get(key) or {}).items():
                if name not in combined or (not combined[name].get("available", True) and info.get("available")):
                    combined[name] = info
        merged[key] = combined
    scenarios: dict[str, Any] = {}
    for doc in docs:
        for s in doc.get("scenarios") or []:
            scenarios.setdefault(s["name"], s)
    merged["scenarios"] = list(scenarios.values())
    merged["results"] = results
    return merged
