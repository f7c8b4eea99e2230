"""The server contract (docs/probe-contract.md) around a stack's own CLI test server.

One real CLI server process per listener (``gnutls-serv``, NSS ``selfserv``), supervised by
this one Python process, which speaks the JSON-lines contract. Standard library only, and only
what Debian's ``python3-minimal`` ships (no ``json``, ``hmac``, ``ctypes``, ``shutil``), so the
same code runs in the server containers.

Two network modes (see isolation.py for why):

- **isolated** (``host`` is loopback, the normal host case): the supervisor binds host:port
  itself, moves into a private network namespace, runs the CLI there and relays.
- **direct** (``"container": true`` with ``"host": "0.0.0.0"``): the CLI binds the listener port
  itself, on the container's wildcard address; a fixed ``port`` is passed as is, otherwise a
  free port is picked (bind to port 0, close, pass on: racy, so retried once).

Children never outlive the supervisor: each CLI runs in its own session (process group) that
is killed at exit, and gets PR_SET_PDEATHSIG=SIGKILL (prctl via ctypes when available, else
util-linux ``setpriv --pdeathsig KILL``).
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from . import minijson
from .isolation import IsolationError, accept_loop, enter_private_network

READY_TIMEOUT_S = 10.0
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
WILDCARD = {"0.0.0.0", "::"}
INNER_PORT_BASE = 20000  # ports inside the private namespace (nothing else lives there)
TAIL_LINES = 20


class ListenerError(Exception):
    """This listener cannot start; the message is the stack's own text."""


class Stack:
    """What differs between CLI servers. Subclasses fill these in."""

    name = "?"  # the hello's "stack"
    program = "?"  # the CLI server executable
    module = "?"  # harness.probes.cliserver.<module>
    log_prefix = "tlsmatrix-cliserver"

    def hello(self) -> dict:
        raise NotImplementedError

    def prepare(self, spec: dict, workdir: str) -> object:
        """Per-listener preparation (e.g. a certificate database); raises ListenerError."""
        return None

    def command(self, spec: dict, prepared: object, port: int) -> list[str]:
        raise NotImplementedError


# --- small stdlib stand-ins --------------------------------------------------------------------


def which(program: str) -> str | None:  # shutil.which: shutil is not in python3-minimal
    if os.sep in program:
        return program if os.access(program, os.X_OK) else None
    for directory in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    for directory in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        candidate = os.path.join(directory, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def rmtree(path: str) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in dirs:
            full = os.path.join(root, name)
            try:
                os.unlink(full) if os.path.islink(full) else os.rmdir(full)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def dpkg_version(package: str) -> str | None:
    """Installed Debian package version, read from dpkg's status file (no dpkg-query needed)."""
    try:
        with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") == package and fields.get("Status", "").endswith(" installed"):
            return fields.get("Version")
    return None


def find_library(soname: str) -> str | None:
    for pattern in ("/usr/lib/*/{}", "/usr/lib64/{}", "/usr/lib/{}", "/lib/*/{}", "/lib64/{}", "/usr/local/lib/{}"):
        hits = sorted(glob.glob(pattern.format(soname)))
        if hits:
            return hits[0]
    return None


def run_tool(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, text=True, errors="replace")


# --- children ---------------------------------------------------------------------------------

try:
    import ctypes as _ctypes

    _libc = _ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except (ImportError, OSError, AttributeError):  # python3-minimal has no ctypes
    _prctl = None

_PR_SET_PDEATHSIG = 1
_SUPERVISOR_PID = os.getpid()


def _child_setup() -> None:  # runs in the forked child, before exec
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != _SUPERVISOR_PID:  # the supervisor died before prctl took effect
        os._exit(1)


class Child:
    """One CLI server process; its stdout/stderr are forwarded to our stderr and kept (tail)."""

    def __init__(self, argv: list[str], label: str, log) -> None:
        self.label = label
        self.log = log
        self.tail: dict[str, collections.deque] = {
            "stdout": collections.deque(maxlen=TAIL_LINES),
            "stderr": collections.deque(maxlen=TAIL_LINES),
        }
        self.name = os.path.basename(argv[0])
        preexec = None
        if _prctl is not None and sys.platform.startswith("linux"):
            preexec = _child_setup
        else:
            setpriv = which("setpriv")
            if setpriv and sys.platform.startswith("linux"):
                argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        self.argv = argv
        # start_new_session: own process group, so killpg reaches anything it forks too
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec)
        self.drains = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, "stderr"), daemon=True),
        ]

    def start_drains(self) -> None:
        for t in self.drains:
            t.start()

    def _drain(self, stream, name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail[name].append(line)
            self.log(f"{self.label}: {self.name}: {line}")
        stream.close()

    def output_tail(self) -> str:
        for t in self.drains:
            if t.is_alive():
                t.join(timeout=1.0)
        lines = [l for l in self.tail["stderr"] if l.strip()] or [l for l in self.tail["stdout"] if l.strip()]
        text = "\n".join(lines).strip()
        if not text:
            code = self.proc.poll()
            text = f"exited with status {code}" if code is not None else "no output"
        return text

    def stop(self, sig: int) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


# --- the supervisor ---------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _on_signal(signum, frame) -> None:
    raise _Stop()


class Supervisor:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.children: list[Child] = []
        self.serving: list[Child] = []
        self.servers: list[socket.socket] = []
        self.workdir: str | None = None
        self.out = sys.stdout

    def log(self, message: str) -> None:
        try:
            sys.stderr.write(f"{self.stack.log_prefix}: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def emit(self, obj: dict) -> None:
        self.out.write(minijson.dumps(obj) + "\n")
        self.out.flush()

    # -- configuration --

    def read_config(self, config_path: str | None) -> dict:
        if config_path is not None:
            with open(config_path, "rb") as f:
                text = f.read()
        else:
            text = sys.stdin.buffer.readline()
        config = minijson.loads(text)
        if not isinstance(config, dict) or not isinstance(config.get("listeners"), list):
            raise ValueError("configuration must be an object with a 'listeners' list")
        return config

    # -- listeners --

    def _spawn(self, spec: dict, prepared: object, port: int, label: str) -> Child:
        argv = self.stack.command(spec, prepared, port)
        child = Child(argv, label, self.log)
        self.children.append(child)
        return child

    def _wait_ready(self, pending: dict[int, tuple[Child, tuple[str, int]]]) -> dict[int, str | None]:
        """Wait until each child accepts TCP on its port (None) or fails (its output tail)."""
        results: dict[int, str | None] = {}
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pending:
            for index in list(pending):
                child, addr = pending[index]
                if child.proc.poll() is not None:
                    results[index] = child.output_tail()
                    del pending[index]
                    continue
                try:
                    with socket.create_connection(addr, timeout=0.5):
                        pass
                except OSError:
                    continue
                results[index] = None
                del pending[index]
            if not pending:
                break
            if time.monotonic() > deadline:
                for index, (child, addr) in pending.items():
                    child.stop(signal.SIGKILL)
                    child.proc.wait()
                    results[index] = (f"{self.stack.program} did not listen on {addr[0]}:{addr[1]} within "
                                      f"{READY_TIMEOUT_S:.0f} s; its output: {child.output_tail()}")
                break
            time.sleep(0.05)
        return results

    def run(self, config_path: str | None) -> int:
        try:
            config = self.read_config(config_path)
        except (OSError, ValueError) as exc:
            self.log(f"invalid configuration: {exc}")
            return 2
        host = config.get("host", "127.0.0.1")
        container = config.get("container") is True
        if host in WILDCARD and container:
            mode = "direct"
        elif host in LOOPBACK:
            mode = "isolated"
        else:
            self.log(f"refusing to bind {host!r}: loopback only (or 0.0.0.0 with \"container\": true)")
            return 2
        if which(self.stack.program) is None:
            self.log(f"{self.stack.program} not found on PATH")
            return 2
        listeners = config["listeners"]
        self.workdir = tempfile.mkdtemp(prefix=f"tlsmatrix-{self.stack.program}-")
        os.chmod(self.workdir, 0o700)

        results: list[dict | None] = [None] * len(listeners)
        specs: list[dict] = []
        for index, spec in enumerate(listeners):
            if not isinstance(spec, dict):
                spec = {"id": None}
            specs.append(spec)

        # isolated mode: bind the contract's sockets on the host, then leave the host network
        if mode == "isolated":
            for index, spec in enumerate(specs):
                self.servers.append(None)  # type: ignore[arg-type]
                try:
                    port = int(spec.get("port") or 0)
                    family = socket.AF_INET6 if ":" in host else socket.AF_INET
                    bind_host = "127.0.0.1" if host == "localhost" else host
                    server = socket.socket(family, socket.SOCK_STREAM)
                    try:
                        # as servers do: TIME_WAIT leftovers must not block a fixed port (Linux still
                        # refuses a second listener on the same port)
                        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        server.bind((bind_host, port))
                        server.listen(128)
                    except OSError:
                        server.close()
                        raise
                except (OSError, ValueError, TypeError) as exc:
                    results[index] = {"id": spec.get("id"), "error": str(exc)}
                    continue
                self.servers[index] = server
            try:
                enter_private_network()
            except IsolationError as exc:
                self.log(f"{self.stack.program} binds the wildcard address and cannot be confined to {host}: {exc}")
                return 2

        self.emit(self.stack.hello())

        prepared: dict[int, object] = {}
        for index, spec in enumerate(specs):
            if results[index] is not None:
                continue
            try:
                prepared[index] = self.stack.prepare(spec, self.workdir)
            except ListenerError as exc:
                results[index] = {"id": spec.get("id"), "error": str(exc)}

        def start(index: int) -> tuple[Child, tuple[str, int]] | None:
            spec = specs[index]
            label = str(spec.get("id"))
            try:
                if mode == "isolated":
                    port = INNER_PORT_BASE + index
                    probe = ("127.0.0.1", port)
                else:
                    port = int(spec.get("port") or 0) or pick_free_port(host)
                    probe = ("::1" if host == "::" else "127.0.0.1", port)
                child = self._spawn(spec, prepared[index], port, label)
            except (ListenerError, OSError, ValueError, TypeError) as exc:
                results[index] = {"id": spec.get("id"), "error": str(exc)}
                return None
            return child, probe

        pending: dict[int, tuple[Child, tuple[str, int]]] = {}
        for index in range(len(specs)):
            if results[index] is None:
                started = start(index)
                if started:
                    pending[index] = started
        for child, _ in pending.values():
            child.start_drains()
        ports: dict[int, int] = {}
        for attempt in (0, 1):
            outcome = self._wait_ready(dict(pending))
            retry: dict[int, tuple[Child, tuple[str, int]]] = {}
            for index, error in outcome.items():
                spec = specs[index]
                if error is None:
                    ports[index] = pending[index][1][1]
                    self.serving.append(pending[index][0])
                    continue
                fixed = bool(spec.get("port"))
                if mode == "direct" and not fixed and attempt == 0:
                    # the picked port may have been taken in between: once more, with another one
                    self.log(f"{spec.get('id')}: first start failed ({error.splitlines()[-1]}), retrying on a new port")
                    started = start(index)
                    if started:
                        started[0].start_drains()
                        retry[index] = started
                    continue
                results[index] = {"id": spec.get("id"), "error": error}
            pending = retry
            if not pending:
                break

        for index, spec in enumerate(specs):
            if results[index] is not None:
                continue
            if mode == "isolated":
                server = self.servers[index]
                inner = ("127.0.0.1", ports[index])
                threading.Thread(target=accept_loop, args=(server, inner, str(spec.get("id")), self.log),
                                 daemon=True).start()
                results[index] = {"id": spec.get("id"), "port": server.getsockname()[1]}
            else:
                results[index] = {"id": spec.get("id"), "port": ports[index]}
        for index, server in enumerate(self.servers):
            if server is not None and "error" in results[index]:
                server.close()
        for line in results:
            self.emit(line)
        self.emit({"ready": True})

        self.serve(watch_stdin=config_path is None)
        return 0

    def serve(self, watch_stdin: bool) -> None:
        """Until stdin EOF (stdin mode) or a signal (raises _Stop); log servers that die meanwhile."""
        watching = list(self.serving)
        while True:
            if watch_stdin:
                readable, _, _ = select.select([0], [], [], 1.0)
                if readable and not os.read(0, 65536):
                    return  # EOF: the harness is gone or done
            else:
                time.sleep(1.0)
            for child in list(watching):
                code = child.proc.poll()
                if code is not None:
                    self.log(f"{child.label}: {child.name} exited with status {code} while serving: {child.output_tail()}")
                    watching.remove(child)

    def shutdown(self) -> None:
        for server in self.servers:
            if server is not None:
                try:
                    server.close()
                except OSError:
                    pass
        for child in self.children:
            child.stop(signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for child in self.children:
            child.stop(signal.SIGKILL)
            try:
                child.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
        if self.workdir:
            rmtree(self.workdir)


def pick_free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def main(stack: Stack, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python3 -m harness.probes.cliserver.{stack.module}",
        description=f"tlsmatrix server program around {stack.program} (docs/probe-contract.md)")
    parser.add_argument("--config", metavar="PATH", help="read the configuration from PATH, not stdin")
    args = parser.parse_args(argv)
    supervisor = Supervisor(stack)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    status = 0
    try:
        status = supervisor.run(args.config)
    except (_Stop, BrokenPipeError):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        supervisor.shutdown()
    try:
        sys.stdout.flush()
    except OSError:
        pass
    os._exit(status)
