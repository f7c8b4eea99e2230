"""Issue 14, item 4: leftovers of dead runs are found by owner (pid + start time + boot id)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tlsmatrix.model import owner
from tlsmatrix.running import reaper
from tlsmatrix.running.endpoints import docker as docker_backend
from tlsmatrix.stacks.engine import LABEL_PREFIX


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_names_record_the_owner_and_read_back():
    me = owner.Owner.me()
    assert me.start and me.boot and me.ns  # Linux: /proc is there
    name = owner.owned_prefix("kubeconfig") + "abc123"
    assert name.startswith(f"tlsmatrix-kubeconfig-{os.getpid()}.")
    found = owner.owner_of(name)
    assert found is not None and found.pid == os.getpid() and found.start == me.start
    assert me.boot.startswith(found.boot) and found.ns == me.ns
    assert found.alive()
    assert owner.owner_of("tlsmatrix-capture-pryydtlc") is None  # not ours to judge
    assert owner.owner_of("tlsmatrix-cliclient-123-abc") is None  # older names: left alone


def test_a_dead_pid_is_dead():
    assert not owner.Owner(dead_pid(), "", owner.boot_id(), owner.pid_namespace()).alive()


def test_a_reused_pid_is_not_mistaken_for_the_owner():
    """Same pid, other start time: the pid now belongs to another process."""
    me = owner.Owner.me()
    assert not owner.Owner(me.pid, str(int(me.start) + 1), me.boot, me.ns).alive()


def test_a_pid_from_before_a_reboot_is_dead_even_if_that_pid_runs_now():
    me = owner.Owner.me()
    other_boot = "0123abcd" if not me.boot.startswith("0123abcd") else "fedcba98"
    assert not owner.Owner(me.pid, me.start, other_boot, me.ns).alive()
    assert not owner.owner_of(f"tlsmatrix-x-{me.pid}.{me.start}.{other_boot}.{me.ns}-r").alive()


def test_an_owner_in_another_pid_namespace_is_never_judged():
    assert owner.Owner(dead_pid(), "1", owner.boot_id(), "1").alive()


def test_reap_dirs_removes_only_dead_owners(tmp_path):
    me = owner.Owner.me()
    dead = owner.Owner(dead_pid(), "1", me.boot, me.ns)
    live_dir = Path(tempfile.mkdtemp(prefix=owner.owned_prefix("probe"), dir=tmp_path))
    dead_dir = tmp_path / f"tlsmatrix-probe-{dead.token()}-x1"
    rebooted = tmp_path / f"tlsmatrix-docker-{me.pid}.{me.start}.00c0ffee.{me.ns}-x2"
    foreign = tmp_path / "tlsmatrix-capture-abc"
    for d in (dead_dir, rebooted, foreign):
        (d / "sub").mkdir(parents=True)
    dead_file = tmp_path / f"tlsmatrix-results-{dead.token()}-x.json"  # files are not ours to remove
    dead_file.write_text("{}")
    removed = reaper.reap_dirs([tmp_path])
    assert sorted(removed) == sorted([dead_dir, rebooted])
    assert live_dir.is_dir() and foreign.is_dir() and dead_file.is_file()


def test_container_owner_from_labels():
    me = owner.Owner.me()
    live = me.labels(LABEL_PREFIX)
    assert not owner.container_is_stale(live, LABEL_PREFIX)
    assert owner.container_is_stale({**live, f"{LABEL_PREFIX}.pid": str(dead_pid())}, LABEL_PREFIX)
    assert owner.container_is_stale({**live, f"{LABEL_PREFIX}.boot": "00c0ffee" * 4}, LABEL_PREFIX)
    # a shared engine: another machine's containers are never ours to judge
    assert not owner.container_is_stale({**live, f"{LABEL_PREFIX}.pid": str(dead_pid()),
                                          f"{LABEL_PREFIX}.machine": "another-machine"}, LABEL_PREFIX)
    # labels of older versions: the pid alone
    assert owner.container_is_stale({f"{LABEL_PREFIX}.pid": str(dead_pid())}, LABEL_PREFIX)
    assert not owner.container_is_stale({}, LABEL_PREFIX)


class FakeContainer:
    def __init__(self, labels):
        self.labels = labels
        self.removed = False

    def remove(self, force=False):
        self.removed = True


class FakeClient:
    def __init__(self, containers):
        self.containers = self
        self._all = containers

    def list(self, all=False, filters=None, ignore_removed=False):
        return list(self._all)


def test_docker_clean_removes_only_containers_of_dead_runs():
    me = owner.Owner.me().labels(LABEL_PREFIX)
    live = FakeContainer({docker_backend.LABEL_MANAGED: "true", **me})
    dead = FakeContainer({docker_backend.LABEL_MANAGED: "true", **me, f"{LABEL_PREFIX}.pid": str(dead_pid())})
    assert docker_backend.clean(FakeClient([live, dead]), only_dead=True) == 1
    assert dead.removed and not live.removed
    assert docker_backend.clean(FakeClient([live]), only_dead=False) == 1 and live.removed


def test_a_run_labels_its_containers_with_pid_start_time_and_boot_id():
    run = docker_backend.DockerRun.__new__(docker_backend.DockerRun)
    run.id = "abc"
    labels = run.labels
    assert labels[f"{LABEL_PREFIX}.pid"] == str(os.getpid())
    assert labels[f"{LABEL_PREFIX}.boot"] == owner.boot_id() and labels[f"{LABEL_PREFIX}.started"]
