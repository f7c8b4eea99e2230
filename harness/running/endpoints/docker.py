"""The docker backend: one container per server stack, one published port per container.

Containers run the same server programs as the process backend (docs/probe-contract.md,
"Server programs inside containers"). Nothing of the host is mounted: the configuration and the
certificate files a container needs are copied into a volume of its own through the archive API
before it starts, so a remote DOCKER_HOST works too. Each container is on the default bridge and
on the run's own internal network (no route out), where the versioned client containers reach
its listeners directly. The host's client stacks reach them through one port published on
127.0.0.1: a relay (harness/probes/router) listens on the host once per listener and passes
each connection's bytes, unchanged, through that port to the listener (publishing a port per
listener cost the daemon ~80 ms each, most of a run: docs/performance.md, "Docker").
Containers run as uid 65534 with every capability dropped, no-new-privileges and a read-only
root filesystem. Every container, volume and network carries the run label: the run's watchdog
(harness/running/watchdog.py), a container started first, removes them all when the run's process
ends, even by kill -9; `tlsmatrix clean` and the next run (harness/running/reaper.py) remove what
dead runs left where it could not (a remote engine, its image not built).
"""
from __future__ import annotations

import io
import json
import queue
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from ...stacks.images import IMAGES, ImageError, image_for
from ...stacks.engine import LABEL_PREFIX, LABEL_RUN, DockerUnavailable, docker_client
from ..jsonproc import JsonLineProcess, ProcessError
from ...model.core import ServerConfig, StackInfo
from ...model.owner import Owner, container_is_stale
from ..watchdog import Watchdog
from .base import LOOPBACK, EndpointError, Listener, ListenerSpec, Started, wait_all_ready

READY_TIMEOUT = 60.0
CONTAINER_PORT_BASE = 20000
#: the container's one published port: the relay's inside half (harness/probes/router)
ROUTER_PORT = 19999
ROUTER = "tlsmatrix-router"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_PID = f"{LABEL_PREFIX}.pid"
LABEL_STACK = f"{LABEL_PREFIX}.stack"


#: where a server container finds its configuration and certificate files (a volume of its own)
FILES = "/run/tlsmatrix"


class DockerRun:
    """What all containers of one harness run share: the client, the run id, the watchdog, the
    internal network."""

    def __init__(self, pki_root: Path, client=None) -> None:
        self.client = client or docker_client()
        self.id = uuid.uuid4().hex[:12]
        clean(self.client, only_dead=True)  # containers (and their ports) of runs killed earlier
        self.pki_root = Path(pki_root).resolve()
        self.network_name = f"tlsmatrix-{self.id}"
        # first of all: from here on, what this run makes goes when its process does, kill -9 included
        self.watchdog = Watchdog.start(self.client, self.id, self.labels)
        try:
            # internal: no route out of it; the run's containers (servers, versioned clients) talk here
            self.network = self.client.networks.create(self.network_name, driver="bridge", internal=True,
                                                       labels=self.labels)
        except BaseException:
            self.close()
            raise

    @property
    def labels(self) -> dict[str, str]:
        # pid + start time + boot id (+ machine): a later run can tell this run is dead for sure
        return {LABEL_MANAGED: "true", LABEL_RUN: self.id, **Owner.me().labels(LABEL_PREFIX)}

    def close(self) -> None:
        """Remove every container of this run (also those whose endpoint object was lost), its volumes
        and its network: the watchdog does, as it would after a kill -9 (so each run tries that path),
        then one sweep for what it could not (none: everything)."""
        if self.watchdog is not None:
            self.watchdog.close()
            self.watchdog = None
        remove_containers(self.client, {LABEL_RUN: self.id})


class DockerEndpoint(Started):
    """A server stack running as one container (context manager; cleans up on any failure)."""

    def __init__(self, stack_name: str, specs: Iterable[ListenerSpec], run: DockerRun,
                 ready_timeout: float = READY_TIMEOUT) -> None:
        self.stack_name = stack_name
        self.run = run
        self.ready_timeout = ready_timeout
        self.listeners: dict[str, Listener] = {s.id: Listener(s, host=LOOPBACK) for s in specs}
        self.info: StackInfo | None = None
        self.cpu_s: float | None = None  # a container's CPU is not measured (the Endpoint protocol asks)
        self.container = None
        self.image_tag: str | None = None
        self.image_id: str | None = None
        self.command: list[str] = []
        self.files: dict[str, Path] = {}  # path in the container's volume (relative) -> host file
        self.relay: JsonLineProcess | None = None  # the relay's outside half, on the host

    # -- start --

    def _container_path(self, path: Path) -> str:
        """Where the container sees a certificate file (copied in by _copy_files)."""
        path = Path(path).resolve()
        try:
            relative = path.relative_to(self.run.pki_root)
        except ValueError:
            raise EndpointError(f"{path} is outside the certificate cache {self.run.pki_root}; "
                                "the docker backend copies files only from there") from None
        self.files[f"pki/{relative}"] = path
        return f"{FILES}/pki/{relative}"

    def start(self) -> None:
        """Run the container and wait until every listener is published and ready (a real handshake
        presents its leaf) or has an error of its own; raises EndpointError (image, command, log tail)."""
        try:
            image = image_for(self.run.client, self.stack_name)
        except ImageError as exc:
            raise EndpointError(str(exc)) from None
        self.image_tag = image.tags[0] if image.tags else image.id
        self.image_id = image.id
        self.files[ROUTER] = _router_program()
        ports = {listener.spec.id: CONTAINER_PORT_BASE + i for i, listener in enumerate(self.listeners.values())}
        self._run_container(image, self._config(ports), ports)
        self._read_listeners()
        self._publish(ports)
        errors = wait_all_ready(list(self.listeners.values()), self.ready_timeout)
        for lid in self.listeners:  # the first in the configuration's order
            if lid in errors:
                raise EndpointError(self._describe(str(errors[lid]))) from None

    def _config(self, ports: dict[str, int]) -> bytes:
        """The server contract's configuration (its file paths as the container sees them)."""
        entries = [listener.spec.config(self._container_path, ports[lid]) for lid, listener in self.listeners.items()]
        return json.dumps(ServerConfig(host="0.0.0.0", container=True, listeners=entries).to_json()).encode()

    def _archive(self, config: bytes) -> bytes:
        """A tar of the configuration and the certificate files (root-owned, world-readable)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            members = [("config.json", config)] + [(name, path.read_bytes()) for name, path in sorted(self.files.items())]
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o755 if name == ROUTER else 0o644
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def _run_container(self, image: Any, config: bytes, ports: dict[str, int]) -> None:
        """Create the container, copy its files in, join the run's network, start it."""
        spec = IMAGES[self.stack_name]
        self.command = self.command or [*spec.command, "--config", f"{FILES}/config.json"]
        client = self.run.client
        name = f"tlsmatrix-{self.run.id}-{self.stack_name.replace('@', '-')}-{uuid.uuid4().hex[:6]}"
        try:
            volume = client.volumes.create(f"{name}-files", labels={**self.run.labels, LABEL_STACK: self.stack_name})
            self.container = client.containers.create(
                image.id, command=self.command, name=name,
                labels={**self.run.labels, LABEL_STACK: self.stack_name},
                ports={f"{ROUTER_PORT}/tcp": (LOOPBACK, None)},
                # a volume, not a bind mount: the archive API may write to it although the root is read-only
                volumes={volume.name: {"bind": FILES, "mode": "rw"}},
                user="65534:65534", cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True,
                tmpfs={"/tmp": "rw,size=64m,mode=1777"}, network_mode="bridge", **spec.run_options)
            self.container.put_archive(FILES, self._archive(config))
            self.run.network.connect(self.container, aliases=[self.stack_name.replace("@", "-")])
            self.container.start()
            self.container.exec_run([f"{FILES}/{ROUTER}", "inside", f"0.0.0.0:{ROUTER_PORT}"], detach=True)
        except EndpointError:
            raise
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
        """Each bound listener's host port (the relay's, on loopback) and its address on the run's
        internal network."""
        self.container.reload()
        binding = [b for b in (self.container.ports or {}).get(f"{ROUTER_PORT}/tcp") or []
                   if b.get("HostIp") in (LOOPBACK, "")]
        if not binding:
            raise EndpointError(self._describe(f"port {ROUTER_PORT} was not published on {LOOPBACK}"))
        networks = self.container.attrs.get("NetworkSettings", {}).get("Networks", {})
        internal_ip = (networks.get(self.run.network_name) or {}).get("IPAddress") or None
        bound = {}
        for lid, listener in self.listeners.items():
            if listener.port is None and not listener.error:
                listener.error = "the server did not report this listener"
            if listener.error:
                listener.port = None
                continue
            bound[lid] = ports[lid]
            if internal_ip:
                listener.internal = (self.run.network_name, internal_ip, ports[lid])
        if not bound:  # every listener refused (a group or key this stack lacks): results, no relay
            return
        host_ports = self._start_relay(int(binding[0]["HostPort"]), sorted(bound.values()))
        for lid, port in bound.items():
            self.listeners[lid].port = host_ports[port]

    def _start_relay(self, published: int, ports: list[int]) -> dict[int, int]:
        """The relay's outside half: container port -> its listener on the host's loopback."""
        try:
            self.relay = JsonLineProcess([str(self.files[ROUTER]), "outside", f"{LOOPBACK}:{published}", *map(str, ports)])
            line = self.relay.receive(timeout=self.ready_timeout)  # once every host listener is bound
            return {int(k): int(v) for k, v in line["ports"].items()}
        except ProcessError as exc:
            raise EndpointError(self._describe(f"the relay did not start: {exc}")) from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EndpointError(self._describe(f"the relay's first line has no ports: {line!r}")) from None

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
        if self.relay is not None:  # its stdin closing ends it (as when the harness is killed)
            self.relay.close()
            self.relay = None
        if self.container is not None:
            try:
                self.container.remove(force=True, v=True)
            except Exception:
                pass  # already gone; DockerRun.close() sweeps by label anyway
            self.container = None


def _router_program() -> Path:
    """The relay program (the go build target), or EndpointError saying how to build it."""
    from ...stacks.build import not_built, output_path

    why = not_built("router")
    if why:
        raise EndpointError(f"the docker backend's relay is missing: {why}")
    return output_path("router")


def remove_containers(client, labels: dict[str, str]) -> int:
    """Remove every container (running or not) carrying all ``labels``; returns how many."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    removed = 0
    # ignore_removed: a container may go between the list and its inspect (auto-removed watchdogs, --rm clients)
    for container in client.containers.list(all=True, filters=filters, ignore_removed=True):
        try:
            container.remove(force=True)
            removed += 1
        except Exception:
            pass
    for kind in ("volumes", "networks"):  # the containers' file volumes, the run's internal network
        try:
            for obj in getattr(client, kind).list(filters=filters):
                obj.remove()
        except Exception:
            pass
    return removed


def clean(client=None, only_dead: bool = False) -> int:
    """Remove what crashed or killed runs left behind (`tlsmatrix clean`): their containers, then
    their file volumes and internal networks; returns how many containers."""
    client = client or docker_client()
    managed = {"label": [f"{LABEL_MANAGED}=true"]}

    def stale(labels: dict[str, str] | None) -> bool:
        return not only_dead or container_is_stale(labels or {}, LABEL_PREFIX)

    containers = client.containers.list(all=True, filters=managed, ignore_removed=True)  # some go meanwhile
    removed = _remove([c for c in containers if stale(c.labels)], force=True)
    for kind, options in (("volumes", {"force": True}), ("networks", {})):
        collection = getattr(client, kind, None)
        if collection is not None:
            _remove([o for o in collection.list(filters=managed) if stale(o.attrs.get("Labels"))], **options)
    return removed


def _remove(objects: list, **options: Any) -> int:
    removed = 0
    for obj in objects:
        try:
            obj.remove(**options)
            removed += 1
        except Exception:
            pass  # gone already (another run's reaper got there first)
    return removed


__all__ = ["DockerEndpoint", "DockerRun", "DockerUnavailable", "LABEL_RUN", "clean", "remove_containers"]
