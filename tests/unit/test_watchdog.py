"""Issue 23, item 2: the run's watchdog. Here its decisions (which engine gets one, as which user) and
its program's sweep against a small fake engine on a unix socket; tests/integration/test_docker.py
kills real runs on the real engine."""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import socketserver
import threading
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tlsmatrix.running import watchdog
from tlsmatrix.stacks.engine import local_socket
from tlsmatrix.stacks.images import WATCHDOG_IMAGE, all_images

PROGRAM = Path(__file__).resolve().parents[2] / "harness/images/watchdog/watchdog.py"


def program():
    spec = importlib.util.spec_from_file_location("watchdog_program", PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("host, expected", [
    (None, "/var/run/docker.sock"), ("", "/var/run/docker.sock"),
    ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
    ("tcp://10.0.0.5:2376", None), ("ssh://ci@builder", None), ("npipe:////./pipe/docker_engine", None),
])
def test_only_an_engine_on_this_machine_gets_a_watchdog(monkeypatch, host, expected):
    """A bind mount names a path on the engine's machine: a remote engine's socket is not ours to mount."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    if host is not None:
        monkeypatch.setenv("DOCKER_HOST", host)
    assert local_socket() == expected


def test_a_remote_engine_falls_back_to_the_reaper_without_a_warning(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert watchdog.why_not(client=None) == "remote"
        assert watchdog.Watchdog.start(None, "run1", {}) is None  # the engine is not even asked


def test_a_missing_image_is_a_warning_not_a_failure(monkeypatch):
    class Images:
        def get(self, tag):
            raise LookupError(tag)  # what ImageNotFound says

    class Client:
        images = Images()

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.warns(UserWarning, match=r"tlsmatrix/watchdog:.* is missing .*make images"):
        assert watchdog.Watchdog.start(Client(), "run1", {}) is None


def test_the_image_is_built_with_the_others():
    assert all_images()["watchdog"] is WATCHDOG_IMAGE
    assert WATCHDOG_IMAGE.tag.startswith("tlsmatrix/watchdog:")
    assert "COPY harness/images/watchdog/watchdog.py" in (PROGRAM.parent / "Dockerfile").read_text()


def _socket_file(path: Path, mode: int) -> str:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    os.chmod(path, mode)
    return str(path)


def test_the_watchdog_gets_the_socket_group_not_root(tmp_path):
    path = _socket_file(tmp_path / "docker.sock", 0o660)
    if os.stat(path).st_uid != 0:
        pytest.skip("needs root: the socket must be root's, as a rootful engine's is")
    os.chown(path, 0, 998)
    assert watchdog.socket_user(path) == ("65534:65534", ["998"])
    os.chmod(path, 0o600)  # only root may use it: root, but the container has no capability
    assert watchdog.socket_user(path) == ("0:0", [])
    os.chown(path, 1000, 1000)  # a rootless engine: its user is root in its containers, and no more
    assert watchdog.socket_user(path) == ("0:0", [])


class FakeEngine:
    """The few API calls the program makes, over a unix socket; what it removed, in order."""

    def __init__(self, path: Path, objects: dict[str, list[dict]]) -> None:
        self.objects = objects
        self.removed: list[str] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def address_string(self):
                return "fake"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                kind = {"/containers/json": "containers", "/volumes": "volumes", "/networks": "networks"}.get(url.path)
                if url.path == "/_ping":
                    return self.reply(b"OK")
                [wanted] = json.loads(urllib.parse.parse_qs(url.query)["filters"][0])["label"]
                key, value = wanted.split("=")
                found = [o for o in engine.objects[kind] if o["Labels"].get(key) == value]
                self.reply(json.dumps({"Volumes": found} if kind == "volumes" else found).encode())

            def do_DELETE(self):
                kind, name = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
                engine.objects[kind] = [o for o in engine.objects[kind] if name not in (o.get("Id"), o.get("Name"))]
                engine.removed.append(f"{kind}/{name}")
                self.reply(b"")

            def reply(self, body: bytes) -> None:
                self.send_response(200 if body or self.command == "GET" else 204)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _objects() -> dict[str, list[dict]]:
    run, other = {"org.tlsmatrix.run": "r1"}, {"org.tlsmatrix.run": "r2"}
    return {
        "containers": [{"Id": "wd", "Labels": {**run, "org.tlsmatrix.role": "watchdog"}},
                       {"Id": "server1", "Labels": run}, {"Id": "client1", "Labels": run},
                       {"Id": "elsewhere", "Labels": other}],
        "volumes": [{"Name": "server1-files", "Labels": run}, {"Name": "keep", "Labels": other}],
        "networks": [{"Id": "net1", "Labels": run}, {"Id": "net2", "Labels": other}],
    }


def test_at_eof_the_program_removes_the_run_containers_first_and_not_itself(tmp_path, capfd):
    engine = FakeEngine(tmp_path / "engine.sock", _objects())
    read, write = os.pipe()
    try:
        os.close(write)  # the run is gone: stdin ends
        assert program().main(["watchdog.py", "r1"], str(tmp_path / "engine.sock"), read) == 0
    finally:
        os.close(read)
        engine.close()
    assert capfd.readouterr().out == "ready\n"
    assert engine.removed == ["containers/server1", "containers/client1", "volumes/server1-files", "networks/net1"]
    assert [o["Id"] for o in engine.objects["containers"]] == ["wd", "elsewhere"]  # auto-remove takes "wd"


def test_without_the_engine_the_program_says_so_and_does_not_claim_ready(tmp_path, capfd):
    assert program().main(["watchdog.py", "r1"], str(tmp_path / "none.sock"), 0) == 2
    assert capfd.readouterr().out.startswith("error: cannot reach the engine on ")


def test_a_sweep_that_cannot_finish_gives_up(tmp_path):
    """A removal the engine refuses for good (the fake forgets nothing) ends after the deadline."""
    objects = _objects()
    engine = FakeEngine(tmp_path / "engine.sock", objects)
    engine.server.RequestHandlerClass.do_DELETE = lambda self: self.reply(b"")  # nothing goes
    try:
        assert program().sweep_until_clean("r1", str(tmp_path / "engine.sock"), seconds=0.5) is False
    finally:
        engine.close()
