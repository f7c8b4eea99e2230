"""Shared part of the CLI client probes: one CLI run per job, behind the client contract loop.

docs/probe-contract.md, "Client probes": the JSON-lines loop itself (hello, one answer line per job
line, EOF -> exit 0) and the job's field types are ../jsonlines.py's. Standard library only.

A CLI module supplies a ``Cli`` subclass: ``hello()``, ``command(job, work)`` (argv + options for
one run) and ``interpret(job, run)`` (the answer). This module validates what the job means to a
command line, reads the CA file, runs the CLI with a hard deadline, stops it once it has said the
handshake is done, and turns a kill at the deadline into a ``timeout:`` answer.
"""
from __future__ import annotations

import atexit
import functools
import ipaddress
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

from ..jsonlines import DEFAULT_TIMEOUT_MS, OPTIONAL_FILES, JobError, check_job
from ..jsonlines import run as run_jobs  # `run` is a CLI run here

#: once a CLI has printed its "handshake done" marker, it gets this long to exit by itself
AFTER_DONE_GRACE_S = 1.0
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S)
_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")
_OPENSSL_ERR_PREFIX = re.compile(r"^[0-9A-F]{8,16}:error:")

# Never let the CLIs pick up a proxy, another trust store or a user config from the environment.
_DROP_ENV = (
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "CURL_HOME", "CURLOPT_CAINFO",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "no_proxy", "NO_PROXY", "SSLKEYLOGFILE", "NSS_DEFAULT_DB_TYPE", "SSL_DIR",
)


class StackError(Exception):
    """The stack itself refused something before any handshake (answered as the stack's error)."""

    def __init__(self, error: str, detail: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


@dataclass
class Job:
    id: object
    host: str
    port: int
    servername: str
    ca_file: str
    ca_pems: list[bytes]
    tls_version: str | None
    timeout_ms: int
    ip: bool  # servername is an IP literal: no SNI, IP SAN check
    #: optional job fields only some probes use (Kubernetes clients: kube_report.py)
    kubeconfig: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    #: the key-exchange groups to offer, in preference order (None: the tool's own list)
    groups: list[str] | None = None
    #: the groups among them to send a key share for (None: the tool chooses)
    key_shares: list[str] | None = None

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000.0


@dataclass
class Run:
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool  # killed at the hard deadline
    done: bool  # the CLI printed its "handshake done" marker
    elapsed_ms: float

    @property
    def out_lines(self) -> list[str]:
        return [l.rstrip() for l in self.stdout.splitlines()]

    @property
    def err_lines(self) -> list[str]:
        return [l.rstrip() for l in self.stderr.splitlines()]

    def last_output(self, n: int = 2) -> str:
        lines = [l.strip() for l in (self.stdout + "\n" + self.stderr).splitlines() if l.strip()]
        return " | ".join(lines[-n:]) if lines else "(no output)"


@dataclass
class Command:
    argv: list[str]
    deadline_s: float  # hard deadline for the whole CLI run
    done: Callable[[str, str], bool] | None = None  # (stream "out"/"err", line) -> handshake done
    env: dict[str, str] | None = None
    #: after the done marker, how long the CLI may take to exit by itself (later output kept)
    grace_s: float = AFTER_DONE_GRACE_S


def strip_openssl_thread_id(line: str) -> str:
    """OpenSSL error-queue lines start with the thread id (``40D7E572247F0000:error:...``).

    It changes from run to run, so it is dropped; the rest of the line is OpenSSL's text as is.
    """
    return _OPENSSL_ERR_PREFIX.sub("error:", line)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


@functools.cache
def _pdeathsig() -> tuple[list[str], Callable[[], None] | None]:
    """How a CLI gets SIGKILL when the probe dies (Linux; best effort): (argv prefix, preexec_fn).

    ``setpriv --pdeathsig KILL --`` (util-linux, in every Debian image here) sets it and execs the CLI,
    so the probe can spawn with vfork. A ``preexec_fn`` makes CPython fork the probe instead, and the
    copy-on-write faults cost 3-4 ms of CPU per handshake (measured: 200 spawns of /bin/true from a
    Python parent), more than setpriv's own exec (~1.4 ms): a tenth of the command-line columns'
    CPU in a matrix run. Without setpriv, the preexec_fn."""
    if not sys.platform.startswith("linux"):
        return [], None
    setpriv = shutil.which("setpriv")
    if setpriv and "--pdeathsig" in (tool_output([setpriv, "--help"]) or ""):
        return [setpriv, "--pdeathsig", "KILL", "--"], None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return [], None

    def set_pdeathsig() -> None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG

    return [], set_pdeathsig


def run_cli(cmd: Command) -> Run:
    """Run the CLI once: stdin /dev/null, stdout/stderr captured, hard deadline, early stop."""
    start = time.monotonic()
    deadline = start + cmd.deadline_s
    prefix, preexec = _pdeathsig()
    proc = subprocess.Popen(
        [*prefix, *cmd.argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=cmd.env if cmd.env is not None else clean_env(), start_new_session=True,
        preexec_fn=preexec, close_fds=True,
    )
    sel = selectors.DefaultSelector()
    bufs = {"out": bytearray(), "err": bytearray()}
    partial = {"out": b"", "err": b""}
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    open_streams = 2
    done = False
    done_at: float | None = None
    stop_at: float | None = None  # after the done marker: the CLI's grace to exit by itself
    timed_out = False
    try:
        while open_streams:
            now = time.monotonic()
            if now >= deadline:
                timed_out = not done
                break
            if stop_at is not None and now >= stop_at:
                break
            limit = deadline if stop_at is None else min(deadline, stop_at)
            for key, _ in sel.select(timeout=limit - now):
                chunk = os.read(key.fd, 65536)
                name = key.data
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                bufs[name] += chunk
                if cmd.done is not None and not done:
                    data = partial[name] + chunk
                    *lines, partial[name] = data.split(b"\n")
                    for raw in lines:
                        if cmd.done(name, raw.decode("utf-8", "replace").rstrip("\r")):
                            done = True
                            done_at = time.monotonic()
                            stop_at = done_at + cmd.grace_s
                            break
        if open_streams == 0:  # both pipes closed: the CLI is exiting
            limit = deadline if stop_at is None else min(deadline, stop_at)
            try:
                proc.wait(timeout=max(limit - time.monotonic(), 0.05))
            except subprocess.TimeoutExpired:
                timed_out = not done
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait()
        # drain what is left (the CLI is dead now)
        for key in list(sel.get_map().values()):
            try:
                os.set_blocking(key.fd, False)  # a stray grandchild must not block us
                while True:
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        break
                    bufs[key.data] += chunk
            except OSError:
                pass
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
    # a handshake that finished: until the CLI said so (not the grace it had to exit afterwards)
    elapsed = ((done_at if done_at is not None else time.monotonic()) - start) * 1000
    return Run(
        argv=cmd.argv, returncode=proc.returncode,
        stdout=bufs["out"].decode("utf-8", "replace"), stderr=bufs["err"].decode("utf-8", "replace"),
        timed_out=timed_out, done=done, elapsed_ms=round(elapsed, 3),
    )


def tool_output(argv: list[str], timeout: float = 10.0) -> str | None:
    """stdout+stderr of a short helper command (versions), None when it cannot run."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              env=clean_env())
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout + proc.stderr).decode("utf-8", "replace")


def dpkg_version(package: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    out = tool_output(["dpkg-query", "-W", "-f", "${Version}", package])
    if out and re.fullmatch(r"[0-9A-Za-z.:+~-]+", out.strip()):
        return out.strip()
    return None


def _owned_prefix(kind: str, fallback: str) -> str:
    """harness/running/reaper.py's name (pid + start time + boot id): a later tlsmatrix run removes the
    directory once this probe is dead, even after a kill -9 of the whole process group."""
    try:
        from ...model.owner import owned_prefix
    except ImportError:  # this file is also used without the harness package
        return fallback
    return owned_prefix(kind)


class Workdir:
    """The probe's private temp directory (mode 0700), removed when the probe exits."""

    def __init__(self) -> None:
        self._path: str | None = None

    PREFIX = "tlsmatrix-cliclient-"

    @property
    def path(self) -> str:
        if self._path is None:
            self._remove_stale()
            self._path = tempfile.mkdtemp(prefix=_owned_prefix("cliclient", f"{self.PREFIX}{os.getpid()}-"))
            atexit.register(self.remove)
        return self._path

    def _remove_stale(self) -> None:
        """Directories of probes that were killed (SIGKILL leaves them): owner is us, pid is gone."""
        base = tempfile.gettempdir()
        try:
            names = os.listdir(base)
        except OSError:
            return
        for name in names:
            m = re.fullmatch(rf"{self.PREFIX}(\d+)-\w+", name)
            if not m:
                continue
            path = os.path.join(base, name)
            try:
                if os.lstat(path).st_uid != os.geteuid():
                    continue
                os.kill(int(m.group(1)), 0)
            except ProcessLookupError:
                shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue

    def remove(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


class Cli:
    """One CLI. Subclasses set the class attributes and implement the three methods."""

    program = ""  # executable name, looked up on PATH
    package = ""  # Debian package providing it
    extra_programs: tuple[str, ...] = ()  # further executables needed (same package)

    def __init__(self, workdir: Workdir) -> None:
        self.workdir = workdir
        self.path = shutil.which(self.program)
        missing = [p for p in (self.program, *self.extra_programs) if shutil.which(p) is None]
        self.missing = (f"probe: {', '.join(missing)} not found: apt-get install {self.package}"
                        if missing else None)

    def hello(self) -> dict:
        raise NotImplementedError

    def command(self, job: Job) -> Command:
        raise NotImplementedError

    def interpret(self, job: Job, run: Run) -> dict:
        """-> {"ok", "error", "error_detail", "negotiated"} for a run that was not killed at the deadline."""
        raise NotImplementedError

    def timeout_error(self, job: Job, run: Run) -> str:
        return (f"timeout: {self.program} did not complete the handshake within {job.timeout_ms} ms "
                f"(killed); its last output: {run.last_output()}")


def parse_job(raw: dict) -> Job:
    """The job as a command line may take it: JobError (answered ``probe: ...``) otherwise."""
    check_job(raw)  # the contract's field types (the loop checked them too; direct callers rely on it)
    host, servername, ca_file = raw["host"], raw["servername"], raw["ca_file"]
    # no option or URL syntax from a job reaches a command line
    for key, value in (("host", host), ("servername", servername)):
        if value.startswith("-") or any(c.isspace() or c in "/@?#[]" for c in value.strip("[]")):
            raise JobError(f"job field {key!r} is not a host name or IP address: {value!r}")
    try:
        ipaddress.ip_address(servername)
        ip = True
    except ValueError:
        ip = False
        if not _HOSTNAME.match(servername):
            raise JobError(f"servername {servername!r} is not a DNS name or IP address") from None
    return Job(id=raw.get("id"), host=host, port=raw["port"], servername=servername,
               ca_file=os.path.abspath(ca_file), ca_pems=_ca_pems(ca_file), tls_version=raw.get("tls_version"),
               timeout_ms=int(raw.get("timeout_ms") or DEFAULT_TIMEOUT_MS), ip=ip,
               groups=raw.get("groups"), key_shares=raw.get("key_shares"),
               **{key: raw.get(key) for key in OPTIONAL_FILES})


def _ca_pems(ca_file: str) -> list[bytes]:
    """The CA file's certificates (PEM blocks): a file without any is a job we cannot attempt."""
    try:
        with open(ca_file, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise JobError(f"cannot read CA file {ca_file!r}: {exc}") from None
    pems = _PEM_CERT.findall(data)
    if not pems:
        raise JobError(f"CA file {ca_file!r} holds no PEM certificate")
    return pems


def handle(cli: Cli, raw: dict) -> dict:
    start = time.monotonic()
    out: dict = {"id": raw.get("id"), "ok": False, "error": None, "negotiated": None, "elapsed_ms": None}

    def finish() -> dict:
        if out["elapsed_ms"] is None:
            out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 3)
        return out

    if cli.missing:
        out["error"] = cli.missing
        return finish()
    try:
        job = parse_job(raw)
        cmd = cli.command(job)
    except JobError as exc:
        out["error"] = f"probe: {exc}"
        return finish()
    except OSError as exc:  # e.g. the private temp directory cannot be created
        out["error"] = f"probe: cannot prepare the {cli.program} run: {exc}"
        return finish()
    except StackError as exc:
        out["error"] = exc.error
        if exc.detail:
            out["error_detail"] = exc.detail
        return finish()
    try:
        run = run_cli(cmd)
    except OSError as exc:
        out["error"] = f"probe: cannot run {cmd.argv[0]}: {exc}"
        return finish()
    out["elapsed_ms"] = run.elapsed_ms
    if run.timed_out:
        out["error"] = cli.timeout_error(job, run)
        out["error_detail"] = f"killed after {run.elapsed_ms:.0f} ms; argv: {' '.join(run.argv)}"
        return finish()
    result = cli.interpret(job, run)
    out.update(result)
    if out["ok"]:
        out["error"] = None
        out.pop("error_detail", None)
    elif not out.get("error"):
        out["error"] = f"probe: {cli.program} failed without a message (exit status {run.returncode})"
    return finish()


def main(cli_class: type[Cli]) -> int:
    workdir = Workdir()

    def on_signal(signum, frame):  # pragma: no cover - signal path
        workdir.remove()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    cli = cli_class(workdir)
    try:
        hello = cli.hello()
    except Exception as exc:  # pragma: no cover - defensive: the hello must always go out
        hello = {"hello": {"stack": cli.program, "version": None, "provider": None,
                           "details": {"error": f"{type(exc).__name__}: {exc}"}}}
    try:
        return run_jobs(hello, lambda raw: handle(cli, raw))
    finally:
        workdir.remove()
