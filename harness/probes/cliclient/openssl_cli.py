"""OpenSSL client probe: ``openssl s_client`` (Debian: openssl), once per job.

    openssl s_client -connect HOST:PORT -brief -no_ign_eof -verify_return_error
                     -CAfile CA -no-CApath -no-CAstore
                     (-servername NAME -verify_hostname NAME | -noservername -verify_ip IP)
                     [-tls1_2 | -tls1_3]                                      (stdin: /dev/null)

``-verify_return_error`` turns verification on (SSL_VERIFY_PEER) and makes a failure abort the
handshake. s_client loads default locations only when none of -CAfile/-CApath/-CAstore is given;
-no-CApath/-no-CAstore make that explicit. Success: "CONNECTION ESTABLISHED" (printed by -brief
once the handshake has completed) and "Verification: OK" on stderr; the exit status does not
matter (it is 1 when the server closes without close_notify after the handshake).
"""
from __future__ import annotations

import functools
import re
import sys

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliclient.openssl_cli")

from .common import Cli, Command, Job, Run, dpkg_version, main, strip_openssl_thread_id, tool_output
from ..jsonlines import hrr_from_server_hellos
from ..pyssl.kx import openssl_list

VERSIONS = {"1.2": "-tls1_2", "1.3": "-tls1_3"}
DONE = "CONNECTION ESTABLISHED"
_VERIFY_ERROR = re.compile(r"^verify error:num=(\d+):")
_CHATTER = re.compile(r"^(depth=\d+ |verify return:1$)")
#: s_client's words when OpenSSL does not know a name of -groups (3.0: "Call to SSL_CONF_cmd(-groups, …)
#: failed", then "group '…' cannot be set"; 1.1.1: "Error with command: \"-groups …\"")
_GROUPS_REFUSED = re.compile(r"SSL_CONF_cmd\(-groups|Error with command: \"-groups")


class OpenSSLCli(Cli):
    program = "openssl"
    package = "openssl"

    def hello(self) -> dict:
        details: dict = {}
        version = None
        if self.path:
            out = (tool_output([self.path, "version"]) or "").strip()
            details["cli"] = f"{self.path} s_client"
            details["version_line"] = out
            m = (re.search(r"\(Library: OpenSSL ([0-9][0-9A-Za-z.-]*)", out)
                 or re.match(r"OpenSSL ([0-9][0-9A-Za-z.-]*)", out))
            version = m.group(1) if m else None
        else:
            details["error"] = self.missing.removeprefix("probe: ")
        for package in ("openssl", "libssl3", "libssl1.1"):
            v = dpkg_version(package)
            if v:
                details[package] = v
        return {"hello": {"stack": "OpenSSL", "version": version, "provider": None, "details": details}}

    @functools.cached_property
    def no_store(self) -> tuple[str, ...]:
        """-no-CAstore: OpenSSL 3 only (1.1.1, Debian bullseye, has no CA stores and rejects the option)."""
        out = (tool_output([self.path, "version"]) or "") if self.path else ""
        return () if out.startswith("OpenSSL 1.") else ("-no-CAstore",)

    def command(self, job: Job) -> Command:
        host = f"[{job.host}]" if ":" in job.host else job.host
        # -msg: every handshake message on stdout, so the ServerHellos can be counted (a retry)
        argv = [self.path, "s_client", "-connect", f"{host}:{job.port}", "-brief", "-msg", "-no_ign_eof",
                "-verify_return_error", "-CAfile", job.ca_file, "-no-CApath", *self.no_store]
        if job.ip:
            argv += ["-noservername", "-verify_ip", job.servername]
        else:
            argv += ["-servername", job.servername, "-verify_hostname", job.servername]
        if job.tls_version:
            argv.append(VERSIONS[job.tls_version])
        if job.groups:
            argv += ["-groups", openssl_list(job.groups, job.key_shares)]
        return Command(argv=argv, deadline_s=job.timeout_s,
                       # -brief prints "Verification: OK" after "CONNECTION ESTABLISHED": wait for it,
                       # so a loaded machine cannot cut the output between the two
                       done=lambda stream, line: stream == "err" and line.strip().startswith("Verification"))

    def interpret(self, job: Job, run: Run) -> dict:
        err = [l.strip() for l in run.err_lines]
        if DONE in err and "Verification: OK" in err:
            negotiated = _negotiated(err)
            hellos = sum(1 for line in run.out_lines if line.startswith("<<< ") and line.rstrip().endswith("ServerHello"))
            return {"ok": True, "negotiated": {**negotiated,
                                               "hrr": hrr_from_server_hellos(hellos, negotiated["version"])}}
        lines = [strip_openssl_thread_id(l) for l in err if l and not _CHATTER.match(l)]
        if job.groups and any(_GROUPS_REFUSED.search(l) for l in lines):  # s_client itself refused the list
            return {"ok": False, "error": "unsupported group: " + " | ".join(lines), "negotiated": None}
        if DONE in err:  # established, but not verified: cannot happen with -verify_return_error
            lines = [l for l in lines if l.startswith("Verification")] or lines
        detail = f"exit status {run.returncode}"
        codes = [m.group(1) for m in map(_VERIFY_ERROR.match, err) if m]
        if codes:
            detail += f"; X509_V_ERR {', '.join(codes)}"
        return {"ok": False, "error": " | ".join(lines), "error_detail": detail, "negotiated": None}


def _negotiated(lines: list[str]) -> dict:
    fields = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, value.strip())
    group = fields.get("Negotiated TLS1.3 group")  # OpenSSL 3.2+ names the group, hybrids too
    temp = None if group else fields.get("Server Temp Key")  # "X25519, 253 bits" / "ECDH, prime256v1, 256 bits" / "DH, 2048 bits"
    if temp:
        parts = [p.strip() for p in temp.split(",")]
        group = parts[1] if parts[0] == "ECDH" and len(parts) > 2 else parts[0]
    sigalg = fields.get("Signature type")
    digest = fields.get("Hash used")
    if sigalg and digest and digest != "UNDEF":
        sigalg = f"{sigalg}+{digest}"
    return {"version": fields.get("Protocol version"), "cipher": fields.get("Ciphersuite"), "group": group,
            "sigalg": sigalg}


if __name__ == "__main__":
    sys.exit(main(OpenSSLCli))
