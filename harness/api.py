"""The library: what ``tlsmatrix`` does, as functions (docs/library.md has examples).

- :func:`run` runs scenarios and returns their :class:`~tlsmatrix.model.document.ResultsDocument`;
- :func:`probe` runs client stacks against an endpoint of yours (your cluster's API server);
- :func:`replay` serves a chain from a bug report as given (no server key needed) to every client stack;
- :func:`serve` keeps a scenario's (or a chain's) endpoints up while a ``with`` block runs;
- :func:`diagnose_chain` names the chain properties that break TLS stacks;
- :func:`load_results` reads a results document back; :func:`chain` makes a chain spec.

Every error they raise on purpose derives from :class:`tlsmatrix.TlsmatrixError` and says in one line
what was wrong. Each call stops everything it started before it returns or raises (Ctrl-C included).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .model import __version__
from .stacks.clients import CLIENTS, TLS_CLIENTS
from .model.document import Finding
from .certs.diagnose import diagnose, fetch_chain, leaf_name
from .model.document import ResultsDocument, load_results
from .running.drive import START_FAILED, UNAVAILABLE, ClientDriver, Handshake
from .model.errors import HarnessError, TlsmatrixWarning, UsageError
from .model.core import Cell, CertSpec, ChainSpec, Job, KeySpec, Outcome, Result, parse_tls_version
from .model.groups import GroupError, group_fields, parse_groups
from .model.paths import write_atomic
from .output import write_run_files
from .certs.certread import pem_of, read_certificate_file
from .certs.pki import CertificateCache
from .model.owner import owned_prefix
from .running.reaper import reap
from .model.redact import Redactor
from .running.runner import (DEFAULT_TIMEOUT_MS, EndpointTarget, Endpoints, RunOptions, expand_cells, run_cells,
    serving, unservable)
from .running.scenarios import Scenario, chain_specs, load_scenario, servername_problem
from .stacks.servers import SERVERS
from .model.paths import pki_cache_dir, resolve_scenario, scenarios_dir
from .validate import (DEFAULT_MAX_CELLS, ca_file_without_key, check_cell_count, check_names, check_port,
    client_files, name_list, timeout_ms, writable_dir)

__all__ = ["run", "probe", "replay", "serve", "diagnose_chain", "load_results", "load_scenarios", "chain", "default_scenarios",
           "client_hellos",
           "select_cells", "Serving", "ServedEndpoint", "DEFAULT_TIMEOUT", "DEFAULT_MAX_CELLS", "ResultsDocument"]

#: seconds a handshake may take before it counts as ``timeout``
DEFAULT_TIMEOUT = DEFAULT_TIMEOUT_MS / 1000
ProgressCallback = Callable[[Result, int, int], None]
ScenarioArg = str | os.PathLike | Scenario


# --- scenarios ---------------------------------------------------------------------------------


def default_scenarios() -> list[Path]:
    """The scenario files tlsmatrix has: a checkout's or ``$TLSMATRIX_HOME``'s ``scenarios/``, else the shipped ones."""
    return sorted(scenarios_dir().glob("*.toml"))


def load_scenarios(scenarios: ScenarioArg | Iterable[ScenarioArg] | None = None,
                   allow_unmatched_expect: bool = False) -> list[Scenario]:
    """Scenario files (paths; ``scenarios/rustls-p521.toml`` or ``rustls-p521`` find the shipped ones from
    any directory) or loaded :class:`~tlsmatrix.running.scenarios.Scenario` s; None: :func:`default_scenarios`.
    Problems that do not stop a run are :class:`~tlsmatrix.model.errors.TlsmatrixWarning` s."""
    if scenarios is None:
        items: list[Any] = list(default_scenarios())
    elif isinstance(scenarios, (str, os.PathLike, Scenario)):
        items = [scenarios]
    else:
        items = list(scenarios)
    if not items:
        raise UsageError(f"no scenario files given and none found in {scenarios_dir()}")
    loaded = [s if isinstance(s, Scenario) else
              load_scenario(resolve_scenario(s), CLIENTS, SERVERS, allow_unmatched_expect) for s in items]
    for s in loaded:
        for warning in s.warnings:
            warnings.warn(warning, TlsmatrixWarning, stacklevel=3)
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise UsageError(f"two scenario files share a name: {names}")
    return loaded


def chain(root: str | dict = "P-256", leaf: str | dict = "P-256", intermediates: Sequence[str | dict] = (),
          client_cert: str | None = None, expired: bool = False, defect: str | None = None,
          name: str | None = None) -> ChainSpec:
    """A chain spec, as one ``[[chain]]`` table of a scenario says it (key types such as ``"P-521"``,
    ``"RSA-2048"``, ``"Ed25519"``, or ``{"key": "P-384", "hash": "SHA-512"}`` for a signer)."""
    table: dict[str, Any] = {"root": root, "leaf": leaf, "intermediates": list(intermediates), "expired": expired}
    for key, value in (("client_cert", client_cert), ("defect", defect), ("name", name)):
        if value is not None:
            table[key] = value
    specs = chain_specs(table)
    if len(specs) != 1:
        raise UsageError(f"chain(): one chain at a time, got {len(specs)} (lists are product axes in scenarios only)")
    return specs[0]


# --- run -----------------------------------------------------------------------------------------


def run(scenarios: ScenarioArg | Iterable[ScenarioArg] | None = None, clients: Sequence[str] | str | None = None,
        servers: Sequence[str] | str | None = None, tls: Sequence[str] | str | None = None, *,
        backend: str = "process", timeout: float = DEFAULT_TIMEOUT, output: str | os.PathLike | None = None,
        pki_cache: str | os.PathLike | None = None, progress: ProgressCallback | None = None,
        retry_timeouts: bool = True, shard: str | None = None, max_cells: int = DEFAULT_MAX_CELLS,
        allow_unmatched_expect: bool = False) -> ResultsDocument:
    """Run scenarios (``tlsmatrix matrix``) and return the results document.

    ``clients``/``servers``/``tls`` narrow the scenarios' axes (None: all of them). ``backend`` is
    ``"process"`` or ``"docker"``. With ``output`` the run writes ``results.json``, ``matrix.md`` and
    ``matrix.html`` there (and the kubeconfigs of Kubernetes endpoints in ``kubeconfig/``) and returns
    the document as written: local paths replaced by ``<pki>``, ``<run>``, ... Without ``output`` nothing
    is written but certificates (``pki_cache``, default ``$TLSMATRIX_PKI_CACHE`` or the user cache).
    ``progress(result, done, total)`` is called as cells finish (``tlsmatrix.running.progress.Progress`` draws a
    bar). ``shard="K/N"`` runs cell i when i mod N = K-1. Inputs are checked before any work starts."""
    loaded = load_scenarios(scenarios, allow_unmatched_expect)
    cells = select_cells(loaded, clients, servers, tls, shard, max_cells)
    job_timeout = timeout_ms(timeout)
    out_dir = writable_dir(output, "--output") if output is not None else None  # a bad path must not cost a run
    cache = CertificateCache(writable_dir(pki_cache or pki_cache_dir(), "--pki-cache"))
    _message(progress, f"tlsmatrix {__version__}: {len(cells)} cells from {len(loaded)} scenario(s)")
    kube_dir = None
    if out_dir is not None and any(c.app == "kubernetes" for c in cells):
        from .certs.kubeconfig import remove_kubeconfigs

        kube_dir = out_dir / "kubeconfig"  # what the Kubernetes clients of this run read
        remove_kubeconfigs(kube_dir)  # a previous run's files name ports that are gone
    options = RunOptions(timeout_ms=job_timeout, backend=backend, progress=progress, retry_timeouts=retry_timeouts,
                         shard=shard, kubeconfig_dir=kube_dir)
    document = run_cells(cells, cache, options, scenarios=loaded).document
    if out_dir is None:
        return document
    data = document.redacted(Redactor.for_run(out_dir, cache.root))  # nothing local in what users attach
    write_run_files(out_dir, data)
    return data


def select_cells(scenarios: list[Scenario], clients: Sequence[str] | str | None = None,
                 servers: Sequence[str] | str | None = None, tls: Sequence[str] | str | None = None,
                 shard: str | None = None, max_cells: int = DEFAULT_MAX_CELLS) -> list[Cell]:
    """The cells a run of these scenarios would run, numbered; checked names, count and shard."""
    from .report.merge import select_shard

    client_names = check_names(clients, CLIENTS, "client stack")
    server_names = check_names(servers, SERVERS, "server stack")
    versions = _tls_versions(tls)
    check_cell_count(scenarios, client_names, server_names, versions, shard, max_cells)
    cells = select_shard(expand_cells(scenarios, client_names, server_names, versions), shard)
    if not cells:
        raise UsageError("the selection leaves no cells to run (check --clients/--servers/--tls against the "
                         "scenarios' axes)")
    return cells


def _tls_versions(tls: Sequence[str] | str | None) -> list[str] | None:
    if tls is None:
        return None
    return [parse_tls_version(t) for t in (name_list(tls) if isinstance(tls, str) else tls)]


def _message(progress: Any, text: str) -> None:
    message = getattr(progress, "message", None)
    if message is not None:
        message(text)


# --- limbo ---------------------------------------------------------------------------------------


def limbo(corpus: str | os.PathLike, ids: Sequence[str] | str | None = None,
          clients: Sequence[str] | str | None = None, servers: Sequence[str] | str | None = None,
          tls: Sequence[str] | str | None = None, *, backend: str = "process", timeout: float = DEFAULT_TIMEOUT,
          output: str | os.PathLike | None = None, pki_cache: str | os.PathLike | None = None,
          divergences: Sequence[str | os.PathLike] = (), progress: ProgressCallback | None = None,
          max_cells: int = DEFAULT_MAX_CELLS) -> tuple[ResultsDocument, list[tuple[str, str]]]:
    """x509-limbo's SERVER testcases through real handshakes (``tlsmatrix limbo``): each expressible
    testcase served as given by the go server, every client column judging it. Returns the results
    document (a cell per testcase × server × TLS version × client; its expectation is limbo's verdict,
    or the other side of it where a ``divergences`` file lists the stack) and the testcases left out,
    with why. With ``output``: results.json, matrix.md, matrix.html and limbo.md there."""
    from .running.limbo import (cells_of, expectations, load_divergences, not_expressed, read_corpus, select,
                                servername, write_case)

    cases, version = read_corpus(corpus)
    known = [d for path in divergences for d in load_divergences(path)]
    chosen = select(cases, name_list(ids) if isinstance(ids, str) else ids)
    if not chosen:
        raise UsageError(f"--ids {ids}: matches no testcase of {corpus}")
    client_names = check_names(clients, CLIENTS, "client stack") or [c for c in TLS_CLIENTS if "@" not in c]
    server_names = check_names(servers, SERVERS, "server stack") or ["go"]
    versions = _tls_versions(tls) or [None]
    out_dir = writable_dir(output, "--output") if output is not None else None
    cache = CertificateCache(writable_dir(pki_cache or pki_cache_dir(), "--pki-cache"))
    now = dt.datetime.now(dt.timezone.utc)
    left_out = [(c.id, why) for c in chosen if (why := not_expressed(c, now) or _no_name(c)) is not None]
    expressed = [c for c in chosen if c.id not in dict(left_out)]
    if len(expressed) * len(client_names) * len(server_names) * len(versions) > max_cells:
        raise UsageError(f"{len(expressed)} testcases × {len(client_names)} clients × {len(server_names)} servers × "
                         f"{len(versions)} TLS versions exceed --max-cells {max_cells}")
    with tempfile.TemporaryDirectory(prefix=owned_prefix("limbo")) as work:
        specs = [(c, write_case(c, Path(work), Path(corpus).name), servername(c)) for c in expressed]
        cells = cells_of(specs, server_names, versions, client_names, expectations(known))
        options = RunOptions(timeout_ms=timeout_ms(timeout), backend=backend, progress=progress)
        source = _Corpus(path=Path(corpus), notes=f"{version}; {len(expressed)} expressed as handshakes, "
                                                  f"{len(left_out)} not (limbo.md lists them)")
        document = run_cells(cells, cache, options, scenarios=[source]).document
    if out_dir is None:
        return document, left_out
    data = document.redacted(Redactor.for_run(out_dir, cache.root))
    write_run_files(out_dir, data)
    from .report.limbo import render_markdown

    write_atomic(out_dir / "limbo.md", render_markdown(data, left_out))
    return data, left_out


def _no_name(case) -> str | None:
    from .running.limbo import servername

    return None if servername(case) else "no peer name, and the leaf names none a client could check"


@dataclass(frozen=True)
class _Corpus:
    """A limbo corpus as the results document names its source (in place of a scenario file)."""

    path: Path
    notes: str
    name: str = "limbo"
    title: str = "x509-limbo through real handshakes"


# --- probe ---------------------------------------------------------------------------------------


def probe(host: str | None = None, port: int | None = None, ca_file: str | os.PathLike | None = None,
          clients: Sequence[str] | str | None = None, servername: str | None = None, tls: str | None = None,
          client_cert: str | os.PathLike | None = None, client_key: str | os.PathLike | None = None,
          timeout: float = DEFAULT_TIMEOUT, save_chain: str | os.PathLike | None = None,
          kubeconfig: str | os.PathLike | None = None, context: str | None = None,
          groups: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Run client stacks (default: every plain-TLS one) against ``host:port``, trusting only ``ca_file``.

    Returns ``{"target", "servername", "ca_file", "tls", "client_cert_file", "timeout_ms", "tool",
    "results": [{"client", "outcome", "error", "code", "short_error", "version", "negotiated", "elapsed_ms",
    "finding", ...}], "diagnosis": [...]}``: handshake failures are results, not errors; ``diagnosis``
    (None when the server sent no chain) names what in the chain breaks which stacks, and each failing
    result names the ``finding`` that breaks its stack; ``save_chain`` writes that chain (PEM, as sent)
    for :func:`replay`. Kubernetes clients (named in ``clients``) list pods through a kubeconfig; with
    ``client_cert``/``client_key`` stacks that can present a client certificate do, the others are
    ``skipped``. ``kubeconfig`` (and ``context``) supplies what is not given: the server, its CA, the
    server name, the client certificate and key, and the token the Kubernetes clients send; its
    credentials stay in private temporary files and appear in no output. ``groups`` ("X25519MLKEM768:x25519")
    are the key-exchange groups every client offers; a client that cannot is ``skipped``."""
    with contextlib.ExitStack() as stack:
        kube = _kube_target(kubeconfig, context, stack)
        target = _Target.of(host, port, ca_file, servername, client_cert, client_key, kube)
        names = check_names(clients, CLIENTS, "client stack") or list(TLS_CLIENTS)
        version = parse_tls_version(tls) if tls else None
        job = dataclasses.replace(target.job(version, timeout_ms(timeout)), **_groups_option(groups))
        results = _probe_clients(names, job, stack, kube.kubeconfig if kube else None)
        sent = _fetch_target(target.host, target.port, target.servername, job.timeout_ms / 1000, target.client_pair)
        if save_chain is not None and sent:
            write_atomic(Path(save_chain), pem_of(sent).decode("ascii"))
        findings = _safe_diagnosis(target.ca_certs, sent, target.servername) if sent else None
    for entry in results:
        entry["finding"] = _finding_for(findings, entry)
    return {"target": f"{target.host}:{target.port}", "servername": target.servername, "ca_file": target.shown_ca,
            "tls": version, "client_cert_file": target.shown_cert, "timeout_ms": job.timeout_ms,
            **(kube.describe() if kube else {}), "tool": {"name": "tlsmatrix", "version": __version__},
            "results": results, "diagnosis": [f.to_json() for f in findings] if findings is not None else None}


@dataclass(frozen=True)
class _Target:
    """Where `probe` goes, checked: from the arguments, or else from the kubeconfig's context."""

    host: str
    port: int
    servername: str
    ca: Path
    ca_certs: list  # what the CA file holds (read once: checked now, diagnosed later)
    cert: Path | None
    key: Path | None
    shown_ca: str  # what the output says (a kubeconfig's CA is a private temporary file)
    shown_cert: str | None

    @classmethod
    def of(cls, host, port, ca_file, servername, client_cert, client_key, kube) -> "_Target":
        if kube is not None:
            host, port = host or kube.host, port or kube.port
            servername = servername or kube.servername
            if not client_cert and kube.client_cert_file:
                client_cert, client_key = kube.client_cert_file, kube.client_key_file
        if host is None or port is None or ca_file is None and kube is None:
            raise UsageError("probe: give HOST:PORT and --ca, or --kubeconfig")
        ca = Path(ca_file) if ca_file is not None else kube.ca_file
        ca_certs = read_certificate_file(ca, "CA file")  # fail early, naming the file; malformed ones: the stacks'
        ca_file_without_key(ca)
        check_port(port, f"{host}:{port}")
        servername = host if servername is None else servername
        if servername_problem(servername):
            raise UsageError(f"--servername {servername!r}: {servername_problem(servername)}")
        cert, key = client_files(client_cert, client_key)
        from_kube = f"{kube.source} (context {kube.context})" if kube else None
        shown_cert = None if cert is None else from_kube if kube and cert == kube.client_cert_file else str(cert)
        return cls(host, port, servername, ca.resolve(), ca_certs, cert, key, str(ca_file) if ca_file else from_kube,
                   shown_cert)

    @property
    def client_pair(self) -> tuple[str, str] | None:
        return (str(self.cert), str(self.key)) if self.cert else None

    def job(self, version: str | None, timeout: int) -> Job:
        return Job(id="1", host=self.host, port=self.port, servername=self.servername, ca_file=str(self.ca),
                   tls_version=version, timeout_ms=timeout, client_cert_file=str(self.cert) if self.cert else None,
                   client_key_file=str(self.key) if self.key else None)


def _kube_target(kubeconfig: str | os.PathLike | None, context: str | None, stack: contextlib.ExitStack):
    """The kubeconfig's context, its credentials in a private directory removed with ``stack``."""
    if kubeconfig is None:
        if context is not None:
            raise UsageError("--context goes with --kubeconfig")
        return None
    from .certs.kubeconfig import KubeconfigError, read_kubeconfig

    reap()  # the owner in the name lets a later run remove it after a kill -9
    private = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=owned_prefix("kubeconfig"))))
    os.chmod(private, 0o700)
    try:
        return read_kubeconfig(kubeconfig, context, private)
    except KubeconfigError as exc:
        raise UsageError(str(exc)) from None


def _probe_clients(names: list[str], job: Job, stack: contextlib.ExitStack,
                   kubeconfig: Path | None = None) -> list[dict[str, Any]]:
    """One entry per client, in the order of ``names``: the runner's drive loop, one job per client.
    The Kubernetes clients load ``kubeconfig`` (else one written for the job)."""
    entries: dict[str, dict[str, Any]] = {}
    batches: dict[str, list[tuple[str, Job]]] = {}
    kubeconfig = str(kubeconfig) if kubeconfig else None
    for name in names:
        client = CLIENTS[name]
        cannot = client.cannot_apply(bool(job.groups), bool(job.key_shares))
        if cannot:
            why = client.unavailable_reason() or f"{cannot} (--groups)"
            entries[name] = _probe_entry(name, Handshake(Outcome.SKIPPED, error=why, short_error="cannot set groups",
                                                         not_run=UNAVAILABLE))
            continue
        if job.client_cert_file and not client.client_auth:
            why = client.unavailable_reason() or "its probe presents no client certificate (--client-cert)"
            entries[name] = _probe_entry(name, Handshake(Outcome.SKIPPED, error=why, short_error="not available",
                                                         not_run=UNAVAILABLE))
            continue
        if client.needs_app == "kubernetes" and kubeconfig is None:
            kubeconfig = _probe_kubeconfig(job, stack)
        batches[name] = [(name, dataclasses.replace(job, kubeconfig=kubeconfig) if client.needs_app == "kubernetes"
                          else job)]

    def record(client: str, key: Any, handshake: Handshake) -> None:
        entries[client] = _probe_entry(client, handshake)

    ClientDriver(CLIENTS, retry_timeouts=False).run(batches, record)
    return [entries[n] for n in names]


def client_hellos(clients: Sequence[str] | None = None, groups: str | Sequence[str] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """What each available client offers, measured from the ClientHello it sends to a listener of ours
    (harness/running/hellos.py): groups, key shares, the key types its signature schemes verify, TLS
    versions, the hello's size; by default, or told ``groups`` as ``--groups`` says them (a client that
    refuses them sends none: it is missing). Kubernetes clients (they need an API) are not measured."""
    from .running.hellos import measure_hellos

    names = check_names(clients, CLIENTS, "client stack") or list(CLIENTS)
    fields = _groups_option(groups)
    if fields:
        names = [n for n in names if not CLIENTS[n].cannot_apply(True, "key_shares" in fields)]
    ca = CertificateCache(pki_cache_dir()).chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256"))))
    return measure_hellos({n: CLIENTS[n] for n in names}, str(ca.ca_file), groups=fields)


def _groups_option(groups: str | Sequence[str] | None) -> dict[str, Any]:
    """``--groups`` as job fields (none: each stack's own list); a bad name is a usage error."""
    if groups is None:
        return {}
    try:
        return group_fields(parse_groups(list(groups) if not isinstance(groups, str) else groups, key_shares=True))
    except GroupError as exc:
        raise UsageError(f"--groups: {exc}") from None


def _probe_entry(name: str, h: Handshake) -> dict[str, Any]:
    entry: dict[str, Any] = {"client": name, "outcome": h.outcome.value, "error": h.error, "short_error": h.short_error,
                             "version": None, "negotiated": None, "elapsed_ms": None}
    if h.not_run == UNAVAILABLE:
        return entry
    if h.not_run == START_FAILED:
        entry.update(short_error=None, error_detail=h.error_detail)
        return entry
    entry.update(error_detail=h.error_detail, code=h.code, version=h.info.describe() if h.info else None,
                 stack=h.info.to_json() if h.info else None, negotiated=h.negotiated, elapsed_ms=h.elapsed_ms)
    return entry


def _probe_kubeconfig(job: Job, stack: contextlib.ExitStack) -> str:
    """What the Kubernetes clients read: the same server, CA, name and client certificate."""
    from .certs.kubeconfig import KubeconfigError, kubeconfig_document, write_kubeconfig

    reap()  # the owner in the name lets a later run remove it after a kill -9
    kube_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=owned_prefix("probe"))))
    try:
        return str(write_kubeconfig(
            kube_dir / "kubeconfig.yaml",
            kubeconfig_document(job.host, job.port, job.ca_file, job.servername, job.client_cert_file,
                                job.client_key_file),
            note=f"tlsmatrix probe {job.host}:{job.port}"))
    except KubeconfigError as exc:
        raise UsageError(str(exc)) from None


# --- replay ---------------------------------------------------------------------------------------


def replay(chain_file: str | os.PathLike, ca_file: str | os.PathLike | None = None,
           key_file: str | os.PathLike | None = None, clients: Sequence[str] | str | None = None,
           servername: str | None = None, tls: str | None = None, timeout: float = DEFAULT_TIMEOUT,
           kubeconfig: str | os.PathLike | None = None, context: str | None = None) -> dict[str, Any]:
    """Serve ``chain_file`` exactly as given (leaf first, byte for byte; malformed certificates too)
    and run client stacks against it, trusting only ``ca_file`` (``tlsmatrix replay``).

    Without ``key_file`` a TEST-ONLY substitute key of the leaf's type signs the handshake: a stack
    that accepts the chain then refuses that signature, and its cell is ``chain_ok`` (never ``ok``);
    certificate verdicts come out as themselves. ``servername`` defaults to the leaf's first DNS
    (or IP) name. With ``kubeconfig`` the CA file and the server name default to its context's.
    Returns the shape of :func:`probe` (``results``, ``diagnosis``) plus ``replay``."""
    with contextlib.ExitStack() as stack:
        kube = _kube_target(kubeconfig, context, stack)
        if kube is not None:
            ca_file, servername = ca_file or kube.ca_file, servername or kube.servername
        if ca_file is None:
            raise UsageError("replay: give --ca (or --kubeconfig)")
        doc = _replay(chain_file, ca_file, key_file, clients, servername, tls, timeout)
    if kube is not None:  # its CA was a private temporary file: name where it came from
        doc.update(ca_file=f"{kube.source} (context {kube.context})", **kube.describe())
    return doc


def _replay(chain_file, ca_file, key_file, clients, servername, tls, timeout) -> dict[str, Any]:
    from .running.endpoints.base import ListenerSpec
    from .running.endpoints.process import ProcessEndpoint
    from .certs.given import given_chain, write_given
    from .stacks.replay import REPLAY_SERVER, replay_entry

    ca_file_without_key(Path(ca_file))
    spec = given_chain(Path(chain_file), Path(ca_file), Path(key_file) if key_file is not None else None)
    chain = read_certificate_file(chain_file, "chain file")
    ca = read_certificate_file(ca_file, "CA file")
    names = check_names(clients, CLIENTS, "client stack") or list(TLS_CLIENTS)
    version = parse_tls_version(tls) if tls else None
    servername = servername or leaf_name(chain[0]) or "localhost"
    if servername_problem(servername):
        raise UsageError(f"--servername {servername!r}: {servername_problem(servername)}")
    server = SERVERS[REPLAY_SERVER]
    why = server.unavailable_reason()
    if why:
        raise HarnessError(f"replay needs the {REPLAY_SERVER} server stack: {why}")
    reap()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=owned_prefix("replay"))))
        files, signer = write_given(spec, work)
        endpoint = stack.enter_context(ProcessEndpoint(server, [ListenerSpec("replay", files, version, replay=True)]))
        listener = endpoint.listeners["replay"]
        if listener.port is None:
            raise HarnessError(f"the {REPLAY_SERVER} server cannot present this chain: {listener.error}")
        job = Job(id="1", host=listener.host, port=listener.port, servername=servername, ca_file=str(files.ca_file),
                  tls_version=version, timeout_ms=timeout_ms(timeout))
        results = _probe_clients(names, job, stack)
    for entry in results:
        replay_entry(entry, CLIENTS[entry["client"]].family, key_file is not None)
    findings = _safe_diagnosis(ca, chain, servername)
    for entry in results:
        entry["finding"] = _finding_for(findings, entry)
    return {"chain_file": str(chain_file), "ca_file": str(ca_file), "servername": servername, "tls": version,
            "timeout_ms": job.timeout_ms, "tool": {"name": "tlsmatrix", "version": __version__},
            "replay": {"server": REPLAY_SERVER, "server_version": endpoint.info.describe() if endpoint.info else None,
                       "certificates": len(chain), "signed_with": signer},
            "results": results, "diagnosis": [f.to_json() for f in findings] if findings is not None else None}


def _safe_diagnosis(ca: list, chain: list, servername: str) -> list[Finding] | None:
    try:
        return diagnose(ca, chain, servername)
    except Exception as exc:  # noqa: BLE001 - the handshake results matter more than their diagnosis
        warnings.warn(f"the diagnosis failed ({type(exc).__name__}: {exc}); the results are kept without it",
                      TlsmatrixWarning, stacklevel=2)
        return None


def _fetch_target(host: str, port: int, servername: str, timeout_s: float,
                  client_cert: tuple[str, str] | None) -> list | None:
    """The chain the server sends, as sent (None: it sent none to a non-verifying handshake)."""
    try:
        return fetch_chain(host, port, servername, timeout_s, client_cert)
    except (OSError, ValueError):
        return None


def _finding_for(findings: list[Finding] | None, entry: dict[str, Any]) -> str | None:
    if not findings or entry["outcome"] in ("ok", "skipped", "probe_error"):
        return None
    return next((f.id for f in findings if f.affects_client(entry["client"])), None)


def diagnose_chain(ca_file: str | os.PathLike | None = None, host: str | None = None, port: int | None = None,
                   chain_file: str | os.PathLike | None = None, servername: str | None = None,
                   timeout: float = 10.0, kubeconfig: str | os.PathLike | None = None,
                   context: str | None = None) -> list[Finding]:
    """What in a chain breaks which TLS stacks (``tlsmatrix diagnose``): the chain a server sends
    (``host``, ``port``; one handshake that verifies nothing) or a PEM file (``chain_file``, leaf first),
    against the CA file a client trusts (or the server and CA of a ``kubeconfig`` context). An empty
    list: no finding. Malformed certificates are findings, never errors."""
    with contextlib.ExitStack() as stack:
        kube = _kube_target(kubeconfig, context, stack)
        if kube is not None and chain_file is None:
            host, port = host or kube.host, port or kube.port
            servername = servername or kube.servername
        ca_file = ca_file if ca_file is not None else kube.ca_file if kube else None
        if ca_file is None or (chain_file is None) == (host is None):
            raise UsageError("diagnose: give --ca (or --kubeconfig) and either HOST:PORT or --chain FILE")
        ca = read_certificate_file(ca_file, "CA file")
        ca_file_without_key(Path(ca_file))
        if chain_file is not None:
            return diagnose(ca, read_certificate_file(chain_file, "chain file"), servername)
        if port is None:
            raise UsageError("diagnose: a host needs its port")
        servername = servername or host
        try:
            sent = fetch_chain(host, port, servername, timeout,
                               (str(kube.client_cert_file), str(kube.client_key_file)) if kube and kube.client_cert_file
                               else None)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{host}:{port}: cannot fetch the server's chain: {exc}") from None
        return diagnose(ca, sent, servername)


# --- serve ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedEndpoint:
    """One listener of :func:`serve`: where it is and the files a client needs (TEST-ONLY keys)."""

    chain: str  # the chain's label, e.g. "P-521 → P-256"
    server: str
    tls: str | None  # None: any version
    app: str | None
    servername: str
    host: str | None  # None (and port None) when it could not start: see error
    port: int | None
    ca_file: str  # the chain's root, the one trust anchor a client needs
    client_cert_file: str | None  # mTLS chains: the client certificate the server accepts, and its key
    client_key_file: str | None
    kubeconfig: str | None  # Kubernetes API endpoints: a kubeconfig naming server, CA and client certificate
    error: str | None = None  # the server stack's own words when it cannot serve this chain

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "server": self.server, "tls": self.tls, "app": self.app,
                "servername": self.servername, "host": self.host, "port": self.port, "ca_file": self.ca_file,
                "client_cert_file": self.client_cert_file, "client_key_file": self.client_key_file,
                "kubeconfig": self.kubeconfig, "error": self.error}


@dataclass(frozen=True)
class Serving:
    """What :func:`serve` yields: the endpoints, and the directory with ``endpoints.json`` (and ``kubeconfig/``)."""

    scenario: str
    backend: str
    directory: Path
    endpoints: list[ServedEndpoint]

    @property
    def errors(self) -> list[str]:
        return [e.error for e in self.endpoints if e.error]

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "backend": self.backend, "pid": os.getpid(),
                "note": "TEST-ONLY certificates and keys", "endpoints": [e.to_json() for e in self.endpoints]}


@contextlib.contextmanager
def serve(scenario: ScenarioArg | None = None, chains: Sequence[str | ChainSpec] | None = None,
          servers: Sequence[str] | str | None = None, tls: Sequence[str | None] | str | None = None, *,
          backend: str = "process", output: str | os.PathLike | None = None,
          pki_cache: str | os.PathLike | None = None, allow_unmatched_expect: bool = False) -> Iterator[Serving]:
    """Keep endpoints up while the ``with`` block runs (``tlsmatrix serve``), then stop them and remove
    their files (they name ports that are gone).

    With a ``scenario``: its chains (``chains``: labels or globs, or :func:`chain` specs), servers
    and TLS versions, narrowed by ``servers``/``tls``. Without one: ``chains`` are :func:`chain` specs,
    ``servers`` default to ``["openssl"]`` and ``tls`` to any version. ``output`` (default: a temporary
    directory) receives ``endpoints.json`` and the kubeconfigs of Kubernetes API endpoints; a directory
    with other files in it is refused, since it is removed afterwards."""
    name, targets = _serve_targets(scenario, chains, servers, tls, allow_unmatched_expect)
    with contextlib.ExitStack() as stack:
        out_dir = _serve_output(output, stack)
        cache = CertificateCache(writable_dir(pki_cache or pki_cache_dir(), "--pki-cache"))
        _remove_serve_output(out_dir)
        stack.callback(_remove_serve_output, out_dir)  # files that name these ports go when the ports go
        running = stack.enter_context(serving(targets, cache, RunOptions(backend=backend)))
        served = Serving(name, backend, out_dir, [_served(t, running, out_dir) for t in targets])
        write_atomic(out_dir / "endpoints.json", json.dumps(served.to_json(), indent=2, ensure_ascii=False) + "\n")
        yield served


def _serve_targets(scenario: ScenarioArg | None, chains: Sequence[str | ChainSpec] | None,
                   servers: Sequence[str] | str | None, tls: Sequence[str | None] | str | None,
                   allow_unmatched_expect: bool) -> tuple[str, list[EndpointTarget]]:
    sc = load_scenarios(scenario, allow_unmatched_expect)[0] if scenario is not None else None
    server_names = check_names(servers, SERVERS, "server stack")
    versions = _tls_versions(tls) if isinstance(tls, str) or tls is None else [
        parse_tls_version(t) if t else None for t in tls]
    if sc is None:
        specs = [c for c in chains or () if isinstance(c, ChainSpec)]
        if not specs or len(specs) != len(chains or ()):
            raise UsageError("serve(): without a scenario, give chains as tlsmatrix.chain(...) specs")
        targets = [EndpointTarget(server, spec, version) for spec in specs for server in server_names or ["openssl"]
                   for version in versions or [None]]
        return "endpoints", targets
    chosen = _chosen_chains(sc, chains)
    targets = [EndpointTarget(server, spec, version, sc.app, sc.servername)
               for spec in chosen for server in sc.servers if server_names is None or server in server_names
               for version in sc.tls_versions if versions is None or version in versions
               if unservable(spec, server) is None]  # a keyless given chain: the go server only
    if not targets:
        raise UsageError("the selection leaves no endpoint to serve (check --servers/--tls against the scenario)")
    return sc.name, targets


def _chosen_chains(sc: Scenario, chains: Sequence[str | ChainSpec] | None) -> list[ChainSpec]:
    """The scenario's chains whose label matches one of the globs, and the specs given as such."""
    import fnmatch

    if not chains:
        return list(sc.chains)
    globs = [c for c in chains if isinstance(c, str)]
    chosen = [c for c in chains if isinstance(c, ChainSpec)]
    chosen += [c for c in sc.chains if globs and any(fnmatch.fnmatchcase(c.label, g) for g in globs)]
    if not chosen:
        raise UsageError(f"--chain {','.join(globs)} matches no chain of {sc.path or sc.name} "
                         f"(chains: {'; '.join(c.label for c in sc.chains)})")
    return chosen


def _serve_output(output: str | os.PathLike | None, stack: contextlib.ExitStack) -> Path:
    if output is None:
        reap()
        out_dir = Path(tempfile.mkdtemp(prefix=owned_prefix("serve")))
        stack.callback(shutil.rmtree, out_dir, True)
        return out_dir
    out_dir = writable_dir(output, "--output")
    if out_dir.exists():
        try:
            foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in ("endpoints.json", "kubeconfig"))
        except OSError as exc:
            raise UsageError(f"--output {out_dir}: {exc.strerror or exc}") from None
        if foreign:
            listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise UsageError(f"--output {out_dir} holds other files ({listed}): serve removes "
                             "its output when it stops, so give it an empty or new directory")
    return out_dir


def _remove_serve_output(out_dir: Path) -> None:
    from .certs.kubeconfig import remove_kubeconfigs

    remove_kubeconfigs(out_dir / "kubeconfig")
    (out_dir / "endpoints.json").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        out_dir.rmdir()


def _served(target: EndpointTarget, running: Endpoints, out_dir: Path) -> ServedEndpoint:
    from .certs.kubeconfig import KubeconfigError, write_endpoint_kubeconfig

    files = running.files[target.chain.fingerprint]
    endpoint = ServedEndpoint(
        chain=target.chain.label, server=target.server, tls=target.tls, app=target.app, servername=target.servername,
        host=None, port=None, ca_file=str(files.ca_file),
        client_cert_file=str(files.client_cert_file) if files.client_cert_file else None,
        client_key_file=str(files.client_key_file) if files.client_key_file else None, kubeconfig=None)
    if target.server in running.skipped:
        return _replace(endpoint, error=f"server stack {target.server}: {running.skipped[target.server]}")
    listener = running.listener(target)
    if listener.error:
        return _replace(endpoint, error=f"server {target.server}: {listener.error}")
    kubeconfig = None
    if target.app == "kubernetes":
        try:
            kubeconfig = str(write_endpoint_kubeconfig(
                out_dir / "kubeconfig", target, listener.host, int(listener.port), files,
                f"server {target.server}, chain {target.chain.label}, TLS {target.tls or 'any'}; "
                "valid while `tlsmatrix serve` runs"))
        except KubeconfigError as exc:
            raise HarnessError(str(exc)) from None
    return _replace(endpoint, host=listener.host, port=int(listener.port), kubeconfig=kubeconfig)


def _replace(endpoint: ServedEndpoint, **changes: Any) -> ServedEndpoint:
    return dataclasses.replace(endpoint, **changes)
