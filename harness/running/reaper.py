"""Leftovers of dead runs: found by owner (pid + process start time + boot id), then removed.

A run that ends normally removes its containers and temporary directories itself; one killed
with SIGKILL cannot. Its containers, volumes and network have a first line of defence that needs
no later command: the run's watchdog (harness/running/watchdog.py, a container that removes them
when the run's process ends). This module is the second line, and the only one for temporary
directories: every run first removes what runs whose owning process is gone left behind (what the
watchdog could not: a remote engine, its image not built, a kill while it was being set up), and
``tlsmatrix clean`` is only a convenience.

An owner is identified by three facts, because a pid alone lies: after a reboot (other boot
id) or once the pid is reused (other start time), the pid may belong to an unrelated live
process. Temporary directories carry the owner in their name
(``tlsmatrix-<kind>-<pid>.<start>.<boot>.<pid namespace>-<random>``), containers in labels.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterable
from ..model.owner import owner_of


def temp_roots(extra: Iterable[Path] = ()) -> list[Path]:
    """Where runs put owned temporary directories: the system temp dir, results/tmp, and ``extra``."""
    from ..model.paths import results_dir

    return [Path(tempfile.gettempdir()), results_dir() / "tmp", *extra]


def reap_dirs(roots: Iterable[Path] | None = None) -> list[Path]:
    """Remove owned temporary directories whose owner is dead; returns what was removed."""
    removed = []
    for root in temp_roots() if roots is None else roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            owner = owner_of(entry.name) if entry.name.startswith("tlsmatrix-") else None
            if owner is None or owner.alive() or not _ours(entry):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def reap_run_dirs(everything: bool = False) -> int:
    """`tlsmatrix clean`: temporary directories of dead runs (of every run with ``everything``;
    results/tmp entries without an owner in their name, from older versions, count as dead)."""
    from ..model.paths import pki_cache_dir, results_dir

    removed = len(reap_dirs(temp_roots([pki_cache_dir() / "tmp"])))
    tmp = results_dir() / "tmp"
    for d in (tmp.iterdir() if tmp.is_dir() else ()):
        if everything or owner_of(d.name) is None:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed


def _ours(entry: os.DirEntry) -> bool:
    """Only directories of this user (a shared /tmp holds other users' runs too)."""
    try:
        return entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.geteuid()
    except OSError:
        return False


def reap(extra_roots: Iterable[Path] = (), containers: bool = False) -> None:
    """What each run does first: remove dead runs' directories and, with ``containers``, in a
    background thread (an engine may be slow or down), their containers. Never fails a run: a
    leftover is not worth an error."""
    try:
        reap_dirs(temp_roots(extra_roots))
    except Exception:  # noqa: BLE001 - best effort by design
        pass
    if containers and (os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock")):
        thread = threading.Thread(target=_reap_containers, daemon=True, name="tlsmatrix-reaper")
        _THREADS.append(thread)
        thread.start()


_THREADS: list[threading.Thread] = []


def _reap_containers() -> None:
    try:
        from .endpoints.docker import clean
        from ..stacks.engine import docker_client

        client = docker_client(timeout=10)
        try:
            clean(client, only_dead=True)
        finally:
            client.close()  # no socket outlives the sweep
    except Exception:  # noqa: BLE001 - no engine, no leftovers to remove
        pass


def wait(timeout: float = 30.0) -> None:
    """Let a container sweep finish before the run ends (bounded: removing a container takes
    seconds; without leftovers the sweep is one request)."""
    while _THREADS:
        _THREADS.pop().join(timeout)
