"""Issue 14 as a hostile user tries it: every case of its list, run through the real command line.

Exit status 2 for every harness error with one line naming the bad value or file, nothing
started before the input is checked, results never lost, leftovers of killed runs reaped,
and no local path in anything a user attaches.
"""
from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.owner import owner_of, start_ticks
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack
from .test_cli import ROOT, cli_env, processes_with, tlsmatrix, wait_gone  # noqa: F401 - cli_env is a fixture

pytestmark = pytest.mark.integration

SMALL = """
name = "{name}"
[axes]
tls = ["1.3"]
servers = ["openssl"]
clients = ["openssl", "go"]
[[chain]]
root = "P-256"
leaf = "P-256"
[[expect]]
outcome = "ok"
"""


def small(tmp_path: Path, name: str = "small", extra: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(SMALL.format(name=name) + extra)
    return path


def one_error_line(r: subprocess.CompletedProcess) -> str:
    """Exit 2, no traceback, exactly one line on stderr: returned for further checks."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# --- item 1: exit codes, numbers, paths ---------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_matrix_timeout_out_of_range_is_exit_2_before_anything_runs(cli_env, tmp_path, value):
    out = tmp_path / "out"
    line = one_error_line(tlsmatrix("matrix", small(tmp_path), "--timeout", value, "--output", out, env=cli_env))
    assert f"argument --timeout: '{value}'" in line and "from 0.001 to 3,600" in line
    assert not out.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_probe_timeout_out_of_range_is_exit_2(cli_env, value):
    line = one_error_line(tlsmatrix("probe", "127.0.0.1:1", "--ca", __file__, "--timeout", value, env=cli_env))
    assert f"argument --timeout: '{value}'" in line


def test_other_numbers_are_checked_on_every_command(cli_env, tmp_path):
    for args in (["matrix", small(tmp_path), "--max-cells", "-5"], ["regress", "--timeout", "nan"],
                 ["serve", small(tmp_path), "--duration", "nan"], ["diagnose", "--ca", __file__, "--timeout", "inf"],
                 ["matrix", small(tmp_path), "--shard", "0/0"]):
        assert "error: argument" in one_error_line(tlsmatrix(*args, env=cli_env))


def test_output_that_is_a_file_fails_before_the_run(cli_env, tmp_path):
    existing = tmp_path / "existing"
    existing.write_text("precious")
    pki = tmp_path / "fresh-pki"
    env = dict(cli_env, TLSMATRIX_PKI_CACHE=str(pki))
    started = time.monotonic()
    line = one_error_line(tlsmatrix("matrix", small(tmp_path), "--output", existing, env=env))
    assert f"--output {existing}: exists and is not a directory" in line
    assert time.monotonic() - started < 20 and not pki.exists()  # no certificate was made
    assert existing.read_text() == "precious"


def test_pki_cache_that_is_a_file_or_unwritable_fails_naming_the_path(cli_env, tmp_path):
    existing = tmp_path / "existing"
    existing.write_text("x")
    line = one_error_line(tlsmatrix("matrix", small(tmp_path), "--pki-cache", existing, "--output", tmp_path / "o",
                                    env=cli_env))
    assert f"--pki-cache {existing}: exists and is not a directory" in line
    for flag in ("--output", "--pki-cache"):
        line = one_error_line(tlsmatrix("matrix", small(tmp_path), flag, "/proc/tlsmatrix-test/x", env=cli_env))
        assert f"{flag} /proc/tlsmatrix-test/x: cannot write there" in line
    assert not (tmp_path / "o").exists()


def test_results_are_not_lost_when_the_output_breaks_during_the_run(cli_env, tmp_path):
    """The output directory is checked up front; when it still fails at the end, the results go
    to a file in the temp directory and the error line says where."""
    out = tmp_path / "out"
    env = dict(cli_env, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "tlsmatrix", "matrix", str(ROOT / "scenarios" / "rustls-p521.toml"),
                             "--clients", "openssl,go", "--output", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    assert "cells from 1 scenario" in first, first
    out.write_text("something took the output's place while the matrix ran")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    m = re.search(r"the results were saved: (\S+\.json)\)", err)
    assert m and f"cannot write {out}/results.json" in err, err
    data = json.loads(Path(m.group(1)).read_text())
    assert len(data["results"]) == 40 and {r["outcome"] for r in data["results"]} == {"ok"}


def test_an_empty_client_list_is_an_error_not_every_client(cli_env, tmp_path):
    for args in (["matrix", small(tmp_path), "--clients", ","], ["probe", "127.0.0.1:1", "--ca", __file__, "--clients", ","],
                 ["matrix", small(tmp_path), "--tls", ","], ["serve", small(tmp_path), "--chain", ","]):
        assert "names nothing" in one_error_line(tlsmatrix(*args, env=cli_env))


#: `tlsmatrix` whose report command has a bug: what an unexpected exception looks like to a user
_BUGGY_CLI = ("import sys\nfrom tlsmatrix import cli\n\ndef boom(args):\n    raise KeyError('a bug')\n\n"
              "cli.cmd_report = boom\nsys.exit(cli.main(sys.argv[1:]))\n")


def test_an_unexpected_exception_is_one_line_and_the_traceback_needs_debug(cli_env, tmp_path):
    def buggy(*args):
        return subprocess.run([sys.executable, "-c", _BUGGY_CLI, *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env=cli_env)

    r = buggy("report", tmp_path)  # a bug in tlsmatrix: exit 3, not 2 (the input's or setup's fault)
    assert r.returncode == 3 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    line = r.stderr.strip()
    assert line.startswith("tlsmatrix: error: unexpected KeyError in `tlsmatrix report`") and "--debug" in line
    r = buggy("--debug", "report", tmp_path)
    assert r.returncode == 3 and "Traceback (most recent call last)" in r.stderr
    r = buggy("report", tmp_path, "--debug")  # the flag anywhere on the line
    assert r.returncode == 3 and "Traceback (most recent call last)" in r.stderr


def test_a_crafted_results_document_is_a_harness_error_naming_the_place(cli_env, tmp_path):
    broken = tmp_path / "results.json"
    broken.write_text(json.dumps({"results": [{"id": "1"}]}))  # no scenario, no outcome
    line = one_error_line(tlsmatrix("report", broken, env=cli_env))
    assert line.startswith("tlsmatrix: error: ") and "results[0]" in line and "'scenario'" in line, line
    broken.write_text(json.dumps({"results": [{"id": "1", "scenario": "s", "outcome": "ok", "chain": 5}]}))
    line = one_error_line(tlsmatrix("report", broken, env=cli_env))
    assert "results[0].chain: expected an object" in line, line


# --- item 2: scenario validation ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", "a/b"])
def test_a_scenario_name_that_is_a_path_is_refused(cli_env, tmp_path, name):
    path = tmp_path / "s.toml"
    path.write_text(SMALL.format(name=name))
    line = one_error_line(tlsmatrix("matrix", path, "--output", tmp_path / "o", env=cli_env))
    assert f"{path}: name: must be an identifier" in line and repr(name) in line


def test_update_baseline_cannot_write_outside_the_baseline_dir(cli_env, tmp_path):
    """Even from a crafted results file (no scenario validation on that path)."""
    base = tmp_path / "deep" / "baseline"
    base.mkdir(parents=True)
    crafted = tmp_path / "results.json"
    record = {"id": "x|c|1.3|openssl|openssl", "scenario": "../escaped", "outcome": "ok", "error": None}
    crafted.write_text(json.dumps({"results": [record], "scenarios": []}))
    line = one_error_line(tlsmatrix("regress", "--results", crafted, "--update-baseline", "--baseline", base,
                                    env=cli_env))
    assert "'../escaped'" in line and "refusing to write a baseline" in line
    assert not (tmp_path / "deep" / "escaped.json").exists() and list(base.iterdir()) == []


def test_an_expect_rule_that_matches_no_cell_is_an_error_or_with_the_flag_a_warning(cli_env, tmp_path):
    path = small(tmp_path, extra='[[expect]]\nclient = "opnessl*"\noutcome = "untrusted"\n')
    line = one_error_line(tlsmatrix("matrix", path, "--output", tmp_path / "o", env=cli_env))
    assert f"{path}: expect[1]: matches no cell of the scenario: client = 'opnessl*'" in line
    r = tlsmatrix("matrix", path, "--output", tmp_path / "o", "--allow-unmatched-expect", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "tlsmatrix: warning:" in r.stderr and "expect[1]" in r.stderr


def test_a_rule_for_a_client_left_out_by_clients_is_fine(cli_env, tmp_path):
    path = small(tmp_path, extra='[[expect]]\nclient = "go"\noutcome = "ok"\n')
    r = tlsmatrix("matrix", path, "--clients", "openssl", "--output", tmp_path / "o", env=cli_env)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_an_empty_root_list_names_file_and_key(cli_env, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL.format(name="x").replace('root = "P-256"', "root = []"))
    line = one_error_line(tlsmatrix("matrix", path, env=cli_env))
    assert f"{path}: chain[0].root: must not be an empty list" in line


def test_a_huge_scenario_is_refused_before_any_certificate(cli_env, tmp_path):
    keys = '["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519"]'
    clients = ", ".join(f'"{c}"' for c in CLIENTS if not CLIENTS[c].needs_app)
    path = tmp_path / "huge.toml"
    path.write_text(f'name = "huge"\n[axes]\nclients = [{clients}]\n[[chain]]\nroot = {keys}\n'
                    f'intermediates = ["P-256", "P-384"]\nleaf = {keys}\nclient_cert = {keys}\n')
    pki = tmp_path / "pki"
    started = time.monotonic()
    line = one_error_line(tlsmatrix("matrix", path, "--pki-cache", pki, "--output", tmp_path / "o", env=cli_env))
    assert re.search(r"[\d,]+ cells to run \(huge: [\d,]+\) exceed --max-cells 20,000", line), line
    assert time.monotonic() - started < 30 and not pki.exists()


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for n in (1, 2):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", d / f"k{n}.pem", "-out", d / f"c{n}.pem", "-subj", f"/CN=t{n}", "-days", "1"],
                       check=True, capture_output=True)
    (d / "ca-and-key.pem").write_bytes((d / "c1.pem").read_bytes() + (d / "k1.pem").read_bytes())
    return d


def test_an_empty_servername_is_refused(cli_env, tmp_path, key_files):
    path = tmp_path / "s.toml"
    path.write_text('servername = ""\n' + SMALL.format(name="x"))
    assert f"{path}: servername: must be a non-empty host name" in one_error_line(tlsmatrix("matrix", path,
                                                                                           env=cli_env))
    line = one_error_line(tlsmatrix("probe", "127.0.0.1:1", "--ca", key_files / "c1.pem", "--servername", "",
                                    env=cli_env))
    assert "--servername '': must be a non-empty host name" in line


def test_probe_refuses_unusable_keys_and_a_ca_file_with_a_key(cli_env, key_files):
    d = key_files
    probe = ["probe", "127.0.0.1:1", "--clients", "openssl"]
    line = one_error_line(tlsmatrix(*probe, "--ca", d / "c1.pem", "--client-cert", d / "c1.pem",
                                    "--client-key", d / "c2.pem", env=cli_env))
    assert f"--client-key {d / 'c2.pem'}: not a PEM private key" in line
    line = one_error_line(tlsmatrix(*probe, "--ca", d / "c1.pem", "--client-cert", d / "c1.pem",
                                    "--client-key", d / "k2.pem", env=cli_env))
    assert f"--client-key {d / 'k2.pem'}: does not belong to the certificate in --client-cert {d / 'c1.pem'}" in line
    line = one_error_line(tlsmatrix(*probe, "--ca", d / "ca-and-key.pem", env=cli_env))
    assert f"--ca {d / 'ca-and-key.pem'}: holds a private key" in line


# --- item 4: a run reaps what killed runs left -------------------------------------------------------


def owned_dirs(root: Path) -> dict[Path, int]:
    return {p: owner_of(p.name).pid for p in root.iterdir() if owner_of(p.name) is not None}


def test_kill_9_leftovers_are_reaped_by_the_next_run(cli_env, tmp_path):
    """kill -9 of a run's whole process group (a CI timeout, the OOM killer) leaves the probes'
    and CLI servers' temporary directories; the next run removes them."""
    for stack in (CLIENTS["gnutls-cli"], CLIENTS["tstclnt"], SERVERS["gnutls"], SERVERS["nss"]):
        require_stack(stack)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = uuid.uuid4().hex
    env = dict(cli_env, TMPDIR=str(tmp), TLSMATRIX_TEST_MARKER=marker)
    proc = subprocess.Popen([sys.executable, "-m", "tlsmatrix", "matrix", str(ROOT / "scenarios" / "server-stacks.toml"),
                             str(ROOT / "scenarios" / "curves.toml"), "--clients", "gnutls,nss,openssl",
                             "--output", str(tmp_path / "killed")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    seen = threading.Event()
    # the first progress line: cells are coming in, so every server and probe has started (on a pipe the
    # progress says the first cell, then every 10%)
    threading.Thread(target=lambda: [seen.set() for line in proc.stderr if line.startswith("[") and "←" in line],
                     daemon=True).start()
    assert seen.wait(240)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not owned_dirs(tmp):
        time.sleep(0.2)  # the CLI stacks' own temporary directories (gnutls-serv/selfserv work dirs, NSS databases)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert wait_gone(marker, timeout=20) == []
    left = owned_dirs(tmp)
    assert left and not any(owner_of(p.name).alive() for p in left), left  # the leak this test is about
    r = tlsmatrix("matrix", small(tmp_path), "--output", tmp_path / "next", env=dict(cli_env, TMPDIR=str(tmp)))
    assert r.returncode == 0, r.stderr
    assert [p for p in left if p.exists()] == []


# --- item 5: nothing local in what users attach --------------------------------------------------------


def test_no_artefact_holds_a_local_path_or_the_hostname(cli_env, tmp_path):
    scenario = tmp_path / "leak.toml"
    clients = ["openssl", "go"] + [c for c in ("tstclnt",) if not CLIENTS[c].unavailable_reason()]
    scenario.write_text('name = "leak"\n[axes]\ntls = ["1.3"]\nservers = ["openssl"]\n'
                        f'clients = {json.dumps(clients)}\n[[chain]]\nroot = ["P-256", "Ed25519"]\nleaf = "P-256"\n'
                        '[[expect]]\noutcome = "ok"\n[[expect]]\nclient = "tstclnt"\nroot = "Ed25519"\n'
                        'outcome = "unsupported_algorithm"\n')
    out = tmp_path / "run"
    for args in (["matrix", ROOT / "scenarios" / "rustls-p521.toml", "--clients", "openssl,go"], ["matrix", scenario]):
        r = tlsmatrix(*args, "--output", out / args[1].stem, "-q", env=cli_env)
        assert r.returncode == 0, r.stderr
    if "tstclnt" in clients:  # NSS quotes the CA file's path in its error: a real error text to redact
        data = json.loads((out / "leak" / "results.json").read_text())
        assert any("<pki>/chains/" in (r.get("error_detail") or "") + (r.get("error") or "") for r in data["results"])
    artefacts: dict[str, str] = {}
    for run in ("rustls-p521", "leak"):
        for name in ("results.json", "matrix.md"):
            artefacts[f"{run}/{name}"] = (out / run / name).read_text()
        for fmt in ("markdown", "html", "junit", "json", "table"):
            r = tlsmatrix("report", out / run, "--format", fmt, env=cli_env)
            assert r.returncode == 0, r.stderr
            artefacts[f"{run} --format {fmt}"] = r.stdout
        bundle = tmp_path / f"{run}.tar.gz"
        records = json.loads((out / run / "results.json").read_text())["results"]
        cells = [x for r in records[:1] + [r for r in records if r["outcome"] != "ok"] for x in ("--cell", r["id"])]
        r = tlsmatrix("bundle", out / run, "-o", bundle, *cells, env=cli_env)
        assert r.returncode == 0, r.stderr
        with tarfile.open(bundle) as tar:
            for m in tar.getmembers():
                artefacts[f"{bundle.name}:{m.name}"] = tar.extractfile(m).read().decode("utf-8", "replace")
        assert any(name.endswith("/ca.pem") for name in artefacts if name.startswith(bundle.name))  # cache found
    local = {str(tmp_path), cli_env["TLSMATRIX_PKI_CACHE"], cli_env["TLSMATRIX_RESULTS_DIR"], str(ROOT),
             str(Path.home()), str(Path(cli_env["TLSMATRIX_PKI_CACHE"]).resolve())}
    host = platform.node()
    for name, text in artefacts.items():
        for directory in local:  # as a path: "/root" in "work/root.key" is no home directory
            assert not re.search(rf"(?<![\w.-]){re.escape(directory)}(?![\w.-])", text), (name, directory)
        if host and host != "localhost" and not name.endswith(".pem"):  # base64 may spell a short name
            assert not re.search(rf"\b{re.escape(host)}\b", text), (name, host)


@pytest.mark.parametrize("client", ["openssl-cli", "curl", "gnutls-cli", "tstclnt"])
def test_a_command_line_tool_dies_with_its_probe(client, pki_cache):
    """kill -9 of a command-line column's probe in the middle of a handshake against a peer that never
    answers: the tool it started (through ``setpriv --pdeathsig KILL``) goes too, at once."""
    import socket

    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

    stack = CLIENTS[client]
    require_stack(stack)
    chain = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256"))))
    with socket.socket() as silent:  # completes TCP handshakes, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        job = {"id": "1", "host": "127.0.0.1", "port": silent.getsockname()[1], "servername": "localhost",
               "ca_file": str(chain.ca_file), "tls_version": "1.3", "timeout_ms": 60000}
        probe = subprocess.Popen(stack.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert "hello" in probe.stdout.readline()
            probe.stdin.write(json.dumps(job) + "\n")
            probe.stdin.flush()
            tools = _children_within(probe.pid, 20)
            assert tools and all(start_ticks(pid) for pid in tools), f"{client}: no tool waiting on the peer"
        finally:
            probe.kill()
            probe.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(start_ticks(pid) for pid in tools):  # None: gone or a zombie
            time.sleep(0.05)
        assert [pid for pid in tools if start_ticks(pid)] == []


def _children_within(pid: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if kids:
            time.sleep(0.3)  # past setpriv's exec: the tool itself
            return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        time.sleep(0.05)
    return []

