"""tlsmatrix.report.bundle on a real run, and the bundle's own commands replayed for real."""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tlsmatrix.stacks.build import output_path
from tlsmatrix.report.bundle import KEY_FILE, BundleError, write_bundle
from tlsmatrix.stacks.clients import CLIENTS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

GOOD = "rustls-p521|P-256 → P-256|1.3|openssl|openssl-cli"
P521_CA = "rustls-p521|P-521 → P-256|1.3|openssl|rustls-ring"
P521_INTERMEDIATE = "rustls-p521|P-521 → P-256 → P-256|1.2|openssl|rustls-ring"


@pytest.fixture(autouse=True)
def _bundles_read_the_runs_cache(monkeypatch, pki_cache):
    """Results name chain directories relative to the certificate cache: bundles made here read
    the cache the runs used (as `tlsmatrix bundle` does with TLSMATRIX_PKI_CACHE or --pki-cache)."""
    monkeypatch.setenv("TLSMATRIX_PKI_CACHE", str(pki_cache.root))


def matrix_run(results: Path, pki_cache, scenario: str, clients: str, servers: str) -> Path:
    """results.json of a real `tlsmatrix matrix` run (expectations met: exit 0)."""
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(results), TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    proc = subprocess.run([sys.executable, "-m", "tlsmatrix", "matrix", scenario, "-q",
                           "--clients", clients, "--servers", servers],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = results / "latest" / "results.json"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, pki_cache) -> Path:
    """results.json of a real run: rustls-p521.toml, clients openssl-cli + rustls-ring, server openssl."""
    require_stack(CLIENTS["openssl-cli"])
    require_stack(CLIENTS["rustls-ring"])
    return matrix_run(tmp_path_factory.mktemp("results"), pki_cache, "scenarios/rustls-p521.toml",
                      "openssl-cli,rustls-ring", "openssl")


def extract(bundle: Path, dest: Path) -> Path:
    with tarfile.open(bundle) as tar:
        for m in tar.getmembers():
            assert m.isfile(), m.name
            assert not m.name.startswith("/") and ".." not in Path(m.name).parts, m.name
            assert stat.S_IMODE(m.mode) == 0o644, (m.name, oct(m.mode))
        tar.extractall(dest, filter="data")
    return dest


def section(reproduce: str, cell_id: str) -> str:
    parts = re.split(r"^## \d+\. ", reproduce, flags=re.M)
    found = [p for p in parts if p.startswith(f"`{cell_id}`")]
    assert len(found) == 1, cell_id
    return found[0]


def blocks(text: str) -> list[list[str]]:
    return [b.strip().splitlines() for b in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def line_starting(text: str, prefix: str) -> tuple[str, str]:
    """(the directory its block cd's into, the first command line starting with prefix)."""
    for block in blocks(text):
        cwd = next((l.removeprefix("cd ").strip() for l in block if l.startswith("cd ")), ".")
        for line in block:
            if line.startswith(prefix):
                return cwd, line
    raise AssertionError(f"no line starting with {prefix!r} in:\n{text}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(line: str, cwd: Path, port: int) -> subprocess.Popen:
    argv = shlex.split(line.replace("127.0.0.1:8443", f"127.0.0.1:{port}"))
    assert argv[:2] == ["openssl", "s_server"]
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"s_server exited {proc.returncode}: {argv}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("s_server did not start listening")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def s_client(line: str, cwd: Path, port: int) -> subprocess.CompletedProcess:
    assert line.startswith("openssl s_client ") and "127.0.0.1:8443" in line
    return subprocess.run(line.replace("127.0.0.1:8443", f"127.0.0.1:{port}"), shell=True, cwd=cwd,
                          capture_output=True, text=True, timeout=30)


def probe_job(line: str, port: int) -> dict:
    echo, _, command = line.partition(" | ")
    args = shlex.split(echo)
    assert args[0] == "echo" and "tlsmatrix-rustls-probe" in command
    job = json.loads(args[1])
    assert job["port"] == 8443
    job["port"] = port
    return job


def run_probe(job: dict, cwd: Path) -> dict:
    probe = output_path("rustls-ring")
    proc = subprocess.run([str(probe)], input=json.dumps(job) + "\n", cwd=cwd, capture_output=True, text=True,
                          timeout=30)
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    assert "hello" in lines[0] and len(lines) == 2, proc.stdout + proc.stderr
    return lines[1]


def test_bundle_contents_without_and_with_keys(run, tmp_path):
    data = json.loads(run.read_text())
    failing = [r["id"] for r in data["results"] if r["outcome"] != "ok" or r["verdict"] == "mismatch"]
    assert failing and P521_CA in failing

    plain = write_bundle(run.parent, None, tmp_path / "plain.tar.gz")
    assert plain == tmp_path / "plain.tar.gz" and stat.S_IMODE(plain.stat().st_mode) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically
    d = extract(plain, tmp_path / "plain")
    names = [str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()]
    assert not [n for n in names if "key" in n.lower()], names
    for p in d.rglob("*"):
        if p.is_file():
            assert b"PRIVATE KEY" not in p.read_bytes(), p
    for top in ("README.md", "REPRODUCE.md", "versions.json", "regenerate.sh", "scenarios/rustls-p521.toml"):
        assert (d / top).is_file(), top
    versions = json.loads((d / "versions.json").read_text())
    assert set(versions["clients"]) == {"openssl-cli", "rustls-ring"} and set(versions["servers"]) == {"openssl"}
    cells = sorted((d / "cells").iterdir())
    assert len(cells) == len(failing)
    recorded = {json.loads((c / "cell.json").read_text())["id"] for c in cells}
    assert recorded == set(failing)
    for c in cells:
        for f in ("ca.pem", "chain.pem", "leaf.pem", "cell.json", "job.json", "regenerate.sh"):
            assert (c / f).is_file(), (c, f)
    reproduce = (d / "REPRODUCE.md").read_text()
    for cell_id in failing:
        assert f"`{cell_id}`" in reproduce
        assert json.loads(next(c / "cell.json" for c in cells
                               if json.loads((c / "cell.json").read_text())["id"] == cell_id).read_text())["error"] \
            in reproduce
    assert "equivalent" in reproduce.lower() and "regenerate.sh" in reproduce

    keyed = write_bundle(run, failing[:3], tmp_path / "keyed.tar.gz", with_keys=True)
    k = extract(keyed, tmp_path / "keyed")
    keyed_cells = sorted((k / "cells").iterdir())
    assert len(keyed_cells) == 3
    for c in keyed_cells:
        key = c / KEY_FILE
        assert key.is_file() and b"PRIVATE KEY" in key.read_bytes()
        assert [p.name for p in c.iterdir() if "key" in p.name.lower()] == [KEY_FILE]

    with pytest.raises(BundleError):
        write_bundle(run, ["no such cell"], tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()


def test_replay_the_bundle_commands(run, tmp_path):
    require_stack(CLIENTS["rustls-ring"])
    bundle = write_bundle(run, [GOOD, P521_CA, P521_INTERMEDIATE], tmp_path / "b.tar.gz", with_keys=True)
    d = extract(bundle, tmp_path / "b")
    reproduce = (d / "REPRODUCE.md").read_text()

    # a good cell (P-256 chain): the s_client line from the bundle verifies against the s_server line
    good = section(reproduce, GOOD)
    cwd, server_line = line_starting(good, "openssl s_server")
    ccwd, client_line = line_starting(good, "openssl s_client")
    port = free_port()
    server = start_server(server_line, d / cwd, port)
    try:
        out = s_client(client_line, d / ccwd, port)
        assert "Verification: OK" in out.stderr and "CONNECTION ESTABLISHED" in out.stderr, out.stderr
    finally:
        stop(server)

    # P-521 signs the chain: the probe job line reproduces the recorded raw error; s_client accepts it
    for cell_id in (P521_CA, P521_INTERMEDIATE):
        text = section(reproduce, cell_id)
        record = next(json.loads(p.read_text()) for p in (d / "cells").glob("*/cell.json")
                      if json.loads(p.read_text())["id"] == cell_id)
        assert record["outcome"] in ("unsupported_algorithm", "bad_signature") and record["error"] in text
        cwd, server_line = line_starting(text, "openssl s_server")
        pcwd, job_line = line_starting(text, "echo ")
        ccwd, client_line = line_starting(text, "openssl s_client")
        port = free_port()
        server = start_server(server_line, d / cwd, port)
        try:
            result = run_probe(probe_job(job_line, port), d / pcwd)
            assert result["ok"] is False
            assert result["error"] == record["error"]
            out = s_client(client_line, d / ccwd, port)
            assert "Verification: OK" in out.stderr, out.stderr
        finally:
            stop(server)


def test_replay_without_keys_uses_the_regenerated_equivalent_chain(run, tmp_path):
    bundle = write_bundle(run, [GOOD, P521_INTERMEDIATE], tmp_path / "nokeys.tar.gz")
    d = extract(bundle, tmp_path / "nokeys")
    reproduce = (d / "REPRODUCE.md").read_text()
    for cell_id in (GOOD, P521_INTERMEDIATE):
        text = section(reproduce, cell_id)
        cwd, _ = line_starting(text, "sh regenerate.sh")
        subprocess.run(["sh", "regenerate.sh"], cwd=d / cwd, check=True, capture_output=True, timeout=120)
        regenerated = d / cwd / "regenerated"
        assert (regenerated / KEY_FILE).is_file()
        record = json.loads((d / cwd / "cell.json").read_text())
        # same structure as the run's chain, new keys
        original, fresh = (d / cwd / "chain.pem").read_text(), (regenerated / "chain.pem").read_text()
        assert original.count("BEGIN CERTIFICATE") == fresh.count("BEGIN CERTIFICATE")
        assert (d / cwd / "leaf.pem").read_text() != (regenerated / "leaf.pem").read_text()
        _, server_line = line_starting(text, "openssl s_server")
        ccwd, client_line = line_starting(text, "openssl s_client")
        assert ccwd.endswith("/regenerated")
        port = free_port()
        server = start_server(server_line, regenerated, port)
        try:
            out = s_client(client_line, d / ccwd, port)
            assert "Verification: OK" in out.stderr, out.stderr
            if record["client"] == "rustls-ring":
                _, job_line = line_starting(text, "echo ")
                result = run_probe(probe_job(job_line, port), d / ccwd)
                assert result["ok"] is False and result["error"] == record["error"]
        finally:
            stop(server)


MTLS_GOOD = "client-certs|P-256 → P-256 + client P-256|1.3|openssl|openssl"
MTLS_RING = "client-certs|P-256 → P-256 + client P-521|1.2|openssl|rustls-ring"


@pytest.fixture(scope="module")
def mtls_run(tmp_path_factory, pki_cache) -> Path:
    require_stack(CLIENTS["rustls-ring"])
    return matrix_run(tmp_path_factory.mktemp("mtls-results"), pki_cache, "scenarios/client-certs.toml",
                      "openssl,rustls-ring", "openssl")


@pytest.mark.parametrize("with_keys", [True, False])
def test_mtls_cells_replay_with_the_client_certificate(mtls_run, tmp_path, with_keys):
    """s_server requires the client certificate, s_client presents it; ring's refusal of the P-521
    client key replays from the bundle's probe job line (identical or regenerated chain)."""
    bundle = write_bundle(mtls_run, [MTLS_GOOD, MTLS_RING], tmp_path / "m.tar.gz", with_keys=with_keys)
    d = extract(bundle, tmp_path / "m")
    reproduce = (d / "REPRODUCE.md").read_text()
    for cell_id in (MTLS_GOOD, MTLS_RING):
        text = section(reproduce, cell_id)
        assert "client certificate" in text
        cell_dir = next(p.parent for p in (d / "cells").glob("*/cell.json")
                        if json.loads(p.read_text())["id"] == cell_id)
        record = json.loads((cell_dir / "cell.json").read_text())
        assert (cell_dir / "client.pem").is_file()
        assert (cell_dir / "TEST-ONLY-client-key.pem").is_file() is with_keys
        assert json.loads((cell_dir / "server-config.json").read_text())["listeners"][0]["client_ca_file"] == "ca.pem"
        if not with_keys:
            subprocess.run(["sh", "regenerate.sh"], cwd=cell_dir, check=True, capture_output=True, timeout=120)
            assert (cell_dir / "regenerated" / "TEST-ONLY-client-key.pem").is_file()
        cwd, server_line = line_starting(text, "openssl s_server")
        assert "-Verify 1" in server_line
        ccwd, client_line = line_starting(text, "openssl s_client")
        assert "-cert client.pem -key TEST-ONLY-client-key.pem" in client_line
        port = free_port()
        server = start_server(server_line, d / cwd / ("" if with_keys else "regenerated"), port)
        try:
            out = s_client(client_line, d / ccwd, port)
            if cell_id == MTLS_GOOD:
                assert "Verification: OK" in out.stderr and "CONNECTION ESTABLISHED" in out.stderr, out.stderr
            else:  # OpenSSL presents the P-521 client key fine; ring cannot
                assert "Verification: OK" in out.stderr, out.stderr
                _, job_line = line_starting(text, "echo ")
                job = probe_job(job_line, port)
                assert job["client_key_file"] == "TEST-ONLY-client-key.pem"
                result = run_probe(job, d / ccwd)
                assert result["ok"] is False and result["error"] == record["error"]
        finally:
            stop(server)
