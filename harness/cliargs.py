"""The command line's arguments (harness/cli.py runs the commands: ``cmd_<command>``).

Every value is checked here or in harness/validate.py before any work starts; a usage error is one
line and exit status 2, like every harness error.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from .model import __version__
from . import validate
from .stacks.clients import CLIENTS
from .report.formats import REPORT_FORMATS
from .running.runner import BACKENDS, DEFAULT_TIMEOUT_MS
from .running.scenarios import UNMATCHED_EXPECT_FLAG
from .stacks.servers import SERVERS
from .model.paths import baseline_dir, results_dir
from .validate import DEFAULT_MAX_CELLS, name_list, seconds

#: 3: an exception tlsmatrix did not expect, i.e. a bug in tlsmatrix, never the input's fault (2)
EXIT_OK, EXIT_MISMATCH, EXIT_ERROR, EXIT_BUG = 0, 1, 2, 3
_TIMEOUT = seconds(0.001, 3600)
DESCRIPTION = "Command line: ``tlsmatrix matrix | probe | diagnose | serve | report | explain | bundle | regress | list | build``."


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what, which value, where to look), exit status 2 like every harness error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _backend(sub: argparse.ArgumentParser, **kwargs: Any) -> None:
    sub.add_argument("--backend", choices=BACKENDS, default=os.environ.get("TLSMATRIX_BACKEND") or "process", **kwargs)


def _scenario_limits(sub: argparse.ArgumentParser, max_cells: bool = True, unmatched: bool = True) -> None:
    if max_cells:
        sub.add_argument("--max-cells", type=validate.count(1, 10_000_000), default=DEFAULT_MAX_CELLS,
                         help=f"refuse to run more cells than this (default {DEFAULT_MAX_CELLS:,}), checked before "
                              "any certificate is made")
    if unmatched:
        sub.add_argument(UNMATCHED_EXPECT_FLAG, action="store_true",
                         help="an [[expect]] rule that matches no cell of its scenario is a warning, not an error")


def _run_options(p: argparse.ArgumentParser, output: str, writes: str, backend_help: str) -> None:
    """What every command that runs cells takes: output format, backend, timeout, where results go."""
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    _backend(p, help=backend_help)
    p.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000, help="per-handshake timeout, seconds")
    p.add_argument("--output", default=str(results_dir() / output), help=f"directory for {writes}")
    p.add_argument("--pki-cache", help="certificate cache directory (default: results/cache/pki)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _add_run_commands(sub: Any) -> None:
    m = sub.add_parser("matrix", help="run scenarios and print the matrix")
    m.add_argument("scenarios", nargs="*", help="scenario files (default: scenarios/*.toml)")
    m.add_argument("--clients", type=name_list, help=f"client stacks to run ({', '.join(CLIENTS)})")
    m.add_argument("--servers", type=name_list, help=f"server stacks to run ({', '.join(SERVERS)})")
    m.add_argument("--tls", type=name_list, help="TLS versions to run: 1.2,1.3")
    _run_options(m, "latest", "results.json, matrix.md and matrix.html",
                 "where server endpoints run: local processes (default) or Docker containers")
    m.add_argument("--shard", type=validate.shard, help="run only shard K of N (K/N): cell i goes to shard (i mod N)+1")
    m.add_argument("--no-retry", action="store_true", help="do not retry a timed-out cell once")
    m.add_argument("--full", action="store_true", help="print every scenario's full table with the stacks' own "
                                                        "words (default on a terminal: a grid of chains × stack "
                                                        "families and the summary; the full tables go to matrix.md)")
    _scenario_limits(m)

    lb = sub.add_parser("limbo", help="x509-limbo's server testcases through real handshakes: agreement per client")
    lb.add_argument("corpus", help="a limbo corpus: limbo.json, or its generator's output ({version, testcases})")
    lb.add_argument("--ids", type=name_list, help="testcase ids or globs (default: every testcase)")
    lb.add_argument("--clients", type=name_list, help="client stacks (default: the host's TLS client stacks)")
    lb.add_argument("--servers", type=name_list, help="server stacks (default: go, which presents a chain as given)")
    lb.add_argument("--tls", type=name_list, help="TLS versions: 1.2,1.3 (default: whatever the stacks agree on)")
    lb.add_argument("--divergences", action="append", default=[], metavar="FILE",
                    help="expected divergences (TOML, docs/limbo.md): a listed one passes, a new one fails "
                         "(exit 1); repeatable")
    lb.add_argument("--write-divergences", metavar="FILE",
                    help="write this run's disagreements as an expected-divergence file (to commit, after review)")
    _run_options(lb, "limbo", "results.json, matrix.md, matrix.html and limbo.md",
                 "where the server runs: a local process (default) or a Docker container")
    _scenario_limits(lb, unmatched=False)

    sv = sub.add_parser("serve", help="keep a scenario's endpoints up (and write kubeconfigs) for your own client")
    sv.add_argument("scenario", help="scenario file")
    sv.add_argument("--chain", type=name_list, help="chain labels or globs to serve (default: every chain)")
    sv.add_argument("--servers", type=name_list, help="server stacks (default: the scenario's)")
    sv.add_argument("--tls", type=name_list, help="TLS versions (default: the scenario's)")
    _backend(sv)
    sv.add_argument("--output", help="directory for endpoints.json and kubeconfig/ (default: results/serve/SCENARIO); "
                                     "removed when serving stops")
    sv.add_argument("--duration", type=seconds(0.001, 31 * 86400),
                    help="stop after this many seconds (default: until Ctrl-C/SIGTERM)")
    _scenario_limits(sv, max_cells=False)
    sv.add_argument("--pki-cache", help="certificate cache directory (default: results/cache/pki)")

    rg = sub.add_parser("regress", help="run the baseline scenarios and diff them against results/baseline")
    rg.add_argument("scenarios", nargs="*", help="scenario files (default: those with a baseline)")
    rg.add_argument("--baseline", default=str(baseline_dir()), help="baseline directory")
    rg.add_argument("--results", help="compare this results.json (or directory) instead of running")
    rg.add_argument("--update-baseline", action="store_true", help="write the baselines from this run")
    rg.add_argument("--allow-missing", action="store_true",
                    help="compare what could run when stacks are missing here (no engine, an image or probe not "
                         "built) and say how many cells were not compared; without it regress exits 2")
    _backend(rg)
    rg.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000)
    _scenario_limits(rg)
    rg.add_argument("--output", default=str(results_dir() / "regress"), help="where the run's results go")
    rg.add_argument("-q", "--quiet", action="store_true")


def _add_endpoint_commands(sub: Any) -> None:
    p = sub.add_parser("probe", help="run every client stack against an existing endpoint")
    p.add_argument("target", nargs="?", help="HOST:PORT (default with --kubeconfig: the context's server)")
    p.add_argument("--ca", type=validate.ca_file,
                   help="PEM file with the CA certificate(s) to trust, or `system` for the operating system's store "
                        "(only these; default with --kubeconfig: the cluster's certificate-authority)")
    _kubeconfig_options(p)
    p.add_argument("--servername", help="name to send (SNI) and verify (default: HOST); an IP address is checked "
                                        "against the certificate's IP SANs and sent without SNI")
    p.add_argument("--clients", type=name_list, help=f"client stacks ({', '.join(CLIENTS)})")
    p.add_argument("--tls", help="pin TLS version 1.2 or 1.3")
    p.add_argument("--groups", help="key-exchange groups the clients offer, in preference order "
                                    "(X25519MLKEM768:x25519; default: each stack's own list); '*' marks the "
                                    "ones to send a key share for ('*x25519:X25519MLKEM768', OpenSSL 3.5's "
                                    "syntax); a stack that lacks one, or cannot be told, is skipped")
    p.add_argument("--client-cert", help="PEM client certificate to present (mTLS; Kubernetes clients put it "
                                         "in their kubeconfig); stacks that cannot present one are skipped")
    p.add_argument("--client-key", help="the client certificate's PEM private key")
    p.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000, help="seconds (default 10)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--save-chain", metavar="FILE", help="write the chain the server sent (PEM, as sent) to FILE, "
                                                        "for a bug report that `tlsmatrix replay` can run")

    rp = sub.add_parser("replay", help="serve a chain exactly as given (no server key needed) to every client stack")
    rp.add_argument("--chain", required=True, help="PEM file with the chain a server sends, leaf first, as given")
    rp.add_argument("--ca", type=validate.ca_file,
                    help="PEM file with the CA certificate(s) to trust, or `system` (only these; or --kubeconfig)")
    _kubeconfig_options(rp)
    rp.add_argument("--key", help="the leaf's private key (PEM), when you have it; without it a TEST-ONLY "
                                  "substitute signs, and a chain every check accepts is `chain_ok`")
    rp.add_argument("--servername", help="name to send (SNI) and verify (default: the leaf's first DNS/IP name); an "
                                         "IP address is checked against IP SANs and sent without SNI")
    rp.add_argument("--clients", type=name_list, help=f"client stacks ({', '.join(CLIENTS)})")
    rp.add_argument("--tls", help="pin TLS version 1.2 or 1.3")
    rp.add_argument("--timeout", type=_TIMEOUT, default=DEFAULT_TIMEOUT_MS / 1000, help="seconds (default 10)")
    rp.add_argument("--format", choices=("table", "json"), default="table")

    dg = sub.add_parser("diagnose", help="name the properties of a chain that break TLS stacks (no handshakes "
                                         "but one that fetches the chain)")
    dg.add_argument("target", nargs="?", help="HOST:PORT whose chain to fetch (or --chain)")
    dg.add_argument("--ca", type=validate.ca_file,
                    help="the CA file a client would trust (PEM, or `system`; default with --kubeconfig: the cluster's)")
    _kubeconfig_options(dg)
    dg.add_argument("--chain", help="PEM file with the chain a server sends, leaf first (instead of HOST:PORT)")
    dg.add_argument("--servername", help="name to check the leaf against (default: HOST)")
    dg.add_argument("--timeout", type=_TIMEOUT, default=10.0, help="seconds for fetching the chain")
    dg.add_argument("--format", choices=("table", "json"), default="table")


def _kubeconfig_options(p: Any) -> None:
    p.add_argument("--kubeconfig", metavar="FILE", help="take the server, its CA, the server name and the client "
                                                        "credentials from a kubeconfig, as kubectl does (they "
                                                        "appear in no output)")
    p.add_argument("--context", help="the kubeconfig context (default: its current-context)")


def _add_results_commands(sub: Any) -> None:
    latest = str(results_dir() / "latest")
    mg = sub.add_parser("merge", help="merge shard results into one results document")
    mg.add_argument("inputs", nargs="+", help="shard results.json files or their directories")
    mg.add_argument("-o", "--output", required=True, help="directory for the merged results.json and matrix.md")
    sub.add_parser("schema", help="print the results document's JSON Schema")
    r = sub.add_parser("report", help="render a results.json (or its directory) again")
    r.add_argument("results", nargs="?", default=latest)
    r.add_argument("--format", choices=REPORT_FORMATS, default="table")
    ex = sub.add_parser("explain", help="which axis flips which stack's outcome, computed from results")
    ex.add_argument("results", nargs="?", default=latest)
    bd = sub.add_parser("bundle", help="a tarball that reproduces failing cells without tlsmatrix")
    bd.add_argument("results", nargs="?", default=latest)
    bd.add_argument("--cell", action="append", dest="cells", help="cell id (repeatable; default: every failing cell)")
    bd.add_argument("-o", "--output", required=True, help="FILE.tar.gz")
    bd.add_argument("--with-keys", action="store_true", help="include the TEST-ONLY leaf (and mTLS client) private keys")
    bd.add_argument("--pki-cache", help="the certificate cache the run used (default: results/cache/pki); "
                                        "the results name chain directories relative to it")


def _add_setup_commands(sub: Any) -> None:
    c = sub.add_parser("clean", help="remove containers and temporary files left by crashed or killed runs")
    c.add_argument("--all", action="store_true", help="also containers of runs that are still alive")
    ls = sub.add_parser("list", help="list stacks (and whether they are available) and scenarios")
    ls.add_argument("--packages", action="store_true",
                    help="print the Debian packages the stacks need (run time and build), one a line")
    ls.add_argument("--missing", action="store_true", help="with --packages: only those not installed here")
    ls.add_argument("--format", choices=("table", "json"), default="table",
                    help="json: {clients: [{name, available, version, runs_in, image}], servers, scenarios}")
    # parsed by harness/stacks/build.py and harness/images (main() hands them the rest of the line)
    sub.add_parser("build", help="build the compiled probes (Rust, Go)", add_help=False)
    sub.add_parser("images", help="build the server-stack images for --backend docker", add_help=False)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tlsmatrix", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"tlsmatrix {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, print the traceback too (any position on the command line)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_run_commands, _add_endpoint_commands, _add_results_commands, _add_setup_commands):
        add(sub)
    return parser
