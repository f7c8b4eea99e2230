"""Versioned stacks (issue 12): each Debian release's client and server stacks in its image.

A client column's probe runs with `docker run --rm -i` (the host's network: it reaches the host's
servers on 127.0.0.1; in a docker-backend run the run's internal network); its certificate files are
copied into the container. Skipped while the images are not built (`make images`), failed instead
under TLSMATRIX_REQUIRE_DOCKER=1.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.stacks.clients.containers import CLIENT_IMAGES, VERSIONED, image_missing, versioned_clients
from tlsmatrix.model.core import Outcome

from .conftest import handshake, probe_pool, server_for

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = list(VERSIONED)
STACKS = versioned_clients()
SERVERS = ["openssl", "go"]


def _require_images() -> None:
    for v in (VERSIONED[c] for c in ("openssl@1.1.1", "openssl@3.0", "openssl@3.5")):
        _require(v.column)


def tlsmatrix(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tlsmatrix", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)


def _require(column: str) -> None:
    why = image_missing(VERSIONED[column])
    if why:
        if os.environ.get("TLSMATRIX_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{column}: {why}")
        pytest.skip(f"{column}: {why}")


@pytest.fixture(scope="module")
def sessions():
    def stack_for(name: str):
        _require(name)  # skips (or fails under TLSMATRIX_REQUIRE_DOCKER) without the image
        return STACKS[name]

    with probe_pool(stack_for) as get:
        yield get


@pytest.mark.parametrize("column", COLUMNS)
def test_hello_names_the_column_version_and_image(sessions, column):
    """The column's name is the version the stack reports; the hello names the image."""
    info = sessions(column).info
    assert info is not None
    assert info.details.get("image", "").startswith(VERSIONED[column].image), info
    version = VERSIONED[column].version
    assert version in info.version or version in " ".join(info.details.values()), info


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_good_chain_and_negative_controls(sessions, served, trustme_chain, column, server, tls):
    """ok with the chain's CA; untrusted with another CA; hostname mismatch; expired leaf."""
    s = server_for(served, server)
    session = sessions(column)
    good = s.files["good"].ca_file
    c, raw = handshake(session, s.port("good", tls), good, tls=tls)
    assert c.outcome is Outcome.OK, raw
    c, raw = handshake(session, s.port("good", tls), trustme_chain.ca_file, tls=tls)
    assert c.outcome is Outcome.UNTRUSTED, raw
    c, raw = handshake(session, s.port("good", tls), good, servername="wrong.example", tls=tls)
    assert c.outcome is Outcome.HOSTNAME_MISMATCH, raw
    c, raw = handshake(session, s.port("expired", tls), s.files["expired"].ca_file, tls=tls)
    assert c.outcome is Outcome.EXPIRED, raw


def test_no_container_of_a_probe_has_a_mount(sessions):
    """Files go in through the archive API: the probe containers have no bind mounts."""
    from tlsmatrix.stacks.engine import docker_client

    column = COLUMNS[0]
    sessions(column)
    client = docker_client()
    containers = client.containers.list(filters={"label": f"org.tlsmatrix.stack={column}"})
    assert containers, "the probe container is not running"
    assert all(not c.attrs.get("Mounts") for c in containers)


def test_versioned_columns_are_registered_and_listed():
    assert set(COLUMNS) <= set(CLIENTS) and len(COLUMNS) == 36
    r = tlsmatrix("list", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)["clients"]}
    assert rows["openssl@1.1.1"]["runs_in"] == "docker (bullseye)" and rows["go@1.24"]["version"] == "1.24"
    assert rows["openssl"]["runs_in"] == "host" and rows["openssl"]["image"] is None


def test_probe_a_host_endpoint_from_containers(tmp_path, pki_cache):
    """`tlsmatrix probe HOST:PORT --clients openssl@1.1.1,go@1.24`: the containers reach an endpoint on
    the host's loopback; a wrong CA stays untrusted."""
    from tlsmatrix.running.endpoints.base import ListenerSpec
    from tlsmatrix.running.endpoints.process import ProcessEndpoint
    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec
    from tlsmatrix.stacks.servers import SERVERS as ALL_SERVERS

    _require_images()
    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256"))))
    other = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-384")), CertSpec(KeySpec("P-256"))))
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path))
    with ProcessEndpoint(ALL_SERVERS["go"], [ListenerSpec("L0", files, None)]) as ep:
        target = f"127.0.0.1:{ep.listeners['L0'].port}"
        outcomes = {}
        for ca in (files.ca_file, other.ca_file):
            r = tlsmatrix("probe", target, "--ca", ca, "--servername", "localhost", "--clients",
                          "openssl@1.1.1,go@1.24,openssl", "--format", "json", env=env)
            assert r.returncode == 0, r.stderr
            outcomes[ca] = {x["client"]: x["outcome"] for x in json.loads(r.stdout)["results"]}
    assert outcomes[files.ca_file] == {"openssl@1.1.1": "ok", "go@1.24": "ok", "openssl": "ok"}
    assert set(outcomes[other.ca_file].values()) == {"untrusted"}


def test_docker_backend_versioned_servers_and_clients_over_the_internal_network(tmp_path, pki_cache):
    """Servers of three releases in containers, versioned clients in containers on the run's internal
    network (they cannot reach 127.0.0.1 from there: an ok proves the network path), the host's client
    through the published port; results name each client's image id."""
    _require_images()
    scenario = tmp_path / "versions-docker.toml"
    scenario.write_text('name = "versions_docker"\n[axes]\ntls = ["1.2", "1.3"]\n'
                        'servers = ["openssl@1.1.1", "openssl@3.5", "go@1.15", "gnutls@3.8", "nss@3.87"]\n'
                        'clients = ["openssl@1.1.1", "go@1.24", "openssl"]\n'
                        '[[chain]]\nroot = "P-256"\nleaf = "P-256"\n[[expect]]\noutcome = "ok"\n')
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"), TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    r = tlsmatrix("matrix", scenario, "--backend", "docker", "--output", tmp_path / "out", "-q", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {c["outcome"] for c in data["results"]} == {"ok"} and len(data["results"]) == 30
    for column in ("openssl@1.1.1", "go@1.24"):
        image = data["clients"][column]["details"]["image"]
        assert image.startswith(VERSIONED[column].image) and "sha256:" in image
    servers = data["servers"]
    assert servers["openssl@1.1.1"]["image"] == CLIENT_IMAGES["clients-bullseye"].tag
    assert servers["openssl@1.1.1"]["version"].startswith("1.1.1")
    assert servers["openssl@3.5"]["version"].startswith("3.5")


def test_versioned_server_is_docker_only(tmp_path, pki_cache):
    """With the process backend a versioned server is skipped with the way to run it."""
    scenario = tmp_path / "versions-process.toml"
    scenario.write_text('name = "versions_process"\n[axes]\ntls = ["1.3"]\nservers = ["go@1.24"]\n'
                        'clients = ["openssl"]\n[[chain]]\nroot = "P-256"\nleaf = "P-256"\n')
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"), TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    r = tlsmatrix("matrix", scenario, "--output", tmp_path / "out", "-q", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    [cell] = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert cell["outcome"] == "skipped" and "--backend docker" in cell["error"]


def test_bundle_docker_line_reproduces_the_cell(tmp_path, pki_cache):
    """The `docker run` line a bundle writes for a versioned client runs that client's probe in the image
    on the cell's job, from a directory holding the cell's ca.pem."""
    from tlsmatrix.report.bundle import container_line
    from tlsmatrix.model.document import CellRecord
    from tlsmatrix.running.endpoints.base import ListenerSpec
    from tlsmatrix.running.endpoints.process import ProcessEndpoint
    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec
    from tlsmatrix.stacks.servers import SERVERS as ALL_SERVERS

    _require("go@1.15")
    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256"))))
    (tmp_path / "ca.pem").write_bytes(files.ca_file.read_bytes())
    record = CellRecord(id="s|P-256 → P-256|1.3|go|go@1.15", scenario="s", server="go", tls="1.3", client="go@1.15",
                        outcome="untrusted")
    with ProcessEndpoint(ALL_SERVERS["go"], [ListenerSpec("L0", files, "1.3")]) as ep:
        line = container_line(record, VERSIONED["go@1.15"].image, port=ep.listeners["L0"].port)
        r = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    hello, result = (json.loads(l) for l in r.stdout.splitlines())
    assert "go1.15" in json.dumps(hello), hello
    assert result["ok"] is True, result
