"""``make bench``: figures, not assertions.

1. Per client stack: handshakes per second with one long-lived probe fed a batch of jobs,
   versus one probe process per handshake, on the same cells.
2. Wall time of ``scenarios/curves.toml`` warm (probes built, certificates cached).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from .clients import CLIENTS
from .clients.session import ProbeSession
from .endpoints.base import ListenerSpec
from .endpoints.process import ProcessEndpoint
from .model import Job
from .pki import CertificateCache
from .scenarios import load_scenario
from .servers import SERVERS
from .toolchain import pki_cache_dir, project_root, results_dir


def handshake_rates(batch_n: int, single_n: int, server: str) -> list[list]:
    scenario = load_scenario(project_root() / "scenarios" / "rustls-p521.toml")
    cache = CertificateCache(pki_cache_dir())
    cells = [c for c in scenario.cells(servers=[server]) if c.client == "openssl"]  # one per chain × TLS
    specs, jobs = [], []
    for i, cell in enumerate(cells):
        files = cache.chain(cell.chain)
        specs.append(ListenerSpec(f"L{i}", files, cell.tls))
    rows = []
    with ProcessEndpoint(SERVERS[server], specs) as endpoint:
        for i, cell in enumerate(cells):
            listener = endpoint.listeners[f"L{i}"]
            jobs.append(Job(str(i), "127.0.0.1", int(listener.port), "localhost", str(specs[i].chain.ca_file), cell.tls, 10_000))
        for name, stack in CLIENTS.items():
            if stack.needs_app:
                continue
            if stack.unavailable_reason():
                rows.append([name, "skipped", "", "", stack.unavailable_reason()])
                continue
            with ProbeSession(stack) as session:
                session.start()
                started = time.perf_counter()
                for n in range(batch_n):
                    session.run(jobs[n % len(jobs)])
                batch_rate = batch_n / (time.perf_counter() - started)
                version = session.info.describe() if session.info else ""
            started = time.perf_counter()
            for n in range(single_n):
                with ProbeSession(stack) as one:
                    one.run(jobs[n % len(jobs)])  # starts the probe, one handshake, stops it
            single_rate = single_n / (time.perf_counter() - started)
            rows.append([name, f"{batch_rate:,.0f}", f"{single_rate:,.1f}", f"{batch_rate / single_rate:,.1f}×", version])
    return rows


def curves_wall_time(runs: int, backends: tuple[str, ...] = ("process",)) -> list[list]:
    out = Path(tempfile.mkdtemp(prefix="tlsmatrix-bench-"))
    rows = []
    for backend in backends:
        argv = [sys.executable, "-m", "harness", "matrix", str(project_root() / "scenarios" / "curves.toml"), "-q",
                "--output", str(out), "--format", "json", "--backend", backend]
        subprocess.run(argv, cwd=project_root(), capture_output=True)  # warm-up: builds the certificate cache
        for i in range(runs):
            started = time.perf_counter()
            proc = subprocess.run(argv, cwd=project_root(), capture_output=True, text=True)
            wall = time.perf_counter() - started
            data = json.loads(proc.stdout) if proc.stdout.strip() else {}
            cells = len(data.get("results", []))
            rows.append([backend, f"run {i + 1}", f"{wall:.2f}s", cells, f"{cells / wall:,.0f}" if cells else "-",
                         (data.get("run") or {}).get("certificates_generated", "?"), proc.returncode])
    return rows


def docker_start_costs(listeners: int) -> list[list]:
    """One container serving N listeners vs N containers serving one each (the lifecycle choice)."""
    from .endpoints.docker import DockerEndpoint, DockerRun
    from .model import CertSpec, ChainSpec, KeySpec

    cache = CertificateCache(pki_cache_dir())
    keys = ["P-256", "P-384", "P-521", "RSA-2048", "Ed25519"]
    chains = [cache.chain(ChainSpec(CertSpec(KeySpec(r)), CertSpec(KeySpec(l)))) for r in keys for l in keys]
    specs = [ListenerSpec(f"L{i}", chains[i % len(chains)], ("1.2", "1.3")[i % 2]) for i in range(listeners)]
    run = DockerRun(cache.root)
    rows = []
    try:
        for stack in ("openssl", "go"):
            started = time.perf_counter()
            ep = DockerEndpoint(stack, specs, run)
            ep._start()
            ready = time.perf_counter() - started
            stopped = time.perf_counter()
            ep.close()
            removed = time.perf_counter() - stopped
            rows.append([stack, f"1 container × {listeners} listeners", f"{ready:.2f}s", f"{removed:.2f}s"])
            started = time.perf_counter()
            eps = []
            for spec in specs:
                one = DockerEndpoint(stack, [spec], run)
                one._start()
                eps.append(one)
            ready = time.perf_counter() - started
            stopped = time.perf_counter()
            for one in eps:
                one.close()
            removed = time.perf_counter() - stopped
            rows.append([stack, f"{listeners} containers × 1 listener", f"{ready:.2f}s", f"{removed:.2f}s"])
    finally:
        run.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200, help="handshakes per client in batch mode")
    parser.add_argument("--single", type=int, default=20, help="handshakes per client, one process each")
    parser.add_argument("--server", default="openssl", choices=list(SERVERS))
    parser.add_argument("--curves-runs", type=int, default=2)
    parser.add_argument("--docker", choices=("auto", "yes", "no"), default="auto",
                        help="add the docker backend figures (auto: when an engine answers and images exist)")
    parser.add_argument("--docker-listeners", type=int, default=10)
    args = parser.parse_args(argv)
    use_docker = args.docker == "yes"
    if args.docker == "auto":
        try:
            from .images import docker_client, image_for

            client = docker_client()
            image_for(client, "openssl")
            image_for(client, "go")
            use_docker = True
        except Exception as exc:  # no engine or no images: say so, measure the rest
            print(f"(docker figures skipped: {exc})\n")
    print(f"# tlsmatrix bench on {os.cpu_count()} CPUs, server stack {args.server}, "
          f"cells of scenarios/rustls-p521.toml (openssl-column chains × TLS versions)\n")
    rates = handshake_rates(args.batch, args.single, args.server)
    print(tabulate(rates, headers=["client", f"batch hs/s (n={args.batch})", f"process-per-handshake hs/s (n={args.single})",
                                   "speed-up", "stack"], disable_numparse=True))
    starts: list[list] = []
    if use_docker:
        print("\n# docker backend: start (until every listener passed a readiness handshake) and removal\n")
        starts = docker_start_costs(args.docker_listeners)
        print(tabulate(starts, headers=["server", "layout", "start → ready", "remove"], disable_numparse=True))
    print("\n# scenarios/curves.toml, warm (probes built, certificates cached)\n")
    walls = curves_wall_time(args.curves_runs, ("process", "docker") if use_docker else ("process",))
    print(tabulate(walls, headers=["backend", "", "wall time", "cells", "cells/s", "certs generated", "exit"],
                   disable_numparse=True))
    out = results_dir() / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"handshake_rates": rates, "docker_start": starts, "curves_warm": walls}, indent=2) + "\n")
    print(f"\n(wrote {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
