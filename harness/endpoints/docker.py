"""The docker backend: one container per server stack, one published port per listener.

Containers run the same server programs as the process backend (docs/probe-contract.md,
"Server programs inside containers"), configured by a read-only mounted file. Ports are
published on 127.0.0.1 only; certificates are mounted read-only; containers run as uid
65534 with every capability dropped, no-new-privileges and a read-only root filesystem.
Every container carries the run label, so `tlsmatrix clean` can remove what a killed run
left behind.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from ..images import IMAGES, LABEL_PREFIX, DockerUnavailable, ImageError, docker_client, image_for
from ..model import ServerConfig, StackInfo
from ..reaper import Owner, container_is_stale, owned_prefix
from ..toolchain import results_dir
from .base import LOOPBACK, EndpointError, Listener, ListenerSpec, wait_ready

READY_TIMEOUT = 60.0
CONTAINER_PORT_BASE = 20000
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_RUN = f"{LABEL_PREFIX}.run"
LABEL_PID = f"{LABEL_PREFIX}.pid"
LABEL_STACK = f"{LABEL_PREFIX}.stack"


class DockerRun:
    """What all containers of one harness run share: the client, the run id, the config dir."""

    def __init__(self, pki_root: Path, client=None) -> None:
        self.client = client or docker_client()
        self.id = uuid.uuid4().hex[:12]
        clean(self.client, only_dead=True)  # containers (and their ports) of runs killed earlier
        self.pki_root = Path(pki_root).resolve()
        # the container user (uid 65534) must traverse the mounted certificate cache (test keys only)
        for d in (self.pki_root, self.pki_root / "nodes", self.pki_root / "chains"):
            if d.is_dir():
                os.chmod(d, 0o755)
        base = results_dir() / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        # the owner in the name lets a later run remove it after a kill -9 (harness/reaper.py)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{owned_prefix('docker')}{self.id}-", dir=base))
        os.chmod(self.dir, 0o755)

    @property
    def labels(self) -> dict[str, str]:
        # pid + start time + boot id (+ machine): a later run can tell this run is dead for sure
        return {LABEL_MANAGED: "true", LABEL_RUN: self.id, **Owner.me().labels(LABEL_PREFIX)}

    def close(self) -> None:
        """Remove every container of this run (also those whose endpoint object was lost)."""
        remove_containers(self.client, {LABEL_RUN: self.id})
        shutil.rmtree(self.dir, ignore_errors=True)


class DockerEndpoint:
    """A server stack running as one container (context manager; cleans up on any failure)."""

    def __init__(self, stack_name: str, specs: Iterable[ListenerSpec], run: DockerRun,
                 ready_timeout: float = READY_TIMEOUT) -> None:
        self.stack_name = stack_name
        self.run = run
        self.ready_timeout = ready_timeout
        self.listeners: dict[str, Listener] = {s.id: Listener(s, host=LOOPBACK) for s in specs}
        self.info: StackInfo | None = None
        self.container = None
        self.image_tag: str | None = None
        self.image_id: str | None = None
        self.command: list[str] = []

    def __enter__(self) -> DockerEndpoint:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start --

    def _container_path(self, path: Path) -> str:
        path = Path(path).resolve()
        try:
            return "/pki/" + str(path.relative_to(self.run.pki_root))
        except ValueError:
            raise EndpointError(f"{path} is outside the certificate cache {self.run.pki_root}; "
                                "the docker backend mounts only that directory") from None

    def start(self) -> None:
        """Run the container and wait until every listener is published and ready (a real handshake
        presents its leaf) or has an error of its own; raises EndpointError (image, command, log tail)."""
        try:
            image = image_for(self.run.client, self.stack_name)
        except ImageError as exc:
            raise EndpointError(str(exc)) from None
        self.image_tag = image.tags[0] if image.tags else image.id
        self.image_id = image.id
        ports = {listener.spec.id: CONTAINER_PORT_BASE + i for i, listener in enumerate(self.listeners.values())}
        self._run_container(image, self._write_config(ports), ports)
        self._read_listeners()
        self._publish(ports)
        for listener in self.listeners.values():
            if listener.port is not None:
                try:
                    wait_ready(listener, self.ready_timeout)
                except EndpointError as exc:
                    raise EndpointError(self._describe(str(exc))) from None

    def _write_config(self, ports: dict[str, int]) -> Path:
        """The server contract's configuration, in a directory the container mounts read-only."""
        entries = [listener.spec.config(self._container_path, ports[lid]) for lid, listener in self.listeners.items()]
        config_dir = self.run.dir / self.stack_name
        config_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(config_dir, 0o755)
        (config_dir / "config.json").write_text(json.dumps(
            ServerConfig(host="0.0.0.0", container=True, listeners=entries).to_json()))
        os.chmod(config_dir / "config.json", 0o644)
        return config_dir

    def _run_container(self, image: Any, config_dir: Path, ports: dict[str, int]) -> None:
        self.command = self.command or ["--config", "/run/tlsmatrix/config.json"]
        try:
            self.container = self.run.client.containers.run(
                image.id,
                command=self.command,
                detach=True,
                name=f"tlsmatrix-{self.run.id}-{self.stack_name}-{uuid.uuid4().hex[:6]}",
                labels={**self.run.labels, LABEL_STACK: self.stack_name},
                ports={f"{p}/tcp": (LOOPBACK, None) for p in ports.values()},
                volumes={
                    str(self.run.pki_root): {"bind": "/pki", "mode": "ro"},
                    str(config_dir): {"bind": "/run/tlsmatrix", "mode": "ro"},
                },
                user="65534:65534",
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                read_only=True,
                tmpfs={"/tmp": "rw,size=64m,mode=1777"},
                network_mode="bridge",
                **IMAGES[self.stack_name].run_options,
            )
        except Exception as exc:  # docker.errors.APIError, ImageNotFound
            raise EndpointError(self._describe(f"container failed to start: {exc}")) from None

    def _read_listeners(self) -> None:
        """The hello, then one line per listener (bound, or its error), then ready."""
        lines = self._log_lines()
        deadline = time.monotonic() + self.ready_timeout
        try:
            first = self._next(lines, deadline)
            if "hello" not in first:
                raise EndpointError(self._describe(f"first line is not a hello: {first!r}"))
            self.info = StackInfo.from_hello(first["hello"])
            while True:
                line = self._next(lines, deadline)
                if line.get("ready"):
                    break
                listener = self.listeners.get(str(line.get("id")))
                if listener is None:
                    raise EndpointError(self._describe(f"reported an unknown listener: {line!r}"))
                if line.get("error"):
                    listener.error = str(line["error"])
                else:
                    listener.port = -1  # bound inside; the host port is looked up by _publish
        except queue.Empty:
            raise EndpointError(self._describe(f"not ready within {self.ready_timeout:.0f}s")) from None

    def _publish(self, ports: dict[str, int]) -> None:
        """Each bound listener's host port (published on loopback only)."""
        self.container.reload()
        published = self.container.ports or {}
        for lid, listener in self.listeners.items():
            if listener.error:
                listener.port = None
                continue
            if listener.port is None:
                listener.error = "the server did not report this listener"
                continue
            binding = published.get(f"{ports[lid]}/tcp") or []
            host_ports = [b for b in binding if b.get("HostIp") in (LOOPBACK, "")]
            if not host_ports:
                raise EndpointError(self._describe(f"port {ports[lid]} was not published on {LOOPBACK}"))
            listener.port = int(host_ports[0]["HostPort"])

    def _log_lines(self) -> "queue.Queue[Any]":
        """JSON lines from the container's stdout, read in a thread (so reads can time out)."""
        q: queue.Queue[Any] = queue.Queue()
        container = self.container

        def pump() -> None:
            buf = b""
            try:
                for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=False):
                    buf += chunk
                    while b"\n" in buf:
                        raw, buf = buf.split(b"\n", 1)
                        q.put(raw.decode("utf-8", "replace"))
            except Exception:  # container removed while streaming
                pass
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return q

    def _next(self, lines: "queue.Queue[Any]", deadline: float) -> dict[str, Any]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise queue.Empty
            raw = lines.get(timeout=remaining)
            if raw is None:
                raise EndpointError(self._describe("the container exited before it was ready"))
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                raise EndpointError(self._describe(f"wrote a line that is not JSON: {raw[:200]!r}")) from None
            if isinstance(obj, dict):
                return obj

    def _describe(self, message: str) -> str:
        """The message plus image, command, exit status and log tail (like docker-py's ContainerError)."""
        detail = f"server stack {self.stack_name!r} in docker: {message} [image: {self.image_tag}; command: {' '.join(self.command)}"
        tail = ""
        if self.container is not None:
            try:
                self.container.reload()
                detail += f"; status: {self.container.status}"
                state = self.container.attrs.get("State", {})
                if state.get("Status") == "exited":
                    detail += f"; exit code {state.get('ExitCode')}"
                tail = self.container.logs(tail=30).decode("utf-8", "replace").strip()
            except Exception:
                pass
        detail += "]"
        if tail:
            detail += f"\n--- container log tail ---\n{tail}"
        return detail

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:
                pass  # already gone; DockerRun.close() sweeps by label anyway
            self.container = None


def remove_containers(client, labels: dict[str, str]) -> int:
    """Remove every container (running or not) carrying all ``labels``; returns how many."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    removed = 0
    for container in client.containers.list(all=True, filters=filters):
        try:
            container.remove(force=True)
            removed += 1
        except Exception:
            pass
    for kind in ("networks", "volumes"):  # none are created today; swept in case a later version does
        try:
            for obj in getattr(client, kind).list(filters=filters):
                obj.remove()
        except Exception:
            pass
    return removed


def clean(client=None, only_dead: bool = False) -> int:
    """Remove what crashed or killed runs left behind (`tlsmatrix clean`)."""
    client = client or docker_client()
    removed = 0
    for container in client.containers.list(all=True, filters={"label": [f"{LABEL_MANAGED}=true"]}):
        if only_dead and not container_is_stale(container.labels or {}, LABEL_PREFIX):
            continue
        try:
            container.remove(force=True)
            removed += 1
        except Exception:
            pass
    return removed


__all__ = ["DockerEndpoint", "DockerRun", "DockerUnavailable", "clean", "remove_containers"]
