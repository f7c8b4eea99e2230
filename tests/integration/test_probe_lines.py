"""The probe contract's schemas (docs/probe-*.schema.json, generated from tlsmatrix.model) against what
real programs write: client probes driven through harness/running/session.py, server programs through
the process backend, every line recorded on its way and validated."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running import session as session_module
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints import process as process_module
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.running.jsonproc import JsonLineProcess
from tlsmatrix.model.core import Job
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack
from .conftest import CHAINS

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs"
CLIENT_STACKS = ("openssl", "rustls-ring", "go", "gnutls-cli", "libcurl")  # libcurl: the C probes' shared loop
SERVER_STACKS = ("openssl", "go")


def schema(name: str) -> dict:
    return json.loads((DOCS / name).read_text())


class Recording(JsonLineProcess):
    """A JsonLineProcess that keeps every line it sends and receives."""

    sent: list[dict] = []
    received: list[dict] = []

    def send(self, obj):  # type: ignore[override]
        Recording.sent.append(obj)
        return super().send(obj)

    def receive(self, *args, **kwargs):  # type: ignore[override]
        line = super().receive(*args, **kwargs)
        Recording.received.append(line)
        return line


@pytest.fixture
def recording(monkeypatch):
    Recording.sent, Recording.received = [], []
    monkeypatch.setattr(session_module, "JsonLineProcess", Recording)
    monkeypatch.setattr(process_module, "JsonLineProcess", Recording)
    return Recording


@pytest.fixture
def endpoint(pki_cache, recording):
    """An OpenSSL server program (its own lines recorded) serving one good chain on TLS 1.3."""
    require_stack(SERVERS["openssl"])
    files = pki_cache.chain(CHAINS["good"])
    with ProcessEndpoint(SERVERS["openssl"], [ListenerSpec("L0", files, "1.3")]) as ep:
        yield ep, files


@pytest.mark.parametrize("server", SERVER_STACKS)
def test_server_programs_config_hello_and_listener_lines(pki_cache, recording, server):
    require_stack(SERVERS[server])
    files = pki_cache.chain(CHAINS["good"])
    with ProcessEndpoint(SERVERS[server], [ListenerSpec("L0", files, "1.3"), ListenerSpec("L1", files, None)]):
        pass
    config, = recording.sent
    jsonschema.validate(config, schema("server-config.schema.json"))
    hello, *listeners, ready = recording.received
    jsonschema.validate(hello, schema("probe-hello.schema.json"))
    assert [set(l) for l in listeners] == [{"id", "port"}, {"id", "port"}] and ready == {"ready": True}


@pytest.mark.parametrize("client", CLIENT_STACKS)
def test_client_probe_hello_job_and_result_lines(endpoint, trustme_chain, recording, client):
    require_stack(CLIENTS[client])
    ep, files = endpoint
    listener = ep.listeners["L0"]
    recording.sent.clear(), recording.received.clear()  # the server's own lines are checked above
    good = Job("1", listener.host, int(listener.port), "localhost", str(files.ca_file), "1.3", 10_000)
    wrong_ca = Job("2", listener.host, int(listener.port), "localhost", str(trustme_chain.ca_file), "1.3", 10_000)
    with ProbeSession(CLIENTS[client]) as session:
        session.start()
        assert session.run(good).ok and not session.run(wrong_ca).ok
    hello, ok, failed = recording.received
    jsonschema.validate(hello, schema("probe-hello.schema.json"))
    for job in recording.sent:
        jsonschema.validate(job, schema("probe-job.schema.json"))
    for line in (ok, failed):
        jsonschema.validate(line, schema("probe-result.schema.json"))
    assert ok["ok"] is True and ok["id"] == "1" and failed["ok"] is False and failed["error"], (ok, failed)
    if client == "go":  # built with the toolchain's own GODEBUG defaults, and it says so
        assert hello["hello"]["details"]["DefaultGODEBUG"] == "(the toolchain's)"
