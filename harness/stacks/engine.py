"""The Docker engine: a client that answers (or one line saying what to do), the label prefix
every image, container, volume and network tlsmatrix makes carries (the reaper finds them by it),
and whether the engine is this machine's own (its unix socket can be mounted into a container:
the run's watchdog needs that, harness/running/watchdog.py)."""
from __future__ import annotations

import os

from ..model.errors import TlsmatrixError


LABEL_PREFIX = "org.tlsmatrix"
#: the run a container, volume or network belongs to (the run's id): what its watchdog removes by
LABEL_RUN = f"{LABEL_PREFIX}.run"
DEFAULT_SOCKET = "/var/run/docker.sock"


class DockerUnavailable(TlsmatrixError):
    """No usable Docker engine; the message says what to do."""


def docker_client(timeout: int = 120):
    """A Docker SDK client that answers, or DockerUnavailable with one line saying what to do."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - it is a dependency
        raise DockerUnavailable("the Docker SDK for Python is not installed: run `make setup`") from None
    host = os.environ.get("DOCKER_HOST", f"unix://{DEFAULT_SOCKET}")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except DockerException as exc:
        chain = _exception_chain(exc)
        if any(isinstance(e, PermissionError) for e in chain) or "Permission denied" in str(exc):
            raise DockerUnavailable(
                f"permission denied on the Docker socket ({host}): add your user to the `docker` group "
                "or run as root; `--backend process` works without Docker") from None
        if any(isinstance(e, FileNotFoundError) for e in chain):
            raise DockerUnavailable(
                f"no Docker engine at {host} (not installed or daemon down): install/start Docker "
                "(`systemctl start docker`) or set DOCKER_HOST; `--backend process` works without Docker") from None
        raise DockerUnavailable(
            f"the Docker engine at {host} does not answer ({exc}); start it or set DOCKER_HOST; "
            "`--backend process` works without Docker") from None


def local_socket(docker_host: str | None = None) -> str | None:
    """The engine's unix socket path when the engine is this machine's (DOCKER_HOST unset or
    unix://...), else None (tcp://, ssh://: a remote engine, whose socket path is not ours to know).
    A bind mount names a path on the engine's machine, so only a local socket can be mounted."""
    host = os.environ.get("DOCKER_HOST", "") if docker_host is None else docker_host
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host.removeprefix("unix://") or None
    return None


def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or e in seen:
            continue
        seen.append(e)
        todo.extend([e.__cause__, e.__context__])
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return seen
