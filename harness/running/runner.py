"""Orchestration: certificates → endpoints → batches of jobs per client → classified results.

``run_cells`` runs a matrix and returns its complete results document; ``serving`` starts the
endpoints of some (chain, server, TLS version) targets without any client (``tlsmatrix.serve``). Both
own their cleanup: whatever they started is stopped when they return or raise, Ctrl-C included.
"""
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
from typing import Any, Callable, Iterable, Iterator, Protocol

from ..model import __version__
from ..stacks.classify import shorten
from ..model.document import (BACKENDS, SCHEMA_VERSION, TEST_KEYS_NOTE, CellRecord, ChainInfo, Machine,
    ResultsDocument, RunInfo, ScenarioInfo, StackEntry, Tool)
from ..stacks.clients import CLIENTS, VERSIONED_CLIENTS
from ..stacks.clients.containers import NETWORK_ENV
from ..certs.diagnose import diagnose_files, with_finding
from .drive import UNAVAILABLE, ClientDriver, Handshake
from .endpoints.base import ListenerSpec
from .endpoints.process import ProcessEndpoint
from ..model.errors import HarnessError
from ..certs.kubeconfig import KubeconfigError, write_endpoint_kubeconfig
from ..model.core import Cell, ChainSpec, Job, Outcome, Result, StackInfo
from ..model.groups import UNSUPPORTED_GROUP, group_fields, key_shares, label
from ..certs.given import cached_given
from ..certs.pki import CertificateCache, ChainFiles
from ..model.owner import owned_prefix
from .reaper import reap
from .reaper import wait as wait_for_reaper
from ..stacks.replay import REPLAY_SERVER, without_key
from ..stacks.servers import SERVERS
from ..stacks import Stack

DEFAULT_TIMEOUT_MS = 10_000

__all__ = ["HarnessError", "RunOptions", "RunReport", "EndpointTarget", "Endpoints", "run_cells", "serving",
           "start_endpoints", "expand_cells", "DEFAULT_TIMEOUT_MS", "BACKENDS"]


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
        """The results document (schema: docs/results.schema.json, generated from tlsmatrix.model.document)."""
        return self.document.to_json()


def build_document(results: list[Result], *, clients: dict[str, StackEntry], servers: dict[str, StackEntry],
                   chains: dict[str, ChainInfo], scenarios: list[ScenarioInfo], started: str, duration_s: float,
                   certificates_generated: int, backend: str = "process", timeout_ms: int = DEFAULT_TIMEOUT_MS,
                   shard: str | None = None, cpu_s: float | None = None) -> ResultsDocument:
    """The results document of a run; every scenario of a cell is listed (by name at least)."""
    commit, dirty = _git_state()
    listed = {s.name for s in scenarios}
    missing = [ScenarioInfo(name=n) for n in dict.fromkeys(r.cell.scenario for r in results) if n not in listed]
    run = RunInfo(started=started, duration_s=round(duration_s, 3), backend=backend, timeout_ms=timeout_ms,
                  git_commit=commit, git_dirty=dirty, shard=shard, certificates_generated=certificates_generated,
                  cpu_s=round(cpu_s, 2) if cpu_s is not None else None,
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

    from ..model.paths import project_root

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


class Target(Protocol):
    """What a listener serves: a chain, from a server stack, on a TLS version (None: any), speaking an
    app after the handshake. A :class:`~tlsmatrix.model.Cell` is one; so is an :class:`EndpointTarget`."""

    server: str
    chain: ChainSpec
    tls: str | None
    app: str | None
    server_groups: tuple[str, ...] | None


@dataclass(frozen=True)
class EndpointTarget:
    """A listener to start without any client (``tlsmatrix.serve``, the ``tls_endpoint`` fixture)."""

    server: str
    chain: ChainSpec
    tls: str | None = None
    app: str | None = None
    servername: str = "localhost"
    server_groups: tuple[str, ...] | None = None


def _listener_key(target: Target) -> tuple:
    return (target.server, target.chain.fingerprint, target.tls, target.app, target.server_groups)


@dataclass
class Endpoints:
    """The running server stacks of a run: one endpoint per stack, one listener per (chain, TLS, app)."""

    endpoints: dict[str, Any]  # server stack → running endpoint (tlsmatrix.running.endpoints.base.Endpoint)
    listener_of: dict[tuple, str]  # (server, chain fp, tls, app, groups) → listener id
    skipped: dict[str, str]  # server stack → why it is not running
    info: dict[str, StackEntry]  # server stack → what the results document says about it
    files: dict[str, ChainFiles] = field(default_factory=dict)  # chain fingerprint → its certificate files
    network: str | None = None  # docker backend: the run's internal network (harness/running/endpoints/docker.py)

    def listener(self, target: Target) -> Any:
        return self.endpoints[target.server].listeners[self.listener_of[_listener_key(target)]]

    def address(self, target: Target, client: Stack) -> tuple[str, int]:
        """Where ``client`` connects: a versioned client container reaches a server container over the
        run's internal network, everything else the listener's loopback port."""
        listener = self.listener(target)
        if listener.internal is not None and client.name in VERSIONED_CLIENTS:
            _, host, port = listener.internal
            return host, port
        return listener.host, int(listener.port)

    def probe_env(self) -> dict[str, str] | None:
        """What the versioned clients' relay needs to join the run's internal network."""
        return {NETWORK_ENV: self.network} if self.network else None


def certificates(targets: Iterable[Target], cache: CertificateCache) -> dict[str, ChainFiles]:
    """Every chain the targets serve, made (or found in the cache) once: chain fingerprint → files."""
    files: dict[str, ChainFiles] = {}
    for target in targets:
        chain = target.chain
        if chain.fingerprint not in files:
            files[chain.fingerprint] = cached_given(chain, cache) if chain.given else cache.chain(chain)
    return files


@contextlib.contextmanager
def serving(targets: list[Target], cache: CertificateCache, options: RunOptions | None = None) -> Iterator[Endpoints]:
    """The endpoints of ``targets``, running; stopped when the block ends (or raises)."""
    options = options or RunOptions()
    _check_backend(options)
    reap([cache.root / "tmp"], containers=options.backend != "docker")  # what killed runs left
    files = certificates(targets, cache)
    with contextlib.ExitStack() as stack:
        yield start_endpoints(targets, files, cache, options, stack)
    wait_for_reaper()


def start_endpoints(targets: Iterable[Target], chain_files: dict[str, ChainFiles], cache: CertificateCache,
                    options: RunOptions, stack: contextlib.ExitStack) -> Endpoints:
    """Start every server stack the targets need (in parallel); ``stack`` stops them again."""
    listener_of: dict[tuple, str] = {}
    specs_by_server: dict[str, list[ListenerSpec]] = defaultdict(list)
    for target in targets:
        key = _listener_key(target)
        if key not in listener_of and unservable(target.chain, target.server) is None:
            listener_of[key] = lid = f"L{len(listener_of)}"
            specs_by_server[target.server].append(ListenerSpec(
                lid, chain_files[target.chain.fingerprint], target.tls, target.app,
                replay=target.chain.given is not None and target.server == REPLAY_SERVER,
                groups=target.server_groups))
    running = Endpoints({}, listener_of, {}, {}, chain_files)
    docker_run = _docker_run(cache, stack) if options.backend == "docker" and specs_by_server else None
    running.network = docker_run.network_name if docker_run is not None else None
    for name, specs in specs_by_server.items():
        endpoint, why = _endpoint(name, specs, options, docker_run)
        if why is not None:
            running.skipped[name] = why
            running.info[name] = StackEntry(available=False, reason=why)
            continue
        stack.callback(endpoint.close)  # registered before it starts: a Ctrl-C during the start stops it too
        running.endpoints[name] = endpoint
    _start_all(running.endpoints)
    for name, ep in running.endpoints.items():
        tag = getattr(ep, "image_tag", None)  # docker endpoints only
        running.info[name] = StackEntry(available=True, info=ep.info or StackInfo(name, "?"), backend=options.backend,
                                        listener_errors=sum(1 for l in ep.listeners.values() if l.error),
                                        image=tag or None, image_id=ep.image_id if tag else None)
    return running


def _docker_run(cache: CertificateCache, stack: contextlib.ExitStack) -> Any:
    from .endpoints.docker import DockerRun
    from ..stacks.engine import DockerUnavailable

    try:
        docker_run = DockerRun(cache.root)
    except DockerUnavailable as exc:
        raise HarnessError(str(exc)) from None
    stack.callback(docker_run.close)
    return docker_run


def _endpoint(name: str, specs: list[ListenerSpec], options: RunOptions, docker_run: Any) -> tuple[Any, str | None]:
    """The (not yet started) endpoint of a server stack, or why it cannot run here."""
    if docker_run is not None:
        from .endpoints.docker import DockerEndpoint
        from ..stacks.images import IMAGES

        if name not in IMAGES:
            return None, f"no image for server stack {name!r} (images: {', '.join(IMAGES)})"
        return DockerEndpoint(name, specs, docker_run), None
    server = options.servers[name]
    why = server.unavailable_reason()
    return (None, why) if why else (ProcessEndpoint(server, specs), None)


def _start_all(endpoints: dict[str, Any]) -> None:
    """Start the endpoints in parallel; the first one that cannot start at all fails the run."""
    errors: dict[str, BaseException] = {}

    def start(ep: Any, name: str) -> None:
        try:
            ep.start()
        except BaseException as exc:  # reported below, in the main thread
            errors[name] = exc

    threads = [threading.Thread(target=start, args=(ep, name), daemon=True) for name, ep in endpoints.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # short joins keep Ctrl-C responsive
    for exc in errors.values():
        raise HarnessError(str(exc)) from exc


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
    t0, cpu0 = time.monotonic(), time.process_time()
    generated_before = cache.generated
    run = _Run(cells, options)
    # 1. certificates (cached by spec); 2. endpoints: one process per server stack, one listener per
    # (chain, TLS version); 3. jobs per client (cells the server cannot serve are decided here);
    # 4. one long-lived probe per client stack, all clients in parallel
    with serving(cells, cache, options) as running, contextlib.ExitStack() as stack:
        jobs = _plan_jobs(run, running, started, stack)
        run.drive(jobs, running)
    chain_files = running.files
    diagnoses = _diagnose_chains(chain_files, cells[0].servername if cells else None)
    results = _ordered(cells, run.results, diagnoses)
    document = build_document(
        results, clients=run.clients_info(), servers=_with_cpu(running), scenarios=infos, started=started,
        chains=_chains_info(chain_files, diagnoses, cache), duration_s=time.monotonic() - t0,
        cpu_s=time.process_time() - cpu0, certificates_generated=cache.generated - generated_before,
        backend=options.backend, timeout_ms=options.timeout_ms, shard=options.shard)
    return RunReport(results, document)


def _with_cpu(running: Endpoints) -> dict[str, StackEntry]:
    """The servers' entries with the CPU their programs used (known once they have stopped)."""
    entries = dict(running.info)
    for name, endpoint in running.endpoints.items():
        if endpoint.cpu_s is not None and name in entries:
            entries[name] = dataclasses.replace(entries[name], cpu_s=round(endpoint.cpu_s, 2))
    return entries


def _check_backend(options: RunOptions) -> None:
    if options.backend not in BACKENDS:
        raise HarnessError(f"unknown backend {options.backend!r} (known: {', '.join(BACKENDS)})")


def _check(cells: list[Cell], options: RunOptions) -> None:
    _check_backend(options)
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

    def drive(self, jobs: dict[str, list[tuple[Cell, Job]]], running: Endpoints) -> None:
        def record(client: str, cell: Any, h: Handshake) -> None:
            given = cell.chain.given
            if given is not None and given.key_file is None and h.not_run is None:
                h = _without_key(client, self.options.clients[client].family, h)
            self.record(_result(cell, client, h, running))

        driver = ClientDriver(self.options.clients, retry_timeouts=self.options.retry_timeouts,
                              probe_env=running.probe_env())
        self.clients.update(driver.run(jobs, record))


def _result(cell: Cell, client: str, h: Handshake, running: Endpoints) -> Result:
    """A client's answer as the cell's result."""
    if h.not_run == UNAVAILABLE:
        return Result(cell, Outcome.SKIPPED, error=f"client stack {client}: {h.error}", short_error=h.short_error)
    if h.not_run is not None:
        return Result(cell, h.outcome, error=h.error, error_detail=h.error_detail, short_error=h.short_error)
    ep = running.endpoints[cell.server]
    return Result(cell, h.outcome, error=h.error, short_error=h.short_error, error_detail=h.error_detail, code=h.code,
                  negotiated=h.negotiated, elapsed_ms=h.elapsed_ms,
                  client_version=h.info.describe() if h.info else None,
                  server_version=ep.info.describe() if ep.info else None, attempts=h.attempts)


def _without_key(client: str, family: str, h: Handshake) -> Handshake:
    """A client's answer to a chain served with a substitute key (harness/stacks/replay.py): a refused
    handshake signature is ``chain_ok`` (or ``skipped`` for a stack that says nothing of the chain)."""
    changed = without_key(client, family, h.outcome.value, h.error, h.error_detail)
    if not changed:
        return h
    error = changed.get("error", h.error)
    if "note" in changed:
        error = f"{error} ({changed['note']})"
    return dataclasses.replace(h, outcome=Outcome(changed["outcome"]), error=error, short_error=changed["short_error"])


def unservable(chain: ChainSpec, server: str) -> str | None:
    """Why ``server`` cannot serve ``chain`` at all (None: it can, or tries)."""
    if chain.given is not None and chain.given.key_file is None and server != REPLAY_SERVER:
        return (f"the chain {chain.label!r} comes without its server key: only the {REPLAY_SERVER} server presents "
                "a chain signed by a substitute key (key_file in the scenario serves it from every server)")
    return None


def _plan_jobs(run: _Run, running: Endpoints, started: str,
               stack: contextlib.ExitStack) -> dict[str, list[tuple[Cell, Job]]]:
    """The job of every cell that reaches a client, by client; the others are recorded here."""
    options = run.options
    jobs: dict[str, list[tuple[Cell, Job]]] = defaultdict(list)
    kube_dir = options.kubeconfig_dir
    if kube_dir is None and any(c.app == "kubernetes" for c in run.cells):
        kube_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=owned_prefix("kubeconfig"))))
    kubeconfigs = _Kubeconfigs(kube_dir, started)
    for n, cell in enumerate(run.cells):
        refused = _refused(cell, running, options)
        if refused is not None:
            run.record(refused)
            continue
        listener = running.listener(cell)
        host, port = running.address(cell, options.clients[cell.client])
        files = running.files[cell.chain.fingerprint]
        jobs[cell.client].append((cell, Job(
            id=str(n), host=host, port=port, servername=cell.servername,
            ca_file=str(files.ca_file), tls_version=cell.tls, timeout_ms=options.timeout_ms,
            client_cert_file=str(files.client_cert_file) if files.client_cert_file else None,
            client_key_file=str(files.client_key_file) if files.client_key_file else None,
            kubeconfig=kubeconfigs.file(cell, listener, files) if cell.app == "kubernetes" else None,
            **group_fields(cell.client_groups))))
    return jobs


def _refused(cell: Cell, running: Endpoints, options: RunOptions) -> Result | None:
    """The result of a cell that never reaches its client: no server, a chain the server cannot serve,
    or a client certificate the client cannot present."""
    why = unservable(cell.chain, cell.server)
    if why is not None:
        return Result(cell, Outcome.SKIPPED, error=f"server stack {cell.server}: {why}",
                      short_error="no server key: go server only")
    unable = _cannot_set_groups(cell, options)
    if unable is not None:
        return Result(cell, Outcome.SKIPPED, error=unable, short_error="cannot set groups")
    if cell.server in running.skipped:
        return Result(cell, Outcome.SKIPPED, error=f"server stack {cell.server}: {running.skipped[cell.server]}",
                      short_error=f"server {cell.server} not available")
    ep = running.endpoints[cell.server]
    listener = running.listener(cell)
    if listener.error and listener.error.startswith(UNSUPPORTED_GROUP):
        return Result(cell, Outcome.SKIPPED, error=f"server {cell.server}: {listener.error}",
                      short_error="server lacks a group", server_version=ep.info.describe() if ep.info else None)
    if listener.error:
        return Result(cell, Outcome.SERVER_ERROR, error=f"server {cell.server}: {listener.error}",
                      short_error="server: " + shorten(options.servers[cell.server].family, listener.error, 30),
                      server_version=ep.info.describe() if ep.info else None)
    mtls = running.files[cell.chain.fingerprint].client_cert_file is not None
    if mtls and not options.clients[cell.client].client_auth:
        able = ", ".join(n for n, s in options.clients.items() if s.client_auth)
        return Result(cell, Outcome.SKIPPED, error=f"client stack {cell.client}: its probe presents no client "
                                                   f"certificate (mTLS); stacks that do: {able}",
                      short_error="no client certificate support")
    return None


def _cannot_set_groups(cell: Cell, options: RunOptions) -> str | None:
    """Why a cell's group setting cannot be applied: its server's or client's program has no way to."""
    for role, name, setting in (("server", cell.server, cell.server_groups), ("client", cell.client, cell.client_groups)):
        stacks = options.servers if role == "server" else options.clients
        wants = (setting is not None, bool(key_shares(setting)))
        why = stacks[name].cannot_apply(*wants)
        if why:
            able = ", ".join(n for n, s in stacks.items() if not s.cannot_apply(*wants)) or "none"
            return f"{role} stack {name}: {why} ({label(setting)}); {role} stacks that can: {able}"
    return None


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
