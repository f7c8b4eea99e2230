"""Orchestration: certificates → endpoints → batches of jobs per client → classified results."""
from __future__ import annotations

import contextlib
import dataclasses
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
from .document import BACKENDS, SCHEMA_VERSION, TEST_KEYS_NOTE, CellRecord, ChainInfo, Machine, ResultsDocument, \
    RunInfo, ScenarioInfo, StackEntry, Tool
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
    """What ``run_cells`` returns: the classified results and the complete results document."""

    results: list[Result]
    document: ResultsDocument

    @property
    def clients(self) -> dict[str, StackEntry]:
        return self.document.clients

    @property
    def servers(self) -> dict[str, StackEntry]:
        return self.document.servers

    @property
    def duration_s(self) -> float:
        return self.document.run.duration_s or 0.0

    @property
    def certificates_generated(self) -> int:
        return self.document.run.certificates_generated or 0

    def to_json(self) -> dict:
        """The results document (schema: docs/results.schema.json, generated from harness.document)."""
        return self.document.to_json()


def build_document(results: list[Result], *, clients: dict[str, StackEntry], servers: dict[str, StackEntry],
                   chains: dict[str, ChainInfo], scenarios: list[ScenarioInfo], started: str, duration_s: float,
                   certificates_generated: int, backend: str = "process", timeout_ms: int = DEFAULT_TIMEOUT_MS,
                   shard: str | None = None) -> ResultsDocument:
    """The results document of a run; every scenario of a cell is listed (by name at least)."""
    commit, dirty = _git_state()
    listed = {s.name for s in scenarios}
    missing = [ScenarioInfo(name=n) for n in dict.fromkeys(r.cell.scenario for r in results) if n not in listed]
    run = RunInfo(started=started, duration_s=round(duration_s, 3), backend=backend, timeout_ms=timeout_ms,
                  git_commit=commit, git_dirty=dirty, shard=shard, certificates_generated=certificates_generated,
                  # no hostname: results are attached to public bug reports
                  machine=Machine(platform=platform.platform(), python=platform.python_version(), cpus=os.cpu_count()))
    return ResultsDocument(schema_version=SCHEMA_VERSION, tool=Tool(version=__version__), run=run,
                           note=TEST_KEYS_NOTE, clients=clients, servers=servers, chains=chains,
                           cells=[CellRecord.of(r) for r in results], scenarios=[*scenarios, *missing])


def expand_cells(scenarios: list[Any], clients: list[str] | None = None, servers: list[str] | None = None,
                 tls_versions: list[str] | None = None) -> list[Cell]:
    """Every cell of the scenarios, numbered in order (``index``: what --shard splits and merge restores)."""
    cells = [c for s in scenarios for c in s.cells(clients=clients, servers=servers, tls_versions=tls_versions)]
    return [dataclasses.replace(c, index=i) for i, c in enumerate(cells)]


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
    info: dict[str, StackEntry]  # server stack → what the results document says about it

    def listener(self, cell: Cell) -> Any:
        return self.endpoints[cell.server].listeners[
            self.listener_of[(cell.server, cell.chain.fingerprint, cell.tls, cell.app)]]


def start_endpoints(cells: list[Cell], chain_files: dict[str, ChainFiles], cache: CertificateCache,
                    options: RunOptions, stack: contextlib.ExitStack) -> Endpoints:
    """Start every server stack the cells need (in parallel); ``stack`` stops them again."""
    servers_info: dict[str, StackEntry] = {}
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
                servers_info[name] = StackEntry(available=False, reason=why)
                continue
            endpoint: Any = DockerEndpoint(name, specs, docker_run)
        else:
            server = options.servers[name]
            why = server.unavailable_reason()
            if why:
                server_skip[name] = why
                servers_info[name] = StackEntry(available=False, reason=why)
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
        tag = getattr(ep, "image_tag", None)  # docker endpoints only
        servers_info[name] = StackEntry(available=True, info=ep.info or StackInfo(name, "?"), backend=options.backend,
                                        listener_errors=sum(1 for l in ep.listeners.values() if l.error),
                                        image=tag or None, image_id=ep.image_id if tag else None)
    return Endpoints(endpoints, listener_of, server_skip, servers_info)


def run_cells(cells: list[Cell], cache: CertificateCache, options: RunOptions | None = None,
              scenarios: list[Any] | None = None) -> RunReport:
    """Run the cells; the report's document is complete (``scenarios``: the loaded scenarios the cells
    come from, for their titles, notes and file digests; without them they are listed by name)."""
    options = options or RunOptions()
    _check(cells, options)
    if len({c.index for c in cells}) < len(cells):  # not numbered by expand_cells: number them here
        cells = [dataclasses.replace(c, index=i) for i, c in enumerate(cells)]
    infos = [ScenarioInfo.of(s) for s in scenarios or []]  # the files as they were when the run started
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    generated_before = cache.generated
    # what runs killed earlier (kill -9) left behind; a docker run sweeps containers when it starts
    reap([cache.root / "tmp"], containers=options.backend != "docker")
    # 1. certificates (cached by spec)
    chain_files: dict[str, ChainFiles] = {}
    for cell in cells:
        if cell.chain.fingerprint not in chain_files:
            chain_files[cell.chain.fingerprint] = cache.chain(cell.chain)
    run = _Run(cells, options)
    with contextlib.ExitStack() as stack:
        # 2. endpoints: one process per server stack, one listener per (chain, TLS version)
        running = start_endpoints(cells, chain_files, cache, options, stack)
        # 3. jobs per client; cells the server cannot serve are decided here
        jobs = _plan_jobs(run, running, chain_files, started, stack)
        # 4. one long-lived probe per client stack, all clients in parallel
        run.drive_all(jobs, running)
    wait_for_reaper()  # its docker socket is closed before the run ends
    diagnoses = _diagnose_chains(chain_files, cells[0].servername if cells else None)
    results = _ordered(cells, run.results, diagnoses)
    document = build_document(
        results, clients=run.clients_info(), servers=running.info, chains=_chains_info(chain_files, diagnoses, cache),
        scenarios=infos, started=started, duration_s=time.monotonic() - t0,
        certificates_generated=cache.generated - generated_before, backend=options.backend,
        timeout_ms=options.timeout_ms, shard=options.shard)
    return RunReport(results, document)


def _check(cells: list[Cell], options: RunOptions) -> None:
    if options.backend not in BACKENDS:
        raise HarnessError(f"unknown backend {options.backend!r} (known: {', '.join(BACKENDS)})")
    for cell in cells:
        if cell.client not in options.clients:
            raise HarnessError(f"unknown client stack {cell.client!r} (known: {', '.join(options.clients)})")
        if cell.server not in options.servers:
            raise HarnessError(f"unknown server stack {cell.server!r} (known: {', '.join(options.servers)})")


class _Run:
    """The results of a run as they come in (from several client threads)."""

    def __init__(self, cells: list[Cell], options: RunOptions) -> None:
        self.cells, self.options = cells, options
        self.results: dict[str, Result] = {}
        self.clients: dict[str, StackEntry] = {}
        self.lock = threading.Lock()

    def record(self, result: Result) -> None:
        with self.lock:
            self.results[result.cell.id] = result
            if self.options.progress:
                self.options.progress(result, len(self.results), len(self.cells))

    def clients_info(self) -> dict[str, StackEntry]:
        for name in {c.client for c in self.cells}:
            self.clients.setdefault(name, StackEntry(available=None, reason="no job reached this client"))
        return self.clients

    def drive_all(self, jobs: dict[str, list[tuple[Cell, Job]]], running: Endpoints) -> None:
        workers = [threading.Thread(target=self.drive, args=(name, batch, running), daemon=True,
                                    name=f"client-{name}") for name, batch in jobs.items()]
        for w in workers:
            w.start()
        for w in workers:
            while w.is_alive():
                w.join(0.2)  # short joins keep Ctrl-C responsive in the main thread

    def drive(self, client_name: str, batch: list[tuple[Cell, Job]], running: Endpoints) -> None:
        """One long-lived probe runs the client's jobs in order."""
        client = self.options.clients[client_name]
        why = client.unavailable_reason()
        if why:
            self.clients[client_name] = StackEntry(available=False, reason=why)
            for cell, _ in batch:
                self.record(Result(cell, Outcome.SKIPPED, error=f"client stack {client_name}: {why}",
                                   short_error="not available"))
            return
        session = ProbeSession(client)
        try:
            try:
                info = session.start()
            except ProcessError as exc:
                self.clients[client_name] = StackEntry(available=False, reason=f"probe failed to start: {exc}")
                for cell, _ in batch:
                    self.record(Result(cell, Outcome.PROBE_ERROR, error=f"probe: {exc.short}", error_detail=str(exc),
                                       short_error="probe failed to start"))
                return
            for cell, job in batch:
                self.record(self.handshake(session, client, cell, job, running, info))
            self.clients[client_name] = StackEntry(available=True, info=info, restarts=session.restarts)
        finally:
            session.close()

    def handshake(self, session: ProbeSession, client: Stack, cell: Cell, job: Job, running: Endpoints,
                  info: StackInfo) -> Result:
        raw = session.run(job)
        c = classify(client.family, raw, client_cert=job.client_cert_file is not None)
        attempts = 1
        if c.outcome is Outcome.TIMEOUT and self.options.retry_timeouts:
            # a noisy runner should not page anyone: one more try before a timeout counts
            raw = session.run(job)
            c = classify(client.family, raw, client_cert=job.client_cert_file is not None)
            attempts = 2
        ep = running.endpoints[cell.server]
        return Result(cell, c.outcome, error=raw.error, short_error=c.short, error_detail=raw.error_detail,
                      negotiated=raw.negotiated, elapsed_ms=raw.elapsed_ms,
                      client_version=(session.info or info).describe(),
                      server_version=ep.info.describe() if ep.info else None, attempts=attempts)


def _plan_jobs(run: _Run, running: Endpoints, chain_files: dict[str, ChainFiles], started: str,
               stack: contextlib.ExitStack) -> dict[str, list[tuple[Cell, Job]]]:
    """The job of every cell that reaches a client, by client; the others are recorded here."""
    options = run.options
    jobs: dict[str, list[tuple[Cell, Job]]] = defaultdict(list)
    kube_dir = options.kubeconfig_dir
    if kube_dir is None and any(c.app == "kubernetes" for c in run.cells):
        kube_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=owned_prefix("kubeconfig"))))
    kubeconfigs = _Kubeconfigs(kube_dir, started)
    for n, cell in enumerate(run.cells):
        if cell.server in running.skipped:
            run.record(Result(cell, Outcome.SKIPPED, error=f"server stack {cell.server}: {running.skipped[cell.server]}",
                              short_error=f"server {cell.server} not available"))
            continue
        ep = running.endpoints[cell.server]
        listener = running.listener(cell)
        if listener.error:
            run.record(Result(cell, Outcome.SERVER_ERROR, error=f"server {cell.server}: {listener.error}",
                              short_error="server: " + shorten(options.servers[cell.server].family, listener.error, 30),
                              server_version=ep.info.describe() if ep.info else None))
            continue
        files = chain_files[cell.chain.fingerprint]
        if files.client_cert_file is not None and not options.clients[cell.client].client_auth:
            able = ", ".join(n for n, s in options.clients.items() if s.client_auth)
            run.record(Result(cell, Outcome.SKIPPED, error=f"client stack {cell.client}: its probe presents no client "
                                                           f"certificate (mTLS); stacks that do: {able}",
                              short_error="no client certificate support"))
            continue
        jobs[cell.client].append((cell, Job(
            id=str(n), host=listener.host, port=int(listener.port), servername=cell.servername,
            ca_file=str(files.ca_file), tls_version=cell.tls, timeout_ms=options.timeout_ms,
            client_cert_file=str(files.client_cert_file) if files.client_cert_file else None,
            client_key_file=str(files.client_key_file) if files.client_key_file else None,
            kubeconfig=kubeconfigs.file(cell, listener, files) if cell.app == "kubernetes" else None)))
    return jobs


class _Kubeconfigs:
    """One kubeconfig file per (listener, servername) of a Kubernetes API endpoint."""

    def __init__(self, directory: Path | None, started: str) -> None:
        self.directory, self.started = directory, started
        self.files: dict[tuple[str, str], str] = {}

    def file(self, cell: Cell, listener: Any, files: ChainFiles) -> str:
        key = (listener.spec.id, cell.servername)
        if key not in self.files:
            note = (f"server {cell.server}, chain {cell.chain.label}, TLS {cell.tls or 'any'}; written by "
                    f"`tlsmatrix matrix` at {self.started}: the port was open during that run only "
                    "(`tlsmatrix serve` starts the endpoint again)")
            try:
                self.files[key] = str(write_endpoint_kubeconfig(self.directory, cell, listener.host, int(listener.port),
                                                                files, note, set(self.files.values())))
            except KubeconfigError as exc:
                raise HarnessError(str(exc)) from None
        return self.files[key]


def _ordered(cells: list[Cell], results: dict[str, Result], diagnoses: dict[str, list]) -> list[Result]:
    """The results in cell order, each failing cell naming the diagnosis finding that explains it."""
    missing = [c.id for c in cells if c.id not in results]
    if missing:
        raise HarnessError(f"internal error: {len(missing)} cells got no result, e.g. {missing[:3]}")
    return [with_finding(results[c.id], diagnoses[c.chain.fingerprint]) for c in cells]


def _chains_info(chain_files: dict[str, ChainFiles], diagnoses: dict[str, list],
                 cache: CertificateCache) -> dict[str, ChainInfo]:
    return {f.spec.label: ChainInfo(fingerprint=f.spec.fingerprint, leaf_sha256=f.leaf_sha256,
                                    root_sha256=f.root_sha256, dir=_cache_relative(f.cert_file.parent, cache.root),
                                    client_sha256=f.client_sha256 if f.client_cert_file else None,
                                    diagnosis=diagnoses[f.spec.fingerprint])
            for f in chain_files.values()}
