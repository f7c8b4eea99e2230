"""Versioned client columns (issue 12): each Debian release's client stacks in its image.

Each column's probe runs with `docker run --rm -i --network host` and reaches the host's
servers on 127.0.0.1; its certificate files are copied into the container. Skipped while the
images are not built (`make images`), failed instead under TLSMATRIX_REQUIRE_DOCKER=1.
"""
from __future__ import annotations

import os
import time

import pytest

from harness.classify import classify
from harness.clients.containers import VERSIONED, image_missing, versioned_clients
from harness.clients.session import ProbeSession
from harness.model import Job, Outcome

from .conftest import server_for

pytestmark = [pytest.mark.integration, pytest.mark.docker,
              pytest.mark.skipif(os.environ.get("TLSMATRIX_VERSIONED_CLIENTS") != "1",
                                 reason="versioned client columns are opt-in: TLSMATRIX_VERSIONED_CLIENTS=1 "
                                        "(and `tlsmatrix images clients-bullseye clients-bookworm clients-trixie`)")]

COLUMNS = list(VERSIONED)
STACKS = versioned_clients()  # registered in CLIENTS only with TLSMATRIX_VERSIONED_CLIENTS=1
SERVERS = ["openssl", "go"]


def _require(column: str) -> None:
    why = image_missing(VERSIONED[column])
    if why:
        if os.environ.get("TLSMATRIX_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{column}: {why}")
        pytest.skip(f"{column}: {why}")


@pytest.fixture(scope="module")
def sessions():
    opened: dict[str, ProbeSession] = {}

    def get(name: str) -> ProbeSession:
        _require(name)
        if name not in opened:
            s = ProbeSession(STACKS[name])
            s.start()
            opened[name] = s
        return opened[name]

    yield get
    for s in opened.values():
        s.close()


def handshake(session: ProbeSession, port: int, ca_file, servername="localhost", tls=None):
    job = Job(id=str(time.monotonic_ns()), host="127.0.0.1", port=port, servername=servername,
              ca_file=str(ca_file), tls_version=tls, timeout_ms=10_000)
    raw = session.run(job)
    return classify(session.stack.family, raw), raw


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
    from harness.images import docker_client

    column = COLUMNS[0]
    sessions(column)
    client = docker_client()
    containers = client.containers.list(filters={"label": f"org.tlsmatrix.stack={column}"})
    assert containers, "the probe container is not running"
    assert all(not c.attrs.get("Mounts") for c in containers)
