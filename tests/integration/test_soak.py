"""Soak (issue 14, item 6): the default scenarios five times back to back in one process.

Fails on any cell whose outcome flips between runs, and on anything a run leaves behind: child
processes, listening ports, file descriptors and threads of this process, containers, owned
temporary directories. The figures of every run are printed. Marked ``soak``: not part of the
default run (tests/conftest.py deselects it unless ``-m`` names it), run nightly:

    .venv/bin/pytest -m soak -s tests/integration/test_soak.py

``TLSMATRIX_SOAK_RUNS`` (default 5), ``TLSMATRIX_SOAK_SCENARIOS`` (comma-separated files,
default scenarios/*.toml), ``TLSMATRIX_SOAK_CLIENTS`` and ``TLSMATRIX_SOAK_BACKEND`` (process
or docker) shrink or vary it.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from tlsmatrix import cli
from tlsmatrix.stacks.engine import DockerUnavailable, docker_client
from tlsmatrix.model.owner import owner_of
from tlsmatrix.running.reaper import temp_roots

pytestmark = [pytest.mark.integration, pytest.mark.soak]
ROOT = Path(__file__).resolve().parents[2]


def marked_processes(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if f"TLSMATRIX_SOAK_MARKER={marker}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
    return found


def socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def listening_ports(pids: list[int]) -> list[int]:
    """TCP ports in LISTEN state held by ``pids`` (from /proc/net/tcp and tcp6)."""
    owned, ports = socket_inodes(pids), []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in owned:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def containers_of_this_process() -> int | None:
    try:
        client = docker_client(timeout=10)
    except DockerUnavailable:
        return None
    try:
        return len(client.containers.list(all=True, filters={"label": [f"org.tlsmatrix.pid={os.getpid()}"]}))
    finally:
        client.close()


def owned_dirs(extra: list[Path]) -> list[str]:
    """Owned temporary directories of this process or its (dead or alive) children."""
    found = []
    for root in temp_roots(extra):
        with contextlib.suppress(OSError):
            found += [p.name for p in root.iterdir() if owner_of(p.name) is not None and
                      (owner_of(p.name).pid == os.getpid() or not owner_of(p.name).alive())]
    return found


def figures(marker: str, pki: Path) -> dict:
    gc.collect()  # an unreachable object's fd is not a leak
    time.sleep(0.5)  # children that got EOF exit by themselves
    children = marked_processes(marker)
    return {"fds": len(os.listdir("/proc/self/fd")), "threads": threading.active_count(), "children": len(children),
            "ports": listening_ports([os.getpid(), *children]), "containers": containers_of_this_process(),
            "tmpdirs": owned_dirs([pki / "tmp"])}


def test_default_scenarios_five_times_back_to_back(tmp_path, pki_cache, monkeypatch, capsys):
    runs = int(os.environ.get("TLSMATRIX_SOAK_RUNS", "5"))
    scenarios = [s for s in os.environ.get("TLSMATRIX_SOAK_SCENARIOS", "").split(",") if s]
    backend = os.environ.get("TLSMATRIX_SOAK_BACKEND", "process")
    marker = uuid.uuid4().hex
    monkeypatch.setenv("TLSMATRIX_SOAK_MARKER", marker)  # every child inherits it
    monkeypatch.setenv("TLSMATRIX_RESULTS_DIR", str(tmp_path / "results"))
    argv = ["matrix", *scenarios, "--backend", backend, "--pki-cache", str(pki_cache.root), "-q", "--format", "json"]
    if os.environ.get("TLSMATRIX_SOAK_CLIENTS"):
        argv += ["--clients", os.environ["TLSMATRIX_SOAK_CLIENTS"]]
    outcomes: list[dict[str, str]] = []
    rows = []
    before = None
    for n in range(runs + 1):  # run 0 warms caches (certificates, lazily opened files) and is not compared
        out = tmp_path / f"run{n}"
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli.main([*argv, "--output", str(out)])
        assert status in (0, 1), f"run {n}: exit status {status}"
        data = json.loads((out / "results.json").read_text())
        now = figures(marker, pki_cache.root)
        rows.append((n, round(time.monotonic() - started, 1), len(data["results"]), status, now))
        if n == 0:
            before = now
            continue
        outcomes.append({r["id"]: r["outcome"] for r in data["results"]})
    with capsys.disabled():
        print(f"\nsoak: {runs} runs of {' '.join(scenarios) or 'scenarios/*.toml'} ({backend} backend)")
        print("run  seconds  cells  exit  fds  threads  children  ports  containers  tmpdirs")
        for n, seconds, cells, status, f in rows:
            print(f"{n:<4} {seconds:<8} {cells:<6} {status:<5} {f['fds']:<4} {f['threads']:<8} {f['children']:<9} "
                  f"{len(f['ports']):<6} {f['containers'] if f['containers'] is not None else '-':<11} "
                  f"{len(f['tmpdirs'])}")
    flipped = {cid: [o.get(cid) for o in outcomes] for cid in outcomes[0]
               if len({o.get(cid) for o in outcomes}) > 1}
    assert not flipped, f"{len(flipped)} cell(s) flipped between runs: {dict(list(flipped.items())[:10])}"
    for n, _, _, _, f in rows:
        assert f["children"] == 0 and f["ports"] == [] and f["tmpdirs"] == [], f"run {n} left {f}"
        assert f["containers"] in (None, 0), f"run {n} left {f['containers']} container(s)"
        assert f["fds"] <= before["fds"] and f["threads"] <= before["threads"], f"run {n}: {f} after run 0: {before}"
