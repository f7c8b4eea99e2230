"""NSS client probe: ``tstclnt`` (Debian: libnss3-tools), once per job.

Per distinct CA file content, a throwaway NSS database in the probe's private temp directory
(removed when the probe exits), each CA certificate imported as a trusted TLS anchor:

    certutil -N -d sql:DB --empty-password
    certutil -A -d sql:DB -n tlsmatrix-ca-N -t C,, -a -i caN.pem
    tstclnt -Q -v -h HOST -p PORT -d sql:DB -a SERVERNAME [-V tls1.x:tls1.x] [-I GROUPS]   (stdin: /dev/null)

``-a`` is passed to ``SSL_SetURL``: it is the SNI name (not sent for an IP literal) and the name
the certificate is checked against. No ``-b``/``-R``: the builtin roots module is not loaded (NSS
only probes ``DB/libnssckbi.so``, which does not exist in our databases). Success: tstclnt printed
"tstclnt: SSL version ..." (its handshake callback, after the certificate was authenticated).
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliclient.nss")

from .common import Cli, Command, Job, JobError, Run, StackError, clean_env, dpkg_version, main, tool_output
from ..jsonlines import nss_group_option, nss_tool_groups, nss_version

VERSIONS = {"1.2": "tls1.2:tls1.2", "1.3": "tls1.3:tls1.3"}
DONE = "tstclnt: SSL version "
_SSL_VERSION = re.compile(r"^tstclnt: SSL version (\d+)\.(\d+) using (.+)$")
_SIG_SCHEME = re.compile(r"^\s*Signature Scheme: (\S+)")
_ERROR_CODE = re.compile(r"\b((?:SEC|SSL|PR)_[A-Z0-9_]*ERROR[A-Z0-9_]*|SEC_ERROR_[A-Z0-9_]+)\b")
_NOISE = ("PR_IN_PROGRESS_ERROR", "PR_WOULD_BLOCK_ERROR")
_TLS = {(3, 1): "TLSv1", (3, 2): "TLSv1.1", (3, 3): "TLSv1.2", (3, 4): "TLSv1.3"}


class NSS(Cli):
    program = "tstclnt"
    package = "libnss3-tools"
    extra_programs = ("certutil",)

    def __init__(self, workdir) -> None:
        super().__init__(workdir)
        self.databases: dict[str, str | StackError] = {}
        self._known_groups: list[str] | None = None

    def hello(self) -> dict:
        details: dict = {}
        version = None
        if self.path:
            details["cli"] = self.path
            library = _linked_library(self.path, "libnss3.so")
            version = nss_version(library) if library else None
            if version:
                details["libnss3.so"] = library
        else:
            details["error"] = self.missing.removeprefix("probe: ")
        for package in ("libnss3", "libnss3-tools", "libnspr4"):
            v = dpkg_version(package)
            if v:
                details[package] = v
        if version is None and details.get("libnss3"):  # "2:3.87.1-1+deb12u4" -> "3.87.1"
            version = details["libnss3"].split(":", 1)[-1].rsplit("-", 1)[0]
        return {"hello": {"stack": "NSS", "version": version, "provider": None, "details": details}}

    def _database(self, job: Job) -> str:
        key = hashlib.sha256(b"\n".join(job.ca_pems)).hexdigest()
        if key not in self.databases:
            try:
                self.databases[key] = self._create(key, job)
            except StackError as exc:
                self.databases[key] = exc
            except (OSError, subprocess.SubprocessError) as exc:
                raise JobError(f"cannot create an NSS database for {job.ca_file!r}: {exc}") from None
        db = self.databases[key]
        if isinstance(db, StackError):
            raise db
        return db

    def _create(self, key: str, job: Job) -> str:
        db = os.path.join(self.workdir.path, f"nssdb-{key[:16]}")
        os.mkdir(db, 0o700)
        certutil = "certutil"

        def run(argv: list[str]) -> subprocess.CompletedProcess:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=60, env=clean_env())

        proc = run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"])
        if proc.returncode != 0:
            raise StackError(_certutil_error(proc),
                             f"certutil -N exit status {proc.returncode}; no handshake attempted")
        for n, pem in enumerate(job.ca_pems):
            path = os.path.join(db, f"ca{n}.pem")
            with open(path, "wb") as f:
                f.write(pem + b"\n")
            proc = run([certutil, "-A", "-d", f"sql:{db}", "-n", f"tlsmatrix-ca-{n}", "-t", "C,,", "-a", "-i", path])
            if proc.returncode != 0:
                raise StackError(
                    _certutil_error(proc),
                    f"certutil -A exit status {proc.returncode}: NSS refused CA certificate #{n} of "
                    f"{job.ca_file}; no handshake attempted",
                )
        return db

    def command(self, job: Job) -> Command:
        db = self._database(job)
        argv = [self.path, "-Q", "-v", "-h", job.host, "-p", str(job.port), "-d", f"sql:{db}", "-a", job.servername]
        if job.tls_version:
            argv += ["-V", VERSIONS[job.tls_version]]
        if job.groups:
            argv += self._group_option(job.groups)
        return Command(argv=argv, deadline_s=job.timeout_s,
                       done=lambda stream, line: stream == "err" and line.startswith(DONE))

    def _group_option(self, groups: list[str]) -> list[str]:
        """-I, checked against the values tstclnt's usage lists (tstclnt itself says only 'Bad group
        specified.'): a group this NSS lacks is answered 'unsupported group:'."""
        if self._known_groups is None:
            self._known_groups = nss_tool_groups(tool_output([self.path, "-h"]) or "")
        try:
            return nss_group_option(groups, self._known_groups, "tstclnt")
        except ValueError as exc:
            raise StackError(str(exc), "no handshake attempted") from None

    def interpret(self, job: Job, run: Run) -> dict:
        err = run.err_lines
        if any(l.startswith(DONE) for l in err):
            return {"ok": True, "negotiated": _negotiated(err)}
        lines = [l.strip() for l in err if _ERROR_CODE.search(l) and not any(n in l for n in _NOISE)]
        if not lines:  # no NSS error code: the last lines tstclnt wrote
            lines = [l.strip() for l in err + run.out_lines if l.strip() and "PR_Poll" not in l][-2:]
        codes = [c for l in lines for c in _ERROR_CODE.findall(l)]
        detail = f"exit status {run.returncode}" + (f"; {', '.join(dict.fromkeys(codes))}" if codes else "")
        return {"ok": False, "error": " | ".join(lines), "error_detail": detail, "negotiated": None}


def _certutil_error(proc: subprocess.CompletedProcess) -> str:
    lines = [l.strip() for l in (proc.stderr + "\n" + proc.stdout).splitlines() if l.strip()]
    return " | ".join(lines[-3:]) or f"certutil exit status {proc.returncode}"


def _negotiated(lines: list[str]) -> dict:
    neg = {"version": None, "cipher": None, "group": None, "sigalg": None}
    for line in lines:
        m = _SSL_VERSION.match(line)
        if m:
            major, minor = int(m.group(1)), int(m.group(2))
            neg["version"] = _TLS.get((major, minor), f"{major}.{minor}")
            neg["cipher"] = m.group(3).strip()
            continue
        m = _SIG_SCHEME.match(line)
        if m and neg["sigalg"] is None:
            neg["sigalg"] = m.group(1)
    return neg


def _linked_library(program: str, name: str) -> str | None:
    out = tool_output(["ldd", program]) or ""
    m = re.search(rf"^\s*{re.escape(name)}\S* => (\S+)", out, re.M)
    return m.group(1) if m else None


if __name__ == "__main__":
    sys.exit(main(NSS))
