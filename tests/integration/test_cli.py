"""The command line as a user runs it: real processes, real exit codes, real cleanup."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS, TLS_CLIENTS

from .conftest import server_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def tlsmatrix(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "tlsmatrix", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def cli_env(pki_cache, tmp_path_factory):
    env = dict(os.environ, TLSMATRIX_PKI_CACHE=str(pki_cache.root),
               TLSMATRIX_RESULTS_DIR=str(tmp_path_factory.mktemp("results")))
    return env


SMALL = """
name = "small"
[axes]
tls = ["1.3"]
servers = ["openssl"]
clients = ["openssl"]
[[chain]]
root = "P-521"
leaf = "P-256"
[[expect]]
outcome = "{outcome}"
"""


def test_version_and_list(cli_env):
    assert tlsmatrix("--version", env=cli_env).stdout.startswith("tlsmatrix ")
    out = tlsmatrix("list", env=cli_env)
    assert out.returncode == 0
    for name in CLIENTS:
        assert name in out.stdout
    assert "scenarios/rustls-p521.toml" in out.stdout
    rows = {tuple(line.split()[:2]): line.split() for line in out.stdout.splitlines()
            if line.startswith(("client ", "server "))}
    assert rows[("client", "rustls-ring")][3] == "yes" and rows[("client", "gnutls-cli")][3] != "yes"  # the mTLS column
    assert rows[("server", "rustls-ring")][3] == "yes" and rows[("server", "gnutls")][3] != "yes"


def test_matrix_exit_codes_and_outputs(cli_env, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(SMALL.format(outcome="ok"))
    out = tmp_path / "out"
    r = tlsmatrix("matrix", good, "--output", out, env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "+ 1 chain(s) every family accepts" in r.stdout and "matrix.md" in r.stdout  # the grid, at a glance
    full = tlsmatrix("matrix", good, "--output", out, "--full", env=cli_env)
    assert "P-521 → P-256" in full.stdout and "ok" in full.stdout
    data = json.loads((out / "results.json").read_text())
    assert [c["outcome"] for c in data["results"]] == ["ok"]
    assert data["clients"]["openssl"]["version"]
    # what each part of the run cost (Linux: /proc): the probe, the server program, the harness itself
    assert data["clients"]["openssl"]["cpu_s"] > 0 and data["servers"]["openssl"]["cpu_s"] > 0
    assert data["run"]["cpu_s"] > 0
    assert "| P-521 → P-256" in (out / "matrix.md").read_text()

    wrong = tmp_path / "wrong.toml"
    wrong.write_text(SMALL.format(outcome="untrusted").replace('"small"', '"wrong"'))
    r = tlsmatrix("matrix", wrong, "--output", out, "--format", "json", env=cli_env)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["results"][0]["verdict"] == "mismatch"


@pytest.mark.parametrize("text,needles", [
    ('name = "x"\n[[chain]]\nroot = "P-999"\nleaf = "P-256"\n', ["chain[0].root", "P-999"]),
    ("not toml at all [", ["invalid TOML"]),
])
def test_matrix_bad_scenario_exits_2_naming_file_and_key(cli_env, tmp_path, text, needles):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    r = tlsmatrix("matrix", path, "--output", out, env=cli_env)
    assert r.returncode == 2
    assert str(path) in r.stderr and all(n in r.stderr for n in needles)
    assert not out.exists()  # nothing half-written


def test_matrix_unknown_client_exits_2(cli_env, tmp_path):
    r = tlsmatrix("matrix", ROOT / "scenarios" / "rustls-p521.toml", "--clients", "schannel", env=cli_env)
    assert r.returncode == 2 and "unknown client stack 'schannel'" in r.stderr


def test_probe_json_against_a_real_endpoint(cli_env, served):
    s = server_for(served, "go")
    port = s.port("good")
    r = tlsmatrix("probe", f"127.0.0.1:{port}", "--ca", s.files["good"].ca_file, "--servername", "localhost",
                  "--format", "json", "--timeout", "5", env=cli_env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["target"] == f"127.0.0.1:{port}"
    assert [x["client"] for x in doc["results"]] == TLS_CLIENTS
    for x in doc["results"]:
        if CLIENTS[x["client"]].unavailable_reason():
            assert x["outcome"] == "skipped"
        else:
            assert x["outcome"] == "ok" and x["error"] is None and x["version"], x


def test_probe_failures_are_results_not_errors(cli_env, served, trustme_chain):
    s = server_for(served, "openssl")
    r = tlsmatrix("probe", f"127.0.0.1:{s.port('good')}", "--ca", trustme_chain.ca_file, "--format", "json",
                  "--clients", "openssl,go", "--tls", "1.2", env=cli_env)
    assert r.returncode == 0, r.stderr
    outcomes = {x["client"]: x["outcome"] for x in json.loads(r.stdout)["results"]}
    assert set(outcomes) == {"openssl", "go"}
    assert outcomes["openssl"] == "untrusted", outcomes  # always available: this cannot pass by skipping
    assert outcomes["go"] == ("skipped" if CLIENTS["go"].unavailable_reason() else "untrusted"), outcomes


@pytest.mark.parametrize("args,needle", [
    (["127.0.0.1:1", "--ca", "/nonexistent/ca.pem"], "cannot read CA file /nonexistent/ca.pem"),
    (["localhost", "--ca", __file__], "expected HOST:PORT"),
    (["127.0.0.1:99999", "--ca", __file__], "out of range"),
    (["127.0.0.1:1", "--ca", __file__], "holds no PEM certificate"),
])
def test_probe_bad_input_exits_2(cli_env, args, needle):
    r = tlsmatrix("probe", *args, env=cli_env)
    assert r.returncode == 2 and needle in r.stderr, r.stderr


# --- cleanup: Ctrl-C, SIGTERM, kill -9 -------------------------------------------------------


def processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"TLSMATRIX_TEST_MARKER={marker}".encode() in env:
            found.append(int(pid))
    return found


def start_long_run(cli_env, tmp_path):
    marker = uuid.uuid4().hex
    env = dict(cli_env, TLSMATRIX_TEST_MARKER=marker)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsmatrix", "matrix", str(ROOT / "scenarios" / "curves.toml"), "--output", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = threading.Event()
    stderr_lines: list[str] = []

    def watch():
        for line in proc.stderr:
            stderr_lines.append(line)
            if line.startswith("[") and "/" in line:
                seen.set()

    threading.Thread(target=watch, daemon=True).start()
    assert seen.wait(240), "".join(stderr_lines)
    assert len(processes_with(marker)) >= 3  # harness + servers + probes are running
    return proc, marker, out, stderr_lines


def wait_gone(marker: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = processes_with(marker)
        if not left:
            return []
        time.sleep(0.1)
    return processes_with(marker)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 130)])
def test_interrupt_stops_every_child_and_writes_nothing(cli_env, tmp_path, sig, code):
    proc, marker, out, stderr_lines = start_long_run(cli_env, tmp_path)
    proc.send_signal(sig)
    assert proc.wait(30) == code
    assert wait_gone(marker) == []
    assert not (out / "results.json").exists()


def test_kill_9_leaves_no_process_behind(cli_env, tmp_path):
    """Probes and servers stop when their stdin closes, so even kill -9 leaks nothing."""
    proc, marker, out, _ = start_long_run(cli_env, tmp_path)
    proc.kill()
    proc.wait(10)
    assert wait_gone(marker, timeout=20) == []


def test_serve_rejects_a_selection_that_matches_nothing(cli_env):
    r = tlsmatrix("serve", "scenarios/kube-rs-1562.toml", "--chain", "no such chain*", env=cli_env)
    assert r.returncode == 2
    assert "--chain no such chain* matches no chain of scenarios/kube-rs-1562.toml" in r.stderr
    assert "CA signature: P-521 → P-256" in r.stderr  # the chains it has
    r = tlsmatrix("serve", "scenarios/kube-rs-1562.toml", "--servers", "openssl", env=cli_env)
    assert r.returncode == 2 and "no endpoint to serve" in r.stderr
    r = tlsmatrix("serve", "scenarios/client-certs.toml", "--duration", "0", env=cli_env)
    assert r.returncode == 2 and "argument --duration: '0'" in r.stderr


def test_serve_for_a_while_then_stop(cli_env, tmp_path):
    """Without Ctrl-C: --duration ends it, exit 0, the endpoints and their files are gone."""
    out = tmp_path / "serve"
    r = tlsmatrix("serve", "scenarios/client-certs.toml", "--servers", "openssl", "--tls", "1.3",
                  "--chain", "*client P-521", "--duration", "2", "--output", out, env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "P-256 → P-256 + client P-521" in r.stdout and "127.0.0.1:" in r.stdout
    assert not out.exists()


def test_serve_refuses_an_output_directory_with_other_files(cli_env, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    r = tlsmatrix("serve", "scenarios/client-certs.toml", "--servers", "openssl", "--duration", "1",
                  "--output", tmp_path, env=cli_env)
    assert r.returncode == 2 and "holds other files (precious.txt)" in r.stderr, r.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
