"""The run's watchdog: a container that removes a docker run's containers, volumes and network when
the run's process ends, however it ends (kill -9 included), with no later tlsmatrix command.

Two lines of defence against what a docker run leaves on the engine:

1. **The watchdog** (this module; its program: harness/images/watchdog/watchdog.py; testcontainers
   calls theirs Ryuk). A DockerRun starts one before anything else, from the image `make images`
   builds (tlsmatrix/watchdog), with the engine's unix socket mounted and stdin open with
   StdinOnce, and holds the attach connection to that stdin for its whole life. Only this process
   holds that socket (not inherited by children: Python's sockets are not inheritable). When the
   process dies the kernel closes it, the engine closes the watchdog's stdin, and the watchdog
   removes everything carrying the run's label, then exits (auto-remove takes its container). A
   normal close is the same event: the run closes the connection and waits until the watchdog is
   gone, so every normal run goes the way a kill -9 goes.
2. **The reaper** (harness/running/reaper.py): each run, and `tlsmatrix clean`, removes what runs
   whose owner (pid, start time, boot id: labels) is dead left. It covers what the watchdog cannot:
   a remote engine (DOCKER_HOST=tcp:// or ssh://: its socket cannot be mounted from here), the
   watchdog image not built, the engine restarting, a kill between creating the watchdog and
   starting it.

Least privilege: whoever holds the engine's socket holds the engine, which is why the program is
small and removes only by the run's label. Beyond the socket it gets nothing: a read-only root,
no network, no capability, no-new-privileges, a few pids; it runs as uid 65534 with only the
socket's group (docker) added, and as root only where the socket admits nothing less (a root-only
socket, or a rootless engine's, whose containers' root is the unprivileged user owning it).
"""
from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import warnings
from typing import Any

from ..model.errors import TlsmatrixWarning
from ..stacks.engine import LABEL_PREFIX, local_socket
from ..stacks.images import WATCHDOG_IMAGE

LABEL_ROLE = f"{LABEL_PREFIX}.role"
ROLE = "watchdog"
#: where the program finds the engine (harness/images/watchdog/watchdog.py: SOCKET)
IN_CONTAINER = "/var/run/docker.sock"
#: the program says "ready" once the engine answers it (a container starts in ~0.3 s)
READY_TIMEOUT = 20.0
#: how long a normal close waits for the watchdog's sweep and its removal (~0.1 s measured)
GONE_TIMEOUT = 10.0
NOBODY = "65534:65534"


def socket_user(path: str) -> tuple[str, list[str]]:
    """The container user (and extra groups) that may use the engine socket at ``path``, and no more."""
    st = os.stat(path)
    if st.st_uid != 0:
        return "0:0", []  # a rootless engine's socket: its owner is root in its containers, and no more
    if st.st_mode & (stat.S_IRGRP | stat.S_IWGRP) == stat.S_IRGRP | stat.S_IWGRP:
        return NOBODY, [str(st.st_gid)]  # the socket's group (docker): nobody else's rights
    return "0:0", []  # a root-only socket: root, without any capability


def why_not(client: Any) -> str | None:
    """Why this run gets no watchdog (None: it gets one)."""
    if local_socket() is None:
        return "remote"  # by design (docs/docker.md, "Cleanup"): the reaper covers it, no warning
    try:
        client.images.get(WATCHDOG_IMAGE.tag)
    except Exception:  # docker.errors.ImageNotFound, or the engine refusing
        return (f"image {WATCHDOG_IMAGE.tag} is missing (make images, or `tlsmatrix images watchdog`): "
                "if this run is killed, its containers stay until the next run or `tlsmatrix clean`")
    return None


class Watchdog:
    """One run's watchdog container, started, with the attach connection the run holds."""

    def __init__(self, client: Any, container_id: str, attached: Any) -> None:
        self.client = client
        self.id = container_id
        self._attached = attached  # a socket.SocketIO (its _response keeps the HTTP response alive)
        self.ready = threading.Event()
        self.error: str | None = None
        self._closed = False
        # starting takes ~0.3 s: the run goes on meanwhile (the watchdog is attached already)
        self._starting = threading.Thread(target=self._start, daemon=True, name="tlsmatrix-watchdog")
        self._starting.start()

    @classmethod
    def start(cls, client: Any, run_id: str, labels: dict[str, str]) -> "Watchdog | None":
        """The run's watchdog, or None when it can have none (a warning says why, unless the engine
        is remote: docs/docker.md)."""
        why = why_not(client)
        if why is not None:
            if why != "remote":
                warnings.warn(f"no watchdog for this docker run: {why}", TlsmatrixWarning, stacklevel=3)
            return None
        container_id = None
        try:
            container_id = _create(client, run_id, labels)
            # attached before it starts: from its first instruction on, our death is its signal
            attached = client.api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stream": 1})
            return cls(client, container_id, attached)
        except Exception as exc:  # docker.errors.APIError: the run goes on, the reaper covers a kill
            if container_id is not None:
                _remove(client, container_id)
            warnings.warn(f"no watchdog for this docker run: {exc}", TlsmatrixWarning, stacklevel=3)
            return None

    def _start(self) -> None:
        try:
            self.client.api.start(self.id)
            line = self._first_line()
        except Exception as exc:  # noqa: BLE001 - a timeout, the engine refusing: said below
            line = f"error: {exc}"
        if line == "ready":
            self.ready.set()
            return
        if self._closed:
            return  # a run that ended before its watchdog was ready: nothing to warn about
        self.error = line or "exited without a word"
        warnings.warn(f"the docker run's watchdog is not watching ({self.error}): if this run is killed, its "
                      "containers stay until the next run or `tlsmatrix clean`", TlsmatrixWarning, stacklevel=2)

    def _first_line(self) -> str:
        """The program's first stdout line, from the attach stream's frames (8-byte headers)."""
        from docker.utils.socket import next_frame_header, read_exactly

        raw = self._attached._sock
        raw.settimeout(READY_TIMEOUT)
        text = b""
        try:
            while not text.endswith(b"\n"):
                _, size = next_frame_header(self._attached)
                if size < 0:  # the stream ended: the program exited
                    break
                text += read_exactly(self._attached, size)
        finally:
            raw.settimeout(None)  # from now on it only waits to be closed
        return text.decode("utf-8", "replace").strip()

    def close(self) -> None:
        """End it the way a dying run does: close the connection; it sweeps the run, exits and is
        removed. Waits for that (bounded), so a closed run leaves nothing; removes it otherwise."""
        self._closed = True
        _close_socket(self._attached)  # first: a start still waiting for "ready" then ends at once
        self._starting.join(READY_TIMEOUT)
        if not self.ready.is_set() or not _gone(self.client, self.id, GONE_TIMEOUT):
            _remove(self.client, self.id)


def _create(client: Any, run_id: str, labels: dict[str, str]) -> str:
    """Create (not start) the watchdog container: locked down but for the engine's socket."""
    path = local_socket()
    assert path is not None
    user, groups = socket_user(path)
    host_config = client.api.create_host_config(
        binds={path: {"bind": IN_CONTAINER, "mode": "rw"}}, auto_remove=True, network_mode="none",
        read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"], group_add=groups or None,
        pids_limit=16)
    # detach=False with stdin_open sets StdinOnce: the engine closes its stdin when our attach ends
    created = client.api.create_container(
        WATCHDOG_IMAGE.tag, [run_id], name=f"tlsmatrix-{run_id}-watchdog", user=user, stdin_open=True,
        detach=False, labels={**labels, LABEL_ROLE: ROLE}, host_config=host_config)
    return created["Id"]


def _close_socket(attached: Any) -> None:
    raw = attached._sock
    if raw is None:
        return  # closed already
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_RDWR)  # the engine sees the end now, whatever else holds the socket
    for part in (getattr(attached, "_response", None), attached, raw):  # the HTTP response, then the socket
        with contextlib.suppress(Exception):
            if part is not None:
                part.close()


def _gone(client: Any, container_id: str, timeout: float) -> bool:
    """Whether the container is removed within ``timeout`` (auto-remove after the program exits)."""
    from docker.errors import NotFound

    try:
        client.api.wait(container_id, timeout=timeout, condition="removed")
        return True
    except NotFound:
        return True  # removed before we asked
    except Exception:  # noqa: BLE001 - a read timeout: still there
        return False


def _remove(client: Any, container_id: str) -> None:
    with contextlib.suppress(Exception):  # gone already
        client.api.remove_container(container_id, force=True)


__all__ = ["LABEL_ROLE", "ROLE", "Watchdog", "socket_user", "why_not"]
