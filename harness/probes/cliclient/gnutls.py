"""GnuTLS client probe: ``gnutls-cli`` (Debian: gnutls-bin), once per job.

    gnutls-cli --x509cafile CA --verify-hostname NAME (--sni-hostname NAME | --disable-sni)
               [--priority NORMAL:-VERS-ALL:+VERS-TLS1.x[:-GROUP-ALL:+GROUP-…]] -p PORT HOST   (stdin: /dev/null)

With ``--x509cafile`` gnutls-cli loads only that file (``gnutls_certificate_set_x509_system_trust``
is called only when no CA file is given). Success: "- Status: The certificate is trusted." and
"- Handshake was completed" on stdout; the exit status does not matter (a server that closes right
after the handshake makes gnutls-cli exit 1 with "Error in the pull function").
"""
from __future__ import annotations

import re
import shutil
import sys

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliclient.gnutls")

from .common import Cli, Command, Job, Run, StackError, dpkg_version, main, tool_output
from ..jsonlines import gnutls_priority

PRIORITIES = {"1.2": "NORMAL:-VERS-ALL:+VERS-TLS1.2", "1.3": "NORMAL:-VERS-ALL:+VERS-TLS1.3"}
DONE = "- Handshake was completed"
TRUSTED = "- Status: The certificate is trusted."
# - Description: (TLS1.3-X.509)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-256-GCM)
_DESCRIPTION = re.compile(r"^- Description: \((TLS[0-9.]+)[^)]*\)-\(([^)]*)\)-\(([^)]*)\)-\(([^)]*)\)")


class GnuTLS(Cli):
    program = "gnutls-cli"
    package = "gnutls-bin"

    def __init__(self, workdir) -> None:
        super().__init__(workdir)
        self.stdbuf = shutil.which("stdbuf")

    def hello(self) -> dict:
        details: dict = {}
        version = None
        if self.path:
            out = tool_output([self.path, "--version"]) or ""
            m = re.search(r"^gnutls-cli ([0-9][0-9A-Za-z.+~-]*)", out, re.M)
            version = m.group(1) if m else None
            details["cli"] = self.path
            config = tool_output([self.path, "--list-config"]) or ""
            for key in ("libgnutls-soname", "libnettle-soname", "libhogweed-soname"):
                m = re.search(rf"^{key}: (\S+)", config, re.M)
                if m:
                    details[key] = m.group(1)
        else:
            details["error"] = self.missing.removeprefix("probe: ")
        for package in ("gnutls-bin", "libgnutls30"):
            v = dpkg_version(package)
            if v:
                details[package] = v
        return {"hello": {"stack": "GnuTLS", "version": version, "provider": None, "details": details}}

    def command(self, job: Job) -> Command:
        argv = [self.path, "--x509cafile", job.ca_file, "--verify-hostname", job.servername]
        argv += ["--disable-sni"] if job.ip else ["--sni-hostname", job.servername]
        priority = PRIORITIES.get(job.tls_version, "NORMAL")
        if job.groups:
            try:
                priority = gnutls_priority(priority, job.groups)
            except ValueError as exc:
                raise StackError(str(exc), "no handshake attempted") from None
        if priority != "NORMAL":
            argv += ["--priority", priority]
        argv += ["-p", str(job.port), job.host]
        if self.stdbuf:  # gnutls-cli's stdout is a pipe: line-buffer it so the progress lines arrive live
            argv = [self.stdbuf, "-oL", *argv]
        # everything gnutls-cli says about the handshake (status, description) comes before DONE; on
        # stdin's EOF it then lingers ~40 ms before exiting (measured): no grace, it is killed at DONE
        return Command(argv=argv, deadline_s=job.timeout_s,
                       done=lambda stream, line: stream == "out" and line.strip() == DONE, grace_s=0.0)

    def interpret(self, job: Job, run: Run) -> dict:
        out = [l.strip() for l in run.out_lines]
        if DONE in out and TRUSTED in out:
            return {"ok": True, "negotiated": _negotiated(out)}
        lines = [l for l in out if l.startswith("*** ") or l.startswith("- Status: The certificate is NOT trusted")]
        lines += [l.strip() for l in run.err_lines if l.strip()]
        if job.groups and any(l.startswith("Syntax error at:") for l in lines):  # this GnuTLS lacks a group name
            return {"ok": False, "error": "unsupported group: " + " | ".join(lines), "negotiated": None}
        detail = f"exit status {run.returncode}"
        if DONE in out:
            detail += "; handshake completed but the certificate status line is missing"
        return {"ok": False, "error": " | ".join(lines), "error_detail": detail, "negotiated": None}


def _negotiated(lines: list[str]) -> dict:
    for line in lines:
        m = _DESCRIPTION.match(line)
        if m:
            version, kx, sig, cipher = m.groups()
            group = None
            for prefix in ("ECDHE-", "DHE-"):
                if kx.startswith(prefix):
                    group = kx[len(prefix):]
            return {"version": version.replace("TLS", "TLSv"), "cipher": cipher, "group": group, "sigalg": sig}
    return {"version": None, "cipher": None, "group": None, "sigalg": None}


if __name__ == "__main__":
    sys.exit(main(GnuTLS))
