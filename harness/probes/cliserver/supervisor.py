"""The server contract (docs/probe-contract.md) around a stack's own CLI test server.

One real CLI server process per listener (``gnutls-serv``, NSS ``selfserv``), supervised by
this one Python process, which speaks the JSON-lines contract (configuration and lines through
../jsonlines.py). Standard library only, so the same code runs in the server containers
(Debian's python3).

Neither CLI can be told which address to listen on (see isolation.py), so the supervisor owns
every contract socket and relays:

1. it binds each listener's socket itself, on ``host`` and the requested port (or one the OS
   picks), so what the harness is told is exactly what is bound;
2. outside a container (loopback ``host``) it then moves into a private network namespace, so
   the CLIs' wildcard binds reach nothing; inside a container (``"container": true``, host
   0.0.0.0) the container's own namespace plays that part: only published ports are reachable,
   and the CLIs' inner ports are never published;
3. it starts one CLI per listener on an inner port (picked free: bind to 0, close, pass on;
   racy, so a failed start is retried once on a new port) and reports the listener once that
   port accepts TCP, or the CLI's own output when it exits or does not listen within 10 s;
4. it relays every accepted connection byte for byte to the CLI.

Children never outlive the supervisor: each CLI runs in its own session (process group) that
is killed at exit, and gets PR_SET_PDEATHSIG=SIGKILL (prctl via ctypes when available, else
util-linux ``setpriv --pdeathsig KILL``).
"""
from __future__ import annotations

import collections
import glob
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from ..jsonlines import read_config, write_line
from .isolation import IsolationError, accept_loop, enter_private_network

READY_TIMEOUT_S = 10.0
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
WILDCARD = {"0.0.0.0", "::"}
INNER_ADDRESSES = ("127.0.0.1", "::1")  # where the relay finds a CLI (wildcard or loopback bound)
TAIL_LINES = 20


class ListenerError(Exception):
    """This listener cannot start; the message is the stack's own text."""


class Stack:
    """What differs between CLI servers. Subclasses fill these in."""

    name = "?"  # the hello's "stack"
    program = "?"  # the CLI server executable
    module = "?"  # tlsmatrix.probes.cliserver.<module>
    log_prefix = "tlsmatrix-cliserver"

    def hello(self) -> dict:
        raise NotImplementedError

    def prepare(self, spec: dict, workdir: str) -> object:
        """Per-listener preparation (e.g. a certificate database); raises ListenerError."""
        return None

    def command(self, spec: dict, prepared: object, port: int) -> list[str]:
        raise NotImplementedError

    def gave_up(self, output: list[str]) -> bool:
        """Whether the CLI's output says it will never listen although it keeps running."""
        return False

    def warnings(self) -> list[str]:
        """Environment problems worth a line on stderr (checked inside the final namespace)."""
        return []


# --- the host's tools -------------------------------------------------------------------------


def which(program: str) -> str | None:
    """shutil.which, and then the sbin/bin directories: a server's PATH may lack them."""
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin")


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
except (ImportError, OSError, AttributeError):  # no ctypes / no libc prctl: setpriv instead
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

    def lines(self) -> list[str]:
        return list(self.tail["stdout"]) + list(self.tail["stderr"])

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
        self.servers: list[socket.socket] = []  # the contract's listening sockets
        self.workdir: str | None = None
        self.out = sys.stdout

    def log(self, message: str) -> None:
        try:
            sys.stderr.write(f"{self.stack.log_prefix}: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def emit(self, obj: dict) -> None:
        write_line(obj, self.out)

    # -- listeners --

    def _bind(self, host: str, spec: dict) -> socket.socket:
        port = int(spec.get("port") or 0)
        bind_host = "127.0.0.1" if host == "localhost" else host
        server = socket.socket(socket.AF_INET6 if ":" in bind_host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            # as servers do: TIME_WAIT leftovers must not block a fixed port (Linux still refuses
            # a second listener on the same port)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((bind_host, port))
            server.listen(128)
        except OSError:
            server.close()
            raise
        return server

    def _start(self, spec: dict, prepared: object) -> tuple[Child, int]:
        port = pick_free_port()
        child = Child(self.stack.command(spec, prepared, port), str(spec.get("id")), self.log)
        self.children.append(child)
        return child, port

    def _wait_ready(self, pending: dict[int, tuple[Child, int]]) -> dict[int, tuple[str, int] | str]:
        """Per listener: the inner address that accepts TCP, or the CLI's output (a str) on failure."""
        results: dict[int, tuple[str, int] | str] = {}
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pending:
            for index in list(pending):
                child, port = pending[index]
                if child.proc.poll() is not None:
                    results[index] = child.output_tail()
                    del pending[index]
                    continue
                gave_up = self.stack.gave_up(child.lines())
                for address in INNER_ADDRESSES:  # the CLIs choose the family themselves
                    try:
                        with socket.create_connection((address, port), timeout=0.5):
                            pass
                    except OSError:
                        continue
                    results[index] = (address, port)
                    del pending[index]
                    break
                else:
                    if gave_up:
                        child.stop(signal.SIGKILL)
                        child.proc.wait()
                        results[index] = child.output_tail()
                        del pending[index]
            if not pending:
                break
            if time.monotonic() > deadline:
                for index, (child, port) in pending.items():
                    child.stop(signal.SIGKILL)
                    child.proc.wait()
                    results[index] = (f"{child.name} did not listen on port {port} within "
                                      f"{READY_TIMEOUT_S:.0f} s; its output: {child.output_tail()}")
                break
            time.sleep(0.05)
        return results

    def run(self, config_path: str | None) -> int:
        try:
            config = read_config(config_path)
        except (OSError, ValueError) as exc:
            self.log(f"invalid configuration: {exc}")
            return 2
        host = config.get("host", "127.0.0.1")
        container = config.get("container") is True
        if not (host in LOOPBACK or (container and host in WILDCARD)):
            self.log(f"refusing to bind {host!r}: loopback only (0.0.0.0 needs \"container\": true)")
            return 2
        if which(self.stack.program) is None:
            self.log(f"{self.stack.program} not found on PATH")
            return 2
        specs = [spec if isinstance(spec, dict) else {"id": None} for spec in config["listeners"]]
        results: list[dict | None] = [None] * len(specs)

        # 1. the contract's sockets, bound while still in the harness's network namespace
        servers: dict[int, socket.socket] = {}
        for index, spec in enumerate(specs):
            try:
                servers[index] = self._bind(host, spec)
            except (OSError, ValueError, TypeError, OverflowError) as exc:
                results[index] = {"id": spec.get("id"), "error": str(exc)}
        self.servers = list(servers.values())

        # 2. out of the host's network (a container's namespace is already private)
        if not container:
            try:
                enter_private_network()
            except IsolationError as exc:
                self.log(f"{self.stack.program} listens on the wildcard address and cannot be confined "
                         f"to {host}: {exc}")
                return 2

        self.emit(self.stack.hello())
        for warning in self.stack.warnings():
            self.log(f"warning: {warning}")
        self.workdir = tempfile.mkdtemp(prefix=_owned_prefix(self.stack.program))

        # 3. the CLI servers
        prepared: dict[int, object] = {}
        for index, spec in enumerate(specs):
            if results[index] is None:
                try:
                    prepared[index] = self.stack.prepare(spec, self.workdir)
                except ListenerError as exc:
                    results[index] = {"id": spec.get("id"), "error": str(exc)}
        inner = self._start_all(specs, prepared, results)

        # 4. relays
        for index, spec in enumerate(specs):
            if results[index] is not None:
                if index in servers:
                    servers[index].close()
                continue
            server = servers[index]
            threading.Thread(target=accept_loop, args=(server, inner[index], str(spec.get("id")), self.log),
                             daemon=True).start()
            results[index] = {"id": spec.get("id"), "port": server.getsockname()[1]}
        for line in results:
            self.emit(line)
        self.emit({"ready": True})

        self.serve(watch_stdin=config_path is None)
        return 0

    def _start_all(self, specs: list[dict], prepared: dict[int, object],
                   results: list[dict | None]) -> dict[int, tuple[str, int]]:
        """Start the prepared CLI servers; listener index -> the (host, port) each really listens on.
        Failures go into ``results``; a server that did not come up is tried once more on another port."""
        inner: dict[int, tuple[str, int]] = {}
        pending: dict[int, tuple[Child, int]] = {}
        for attempt in (0, 1):
            for index in prepared:
                if results[index] is not None or index in inner or index in pending:
                    continue
                try:
                    pending[index] = self._start(specs[index], prepared[index])
                except (OSError, ValueError) as exc:
                    results[index] = {"id": specs[index].get("id"), "error": str(exc)}
            for child, _ in pending.values():
                child.start_drains()
            for index, outcome in self._wait_ready(dict(pending)).items():
                if isinstance(outcome, tuple):
                    inner[index] = outcome
                    self.serving.append(pending[index][0])
                elif attempt == 0:  # perhaps the picked port was taken meanwhile: once more
                    self.log(f"{specs[index].get('id')}: {self.stack.program} did not start "
                             f"({outcome.splitlines()[-1] if outcome else ''}); retrying on another port")
                else:
                    results[index] = {"id": specs[index].get("id"), "error": outcome}
            pending = {}
            if all(results[i] is not None or i in inner for i in prepared):
                break
        return inner

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
                    self.log(f"{child.label}: {child.name} exited with status {code} while serving: "
                             f"{child.output_tail()}")
                    watching.remove(child)

    def shutdown(self) -> None:
        for server in self.servers:
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
            shutil.rmtree(self.workdir, ignore_errors=True)


def pick_free_port() -> int:
    """A port free on the inner loopback right now (the CLI binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(stack: Stack, argv: list[str] | None = None) -> int:
    # the contract's two spellings of --config, -h; anything else is a usage error (exit 2)
    args = list(sys.argv[1:] if argv is None else argv)
    usage = (f"usage: python3 -m tlsmatrix.probes.cliserver.{stack.module} [--config PATH]\n"
             f"tlsmatrix server program around {stack.program} (docs/probe-contract.md); without --config the\n"
             "configuration is the first line on stdin and the program runs until stdin EOF.\n")
    config_path = None
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(usage)
        return 0
    if len(args) == 2 and args[0] == "--config":
        config_path = args[1]
    elif len(args) == 1 and args[0].startswith("--config="):
        config_path = args[0].split("=", 1)[1]
    elif args:
        sys.stderr.write(usage)
        return 2
    supervisor = Supervisor(stack)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    status = 0
    try:
        status = supervisor.run(config_path)
    except (_Stop, BrokenPipeError):
        pass
    except Exception:  # a bug here: still stop every child, and say what broke
        import traceback

        supervisor.log(traceback.format_exc().rstrip())
        status = 70
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        supervisor.shutdown()
    try:
        sys.stdout.flush()
    except OSError:
        pass
    os._exit(status)


def _owned_prefix(kind: str) -> str:
    """harness/running/reaper.py's name (pid + start time + boot id), so a later tlsmatrix run removes the
    directory once this supervisor is dead (kill -9); in a container (no harness package, a
    tmpfs /tmp that goes with the container) the plain prefix."""
    try:
        from ...model.owner import owned_prefix
    except ImportError:
        return f"tlsmatrix-{kind}-"
    return owned_prefix(kind)
