"""Orchestration: certificates → endpoints → batches of jobs per client → classified results."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .classify import classify, shorten
from .clients import CLIENTS
from .clients.session import ProbeSession
from .diagnose import diagnose_files, with_finding
from .endpoints.base import ListenerSpec
from .endpoints.process import ProcessEndpoint
from .jsonproc import ProcessError
from .kubeconfig import KubeconfigError, write_endpoint_kubeconfig
from .model import Cell, Job, Outcome, Result, StackInfo
from .pki import CertificateCache, ChainFiles
from .reaper import owned_prefix, reap
from .reaper import wait as wait_for_reaper
from .servers import SERVERS
from .stacks import Stack

DEFAULT_TIMEOUT_MS = 10_000
BACKENDS = ("process", "docker")


class HarnessError(Exception):
    """Something that stops the whole run (exit status 2)."""


@dataclass
class RunOptions:
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    backend: str = "process"
    retry_timeouts: bool = True  # a timed-out cell is tried once more before it counts
    shard: str | None = None
    clients: dict[str, Stack] = field(default_factory=lambda: dict(CLIENTS))
    servers: dict[str, Stack] = field(default_factory=lambda: dict(SERVERS))
    progress: Callable[[Result, int, int], None] | None = None
    #: where the kubeconfig files of Kubernetes API endpoints go (None: a temporary directory)
    kubeconfig_dir: Path | None = None


@dataclass
class RunReport:
    results: list[Result]
    clients: dict[str, dict]
    servers: dict[str, dict]
    started: str
    duration_s: float
    certificates_generated: int
    chains: dict[str, dict]
    backend: str = "process"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    shard: str | None = None

    def to_json(self) -> dict:
        """The results document (schema: docs/results.schema.json, harness/schema.py)."""
        from .schema import SCHEMA_VERSION

        commit, dirty = _git_state()
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "tlsmatrix", "version": __version__},
            "run": {
                "started": self.started,
                "duration_s": round(self.duration_s, 3),
                "backend": self.backend,
                "timeout_ms": self.timeout_ms,
                "git_commit": commit,
                "git_dirty": dirty,
                "shard": self.shard,
                "certificates_generated": self.certificates_generated,
                # no hostname: results are attached to public bug reports
                "machine": {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count()},
            },
            "note": "All certificates and keys in this run are tlsmatrix TEST keys; never trust them.",
            "clients": self.clients,
            "servers": self.servers,
            "chains": self.chains,
            "results": [r.to_json() for r in self.results],
            "scenarios": [],
        }


def _diagnose_chains(chain_files: dict[str, ChainFiles], servername: str | None) -> dict[str, list]:
    """Each chain's findings. This runs after every handshake: a failure here must not cost the
    run's results, so it is reported and that chain's findings stay empty."""
    out: dict[str, list] = {}
    for fp, f in chain_files.items():
        try:
            out[fp] = diagnose_files(f.ca_file, f.cert_file, servername)
        except Exception as exc:  # noqa: BLE001 - the measured cells matter more than their diagnosis
            print(f"tlsmatrix: warning: chain {f.spec.label}: diagnosis failed ({type(exc).__name__}: {exc}); "
                  "the results are kept without it", file=sys.stderr)
            out[fp] = []
    return out


def _cache_relative(directory: Path, cache_root: Path) -> str:
    """A chain's directory relative to the certificate cache (``chains/<id>``): the results name no
    absolute path of this machine; `tlsmatrix bundle --pki-cache` finds the files again."""
    try:
        return Path(directory).resolve().relative_to(Path(cache_root).resolve()).as_posix()
    except ValueError:
        return Path(directory).name


def _git_state() -> tuple[str | None, bool | None]:
    """The checkout's commit and whether it has local changes (None outside a git checkout)."""
    import subprocess

    from .toolchain import project_root

    try:
        head = subprocess.run(["git", "-C", str(project_root()), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(project_root()), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, None


@dataclass
class Endpoints:
    """The running server stacks of a run: one endpoint per stack, one listener per (chain, TLS, app)."""

    endpoints: dict[str, Any]  # server stack → running endpoint
    listener_of: dict[tuple[str, str, str | None, str | None], str]  # (server, chain fp, tls, app) → listener id
    skipped: dict[str, str]  # server stack → why it is not running
    info: dict[str, dict]  # server stack → what the results document says about it

    def listener(self, cell: Cell) -> Any:
        return self.endpoints[cell.server].listeners[
            self.listener_of[(cell.server, cell.chain.fingerprint, cell.tls, cell.app)]]


def start_endpoints(cells: list[Cell], chain_files: dict[str, ChainFiles], cache: CertificateCache,
                    options: RunOptions, stack: contextlib.ExitStack) -> Endpoints:
    """Start every server stack the cells need (in parallel); ``stack`` stops them again."""
    servers_info: dict[str, dict] = {}
    listener_of: dict[tuple[str, str, str | None, str | None], str] = {}
    specs_by_server: dict[str, list[ListenerSpec]] = defaultdict(list)
    for cell in cells:
        key = (cell.server, cell.chain.fingerprint, cell.tls, cell.app)
        if key not in listener_of:
            lid = f"L{len(listener_of)}"
            listener_of[key] = lid
            specs_by_server[cell.server].append(
                ListenerSpec(lid, chain_files[cell.chain.fingerprint], cell.tls, cell.app))
    endpoints: dict[str, Any] = {}
    server_skip: dict[str, str] = {}
    starters: dict[str, threading.Thread] = {}
    start_errors: dict[str, BaseException] = {}
    docker_run = None
    if options.backend == "docker" and specs_by_server:
        from .endpoints.docker import DockerRun
        from .images import IMAGES, DockerUnavailable

        try:
            docker_run = DockerRun(cache.root)
        except DockerUnavailable as exc:
            raise HarnessError(str(exc)) from None
        stack.callback(docker_run.close)

    for name, specs in specs_by_server.items():
        if docker_run is not None:
            from .endpoints.docker import DockerEndpoint

            if name not in IMAGES:
                why = f"no image for server stack {name!r} (images: {', '.join(IMAGES)})"
                server_skip[name] = why
                servers_info[name] = {"available": False, "reason": why}
                continue
            endpoint: Any = DockerEndpoint(name, specs, docker_run)
        else:
            server = options.servers[name]
            why = server.unavailable_reason()
            if why:
                server_skip[name] = why
                servers_info[name] = {"available": False, "reason": why}
                continue
            endpoint = ProcessEndpoint(server, specs)
        stack.callback(endpoint.close)
        endpoints[name] = endpoint

        def start(ep: Any = endpoint, n: str = name) -> None:
            try:
                ep._start()
            except BaseException as exc:  # reported below, in the main thread
                start_errors[n] = exc

        starters[name] = threading.Thread(target=start, daemon=True)
        starters[name].start()
    for name, thread in starters.items():
        while thread.is_alive():
            thread.join(0.2)  # short joins keep Ctrl-C responsive
    for name, exc in start_errors.items():
        raise HarnessError(str(exc)) from exc
    for name, ep in endpoints.items():
        info = ep.info or StackInfo(name, "?")
        servers_info[name] = {"available": True, **info.to_json(), "backend": options.backend,
                              "listener_errors": sum(1 for l in ep.listeners.values() if l.error)}
        if getattr(ep, "image_tag", None):
            servers_info[name]["image"] = ep.image_tag
            servers_info[name]["image_id"] = ep.image_id
    return Endpoints(endpoints, listener_of, server_skip, servers_info)


def run_cells(cells: list[Cell], cache: CertificateCache, options: RunOptions | None = None) -> RunReport:
    options = options or RunOptions()
    if options.backend not in BACKENDS:
        raise HarnessError(f"unknown backend {options.backend!r} (known: {', '.join(BACKENDS)})")
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    generated_before = cache.generated

    for cell in cells:
        if cell.client not in options.clients:
            raise HarnessError(f"unknown client stack {cell.client!r} (known: {', '.join(options.clients)})")
        if cell.server not in options.servers:
            raise HarnessError(f"unknown server stack {cell.server!r} (known: {', '.join(options.servers)})")

    # what runs killed earlier (kill -9) left behind; a docker run sweeps containers when it starts
    reap([cache.root / "tmp"], containers=options.backend != "docker")
    # 1. certificates (cached by spec)
    chain_files: dict[str, ChainFiles] = {}
    for cell in cells:
        key = cell.chain.fingerprint
        if key not in chain_files:
            chain_files[key] = cache.chain(cell.chain)

    results: dict[str, Result] = {}
    total = len(cells)
    lock = threading.Lock()

    def record(result: Result) -> None:
        with lock:
            results[result.cell.id] = result
            if options.progress:
                options.progress(result, len(results), total)

    servers_info: dict[str, dict] = {}
    clients_info: dict[str, dict] = {}

    with contextlib.ExitStack() as stack:
        # 2. endpoints: one process per server stack, one listener per (chain, TLS version)
        running = start_endpoints(cells, chain_files, cache, options, stack)
        endpoints, server_skip = running.endpoints, running.skipped
        servers_info.update(running.info)

        # 3. jobs per client; cells the server cannot serve are decided here
        jobs_by_client: dict[str, list[tuple[Cell, Job]]] = defaultdict(list)
        kubeconfigs: dict[tuple[str, str], str] = {}  # (listener id, servername) → file
        kube_dir = options.kubeconfig_dir
        if kube_dir is None and any(c.app == "kubernetes" for c in cells):
            kube_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=owned_prefix("kubeconfig"))))

        def kubeconfig_for(cell: Cell, listener: Any, files: ChainFiles) -> str:
            key = (listener.spec.id, cell.servername)
            if key not in kubeconfigs:
                note = (f"server {cell.server}, chain {cell.chain.label}, TLS {cell.tls or 'any'}; written by "
                        f"`tlsmatrix matrix` at {started}: the port was open during that run only "
                        "(`tlsmatrix serve` starts the endpoint again)")
                try:
                    kubeconfigs[key] = str(write_endpoint_kubeconfig(kube_dir, cell, listener.host, int(listener.port),
                                                                     files, note, set(kubeconfigs.values())))
                except KubeconfigError as exc:
                    raise HarnessError(str(exc)) from None
            return kubeconfigs[key]

        for n, cell in enumerate(cells):
            if cell.server in server_skip:
                record(Result(cell, Outcome.SKIPPED, error=f"server stack {cell.server}: {server_skip[cell.server]}",
                              short_error=f"server {cell.server} not available"))
                continue
            ep = endpoints[cell.server]
            listener = running.listener(cell)
            server_version = ep.info.describe() if ep.info else None
            if listener.error:
                record(Result(cell, Outcome.SERVER_ERROR, error=f"server {cell.server}: {listener.error}",
                              short_error="server: " + shorten(options.servers[cell.server].family, listener.error, 30),
                              server_version=server_version))
                continue
            files = chain_files[cell.chain.fingerprint]
            client_stack = options.clients[cell.client]
            if files.client_cert_file is not None and not client_stack.client_auth:
                record(Result(cell, Outcome.SKIPPED,
                              error=f"client stack {cell.client}: its probe presents no client certificate "
                                    f"(mTLS); stacks that do: {', '.join(n for n, s in options.clients.items() if s.client_auth)}",
                              short_error="no client certificate support"))
                continue
            job = Job(id=str(n), host=listener.host, port=int(listener.port), servername=cell.servername,
                      ca_file=str(files.ca_file), tls_version=cell.tls, timeout_ms=options.timeout_ms,
                      client_cert_file=str(files.client_cert_file) if files.client_cert_file else None,
                      client_key_file=str(files.client_key_file) if files.client_key_file else None,
                      kubeconfig=kubeconfig_for(cell, listener, files) if cell.app == "kubernetes" else None)
            jobs_by_client[cell.client].append((cell, job))

        # 4. one long-lived probe per client stack, all clients in parallel
        def drive(client_name: str, batch: list[tuple[Cell, Job]]) -> None:
            client = options.clients[client_name]
            why = client.unavailable_reason()
            if why:
                clients_info[client_name] = {"available": False, "reason": why}
                for cell, _ in batch:
                    record(Result(cell, Outcome.SKIPPED, error=f"client stack {client_name}: {why}",
                                  short_error="not available"))
                return
            session = ProbeSession(client)
            try:
                try:
                    info = session.start()
                except ProcessError as exc:
                    clients_info[client_name] = {"available": False, "reason": f"probe failed to start: {exc}"}
                    for cell, _ in batch:
                        record(Result(cell, Outcome.PROBE_ERROR, error=f"probe: {exc.short}", error_detail=str(exc),
                                      short_error="probe failed to start"))
                    return
                clients_info[client_name] = {"available": True, **info.to_json()}
                for cell, job in batch:
                    raw = session.run(job)
                    c = classify(client.family, raw, client_cert=job.client_cert_file is not None)
                    attempts = 1
                    if c.outcome is Outcome.TIMEOUT and options.retry_timeouts:
                        # a noisy runner should not page anyone: one more try before a timeout counts
                        raw = session.run(job)
                        c = classify(client.family, raw, client_cert=job.client_cert_file is not None)
                        attempts = 2
                    ep = endpoints[cell.server]
                    record(Result(
                        cell, c.outcome, error=raw.error, short_error=c.short, error_detail=raw.error_detail,
                        negotiated=raw.negotiated, elapsed_ms=raw.elapsed_ms,
                        client_version=(session.info or info).describe(),
                        server_version=ep.info.describe() if ep.info else None,
                        attempts=attempts,
                    ))
                clients_info[client_name]["restarts"] = session.restarts
            finally:
                session.close()

        workers = [threading.Thread(target=drive, args=(name, batch), daemon=True, name=f"client-{name}")
                   for name, batch in jobs_by_client.items()]
        for w in workers:
            w.start()
        for w in workers:
            while w.is_alive():
                w.join(0.2)  # short joins keep Ctrl-C responsive in the main thread

    wait_for_reaper()  # its docker socket is closed before the run ends
    ordered = [results[c.id] for c in cells if c.id in results]
    if len(ordered) != len(cells):
        missing = [c.id for c in cells if c.id not in results]
        raise HarnessError(f"internal error: {len(missing)} cells got no result, e.g. {missing[:3]}")
    servername = cells[0].servername if cells else None
    diagnoses = _diagnose_chains(chain_files, servername)
    ordered = [with_finding(r, diagnoses[r.cell.chain.fingerprint]) for r in ordered]
    chains_info = {
        f.spec.label: {"fingerprint": f.spec.fingerprint, "leaf_sha256": f.leaf_sha256, "root_sha256": f.root_sha256,
                       "dir": _cache_relative(f.cert_file.parent, cache.root),
                       **({"client_sha256": f.client_sha256} if f.client_cert_file else {}),
                       "diagnosis": [d.to_json() for d in diagnoses[f.spec.fingerprint]]}
        for f in chain_files.values()
    }
    for name in {c.client for c in cells}:
        clients_info.setdefault(name, {"available": None, "reason": "no job reached this client"})
    return RunReport(
        results=ordered,
        clients=clients_info,
        servers=servers_info,
        started=started,
        duration_s=time.monotonic() - t0,
        certificates_generated=cache.generated - generated_before,
        chains=chains_info,
        backend=options.backend,
        timeout_ms=options.timeout_ms,
        shard=options.shard,
    )
