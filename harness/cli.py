"""Command line: ``tlsmatrix matrix | serve | probe | diagnose | regress | merge | report | explain | bundle |
schema | list | build | images | clean`` (the arguments: harness/cliargs.py; reference: docs/commands.md).

Exit status: 0 all cells match their expectations (or, for ``probe``, it ran),
1 some cell contradicts its expectation, 2 any harness error (bad input, broken setup),
3 an unexpected exception, i.e. a bug in tlsmatrix (one line, the traceback only with ``--debug``).

This module parses arguments, calls the library (harness/api.py) and renders what it returns
(harness/report/); the library owns the work and its cleanup.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile  # noqa: F401 - tests point tempfile.tempdir elsewhere through this name
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Sequence

from . import api, validate
from .cliargs import EXIT_BUG, EXIT_ERROR, EXIT_MISMATCH, EXIT_OK, build_parser
from .stacks.build import main as build_main
from .stacks.clients import CLIENTS
from .model.document import ResultsDocument, load_results
from .model.errors import HarnessError, TlsmatrixError, TlsmatrixWarning, UsageError  # noqa: F401 - HarnessError: tests
from .running.jsonproc import stopped_count
from .report.merge import merge
from .output import SAVED as _SAVED
from .output import save_results as _save_results  # noqa: F401 - the fallback tests call it here
from .output import write_run_files
from .running.progress import Progress
from .model.redact import Redactor
from .report.regress import (baseline_scenarios, compare, load_baselines, missing_here, render_changes, render_missing,
                              write_baselines)
from .report.formats import render
from .stacks.servers import SERVERS
from .model.paths import in_checkout_hint, pki_cache_dir, results_dir, scenarios_dir, write_atomic
from .validate import parse_target, writable_dir, writable_file

# --- commands --------------------------------------------------------------------------------


def cmd_matrix(args: argparse.Namespace) -> int:
    from .report.summary import render_summary
    from .report.table import render_grid

    progress = Progress(enabled=not args.quiet)
    data = api.run(args.scenarios or None, args.clients, args.servers, args.tls, backend=args.backend,
                   timeout=args.timeout, output=args.output, pki_cache=args.pki_cache, progress=progress,
                   retry_timeouts=not args.no_retry, shard=args.shard, max_cells=args.max_cells,
                   allow_unmatched_expect=args.allow_unmatched_expect)
    if args.format == "table" and not args.full:  # at a glance; the full tables are a file away
        full = f"The full tables, each stack's own words: {Path(args.output) / 'matrix.md'} (or `--full`)\n"
        sys.stdout.write(render_grid(data) + full + render_summary(data))
    else:
        sys.stdout.write(render(data, args.format) + (render_summary(data) if args.format == "table" else ""))
    _wrote(progress, Path(args.output), data)
    return EXIT_MISMATCH if data.verdicts()["mismatch"] else EXIT_OK


def cmd_limbo(args: argparse.Namespace) -> int:
    from .report.limbo import divergence_file, render_markdown, render_text

    divergences = writable_file(args.write_divergences, "--write-divergences") if args.write_divergences else None
    progress = Progress(enabled=not args.quiet)
    data, left_out = api.limbo(args.corpus, args.ids, args.clients, args.servers, args.tls, backend=args.backend,
                               timeout=args.timeout, output=args.output, pki_cache=args.pki_cache,
                               divergences=args.divergences, progress=progress, max_cells=args.max_cells)
    if args.format == "json":
        sys.stdout.write(data.dumps() + "\n")
    else:
        text = render_markdown(data, left_out) if args.format == "markdown" else render_text(data)
        sys.stdout.write(text + f"{len(left_out)} testcases not expressed as a handshake (limbo.md says why)\n")
    if divergences is not None:
        write_atomic(divergences, divergence_file(data, Path(args.corpus).name))
    _wrote(progress, Path(args.output), data)
    return EXIT_MISMATCH if data.verdicts()["mismatch"] else EXIT_OK


def _wrote(progress: Progress, out: Path, data: ResultsDocument) -> None:
    progress.message(f"wrote {out / 'results.json'}, {out / 'matrix.md'} and {out / 'matrix.html'} "
                     f"({data.run.duration_s or 0:.1f}s, {data.run.certificates_generated or 0} certificates generated)")


def cmd_probe(args: argparse.Namespace) -> int:
    from .report.console import probe_table

    host, port = parse_target(args.target) if args.target else (None, None)
    if not args.kubeconfig and not (args.target and args.ca):
        raise UsageError("probe: give HOST:PORT and --ca, or --kubeconfig FILE")
    if args.save_chain:
        writable_file(args.save_chain, "--save-chain")
    doc = api.probe(host, port, args.ca, args.clients, args.servername, args.tls, args.client_cert, args.client_key,
                    args.timeout, save_chain=args.save_chain, kubeconfig=args.kubeconfig, context=args.context,
                    groups=args.groups)
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n" if args.format == "json" else probe_table(doc))
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .report.console import probe_table

    doc = api.replay(args.chain, args.ca, args.key, args.clients, args.servername, args.tls, args.timeout,
                     kubeconfig=args.kubeconfig, context=args.context)
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n" if args.format == "json" else probe_table(doc))
    return EXIT_OK


def cmd_diagnose(args: argparse.Namespace) -> int:
    from .certs.diagnose import render_findings

    if args.chain and args.target:
        raise UsageError("diagnose: give either HOST:PORT or --chain FILE")
    host, port = parse_target(args.target) if args.target else (None, None)
    findings = api.diagnose_chain(args.ca, host, port, args.chain, args.servername, args.timeout,
                                  kubeconfig=args.kubeconfig, context=args.context)
    if args.format == "json":
        sys.stdout.write(json.dumps({"diagnosis": [f.to_json() for f in findings]}, indent=2) + "\n")
    else:
        sys.stdout.write(render_findings(findings))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Keep a scenario's endpoints up for a user's own client (kubectl, their kube-rs program, curl)."""
    from .report.console import serve_table

    scenario = api.load_scenarios(args.scenario, args.allow_unmatched_expect)[0]
    output = args.output or results_dir() / "serve" / scenario.name
    with api.serve(scenario, args.chain, args.servers, args.tls, backend=args.backend, output=output,
                   pki_cache=args.pki_cache) as serving:
        sys.stdout.write(serve_table(serving, args.duration))
        sys.stdout.flush()
        try:
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
        except KeyboardInterrupt:
            pass
        print("tlsmatrix serve: stopping the endpoints", file=sys.stderr)
    return EXIT_MISMATCH if serving.errors else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    sys.stdout.write(render(load_results(args.results), args.format))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from .report.explain import explain, render_explain

    findings = explain(load_results(args.results))
    sys.stdout.write((render_explain(findings).rstrip() + "\n") if findings else "Every stack agrees on every cell.\n")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    from .report.bundle import write_bundle

    writable_file(args.output, "--output")
    path = write_bundle(args.results, args.cells, Path(args.output), with_keys=args.with_keys,
                        pki_cache=Path(args.pki_cache) if args.pki_cache else None)
    print(f"wrote {path}" + ("" if args.with_keys else " (no private keys; --with-keys adds the TEST-ONLY leaf and client keys)"))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    if args.missing and not args.packages:
        raise UsageError("--missing goes with --packages")
    if args.packages:  # the Debian packages of every stack, one a line (`make toolchains` installs them)
        from .stacks import debian_packages

        for package in debian_packages([*CLIENTS.values(), *SERVERS.values()], missing_only=args.missing):
            print(package)
        return EXIT_OK
    if args.format == "json":  # {"clients": [...], "servers": [...], "scenarios": [...]}
        from .report.console import list_json

        hellos = api.client_hellos()  # measured: each available client's own ClientHello
        print(json.dumps(list_json(CLIENTS, SERVERS, api.default_scenarios(), hellos), indent=2))
        return EXIT_OK
    from .report.console import stacks_table

    sys.stdout.write(stacks_table(CLIENTS, SERVERS, api.default_scenarios(), scenarios_dir().parent))
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    docs = [load_results(p) for p in args.inputs]
    data = merge(docs, [str(p) for p in args.inputs])
    out = writable_dir(args.output, "--output")
    write_run_files(out, data.redacted(Redactor.for_run(out, pki_cache_dir())))  # e.g. merged_from names local files
    print(f"merged {len(docs)} shard(s), {len(data.cells)} cells → {out / 'results.json'}", file=sys.stderr)
    return EXIT_OK


def cmd_regress(args: argparse.Namespace) -> int:
    """Compare a run with the committed baselines: 0 identical, 1 changed, 2 harness error."""
    base_dir = writable_dir(args.baseline, "--baseline") if args.update_baseline else Path(args.baseline)
    baselines = load_baselines(base_dir)
    if args.results:
        data = load_results(args.results)
    else:
        paths = args.scenarios or baseline_scenarios(baselines)
        if not paths:
            raise UsageError(f"no baselines in {base_dir} and no scenario given: run with --update-baseline first")
        progress = Progress(enabled=not args.quiet)
        data = api.run(paths, backend=args.backend, timeout=args.timeout, output=args.output, progress=progress,
                       max_cells=args.max_cells, allow_unmatched_expect=args.allow_unmatched_expect)
        _wrote(progress, Path(args.output), data)  # the expectations' verdicts are not what regress reports
    if args.update_baseline:
        print(f"baseline updated for {', '.join(write_baselines(data, base_dir))} in {base_dir}")
        return EXIT_OK
    if not baselines:
        raise UsageError(f"no baselines in {base_dir}: run `tlsmatrix regress --update-baseline` to create them")
    every_change, texts = compare(data, baselines)
    changes, missing = missing_here(data, every_change)
    skipped_here = len(every_change) - len(changes)
    if missing and not args.allow_missing:
        sys.stderr.write(render_missing(missing, skipped_here) + "regress compares nothing it could not run: provide "
                         "the stacks (each line says how), or --allow-missing to compare the rest\n")
        return EXIT_ERROR
    sys.stdout.write(render_changes(changes, texts))
    if missing:
        sys.stdout.write(render_missing(missing, skipped_here).replace("could not run here", "not compared"))
    return EXIT_MISMATCH if changes else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .model.schema import render_schema

    sys.stdout.write(render_schema())
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove containers (and temporary run directories) that crashed or killed runs left."""
    from .running.endpoints.docker import clean
    from .stacks.engine import DockerUnavailable
    from .running.reaper import reap_run_dirs

    removed_dirs = reap_run_dirs(args.all)
    try:
        removed = clean(only_dead=not args.all)
    except DockerUnavailable as exc:
        print(f"tlsmatrix clean: no Docker engine to clean ({exc}); removed {removed_dirs} temporary run dir(s)",
              file=sys.stderr)
        return EXIT_ERROR
    print(f"tlsmatrix clean: removed {removed} container(s) and {removed_dirs} temporary run dir(s)")
    return EXIT_OK


# --- running a command -------------------------------------------------------------------------

#: stopped_count() when the signal came: what the library stopped after it is what an interruption stopped
_INTERRUPTED_AT = [0]


def _raise_interrupt(signum: int, frame: Any) -> None:
    _INTERRUPTED_AT[0] = stopped_count()
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("TLSMATRIX_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]  # a global flag: accepted before or after the command
    _SAVED.clear()
    if argv[:1] == ["build"]:
        return _guarded(lambda: build_main(argv[1:]), "build", debug)
    if argv[:1] == ["images"]:
        from .stacks.images import main as images_main

        return _guarded(lambda: images_main(argv[1:]), "images", debug)
    args = build_parser().parse_args(argv)
    command = globals()[f"cmd_{args.command}"]  # looked up now: tests replace a command
    if threading.current_thread() is threading.main_thread():
        # also when started with SIGINT ignored (a `cmd &` from a script): Ctrl-C must stop the run
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGINT, _raise_interrupt)
    _INTERRUPTED_AT[0] = stopped_count()
    with warnings.catch_warnings():
        warnings.simplefilter("always", TlsmatrixWarning)
        warnings.showwarning = _show_warning(warnings.showwarning)
        return _guarded(lambda: command(args), args.command, debug)


def _show_warning(default: Any) -> Any:
    def show(message: Any, category: type, *rest: Any, **kwargs: Any) -> None:
        if issubclass(category, TlsmatrixWarning):
            print(f"tlsmatrix: warning: {message}", file=sys.stderr)
        else:
            default(message, category, *rest, **kwargs)
    return show


def _guarded(call, command: str, debug: bool) -> int:
    """Run a command; every error is exit status 2 with one line (1 stays "a cell contradicts its
    expectation", so CI can tell a crash from a regression). Tracebacks only with --debug."""
    try:
        return call()
    except TlsmatrixError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # e.g. `tlsmatrix list | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:  # the library stopped what it started on the way out
        stopped = stopped_count() - _INTERRUPTED_AT[0]
        saved = f"; results in {_SAVED[-1]}" if _SAVED else "; no results written"
        print(f"\ntlsmatrix: interrupted; stopped {stopped} child process(es){saved}", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            traceback.print_exc()
        return _fail(f"`tlsmatrix {command}`: {validate.describe_os_error(exc)}")
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, and its own exit status (3)
        if debug:
            traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0][:300]
        return _fail(f"unexpected {type(exc).__name__} in `tlsmatrix {command}`: {first} (a bug in tlsmatrix: "
                     "rerun with --debug for the traceback and report it)", EXIT_BUG)


def _fail(message: str, status: int = EXIT_ERROR) -> int:
    if _SAVED:
        message += f" (the results were saved: {_SAVED[-1]})"
    print(f"tlsmatrix: error: {in_checkout_hint(message)}", file=sys.stderr)
    return status
