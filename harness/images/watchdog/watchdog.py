"""The run's watchdog: removes one docker run's containers, volumes and network once the run is gone.

    python3 watchdog.py RUN_ID        (in its container: harness/images/watchdog/Dockerfile)

A docker run (harness/running/watchdog.py) starts this program in a container of its own with
stdin open and holds that stdin's attach connection for its whole life. When the run's process
ends, however it ends (kill -9 included), its kernel closes the connection, the engine closes our
stdin (StdinOnce), and we read EOF: then everything that carries the run's label is removed
through the engine's API on the mounted socket (plain HTTP over a unix socket, standard library
only), containers first (a network with containers on it cannot go), then volumes, then the
network. Our own container is left alone: it is started with auto-remove, so the engine removes
it when we exit. testcontainers calls its program of this kind Ryuk; the sweep of dead owners
that the next tlsmatrix command does (harness/running/reaper.py) stays as the second line.

Protocol on stdout: one line, ``ready`` once the engine answers on the socket (else ``error: ...``
and exit status 2), so the run knows its watchdog can act.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import time
import urllib.parse

SOCKET = "/var/run/docker.sock"
LABEL_RUN = "org.tlsmatrix.run"
LABEL_ROLE = "org.tlsmatrix.role"
ROLE = "watchdog"
#: how long a sweep keeps trying: a container still being removed blocks its network for a moment
SWEEP_SECONDS = 15.0
#: kind -> its list endpoint, in the order that lets each removal succeed (containers hold volumes
#: and networks)
KINDS = {"containers": "/containers/json", "volumes": "/volumes", "networks": "/networks"}


class UnixConnection(http.client.HTTPConnection):
    """HTTP to the engine over its unix socket."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def request(method: str, path: str, socket_path: str = SOCKET) -> tuple[int, bytes]:
    """One API request on a fresh connection; (status, body)."""
    conn = UnixConnection(socket_path)
    try:
        conn.request(method, path, headers={"Host": "docker"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def listing(kind: str, run: str, socket_path: str = SOCKET) -> list[dict]:
    """The run's containers (running or not), volumes or networks, as the engine lists them."""
    query = {"filters": json.dumps({"label": [f"{LABEL_RUN}={run}"]})}
    if kind == "containers":
        query["all"] = "1"
    status, body = request("GET", f"{KINDS[kind]}?{urllib.parse.urlencode(query)}", socket_path)
    if status != 200:
        raise OSError(f"GET {KINDS[kind]}: {status} {body[:200]!r}")
    found = json.loads(body)
    return (found.get("Volumes") or []) if kind == "volumes" else found


def removal(kind: str, obj: dict) -> str:
    """The DELETE path of one object: containers killed and removed with their anonymous volumes."""
    if kind == "containers":
        return f"/containers/{obj['Id']}?force=1&v=1"
    if kind == "volumes":
        return f"/volumes/{urllib.parse.quote(obj['Name'])}?force=1"
    return f"/networks/{obj['Id']}"


def sweep(run: str, socket_path: str = SOCKET) -> tuple[int, int]:
    """Remove what carries the run's label (not the watchdog itself); returns (found, not removed)."""
    found = failed = 0
    for kind in KINDS:
        for obj in listing(kind, run, socket_path):
            if (obj.get("Labels") or {}).get(LABEL_ROLE) == ROLE:
                continue  # ourselves: auto-remove takes our container once we exit
            found += 1
            status, _ = request("DELETE", removal(kind, obj), socket_path)
            failed += status >= 300 and status != 404  # 404: gone already; 409: still in use, say
    return found, failed


def sweep_until_clean(run: str, socket_path: str = SOCKET, seconds: float = SWEEP_SECONDS) -> bool:
    """Sweep until a sweep finds nothing: the last one checks that nothing came meanwhile (a
    container being removed holds its network; a client's container may start as the run dies)."""
    deadline = time.monotonic() + seconds
    while True:
        failed = 1
        try:
            found, failed = sweep(run, socket_path)
            if found == 0:
                return True
        except (OSError, ValueError, http.client.HTTPException) as exc:  # the engine restarting, say
            print(f"error: {exc}", flush=True)
        if time.monotonic() >= deadline:
            return False
        if failed:
            time.sleep(0.2)  # let what holds it go first


def wait_for_eof(fd: int = 0) -> None:
    """Block until stdin ends: the run closed its attach connection, or its process is gone."""
    while os.read(fd, 65536):
        pass


def main(argv: list[str], socket_path: str = SOCKET, stdin: int = 0) -> int:
    if len(argv) != 2 or not argv[1]:
        print("usage: watchdog.py RUN_ID", file=sys.stderr)
        return 2
    try:
        request("GET", "/_ping", socket_path)
    except OSError as exc:  # the socket's permissions, most likely (the run chose our user by them)
        print(f"error: cannot reach the engine on {socket_path}: {exc}", flush=True)
        return 2
    print("ready", flush=True)
    wait_for_eof(stdin)
    return 0 if sweep_until_clean(argv[1], socket_path) else 1


if __name__ == "__main__":
    # PID 1 ignores SIGTERM unless it handles it: `docker stop` should not take its 10 s grace
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main(sys.argv))
