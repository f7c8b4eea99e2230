"""The docker backend against the real engine on this machine (marked `docker`)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running.endpoints.base import EndpointError, ListenerSpec
from tlsmatrix.stacks.images import IMAGES, ImageSpec, image_for
from tlsmatrix.stacks.engine import DockerUnavailable, docker_client
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec
from tlsmatrix.running.runner import HarnessError, RunOptions, run_cells
from tlsmatrix.running.scenarios import load_scenario
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = [pytest.mark.integration, pytest.mark.docker]
ROOT = Path(__file__).resolve().parents[2]
LABEL = "org.tlsmatrix.managed=true"
WATCHDOG = "org.tlsmatrix.role=watchdog"


def _need(reason: str):
    if os.environ.get("TLSMATRIX_REQUIRE_DOCKER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client():
    try:
        return docker_client()
    except DockerUnavailable as exc:
        _need(f"no Docker engine: {exc}")


def need_images(client, *stacks):
    for stack in stacks:
        try:
            image_for(client, stack)
        except Exception as exc:
            _need(str(exc))


def ours(client, **labels) -> list:
    """A run's server and client containers (not its watchdog)."""
    return [c for c in watchdogs(client, role=None, **labels) if c.labels.get("org.tlsmatrix.role") != "watchdog"]


def watchdogs(client, role="watchdog", **labels) -> list:
    """A run's watchdog containers (role=None: every container of the run)."""
    filters = [LABEL] + [f"org.tlsmatrix.{k}={v}" for k, v in dict(labels, role=role).items() if v is not None]
    return client.containers.list(all=True, filters={"label": filters}, ignore_removed=True)


def everything(client, run: str) -> tuple[list, list, list]:
    """Whatever carries a run's label: containers (the watchdog too), volumes, networks."""
    filters = {"label": [LABEL, f"org.tlsmatrix.run={run}"]}
    return (client.containers.list(all=True, filters=filters, ignore_removed=True), client.volumes.list(filters=filters),
            client.networks.list(filters=filters))


def need_watchdog(client):
    from tlsmatrix.stacks.images import WATCHDOG_IMAGE

    try:
        client.images.get(WATCHDOG_IMAGE.tag)
    except Exception:
        _need(f"image {WATCHDOG_IMAGE.tag} is missing: run `make images` (or `tlsmatrix images watchdog`)")


def leftovers(client, pid: int) -> tuple[list, list]:
    """The file volumes and internal networks a run (by its pid) left on the engine."""
    filters = {"label": [LABEL, f"org.tlsmatrix.pid={pid}"]}
    return client.volumes.list(filters=filters), client.networks.list(filters=filters)


def spec(root, leaf):
    return ChainSpec(CertSpec(KeySpec.parse(root)), CertSpec(KeySpec.parse(leaf)))


@pytest.mark.parametrize("scenario_file", ["rustls-p521.toml", "server-stacks.toml", "kube-rs-1562.toml",
                                           "client-certs.toml"])
def test_same_outcomes_as_the_process_backend(client, pki_cache, scenario_file):
    scenario = load_scenario(ROOT / "scenarios" / scenario_file, CLIENTS, SERVERS)
    need_images(client, *scenario.servers)
    for stack in [*(CLIENTS[c] for c in scenario.clients), *(SERVERS[s] for s in scenario.servers)]:
        require_stack(stack)
    cells = scenario.cells()
    process = run_cells(cells, pki_cache, RunOptions(backend="process", timeout_ms=5000))
    docker = run_cells(cells, pki_cache, RunOptions(backend="docker", timeout_ms=5000))
    assert [(r.cell.id, r.outcome) for r in docker.results] == [(r.cell.id, r.outcome) for r in process.results]
    assert all(r.verdict == "match" for r in docker.results)
    for name in scenario.servers:
        assert docker.servers[name].image.startswith(f"tlsmatrix/server-{name}:")
        assert docker.servers[name].backend == "docker" and docker.servers[name].info.version
    assert ours(client, pid=os.getpid()) == []  # nothing left after a normal run


def test_container_is_locked_down(client, pki_cache):
    from tlsmatrix.running.endpoints.docker import DockerEndpoint, DockerRun

    need_images(client, "openssl")
    chains = [pki_cache.chain(spec("P-256", leaf)) for leaf in ("P-256", "P-384", "RSA-2048")]
    run = DockerRun(pki_cache.root, client)
    try:
        # readiness is a handshake that must present each listener's own leaf: through the relay too
        with DockerEndpoint("openssl", [ListenerSpec(f"L{i}", c, "1.3") for i, c in enumerate(chains)], run) as ep:
            attrs = client.containers.get(ep.container.id).attrs
            host = attrs["HostConfig"]
            assert attrs["Config"]["User"] == "65534:65534"
            assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
            assert host["ReadonlyRootfs"] is True and host["Privileged"] is False
            assert "no-new-privileges" in host["SecurityOpt"]
            bindings = [b for v in host["PortBindings"].values() for b in v]
            assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
            assert list(host["PortBindings"]) == ["19999/tcp"]  # one published port, whatever the listeners
            assert len({ep.listeners[f"L{i}"].port for i in range(3)}) == 3
            relay = ep.relay
            published = next(b["HostPort"] for b in attrs["NetworkSettings"]["Ports"]["19999/tcp"]
                             if b["HostIp"] == "127.0.0.1")
            assert relay.proc.poll() is None and relay.argv[1:3] == ["outside", f"127.0.0.1:{published}"]
            # nothing of the host inside: one volume of its own (files copied in), no bind mount
            assert [m["Type"] for m in attrs["Mounts"]] == ["volume"], attrs["Mounts"]
            assert set(attrs["NetworkSettings"]["Networks"]) == {"bridge", run.network_name}
            assert client.networks.get(run.network_name).attrs["Internal"] is True
            assert attrs["Config"]["Labels"]["org.tlsmatrix.run"] == run.id
            assert ep.listeners["L0"].port and ep.info.stack == "OpenSSL"
        assert ours(client, run=run.id) == [] and relay.proc.poll() is not None
    finally:
        run.close()
    assert not client.networks.list(names=[run.network_name])
    assert everything(client, run.id) == ([], [], [])  # the watchdog gone too


def test_the_watchdog_has_the_engine_socket_and_nothing_else(client, pki_cache):
    """One per run, attached and ready before the run goes on; least privilege but for the socket."""
    from tlsmatrix.running.endpoints.docker import DockerRun

    need_watchdog(client)
    started = time.monotonic()
    run = DockerRun(pki_cache.root, client)
    setup = time.monotonic() - started
    try:
        assert run.watchdog is not None and run.watchdog.ready.wait(20), run.watchdog and run.watchdog.error
        [container] = watchdogs(client, run=run.id)
        attrs = container.attrs
        host = attrs["HostConfig"]
        socket_gid = os.stat("/var/run/docker.sock").st_gid
        assert attrs["Config"]["User"] == "65534:65534" and host["GroupAdd"] == [str(socket_gid)]
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd") and host["Privileged"] is False
        assert host["ReadonlyRootfs"] is True and "no-new-privileges" in host["SecurityOpt"]
        assert host["NetworkMode"] == "none" and host["AutoRemove"] is True
        assert [(m["Source"], m["Destination"]) for m in attrs["Mounts"]] == [("/var/run/docker.sock",) * 2]
        assert attrs["Config"]["OpenStdin"] is True and attrs["Config"]["StdinOnce"] is True
        assert attrs["Config"]["Labels"]["org.tlsmatrix.pid"] == str(os.getpid())  # the reaper's second line
        assert setup < 1.0, setup  # the container starts in the background
    finally:
        closing = time.monotonic()
        run.close()
        closed = time.monotonic() - closing
    assert everything(client, run.id) == ([], [], [])
    assert closed < 1.0, closed  # the watchdog's sweep and its removal: ~0.1 s


def test_failed_start_carries_image_command_and_log_tail(client, pki_cache):
    from tlsmatrix.running.endpoints.docker import DockerEndpoint, DockerRun

    need_images(client, "openssl")
    files = pki_cache.chain(spec("P-256", "P-256"))
    run = DockerRun(pki_cache.root, client)
    try:
        ep = DockerEndpoint("openssl", [ListenerSpec("L0", files, None)], run, ready_timeout=20)
        ep.command = ["--config", "/nonexistent/config.json"]  # the server exits 2 on it
        with pytest.raises(EndpointError) as info:
            with ep:
                pass
        message = str(info.value)
        assert "image: tlsmatrix/server-openssl:" in message
        assert "command: --config /nonexistent/config.json" in message
        assert "exit code 2" in message and "invalid configuration" in message
        assert ours(client, run=run.id) == []
    finally:
        run.close()


def test_missing_image_says_what_to_do(client, pki_cache, monkeypatch):
    monkeypatch.setitem(IMAGES, "openssl", ImageSpec("openssl-not-built", "harness/images/python-server/Dockerfile", ()))
    scenario = load_scenario(ROOT / "scenarios" / "rustls-p521.toml", CLIENTS, SERVERS)
    with pytest.raises(HarnessError, match=r"image tlsmatrix/server-openssl-not-built:.* is missing: run `make images`"):
        run_cells(scenario.cells(servers=["openssl"], clients=["openssl"]), pki_cache, RunOptions(backend="docker"))
    assert ours(client, pid=os.getpid()) == []


def tlsmatrix(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tlsmatrix", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=300)


def test_docker_down_is_one_clear_line_and_process_backend_still_works(tmp_path, pki_cache):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no-such-docker.sock", TLSMATRIX_PKI_CACHE=str(pki_cache.root),
               TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"))
    scenario = ROOT / "scenarios" / "rustls-p521.toml"
    r = tlsmatrix("matrix", scenario, "--backend", "docker", "--clients", "openssl", "--servers", "openssl", env=env)
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.startswith("tlsmatrix: error:")]
    assert len(lines) == 1 and "no Docker engine at unix://" in lines[0] and "--backend process" in lines[0]
    r = tlsmatrix("matrix", scenario, "--backend", "process", "--clients", "openssl", "--servers", "openssl", env=env)
    assert r.returncode == 0, r.stderr


def _start_cli(tmp_path, pki_cache, scenario=ROOT / "scenarios" / "curves.toml"):
    env = dict(os.environ, TLSMATRIX_PKI_CACHE=str(pki_cache.root), TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsmatrix", "matrix", str(scenario), "--backend", "docker",
         "--servers", "openssl,go", "--output", str(tmp_path / "out")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = threading.Event()
    lines: list[str] = []

    def watch():
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("[") and "/" in line:
                seen.set()

    threading.Thread(target=watch, daemon=True).start()
    assert seen.wait(300), "".join(lines)
    return proc


def _relays(parent: int) -> list[int]:
    """The docker relays (tlsmatrix-router outside) a harness process started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)  # "pid (comm) state ppid ..."
        except (OSError, ValueError):
            continue
        comm, fields = head.split("(", 1)[1], tail.split()
        if comm.startswith("tlsmatrix-rout") and int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_removes_its_containers(client, tmp_path, pki_cache, sig):
    need_images(client, "openssl", "go")
    proc = _start_cli(tmp_path, pki_cache)
    assert len(ours(client, pid=proc.pid)) == 2
    proc.send_signal(sig)
    assert proc.wait(120) == 130
    assert watchdogs(client, role=None, pid=proc.pid) == []  # the watchdog too
    assert leftovers(client, proc.pid) == ([], [])
    assert not (tmp_path / "out" / "results.json").exists()


def _kill_watchdog(client, pid: int) -> None:
    """What the watchdog cannot cover (a remote engine, its image not built, the engine restarted):
    a run without one. Its container goes (auto-remove) before the run is killed."""
    for container in watchdogs(client, pid=pid):
        container.kill()
    assert _wait_until(lambda: not watchdogs(client, pid=pid), 10)


def test_killed_run_without_a_watchdog_is_cleaned_by_tlsmatrix_clean(client, tmp_path, pki_cache):
    need_images(client, "openssl", "go")
    proc = _start_cli(tmp_path, pki_cache)
    _kill_watchdog(client, proc.pid)
    proc.kill()
    proc.wait(10)
    time.sleep(1)
    assert len(ours(client, pid=proc.pid)) == 2  # kill -9 cannot clean up: without a watchdog the containers stay
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"))
    r = tlsmatrix("clean", env=env)
    assert r.returncode == 0, r.stderr
    # any other run on this engine may have reaped them first (they are a dead run's): hence "removed N"
    assert re.search(r"removed \d+ container\(s\)", r.stdout), r.stdout
    assert ours(client, pid=proc.pid) == []
    assert leftovers(client, proc.pid) == ([], [])


@pytest.mark.parametrize("backend", ["docker", "process"])
def test_killed_run_without_a_watchdog_is_reaped_by_the_next_run(client, tmp_path, pki_cache, backend):
    """Without its watchdog, kill -9 leaves the containers (and their ports) and the run's config
    directory; the next run removes them, whichever backend it uses: `tlsmatrix clean` is not needed."""
    need_images(client, "openssl", "go")
    proc = _start_cli(tmp_path, pki_cache)
    labels = ours(client, pid=proc.pid)[0].labels
    assert {"org.tlsmatrix.boot", "org.tlsmatrix.started"} <= set(labels)  # pid + start time + boot id
    relays = _relays(proc.pid)
    assert len(relays) == 2  # one per server container
    _kill_watchdog(client, proc.pid)
    proc.kill()
    proc.wait(10)
    assert _wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in relays), 10)  # stdin EOF ends them
    assert len(ours(client, pid=proc.pid)) == 2
    volumes, networks = leftovers(client, proc.pid)
    assert len(volumes) == 2 and len(networks) == 1  # each container's file volume, the run's network
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"), TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    r = tlsmatrix("matrix", ROOT / "scenarios" / "rustls-p521.toml", "--backend", backend, "--clients", "openssl",
                  "--servers", "openssl", "--tls", "1.3", "--output", tmp_path / "next", "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert ours(client, pid=proc.pid) == []
    assert leftovers(client, proc.pid) == ([], [])


#: curves.toml's 49 chains for the host's openssl and a versioned column (a process per handshake: it
#: runs long enough to be killed mid-run)
VERSIONED_SCENARIO = """name = "killed"
[axes]
tls = ["1.2", "1.3"]
servers = ["openssl", "go"]
clients = ["openssl", "openssl-cli@3.0"]
[[chain]]
root = ["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519"]
leaf = ["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519"]
"""


@pytest.mark.parametrize("versioned", [False, True], ids=["host-clients", "versioned-client"])
def test_killed_run_leaves_nothing_20_seconds_later(client, tmp_path, pki_cache, versioned):
    """Issue 23: kill -9 mid-run, and no later command: the run's watchdog removes its containers
    (a versioned client's too), volumes and network, then itself."""
    need_images(client, "openssl", "go")
    need_watchdog(client)
    scenario = ROOT / "scenarios" / "curves.toml"
    if versioned:
        need_images(client, "openssl@3.0")  # the bookworm client image (versioned servers run in it too)
        scenario = tmp_path / "killed.toml"
        scenario.write_text(VERSIONED_SCENARIO)
    proc = _start_cli(tmp_path, pki_cache, scenario)
    [watchdog] = watchdogs(client, pid=proc.pid)
    run = watchdog.labels["org.tlsmatrix.run"]
    expected = sorted(["openssl", "go", "watchdog", *(["openssl-cli@3.0"] if versioned else [])])

    def stacks() -> list[str]:  # a versioned client's container carries the run's label too
        return sorted(c.labels.get("org.tlsmatrix.stack", "watchdog") for c in everything(client, run)[0])

    assert _wait_until(lambda: stacks() == expected, 60), stacks()
    _, volumes, networks = everything(client, run)
    assert len(volumes) == 2 and len(networks) == 1
    proc.kill()
    killed = time.monotonic()
    proc.wait(10)
    assert _wait_until(lambda: everything(client, run) == ([], [], []), 20), everything(client, run)
    print(f"kill -9 → nothing of run {run} left: {time.monotonic() - killed:.2f}s")
    assert watchdogs(client, role=None, pid=proc.pid) == []


def test_second_image_build_does_nothing(client):
    from tlsmatrix.stacks.images import build_images

    need_images(client, "openssl", "go")
    assert build_images(["openssl", "go"], log=lambda m: None, client=client) == {"openssl": "cached", "go": "cached"}


def test_serve_in_containers_hands_out_working_kubeconfigs(client, tmp_path, pki_cache):
    """`tlsmatrix serve --backend docker`: the API server in a container, a real client through the
    kubeconfig (mTLS), and SIGTERM removes the container and the files."""
    import json

    from tlsmatrix.stacks.classify import classify
    from tlsmatrix.running.session import ProbeSession
    from tlsmatrix.model.core import Job, Outcome

    need_images(client, "go")
    require_stack(CLIENTS["kubernetes-python"])
    out = tmp_path / "serve"
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"), TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    proc = subprocess.Popen([sys.executable, "-m", "tlsmatrix", "serve", "scenarios/kube-rs-1562.toml", "--backend",
                             "docker", "--chain", "client certificate key*", "--tls", "1.3", "--output", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_until(lambda: (out / "endpoints.json").exists() or proc.poll() is not None, 120), "no json"
        assert proc.poll() is None, proc.communicate()
        [entry] = json.loads((out / "endpoints.json").read_text())["endpoints"]
        assert len(ours(client, pid=proc.pid)) == 1
        with ProbeSession(CLIENTS["kubernetes-python"]) as session:
            r = session.run(Job("1", "127.0.0.1", 9, "localhost", entry["ca_file"], None, 10_000,
                                kubeconfig=entry["kubeconfig"]))
        assert classify("openssl", r).outcome is Outcome.OK and r.error is None and r.negotiated["pods"] == 3, r
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert ours(client, pid=proc.pid) == [] and not out.exists()
