"""``make bench``: figures, not assertions.

1. Per client stack: handshakes per second with one long-lived probe fed a batch of jobs, versus
   one probe process per handshake, on the same cells (medians of ``--repeat`` batches).
2. With a Docker engine and images: the container layout's start and removal costs.
3. Wall time of ``scenarios/curves.toml`` warm (probes built, certificates cached), per backend.

Prints the tables and writes ``results/bench.json`` (shape: docs/performance.md, "bench.json").
The machine is shared more often than not: its load average before and after is recorded too.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from .stacks.clients import CLIENTS, HOST_TLS_CLIENTS, TLS_CLIENTS
from .running.session import ProbeSession
from .running.endpoints.base import ListenerSpec
from .running.endpoints.process import ProcessEndpoint
from .model.core import Job
from .certs.pki import CertificateCache
from .running.scenarios import load_scenario
from .stacks.servers import HOST_SERVERS, SERVERS
from .stacks import Stack
from .model.paths import pki_cache_dir, project_root, results_dir


def bench_jobs(endpoint_specs: list[ListenerSpec], endpoint: ProcessEndpoint) -> list[Job]:
    """One job per listener: the cells of the openssl column of rustls-p521.toml (chain × TLS version)."""
    jobs = []
    for i, spec in enumerate(endpoint_specs):
        listener = endpoint.listeners[spec.id]
        jobs.append(Job(str(i), "127.0.0.1", int(listener.port), "localhost", str(spec.chain.ca_file), spec.tls,
                        10_000))
    return jobs


def bench_listeners(server: str) -> list[ListenerSpec]:
    scenario = load_scenario(project_root() / "scenarios" / "rustls-p521.toml")
    cache = CertificateCache(pki_cache_dir())
    cells = [c for c in scenario.cells(servers=[server]) if c.client == "openssl"]  # one per chain × TLS
    return [ListenerSpec(f"L{i}", cache.chain(cell.chain), cell.tls) for i, cell in enumerate(cells)]


def serve_jobs(path: Path, n: int, server: str) -> int:
    """``--serve-jobs``: the bench's server and ``n`` job lines in ``path``, for feeding a probe by hand
    (``probe < path``: every job in flight at once) under a profiler; serves until SIGINT/SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    specs = bench_listeners(server)
    with ProcessEndpoint(SERVERS[server], specs) as endpoint:
        jobs = bench_jobs(specs, endpoint)
        with open(path, "w", encoding="utf-8") as f:
            for k in range(n):
                f.write(json.dumps({**jobs[k % len(jobs)].to_json(), "id": str(k)}) + "\n")
        print(f"{n} jobs over {len(jobs)} listeners of the {server} server in {path}; serving until interrupted",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def batch_rate(stack: Stack, jobs: list[Job], n: int) -> tuple[float, str]:
    """Handshakes/s of one long-lived probe over ``n`` jobs (its start-up not counted), and its version."""
    with ProbeSession(stack) as session:
        session.start()
        started = time.perf_counter()
        for k in range(n):
            session.run(jobs[k % len(jobs)])
        rate = n / (time.perf_counter() - started)
        return rate, session.info.describe() if session.info else ""


def process_rate(stack: Stack, jobs: list[Job], n: int) -> float:
    """Handshakes/s when every handshake starts (and stops) its own probe process."""
    started = time.perf_counter()
    for k in range(n):
        with ProbeSession(stack) as one:
            one.run(jobs[k % len(jobs)])
    return n / (time.perf_counter() - started)


def stack_rates(clients: list[str], batch_n: int, single_n: int, repeat: int, server: str) -> list[dict]:
    """The ``stacks`` entries of bench.json: median batch rate of ``repeat`` runs, one process-per-handshake run."""
    specs = bench_listeners(server)
    out = []
    with ProcessEndpoint(SERVERS[server], specs) as endpoint:
        jobs = bench_jobs(specs, endpoint)
        for name in clients:
            stack = CLIENTS[name]
            entry = {"client": name, "batch_hs_per_s": None, "process_hs_per_s": None, "version": None,
                     "batch_runs": [], "skipped": stack.unavailable_reason()}
            if entry["skipped"] is None:
                for _ in range(repeat):
                    rate, entry["version"] = batch_rate(stack, jobs, batch_n)
                    entry["batch_runs"].append(round(rate, 1))
                entry["batch_hs_per_s"] = round(statistics.median(entry["batch_runs"]), 1)
                entry["process_hs_per_s"] = round(process_rate(stack, jobs, single_n), 1)
            out.append(entry)
            print(f"  {name}: {entry['batch_hs_per_s']} hs/s batch, {entry['process_hs_per_s']} per process",
                  file=sys.stderr, flush=True)
    return out


def curves_wall_time(runs: int, backends: tuple[str, ...] = ("process",)) -> list[dict]:
    """The ``curves`` entries: the median wall time of ``runs`` warm runs of curves.toml per backend."""
    out_dir = Path(tempfile.mkdtemp(prefix="tlsmatrix-bench-"))
    entries: list[dict] = []
    for backend in backends if runs > 0 else ():
        argv = [sys.executable, "-m", "tlsmatrix", "matrix", str(project_root() / "scenarios" / "curves.toml"), "-q",
                "--output", str(out_dir), "--format", "json", "--backend", backend]
        subprocess.run(argv, cwd=project_root(), capture_output=True)  # warm-up: builds the certificate cache
        walls, cells, codes, cpu = [], 0, [], {}
        for _ in range(runs):
            started, before = time.perf_counter(), _children_cpu()
            proc = subprocess.run(argv, cwd=project_root(), capture_output=True, text=True)
            walls.append(round(time.perf_counter() - started, 2))
            data = json.loads(proc.stdout) if proc.stdout.strip() else {}
            cells = len(data.get("results", [])) or cells
            codes.append(proc.returncode)
            cpu = cpu_shares(data, _children_cpu() - before) or cpu
        wall = statistics.median(walls)
        entries.append({"backend": backend, "wall_s": wall, "cells": cells,
                        "cells_per_s": round(cells / wall, 1) if cells else None, "runs_s": walls,
                        "exit_codes": codes, "cpu_s": cpu})
    return entries


def cpu_shares(data: dict, total: float) -> dict[str, float]:
    """Where the CPU of one run (``total``: the command and everything it started) went, from its results
    document: the harness during the run, each server program and client probe (with the tools it
    started), and the rest (the interpreter's start, loading scenarios, writing the reports), largest first."""
    shares = {"harness (the run)": data.get("run", {}).get("cpu_s")}
    for kind in ("servers", "clients"):
        shares.update({f"{kind[:-1]} {name}": entry.get("cpu_s") for name, entry in data.get(kind, {}).items()})
    known = {k: v for k, v in shares.items() if v is not None}
    if not known:
        return {}
    known["harness (start, reports) and the rest"] = round(max(total - sum(known.values()), 0.0), 2)
    return dict(sorted(known.items(), key=lambda kv: -kv[1]))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def docker_start_costs(listeners: int) -> list[dict]:
    """One container serving N listeners vs N containers serving one each (the lifecycle choice)."""
    from .running.endpoints.docker import DockerEndpoint, DockerRun
    from .model.core import CertSpec, ChainSpec, KeySpec

    cache = CertificateCache(pki_cache_dir())
    keys = ["P-256", "P-384", "P-521", "RSA-2048", "Ed25519"]
    chains = [cache.chain(ChainSpec(CertSpec(KeySpec(r)), CertSpec(KeySpec(l)))) for r in keys for l in keys]
    specs = [ListenerSpec(f"L{i}", chains[i % len(chains)], ("1.2", "1.3")[i % 2]) for i in range(listeners)]
    run = DockerRun(cache.root)
    rows = []
    try:
        for stack in ("openssl", "go"):
            for layout in ("one", "many"):
                groups = [specs] if layout == "one" else [[s] for s in specs]
                started = time.perf_counter()
                eps = []
                for group in groups:
                    eps.append(DockerEndpoint(stack, group, run))
                    eps[-1].start()
                ready = time.perf_counter() - started
                stopped = time.perf_counter()
                for ep in eps:
                    ep.close()
                label = f"1 container × {listeners} listeners" if layout == "one" else f"{listeners} containers × 1 listener"
                rows.append({"server": stack, "layout": label, "start_s": round(ready, 2),
                             "remove_s": round(time.perf_counter() - stopped, 2)})
    finally:
        run.close()
    return rows


def cold_setup() -> dict:
    """``--cold-setup``: a clone of this checkout's HEAD in a temporary directory, then `make matrix` there
    with nothing of this machine's builds to reuse: its own .venv (pip's cache off), build/ and cargo
    home (every crate downloaded and compiled again). What it cannot make cold: the Debian packages
    (apt) and the Rust toolchain already installed. The clone is removed afterwards."""
    root = project_root()
    with tempfile.TemporaryDirectory(prefix="tlsmatrix-cold-") as tmp:
        clone = Path(tmp) / "tlsmatrix"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(root), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TLSMATRIX_", "VIRTUAL_ENV"))}
        # a new cargo home (crate cache); the toolchain stays where rustup put it
        env.update(CARGO_HOME=str(Path(tmp) / "cargo-home"), PIP_NO_CACHE_DIR="1")
        env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
        argv = ["make", "-C", str(clone), "matrix", "ARGS=-q"]
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - started
        builds = [line for line in proc.stderr.splitlines() if line.startswith("[build]") and "built in" in line]
    print(f"cold `make matrix` in a fresh clone: {wall:.0f}s, exit {proc.returncode}", file=sys.stderr)
    return {"wall_s": round(wall, 1), "exit_code": proc.returncode, "builds": builds,
            "commit": subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()}


def machine(args: argparse.Namespace) -> dict:
    """What the figures depend on: the CPUs, the software, and how busy the machine was."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(), "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()], "load_avg_end": None,
            "server": args.server, "batch_n": args.batch, "single_n": args.single, "repeat": args.repeat,
            "cells": "scenarios/rustls-p521.toml, openssl column: each chain × TLS 1.2/1.3"}


def docker_available(choice: str) -> bool:
    if choice != "auto":
        return choice == "yes"
    try:
        from .stacks.engine import docker_client
        from .stacks.images import image_for

        client = docker_client()
        image_for(client, "openssl")
        image_for(client, "go")
        return True
    except Exception as exc:  # no engine or no images: say so, measure the rest
        print(f"(docker figures skipped: {exc})\n")
        return False


def print_tables(doc: dict, layouts: list[dict]) -> None:
    m = doc["machine"]
    print(f"# tlsmatrix bench on {m['cpus']} CPUs (load average {m['load_avg_start']} at start), server stack "
          f"{m['server']}, {m['cells']}\n")
    rows = [[s["client"], s["batch_hs_per_s"] if s["batch_hs_per_s"] is not None else "skipped",
             s["process_hs_per_s"] if s["process_hs_per_s"] is not None else "",
             f"{s['batch_hs_per_s'] / s['process_hs_per_s']:.1f}×" if s["process_hs_per_s"] else "",
             s["version"] or s["skipped"] or ""] for s in doc["stacks"]]
    print(tabulate(rows, headers=["client", f"batch hs/s (n={m['batch_n']}, median of {m['repeat']})",
                                  f"process-per-handshake hs/s (n={m['single_n']})", "speed-up", "stack"],
                   disable_numparse=True))
    if layouts:
        print("\n# docker backend: start (until every listener passed a readiness handshake) and removal\n")
        print(tabulate([[r["server"], r["layout"], f"{r['start_s']:.2f}s", f"{r['remove_s']:.2f}s"] for r in layouts],
                       headers=["server", "layout", "start → ready", "remove"], disable_numparse=True))
    print(f"\n# scenarios/curves.toml, warm (probes built, certificates cached); load average at the end "
          f"{m['load_avg_end']}\n")
    print(tabulate([[c["backend"], f"{c['wall_s']:.2f}s", " ".join(f"{w:.2f}" for w in c["runs_s"]), c["cells"],
                     c["cells_per_s"], " ".join(map(str, c["exit_codes"]))] for c in doc["curves"]],
                   headers=["backend", "wall (median)", "runs (s)", "cells", "cells/s", "exit"], disable_numparse=True))
    for c in doc["curves"]:
        if c.get("cpu_s"):
            print(f"\n# where the CPU of one {c['backend']} run went: {sum(c['cpu_s'].values()):.1f} CPU-s "
                  f"on {os.cpu_count()} cores (results.json: run.cpu_s, each stack's cpu_s)\n")
            print(tabulate(list(c["cpu_s"].items()), headers=["process", "CPU-s"], disable_numparse=True))
    if doc["cold_setup_s"] is not None:
        print(f"\ncold setup (clone → first `make matrix` done): {doc['cold_setup_s']:.0f}s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tlsmatrix.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200, help="handshakes per client in one batch")
    parser.add_argument("--repeat", type=int, default=3, help="batches per client; the median is reported")
    parser.add_argument("--single", type=int, default=20, help="handshakes per client, one process each")
    parser.add_argument("--server", default="openssl", choices=HOST_SERVERS)
    parser.add_argument("--clients", default="*",
                        help="comma-separated client stacks or patterns (default: every host stack that needs no app; "
                             "the versioned ones in containers by name or pattern, e.g. 'go@*')")
    parser.add_argument("--curves-runs", type=int, default=3, help="warm runs of curves.toml per backend (median)")
    parser.add_argument("--docker", choices=("auto", "yes", "no"), default="auto",
                        help="add the docker backend figures (auto: when an engine answers and images exist)")
    parser.add_argument("--docker-listeners", type=int, default=10)
    parser.add_argument("--cold-setup", action="store_true",
                        help="also measure a cold setup: `make matrix` in a fresh clone with its own venv, build dir "
                             "and cargo home (10+ minutes; the Debian packages are not made cold)")
    parser.add_argument("--output", type=Path, default=None, help="bench.json path (default: results/bench.json)")
    parser.add_argument("--serve-jobs", type=Path, metavar="PATH", default=None,
                        help="instead: start the bench's server, write --jobs job lines to PATH, serve until interrupted")
    parser.add_argument("--jobs", type=int, default=1000, help="job lines for --serve-jobs")
    return parser.parse_args(argv)


def selected_clients(patterns: str) -> list[str]:
    """The TLS client stacks the patterns name; a pattern without "@" names the host's stacks only."""
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [n for n in TLS_CLIENTS
            if any(fnmatch.fnmatchcase(n, p) and (n in HOST_TLS_CLIENTS or "@" in p) for p in wanted)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_jobs is not None:
        return serve_jobs(args.serve_jobs, args.jobs, args.server)
    use_docker = docker_available(args.docker)
    doc: dict = {"machine": machine(args), "stacks": [], "curves": [], "cold_setup_s": None}
    if args.cold_setup:  # first, while nothing else of the bench loads the machine
        doc["cold_setup"] = cold_setup()
        doc["cold_setup_s"] = doc["cold_setup"]["wall_s"]
    doc["stacks"] = stack_rates(selected_clients(args.clients), args.batch, args.single, args.repeat, args.server)
    layouts = docker_start_costs(args.docker_listeners) if use_docker else []
    doc["curves"] = curves_wall_time(args.curves_runs, ("process", "docker") if use_docker else ("process",))
    for entry in doc["curves"]:
        if entry["backend"] == "docker":
            entry["layouts"] = layouts
    doc["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print_tables(doc, layouts)
    out = args.output or results_dir() / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\n(wrote {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
