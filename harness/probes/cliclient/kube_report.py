"""kube-rs issue 1562's fix program as a client stack: the user's own one-shot program, once per job.

    python3 -m tlsmatrix.probes.cliclient.kube_report install-aws-lc-rs|two-providers

The programs (harness/probes/kube-report, built by `tlsmatrix build kube-report` into
build/kube-report/) are what the reporter wrote: `Config::infer()` (KUBECONFIG), list the pods of
the default namespace, print `found N pods`, `main() -> eyre::Result<()>`. They speak no probe
contract; this module does (docs/probe-contract.md, "Client probes", through common.py):

- env: KUBECONFIG = the job's kubeconfig (or one written from the job's fields), HOME = an empty
  private directory (no ~/.kube/config), no in-cluster or backtrace variables; hard deadline
  timeout_ms, then the process group is killed -> `timeout: ...`.
- exit 0 with `found N pods` -> ok, negotiated `{"pods": N}` (the program sees no TLS session).
- exit != 0 with eyre's report (`Error: ...`, `Caused by:` list) -> the report joined into one line
  the way the kube probe joins an error's source() chain (`ServiceError: client error (Connect):
  invalid peer certificate: UnknownIssuer`); full stderr in error_detail.
- a panic or a fatal signal -> `crash: ` + the program's own words (`thread 'main' panicked at
  FILE:LINE:COL: MESSAGE`): outcome `crash`, a result about the program, not a probe failure.
"""
from __future__ import annotations

import os
import re
import signal
import sys
import tomllib

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliclient.kube_report PROGRAM")

from ...stacks.build import KUBE_REPORT_PROGRAMS, output_path
from ...certs.kubeconfig import KubeconfigError, kubeconfig_document, write_kubeconfig
from .common import Cli, Command, Job, JobError, Run, clean_env, main

#: program (binary in build/kube-report/) -> the hello line's provider
PROGRAMS = {
    "install-aws-lc-rs": "aws-lc-rs (installed by main)",
    "two-providers": "none installed: ring + aws-lc-rs compiled in",
}
#: crates of the Cargo.lock the binaries were built from, reported in the hello line
VERSION_CRATES = ("kube-client", "k8s-openapi", "rustls", "rustls-webpki", "hyper-rustls", "tokio-rustls", "ring",
                  "aws-lc-rs", "aws-lc-sys", "tokio", "eyre")
#: variables that would change what the program reads or prints (in-cluster config, backtraces)
_DROP_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "RUST_BACKTRACE", "RUST_LIB_BACKTRACE",
             "RUST_LOG", "KUBECONFIG")
_FOUND = re.compile(r"^found (\d+) pods$", re.M)
#: Rust's panic message: "thread 'main' (TID) panicked at FILE:LINE:COL:\nMESSAGE\nnote: ..." (older
#: toolchains print no "(TID)")
_PANIC = re.compile(r"^thread '(?P<thread>[^']*)'(?: \(\d+\))? panicked at (?P<where>[^\n]*?):?\n"
                    r"(?P<message>.*?)(?=^note: |^stack backtrace:|\Z)", re.M | re.S)
#: the exit status of a Rust program whose main thread panicked
PANIC_EXIT = 101
#: a numbered cause of eyre's "Caused by:" list: "{:>4}: text", continuation lines indented 6
_NUMBERED = re.compile(r"^ *\d+: ")


def build_output(name: str) -> str:
    """Where `tlsmatrix build kube-report` puts the program (the Cargo.lock lies beside it)."""
    return str(output_path("kube-report", KUBE_REPORT_PROGRAMS.index(name)))


def locked_versions(lock_file: str) -> dict[str, str]:
    """name -> version(s) of the Cargo.lock copied beside the binaries (what they were built from)."""
    with open(lock_file, "rb") as f:
        packages = tomllib.load(f).get("package", [])
    found: dict[str, set[str]] = {}
    for p in packages:
        found.setdefault(p.get("name"), set()).add(p.get("version"))
    return {name: "|".join(sorted(found[name])) for name in ("kube", *VERSION_CRATES) if name in found}


def _one_line(text: str) -> str:
    """Lines of one message joined with a space, eyre's indentation removed."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _causes(block: str) -> list[str]:
    lines = block.splitlines()
    if not lines or not _NUMBERED.match(lines[0]):  # one cause: every line indented 4
        return [_one_line(block)] if block.strip() else []
    causes: list[list[str]] = []
    for line in lines:
        m = _NUMBERED.match(line)
        if m:
            causes.append([line[m.end():]])
        elif causes:
            causes[-1].append(line)
    return [_one_line("\n".join(c)) for c in causes]


def report_text(stderr: str) -> str | None:
    """eyre's report as Rust prints it for main's Err (`Error: {report:?}`) as one line: the message,
    then each cause whose text is not already contained in the line so far, joined with ": " (the
    kube probe's rule). `Location:` and backtrace sections are left out (they stay in error_detail)."""
    m = re.search(r"^Error: ", stderr, re.M)
    if m is None:
        return None
    sections = re.split(r"\n\n(?=\S[^\n]*:\n)", stderr[m.end():].rstrip("\n"))
    text = _one_line(sections[0])
    for section in sections[1:]:
        header, _, block = section.partition("\n")
        if header != "Caused by:":
            continue
        for cause in _causes(block):
            if cause and cause not in text:
                text += ": " + cause
    return text


def crash_text(run: Run) -> str | None:
    """`crash: ...` when the program aborted: Rust's panic exit status 101 or a signal we did not send
    (our deadline kill is a timeout, decided before this). A panic the program survived (a spawned
    task's, turned into an error) is not a crash: the program's error is the answer then."""
    code = run.returncode
    if code is None or not (code == PANIC_EXIT or code < 0):
        return None
    m = _PANIC.search(run.stderr)
    if m:  # the thread id is left out: it changes from run to run (like OpenSSL's, common.py)
        head = f"crash: thread '{m['thread']}' panicked at {m['where']}"
        message = _one_line(m["message"])
        return f"{head}: {message}" if message else head
    if code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit status {code}"
    return f"crash: {how}; its last output: {run.last_output()}"


class KubeReport(Cli):
    """One of the report's programs; `program` is the binary's path (set by ``__main__``)."""

    name = ""

    def __init__(self, workdir) -> None:
        super().__init__(workdir)
        if self.missing:
            self.missing = f"probe: {self.program} not built: run `tlsmatrix build kube-report`"

    def hello(self) -> dict:
        details = {"program": self.name, "binary": self.program}
        version = None
        try:
            versions = locked_versions(os.path.join(os.path.dirname(self.program), "Cargo.lock"))
            version = versions.pop("kube", None)
            details.update(versions)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            details["error"] = f"cannot read the Cargo.lock beside the binary: {exc}"
        return {"hello": {"stack": "kube-rs", "version": version, "provider": PROGRAMS.get(self.name),
                          "details": details}}

    def _kubeconfig(self, job: Job) -> str:
        """The job's kubeconfig, or one written from its fields (a job without the `kubeconfig` field)."""
        if job.kubeconfig:
            return job.kubeconfig
        try:
            doc = kubeconfig_document(job.host, job.port, job.ca_file, job.servername, job.client_cert_file,
                                      job.client_key_file)
            return str(write_kubeconfig(os.path.join(self.workdir.path, "job-kubeconfig.yaml"), doc))
        except KubeconfigError as exc:
            raise JobError(str(exc)) from None

    def command(self, job: Job) -> Command:
        env = {k: v for k, v in clean_env().items() if k not in _DROP_ENV}
        home = os.path.join(self.workdir.path, "home")  # empty: no ~/.kube/config, no user config
        os.makedirs(home, mode=0o700, exist_ok=True)
        env.update(HOME=home, KUBECONFIG=self._kubeconfig(job))
        return Command([self.program], job.timeout_s, env=env)

    def interpret(self, job: Job, run: Run) -> dict:
        detail = run.stderr.strip() or None
        crash = crash_text(run)
        if crash:
            return {"ok": False, "error": crash, "error_detail": detail}
        found = _FOUND.search(run.stdout)
        if run.returncode == 0 and found:
            return {"ok": True, "negotiated": {"version": None, "cipher": None, "group": None, "sigalg": None,
                                               "pods": int(found.group(1))}}
        if run.returncode == 0:
            return {"ok": False, "error": f"probe: {self.name} exited 0 without `found N pods`: {run.last_output()}"}
        error = report_text(run.stderr) or f"exit status {run.returncode}: {run.last_output()}"
        return {"ok": False, "error": error, "error_detail": detail}

    def timeout_error(self, job: Job, run: Run) -> str:
        return (f"timeout: {self.name} did not finish within {job.timeout_ms} ms (killed); "
                f"its last output: {run.last_output()}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PROGRAMS:
        sys.exit(f"usage: python3 -m tlsmatrix.probes.cliclient.kube_report {'|'.join(PROGRAMS)}")
    KubeReport.name = sys.argv[1]
    KubeReport.program = build_output(sys.argv[1])
    sys.exit(main(KubeReport))
