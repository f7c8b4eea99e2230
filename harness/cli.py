"""Command line: ``tlsmatrix matrix | probe | diagnose | serve | report | explain | bundle | regress | list | build``.

Exit status: 0 all cells match their expectations (or, for ``probe``, it ran),
1 some cell contradicts its expectation, 2 any harness error (bad input, broken setup, and
unexpected exceptions: one line, the traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .build import main as build_main
from .classify import classify
from .diagnose import Finding, diagnose, fetch_chain, read_pem_certificates, render_findings
from .clients import CLIENTS, TLS_CLIENTS
from .clients.session import ProbeSession
from .jsonproc import ProcessError, kill_all
from .model import Job, Outcome, SpecError, parse_tls_version
from .pki import CertificateCache, PKIError, load_ca_file
from .progress import Progress
from .report.table import render_text
from .document import DocumentError, ResultsDocument
from .runner import BACKENDS, DEFAULT_TIMEOUT_MS, HarnessError, RunOptions, expand_cells, run_cells
from .merge import ShardError, load_results, merge, parse_shard, select_shard
from .redact import Redactor
from .regress import BaselineError, baseline_path, compare, load_baselines, make_baseline, render_changes
from .scenarios import UNMATCHED_EXPECT_FLAG, ScenarioError, load_scenario, servername_problem
from .servers import SERVERS
from .toolchain import pki_cache_dir, project_root, results_dir
from . import validate
from .reaper import owned_prefix, reap
from .validate import (InputError, ca_file_without_key, client_key_pair, describe_os_error, name_list, seconds,
                       writable_dir, writable_file)

DEFAULT_MAX_CELLS = 20_000
#: results.json of this invocation once written: a later error says where the results are
_SAVED: list[Path] = []

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


def _csv(value: str) -> list[str]:
    return name_list(value)  # `--clients ,` is an error, not "every client"


def _check_names(names: list[str] | None, known: dict, what: str) -> list[str] | None:
    if names is None:
        return None
    for n in names:
        if n not in known:
            raise UsageError(f"unknown {what} {n!r} (known: {', '.join(known)})")
    return names


def default_scenarios() -> list[Path]:
    return sorted((project_root() / "scenarios").glob("*.toml"))


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file + rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


REPORT_FORMATS = ("table", "markdown", "html", "junit", "json")


def render(data: ResultsDocument, fmt: str) -> str:
    """A results document in one of the output formats."""
    if fmt == "json":
        return data.dumps()
    if fmt == "markdown":
        return markdown_report(data)
    if fmt == "html":
        from .report.html import render_html

        return render_html(data)
    if fmt == "junit":
        from .report.junit import render_junit

        return render_junit(data)
    return render_text(data) + explain_text(data)


def markdown_report(data: ResultsDocument) -> str:
    """The comment-sized Markdown report plus the computed explanation."""
    from .explain import explain, render_explain
    from .report.details import render_markdown_report

    text = render_markdown_report(data)
    findings = explain(data)
    if findings:
        text += "\n## Explain (computed from the results)\n\n```\n" + render_explain(findings).rstrip() + "\n```\n"
    return text


def explain_text(data: ResultsDocument) -> str:
    """The differential explanation printed at the end of a matrix (empty when nothing differs)."""
    from .explain import explain, render_explain

    findings = explain(data)
    return ("\nExplain (computed from the results):\n" + render_explain(findings).rstrip() + "\n") if findings else ""


# --- matrix ---------------------------------------------------------------------------------


def cmd_matrix(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.scenarios] or default_scenarios()
    if not paths:
        raise UsageError(f"no scenario files given and none found in {project_root() / 'scenarios'}")
    clients = _check_names(args.clients, CLIENTS, "client stack")
    servers = _check_names(args.servers, SERVERS, "server stack")
    tls = [parse_tls_version(t) for t in args.tls] if args.tls else None
    scenarios = [load_scenario(p, CLIENTS, SERVERS, args.allow_unmatched_expect) for p in paths]
    _print_warnings(scenarios)
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise UsageError(f"two scenario files share a name: {names}")
    _check_cell_count(scenarios, clients, servers, tls, args.shard, args.max_cells)
    cells = expand_cells(scenarios, clients, servers, tls)
    try:
        cells = select_shard(cells, args.shard)
    except ShardError as exc:
        raise UsageError(str(exc)) from None
    if not cells:
        raise UsageError("the selection leaves no cells to run (check --clients/--servers/--tls against the scenarios' axes)")
    out_dir = writable_dir(args.output, "--output")  # before any work: a bad path must not cost a run
    cache = CertificateCache(writable_dir(args.pki_cache or pki_cache_dir(), "--pki-cache"))
    progress = Progress(enabled=not args.quiet)
    progress.message(f"tlsmatrix {__version__}: {len(cells)} cells from {len(scenarios)} scenario(s)")
    kube_dir = None
    if any(c.app == "kubernetes" for c in cells):
        from .kubeconfig import remove_kubeconfigs

        kube_dir = out_dir / "kubeconfig"  # what the Kubernetes clients of this run read
        remove_kubeconfigs(kube_dir)  # a previous run's files name ports that are gone
    report = run_cells(cells, cache, RunOptions(timeout_ms=int(args.timeout * 1000), backend=args.backend,
                                                progress=progress, retry_timeouts=not args.no_retry,
                                                shard=args.shard, kubeconfig_dir=kube_dir), scenarios=scenarios)
    data = report.document.redacted(Redactor.for_run(out_dir, cache.root))  # nothing local in what users attach
    _save_results(out_dir, data.dumps())  # first: nothing may lose it
    write_atomic(out_dir / "matrix.md", markdown_report(data))
    sys.stdout.write(render(data, args.format))
    progress.message(f"wrote {out_dir / 'results.json'} and {out_dir / 'matrix.md'} "
                     f"({report.duration_s:.1f}s, {report.certificates_generated} certificates generated)")
    mismatched = sum(1 for r in report.results if r.verdict == "mismatch")
    return EXIT_MISMATCH if mismatched else EXIT_OK


def _print_warnings(scenarios: list) -> None:
    for s in scenarios:
        for warning in s.warnings:
            print(f"tlsmatrix: warning: {warning}", file=sys.stderr)


def _check_cell_count(scenarios: list, clients, servers, tls, shard: str | None, limit: int) -> None:
    """--max-cells, counted before any cell is expanded or certificate generated."""
    counts = {s.name: s.cell_count(clients, servers, tls) for s in scenarios}
    total = sum(counts.values())
    if shard:
        k, n = parse_shard(shard)
        total = len(range(k - 1, total, n))  # cell i goes to shard (i mod n) + 1
    if total > limit:
        per = ", ".join(f"{name}: {n:,}" for name, n in counts.items())
        raise UsageError(f"{total:,} cells to run ({per}) exceed --max-cells {limit:,}: narrow the run with "
                         "--clients/--servers/--tls or --shard K/N, shrink the scenario's axes, or raise --max-cells")


def _save_results(out_dir: Path, text: str) -> Path:
    """Write results.json; when that fails, to a file in the temp directory, and say where."""
    target = out_dir / "results.json"
    try:
        write_atomic(target, text)
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"tlsmatrix-results-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        write_atomic(fallback, text)
        _SAVED.append(fallback)
        raise HarnessError(f"cannot write {target}: {describe_os_error(exc)}") from None
    _SAVED.append(target)
    return target


# --- probe ----------------------------------------------------------------------------------


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"target {text!r}: expected HOST:PORT")
    host = host.strip("[]")
    try:
        port_n = int(port)
    except ValueError:
        raise UsageError(f"target {text!r}: port {port!r} is not a number") from None
    if not 0 < port_n < 65536:
        raise UsageError(f"target {text!r}: port {port_n} out of range")
    return host, port_n


def cmd_probe(args: argparse.Namespace) -> int:
    host, port = parse_target(args.target)
    ca = Path(args.ca)
    load_ca_file(ca)  # fail early, naming the file
    ca_file_without_key(ca)
    names = _check_names(args.clients, CLIENTS, "client stack") or TLS_CLIENTS
    tls = parse_tls_version(args.tls) if args.tls else None
    servername = host if args.servername is None else args.servername
    if servername_problem(servername):
        raise UsageError(f"--servername {servername!r}: {servername_problem(servername)}")
    timeout_ms = int(args.timeout * 1000)
    if timeout_ms <= 0:
        raise UsageError(f"--timeout {args.timeout}: must be positive")
    if bool(args.client_cert) != bool(args.client_key):
        raise UsageError("--client-cert and --client-key go together")
    client_cert = client_key = None
    if args.client_cert:
        client_cert, client_key = Path(args.client_cert).resolve(), Path(args.client_key).resolve()
        for flag, path in (("--client-cert", client_cert), ("--client-key", client_key)):
            try:
                path.read_bytes()
            except OSError as exc:
                raise UsageError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
        load_ca_file(client_cert)  # a PEM certificate, or an error naming the file
        client_key_pair(client_cert, client_key)  # a key that cannot sign for it is an input error, not a cell
    kubeconfig = None
    if any(CLIENTS[n].needs_app == "kubernetes" for n in names):
        # what the Kubernetes clients read: the same server, CA, name and client certificate
        from .kubeconfig import KubeconfigError, kubeconfig_document, write_kubeconfig

        reap()  # the owner in the name lets a later run remove it after a kill -9
        kube_dir = Path(tempfile.mkdtemp(prefix=owned_prefix("probe")))
        atexit.register(shutil.rmtree, kube_dir, True)
        try:
            kubeconfig = str(write_kubeconfig(
                kube_dir / "kubeconfig.yaml",
                kubeconfig_document(host, port, ca, servername, client_cert, client_key),
                note=f"tlsmatrix probe {host}:{port}"))
        except KubeconfigError as exc:
            raise UsageError(str(exc)) from None
    results: dict[str, dict[str, Any]] = {}

    def run_one(name: str) -> None:
        stack = CLIENTS[name]
        entry: dict[str, Any] = {"client": name, "outcome": None, "error": None, "short_error": None,
                                 "version": None, "negotiated": None, "elapsed_ms": None}
        why = stack.unavailable_reason()
        if not why and client_cert and not stack.client_auth:
            why = "its probe presents no client certificate (--client-cert)"
        if why:
            entry.update(outcome=Outcome.SKIPPED.value, error=why, short_error="not available")
            results[name] = entry
            return
        session = ProbeSession(stack)
        try:
            try:
                info = session.start()
            except ProcessError as exc:
                entry.update(outcome=Outcome.PROBE_ERROR.value, error=f"probe: {exc.short}", error_detail=str(exc))
                results[name] = entry
                return
            job = Job(id="1", host=host, port=port, servername=servername, ca_file=str(ca.resolve()),
                      tls_version=tls, timeout_ms=timeout_ms,
                      client_cert_file=str(client_cert) if client_cert else None,
                      client_key_file=str(client_key) if client_key else None,
                      kubeconfig=kubeconfig if stack.needs_app == "kubernetes" else None)
            raw = session.run(job)
            c = classify(stack.family, raw, client_cert=client_cert is not None)
            entry.update(outcome=c.outcome.value, error=raw.error, short_error=c.short, error_detail=raw.error_detail,
                         version=info.describe(), stack=info.to_json(), negotiated=raw.negotiated,
                         elapsed_ms=raw.elapsed_ms)
            results[name] = entry
        finally:
            session.close()

    threads = [threading.Thread(target=run_one, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    ordered = [results[n] for n in names]
    findings = _diagnose_target(ca, host, port, servername, timeout_ms / 1000,
                                (str(client_cert), str(client_key)) if client_cert else None)
    for entry in ordered:
        entry["finding"] = _finding_for(findings, entry)
    doc = {"target": f"{host}:{port}", "servername": servername, "ca_file": str(ca), "tls": tls,
           "client_cert_file": str(client_cert) if client_cert else None,
           "timeout_ms": timeout_ms, "tool": {"name": "tlsmatrix", "version": __version__}, "results": ordered,
           "diagnosis": [f.to_json() for f in findings] if findings is not None else None}
    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        from tabulate import tabulate

        rows = [[r["client"], r["version"] or "", "ok" if r["outcome"] == "ok" else f"✗ {r['outcome']}",
                 (r["error"] or "")[:90] + (f" [{r['finding']}]" if r["finding"] else "")] for r in ordered]
        sys.stdout.write(f"{host}:{port} (servername {servername}, CA {ca}, TLS {tls or 'any'})\n\n")
        sys.stdout.write(tabulate(rows, headers=["client", "version", "outcome", "error"], disable_numparse=True) + "\n\n")
        sys.stdout.write(render_findings(findings) if findings is not None else
                         "diagnosis: the server's chain could not be fetched\n")
    return EXIT_OK


def _diagnose_target(ca: Path, host: str, port: int, servername: str, timeout_s: float,
                     client_cert: tuple[str, str] | None) -> list[Finding] | None:
    """Findings for the chain the server sends (None: it sent none to a non-verifying handshake)."""
    try:
        chain = fetch_chain(host, port, servername, timeout_s, client_cert)
    except (OSError, ValueError):
        return None
    return diagnose(load_ca_file(ca), chain, servername) if chain else None


def _finding_for(findings: list[Finding] | None, entry: dict[str, Any]) -> str | None:
    if not findings or entry["outcome"] in ("ok", "skipped", "probe_error"):
        return None
    return next((f.id for f in findings if f.affects_client(entry["client"])), None)


def cmd_diagnose(args: argparse.Namespace) -> int:
    if bool(args.chain) == bool(args.target):
        raise UsageError("diagnose: give either HOST:PORT or --chain FILE")
    try:
        ca = read_pem_certificates(args.ca, "--ca")
        ca_file_without_key(Path(args.ca))
        if args.chain:
            chain = read_pem_certificates(args.chain, "--chain")
            servername = args.servername
        else:
            host, port = parse_target(args.target)
            servername = args.servername or host
            chain = fetch_chain(host, port, servername, args.timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{args.target}: cannot fetch the server's chain: {exc}") from None
    findings = diagnose(ca, chain, servername)
    if args.format == "json":
        sys.stdout.write(json.dumps({"diagnosis": [f.to_json() for f in findings]}, indent=2) + "\n")
    else:
        sys.stdout.write(render_findings(findings))
    return EXIT_OK


# --- serve ----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Keep a scenario's endpoints up for a user's own client (kubectl, their kube-rs program, curl)."""
    import fnmatch
    import time

    from .kubeconfig import KubeconfigError, write_endpoint_kubeconfig
    from .model import Cell
    from .runner import start_endpoints

    scenario = load_scenario(Path(args.scenario), CLIENTS, SERVERS, args.allow_unmatched_expect)
    _print_warnings([scenario])
    servers = _check_names(args.servers, SERVERS, "server stack")
    tls = [parse_tls_version(t) for t in args.tls] if args.tls else None
    chains = [c for c in scenario.chains if not args.chain or any(fnmatch.fnmatchcase(c.label, g) for g in args.chain)]
    if not chains:
        raise UsageError(f"--chain {','.join(args.chain)} matches no chain of {args.scenario} "
                         f"(chains: {'; '.join(c.label for c in scenario.chains)})")
    cells = [Cell(scenario.name, chain, server, version, client=scenario.clients[0], servername=scenario.servername,
                  app=scenario.app)
             for chain in chains for server in scenario.servers if servers is None or server in servers
             for version in scenario.tls_versions if tls is None or version in tls]
    if not cells:
        raise UsageError("the selection leaves no endpoint to serve (check --servers/--tls against the scenario)")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration {args.duration}: must be positive")
    out_dir = writable_dir(args.output or results_dir() / "serve" / scenario.name, "--output")
    if out_dir.exists():
        try:
            foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in ("endpoints.json", "kubeconfig"))
        except OSError as exc:
            raise UsageError(f"--output {out_dir}: {exc.strerror or exc}") from None
        if foreign:
            listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise UsageError(f"--output {out_dir} holds other files ({listed}): serve removes "
                             "its output when it stops, so give it an empty or new directory")
    cache = CertificateCache(writable_dir(args.pki_cache or pki_cache_dir(), "--pki-cache"))
    reap([cache.root / "tmp"])  # what runs killed earlier (kill -9) left behind
    chain_files = {c.chain.fingerprint: cache.chain(c.chain) for c in cells}

    def remove_output() -> None:  # files that name these ports go when the ports go
        from .kubeconfig import remove_kubeconfigs

        remove_kubeconfigs(out_dir / "kubeconfig")
        (out_dir / "endpoints.json").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            out_dir.rmdir()

    with contextlib.ExitStack() as stack:
        remove_output()
        stack.callback(remove_output)
        running = start_endpoints(cells, chain_files, cache, RunOptions(backend=args.backend), stack)
        entries = []
        for cell in cells:
            files = chain_files[cell.chain.fingerprint]
            entry: dict[str, Any] = {
                "chain": cell.chain.label, "server": cell.server, "tls": cell.tls, "app": cell.app,
                "servername": cell.servername, "host": None, "port": None, "ca_file": str(files.ca_file),
                "client_cert_file": str(files.client_cert_file) if files.client_cert_file else None,
                "client_key_file": str(files.client_key_file) if files.client_key_file else None,
                "kubeconfig": None, "error": None,
            }
            if cell.server in running.skipped:
                entry["error"] = f"server stack {cell.server}: {running.skipped[cell.server]}"
            else:
                listener = running.listener(cell)
                if listener.error:
                    entry["error"] = f"server {cell.server}: {listener.error}"
                else:
                    entry.update(host=listener.host, port=listener.port)
                    if cell.app == "kubernetes":
                        try:
                            entry["kubeconfig"] = str(write_endpoint_kubeconfig(
                                out_dir / "kubeconfig", cell, listener.host, int(listener.port), files,
                                f"server {cell.server}, chain {cell.chain.label}, TLS {cell.tls or 'any'}; "
                                "valid while `tlsmatrix serve` runs"))
                        except KubeconfigError as exc:
                            raise HarnessError(str(exc)) from None
            entries.append(entry)
        doc = {"scenario": scenario.name, "backend": args.backend, "pid": os.getpid(),
               "note": "TEST-ONLY certificates and keys", "endpoints": entries}
        write_atomic(out_dir / "endpoints.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")

        from tabulate import tabulate

        rows = [[e["chain"], e["tls"] or "any", e["server"],
                 e["error"] or f"{e['host']}:{e['port']}", e["kubeconfig"] or e["ca_file"]] for e in entries]
        print(tabulate(rows, headers=["chain", "TLS", "server", "address", "kubeconfig" if scenario.app else "CA file"],
                       disable_numparse=True))
        print(f"\n{out_dir / 'endpoints.json'} lists them (TEST-ONLY keys). "
              + ("Try: kubectl --kubeconfig FILE get pods. " if scenario.app == "kubernetes" else "")
              + ("Serving until Ctrl-C." if args.duration is None else f"Serving for {args.duration:g}s."),
              flush=True)
        try:
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
        except KeyboardInterrupt:
            pass
        print("tlsmatrix serve: stopping the endpoints", file=sys.stderr)
    return EXIT_OK if not any(e["error"] for e in entries) else EXIT_MISMATCH


# --- report, list, build --------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    data = load_results(args.results)
    sys.stdout.write(render(data, args.format))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain, render_explain

    data = load_results(args.results)
    findings = explain(data)
    sys.stdout.write((render_explain(findings).rstrip() + "\n") if findings else "Every stack agrees on every cell.\n")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    from .bundle import BundleError, write_bundle

    writable_file(args.output, "--output")
    try:
        path = write_bundle(args.results, args.cells, Path(args.output), with_keys=args.with_keys,
                            pki_cache=Path(args.pki_cache) if args.pki_cache else None)
    except BundleError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path}" + ("" if args.with_keys else " (no private keys; --with-keys adds the TEST-ONLY leaf and client keys)"))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.missing and not args.packages:
        raise UsageError("--missing goes with --packages")
    if args.packages:  # the Debian packages of every stack, one a line (`make toolchains` installs them)
        from .stacks import debian_packages

        for package in debian_packages([*CLIENTS.values(), *SERVERS.values()], missing_only=args.missing):
            print(package)
        return EXIT_OK
    rows = []
    for kind, registry in (("client", CLIENTS), ("server", SERVERS)):
        for name, stack in registry.items():
            why = stack.unavailable_reason()
            rows.append([kind, name, "yes" if why is None else "no", "yes" if stack.client_auth else "",
                         stack.description if why is None else why])
    sys.stdout.write(tabulate(rows, headers=["kind", "stack", "available", "mTLS", "description / how to install"])
                     + "\n\n")
    srows = []
    for path in default_scenarios():
        try:
            s = load_scenario(path, CLIENTS, SERVERS)
            srows.append([str(path.relative_to(project_root())), s.title, s.cell_count()])
        except ScenarioError as exc:
            srows.append([str(path), f"INVALID: {exc}", 0])
    sys.stdout.write(tabulate(srows, headers=["scenario", "title", "cells"]) + "\n")
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    docs = [load_results(p) for p in args.inputs]
    data = merge(docs, [str(p) for p in args.inputs])
    out = writable_dir(args.output, "--output")
    data = data.redacted(Redactor.for_run(out, pki_cache_dir()))  # e.g. merged_from names local files
    write_atomic(out / "results.json", data.dumps())
    write_atomic(out / "matrix.md", markdown_report(data))
    print(f"merged {len(docs)} shard(s), {len(data.cells)} cells → {out / 'results.json'}", file=sys.stderr)
    return EXIT_OK


def cmd_regress(args: argparse.Namespace) -> int:
    """Compare a run with the committed baselines: 0 identical, 1 changed, 2 harness error."""
    base_dir = writable_dir(args.baseline, "--baseline") if args.update_baseline else Path(args.baseline)
    baselines = load_baselines(base_dir)
    if args.results:
        data = load_results(args.results)
    else:
        paths = [Path(p) for p in args.scenarios]
        if not paths:
            paths = [project_root() / b["scenario_path"] for b in baselines.values() if b.get("scenario_path")]
        if not paths:
            raise UsageError(f"no baselines in {base_dir} and no scenario given: run with --update-baseline first")
        out = Path(args.output)
        ns = argparse.Namespace(scenarios=[str(p) for p in paths], clients=None, servers=None, tls=None,
                                format="json", backend=args.backend, timeout=args.timeout, output=str(out),
                                pki_cache=None, quiet=args.quiet, shard=None, no_retry=False,
                                max_cells=args.max_cells, allow_unmatched_expect=args.allow_unmatched_expect)
        with contextlib.redirect_stdout(io.StringIO()):
            cmd_matrix(ns)  # exit status of the expectations is not what regress reports
        data = load_results(out)
    if args.update_baseline:
        names = sorted({r.scenario for r in data.cells})
        targets = {name: baseline_path(base_dir, name) for name in names}  # every name checked before any write
        for name, target in targets.items():
            write_atomic(target, json.dumps(make_baseline(data, name), indent=1, ensure_ascii=False) + "\n")
        print(f"baseline updated for {', '.join(names)} in {base_dir}")
        return EXIT_OK
    if not baselines:
        raise UsageError(f"no baselines in {base_dir}: run `tlsmatrix regress --update-baseline` to create them")
    changes, texts = compare(data, baselines)
    sys.stdout.write(render_changes(changes, texts))
    return EXIT_MISMATCH if changes else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import render_schema

    sys.stdout.write(render_schema())
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove containers (and temporary run directories) that crashed or killed runs left."""
    from .endpoints.docker import clean
    from .images import DockerUnavailable

    removed_dirs = _clean_dirs(args.all)
    try:
        removed = clean(only_dead=not args.all)
    except DockerUnavailable as exc:
        print(f"tlsmatrix clean: no Docker engine to clean ({exc}); removed {removed_dirs} temporary run dir(s)",
              file=sys.stderr)
        return EXIT_ERROR
    print(f"tlsmatrix clean: removed {removed} container(s) and {removed_dirs} temporary run dir(s)")
    return EXIT_OK


_TIMEOUT = seconds(0.001, 3600)


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what, which value, where to look), exit status 2 like every harness error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_scenario_limits(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--max-cells", type=validate.count(1, 10_000_000), default=DEFAULT_MAX_CELLS,
                     help=f"refuse to run more cells than this (default {DEFAULT_MAX_CELLS:,}), checked before "
                          "any certificate is made")
    sub.add_argument(UNMATCHED_EXPECT_FLAG, action="store_true",
                     help="an [[expect]] rule that matches no cell of its scenario is a warning, not an error")


def _clean_dirs(everything: bool) -> int:
    """Temporary directories of dead runs (of every run with --all; results/tmp entries without an
    owner in their name, from older versions, count as dead)."""
    from .reaper import owner_of, reap_dirs, temp_roots

    removed = len(reap_dirs(temp_roots([pki_cache_dir() / "tmp"])))
    tmp = results_dir() / "tmp"
    for d in (tmp.iterdir() if tmp.is_dir() else ()):
        if everything or owner_of(d.name) is None:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tlsmatrix", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tlsmatrix {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, print the traceback too (any position on the command line)")
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("matrix", help="run scenarios and print the matrix")
    m.add_argument("scenarios", nargs="*", help="scenario files (default: scenarios/*.toml)")
    m.add_argument("--clients", type=_csv, help=f"client stacks to run ({', '.join(CLIENTS)})")
    m.add_argument("--servers", type=_csv, help=f"server stacks to run ({', '.join(SERVERS)})")
    m.add_argument("--tls", type=_csv, help="TLS versions to run: 1.2,1.3")
    m.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    m.add_argument("--backend", choices=BACKENDS, default=os.environ.get("TLSMATRIX_BACKEND") or "process",
                   help="where server endpoints run: local processes (default) or Docker containers")
    m.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000, help="per-handshake timeout, seconds")
    m.add_argument("--output", default=str(results_dir() / "latest"), help="directory for results.json and matrix.md")
    m.add_argument("--pki-cache", help="certificate cache directory (default: results/cache/pki)")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    m.add_argument("--shard", type=validate.shard, help="run only shard K of N (K/N): cell i goes to shard (i mod N)+1")
    m.add_argument("--no-retry", action="store_true", help="do not retry a timed-out cell once")
    _add_scenario_limits(m)
    m.set_defaults(func=cmd_matrix)

    sv = sub.add_parser("serve", help="keep a scenario's endpoints up (and write kubeconfigs) for your own client")
    sv.add_argument("scenario", help="scenario file")
    sv.add_argument("--chain", type=_csv, help="chain labels or globs to serve (default: every chain)")
    sv.add_argument("--servers", type=_csv, help="server stacks (default: the scenario's)")
    sv.add_argument("--tls", type=_csv, help="TLS versions (default: the scenario's)")
    sv.add_argument("--backend", choices=BACKENDS, default=os.environ.get("TLSMATRIX_BACKEND") or "process")
    sv.add_argument("--output", help="directory for endpoints.json and kubeconfig/ (default: results/serve/SCENARIO); "
                                     "removed when serving stops")
    sv.add_argument("--duration", type=seconds(0.001, 31 * 86400),
                    help="stop after this many seconds (default: until Ctrl-C/SIGTERM)")
    sv.add_argument(UNMATCHED_EXPECT_FLAG, action="store_true",
                    help="an [[expect]] rule that matches no cell is a warning, not an error")
    sv.add_argument("--pki-cache", help="certificate cache directory (default: results/cache/pki)")
    sv.set_defaults(func=cmd_serve)

    mg = sub.add_parser("merge", help="merge shard results into one results document")
    mg.add_argument("inputs", nargs="+", help="shard results.json files or their directories")
    mg.add_argument("-o", "--output", required=True, help="directory for the merged results.json and matrix.md")
    mg.set_defaults(func=cmd_merge)

    rg = sub.add_parser("regress", help="run the baseline scenarios and diff them against results/baseline")
    rg.add_argument("scenarios", nargs="*", help="scenario files (default: those with a baseline)")
    rg.add_argument("--baseline", default=str(project_root() / "results" / "baseline"), help="baseline directory")
    rg.add_argument("--results", help="compare this results.json (or directory) instead of running")
    rg.add_argument("--update-baseline", action="store_true", help="write the baselines from this run")
    rg.add_argument("--backend", choices=BACKENDS, default=os.environ.get("TLSMATRIX_BACKEND") or "process")
    rg.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000)
    _add_scenario_limits(rg)
    rg.add_argument("--output", default=str(results_dir() / "regress"), help="where the run's results go")
    rg.add_argument("-q", "--quiet", action="store_true")
    rg.set_defaults(func=cmd_regress)

    sc = sub.add_parser("schema", help="print the results document's JSON Schema")
    sc.set_defaults(func=cmd_schema)

    p = sub.add_parser("probe", help="run every client stack against an existing endpoint")
    p.add_argument("target", help="HOST:PORT")
    p.add_argument("--ca", required=True, help="PEM file with the CA certificate(s) to trust (only these)")
    p.add_argument("--servername", help="name to send (SNI) and verify (default: HOST)")
    p.add_argument("--clients", type=_csv, help=f"client stacks ({', '.join(CLIENTS)})")
    p.add_argument("--tls", help="pin TLS version 1.2 or 1.3")
    p.add_argument("--client-cert", help="PEM client certificate to present (mTLS; Kubernetes clients put it "
                                         "in their kubeconfig); stacks that cannot present one are skipped")
    p.add_argument("--client-key", help="the client certificate's PEM private key")
    p.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000, help="seconds (default 10)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_probe)

    dg = sub.add_parser("diagnose", help="name the properties of a chain that break TLS stacks (no handshakes "
                                         "but one that fetches the chain)")
    dg.add_argument("target", nargs="?", help="HOST:PORT whose chain to fetch (or --chain)")
    dg.add_argument("--ca", required=True, help="the CA file a client would trust (PEM)")
    dg.add_argument("--chain", help="PEM file with the chain a server sends, leaf first (instead of HOST:PORT)")
    dg.add_argument("--servername", help="name to check the leaf against (default: HOST)")
    dg.add_argument("--timeout", type=_TIMEOUT, default=10.0, help="seconds for fetching the chain")
    dg.add_argument("--format", choices=("table", "json"), default="table")
    dg.set_defaults(func=cmd_diagnose)

    r = sub.add_parser("report", help="render a results.json (or its directory) again")
    r.add_argument("results", nargs="?", default=str(results_dir() / "latest"))
    r.add_argument("--format", choices=REPORT_FORMATS, default="table")
    r.set_defaults(func=cmd_report)

    ex = sub.add_parser("explain", help="which axis flips which stack's outcome, computed from results")
    ex.add_argument("results", nargs="?", default=str(results_dir() / "latest"))
    ex.set_defaults(func=cmd_explain)

    bd = sub.add_parser("bundle", help="a tarball that reproduces failing cells without tlsmatrix")
    bd.add_argument("results", nargs="?", default=str(results_dir() / "latest"))
    bd.add_argument("--cell", action="append", dest="cells", help="cell id (repeatable; default: every failing cell)")
    bd.add_argument("-o", "--output", required=True, help="FILE.tar.gz")
    bd.add_argument("--with-keys", action="store_true", help="include the TEST-ONLY leaf (and mTLS client) private keys")
    bd.add_argument("--pki-cache", help="the certificate cache the run used (default: results/cache/pki); "
                                        "the results name chain directories relative to it")
    bd.set_defaults(func=cmd_bundle)

    c = sub.add_parser("clean", help="remove containers and temporary files left by crashed or killed runs")
    c.add_argument("--all", action="store_true", help="also containers of runs that are still alive")
    c.set_defaults(func=cmd_clean)

    ls = sub.add_parser("list", help="list stacks (and whether they are available) and scenarios")
    ls.add_argument("--packages", action="store_true",
                    help="print the Debian packages the stacks need (run time and build), one a line")
    ls.add_argument("--missing", action="store_true", help="with --packages: only those not installed here")
    ls.set_defaults(func=cmd_list)

    b = sub.add_parser("build", help="build the compiled probes (Rust, Go)", add_help=False)
    b.set_defaults(func=None)
    im = sub.add_parser("images", help="build the server-stack images for --backend docker", add_help=False)
    im.set_defaults(func=None)
    return parser


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("TLSMATRIX_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]  # a global flag: accepted before or after the command
    _SAVED.clear()
    if argv[:1] == ["build"]:
        return _guarded(lambda: build_main(argv[1:]), "build", debug)
    if argv[:1] == ["images"]:
        from .images import main as images_main

        return _guarded(lambda: images_main(argv[1:]), "images", debug)
    parser = build_parser()
    args = parser.parse_args(argv)
    atexit.register(kill_all)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
        # also when started with SIGINT ignored (a `cmd &` from a script): Ctrl-C must clean up
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _guarded(lambda: args.func(args), args.command, debug)
    finally:
        kill_all()


_KNOWN_ERRORS = (UsageError, InputError, ScenarioError, SpecError, PKIError, HarnessError, ShardError, BaselineError,
                 DocumentError)


def _guarded(call, command: str, debug: bool) -> int:
    """Run a command; every error is exit status 2 with one line (1 stays "a cell contradicts its
    expectation", so CI can tell a crash from a regression). Tracebacks only with --debug."""
    try:
        return call()
    except _KNOWN_ERRORS as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # e.g. `tlsmatrix list | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        killed = kill_all()
        saved = f"; results in {_SAVED[-1]}" if _SAVED else "; no results written"
        print(f"\ntlsmatrix: interrupted; stopped {killed} child process(es){saved}", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            traceback.print_exc()
        return _fail(f"`tlsmatrix {command}`: {describe_os_error(exc)}")
    except Exception as exc:  # noqa: BLE001 - a bug: still one line and exit 2
        if debug:
            traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0][:300]
        return _fail(f"unexpected {type(exc).__name__} in `tlsmatrix {command}`: {first} (a bug in tlsmatrix: "
                     "rerun with --debug for the traceback and report it)")


def _fail(message: str) -> int:
    if _SAVED:
        message += f" (the results were saved: {_SAVED[-1]})"
    print(f"tlsmatrix: error: {message}", file=sys.stderr)
    return EXIT_ERROR
