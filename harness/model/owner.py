"""Who owns a temporary directory or a container: a process named by pid, start time, boot id and
pid namespace (a pid alone lies after a reboot or once reused). Runs name what they make after
themselves (``tlsmatrix-<kind>-<pid>.<start>.<boot>.<pid namespace>-<random>``, container labels);
the reaper (harness/running/reaper.py) removes what dead owners left."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


#: a directory a run owns: tlsmatrix-<kind>-<pid>.<start ticks>.<boot id's first 8 hex digits>.<pid ns>-<random>
_OWNED_DIR = re.compile(
    r"tlsmatrix-(?P<kind>[a-z0-9-]+?)-(?P<pid>\d+)\.(?P<start>\d+)\.(?P<boot>[0-9a-f]{8})\.(?P<ns>\d+)-.+")


def boot_id() -> str:
    """This boot's id (Linux); '' where there is none, which then matches only ''."""
    try:
        return Path(_BOOT_ID_FILE).read_text().strip().replace("-", "")
    except OSError:
        return ""


def machine_id() -> str:
    """This machine's id (systemd's /etc/machine-id): a shared Docker engine serves other machines too."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return ""


def pid_namespace() -> str:
    """Our pid namespace's inode: a pid means something only within its namespace (a container
    sharing /tmp, a sandbox); owners from another namespace are never judged."""
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (the state) on; OSError when it cannot be read."""
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, /proc/PID/stat field 22); None: no such
    process, or a zombie (it has exited; only its parent has not collected it); "?": not ours to read."""
    try:
        fields = _stat_fields(pid)
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    return None if fields[0] in ("Z", "X") else fields[19]


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds ``pid`` has used so far, with the children it waited for (fields 14-17: utime, stime,
    cutime, cstime); None where /proc cannot say (another platform, the process gone)."""
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return None
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Owner:
    pid: int
    start: str  # clock ticks since boot ('' where /proc is not readable)
    boot: str  # the boot id ('' where unknown); names carry its first 8 hex digits
    ns: str = ""  # the pid namespace's inode ('' where unknown)

    @classmethod
    def me(cls) -> "Owner":
        started = start_ticks(os.getpid())
        return cls(os.getpid(), "" if started in (None, "?") else started, boot_id(), pid_namespace())

    def token(self) -> str:
        return f"{self.pid}.{self.start or 0}.{(self.boot or '0' * 8)[:8]}.{self.ns or 0}"

    def labels(self, prefix: str) -> dict[str, str]:
        return {f"{prefix}.pid": str(self.pid), f"{prefix}.started": self.start, f"{prefix}.boot": self.boot,
                f"{prefix}.pidns": self.ns, f"{prefix}.machine": machine_id()}

    def alive(self) -> bool:
        """Whether the owning process still runs: same boot, pid present, same start time.
        An owner in another pid namespace counts as alive: its pid cannot be checked from here."""
        if self.ns and pid_namespace() and self.ns != pid_namespace():
            return True
        here = boot_id()
        if self.boot and here and not here.startswith(self.boot) and not self.boot.startswith(here):
            return False  # a pid from before a reboot says nothing about the process with that pid now
        if not os.path.isdir("/proc/self"):
            return _pid_exists(self.pid)  # no /proc: the pid is all we have
        started = start_ticks(self.pid)
        if started is None or started == "?":
            return started == "?"  # gone (or a zombie) is dead; unreadable cannot be judged
        return not self.start or self.start == started  # another start time: the pid was reused

    @classmethod
    def from_labels(cls, labels: dict[str, str], prefix: str) -> "Owner | None":
        pid = labels.get(f"{prefix}.pid", "")
        if not pid.isdigit():
            return None
        return cls(int(pid), labels.get(f"{prefix}.started", ""), labels.get(f"{prefix}.boot", ""),
                   labels.get(f"{prefix}.pidns", ""))


def container_is_stale(labels: dict[str, str], prefix: str) -> bool:
    """Whether a container's owning run is dead. Containers of another machine (a shared engine)
    are never judged: their pids and boot ids mean nothing here."""
    owner = Owner.from_labels(labels, prefix)
    if owner is None:
        return False
    machine = labels.get(f"{prefix}.machine")
    if machine and machine != machine_id():
        return False
    return not owner.alive()


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def owned_prefix(kind: str) -> str:
    """A tempfile prefix that names this process as the owner: ``tlsmatrix-<kind>-<token>-``."""
    return f"tlsmatrix-{kind}-{Owner.me().token()}-"


def owner_of(name: str) -> Owner | None:
    """The owner a directory name records (None: not a name :func:`owned_prefix` made)."""
    m = _OWNED_DIR.fullmatch(name)
    if not m:
        return None
    return Owner(int(m["pid"]), _known(m["start"], "0"), _known(m["boot"], "0" * 8), _known(m["ns"], "0"))


def _known(value: str, unknown: str) -> str:
    return "" if value == unknown else value
