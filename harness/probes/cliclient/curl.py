"""curl client probe: the system ``curl`` (Debian: curl, built with OpenSSL), once per job.

    curl -q -sS -v --noproxy * --cacert CA --capath EMPTY_DIR
         --connect-to SERVERNAME:PORT:HOST:PORT [--tlsv1.x --tls-max 1.x]
         --connect-timeout T --max-time T -o /dev/null -w %{ssl_verify_result}
         https://SERVERNAME:PORT/                                              (stdin: /dev/null)

The URL carries the servername (SNI + name check; curl sends no SNI for an IP literal and checks
IP SANs), --connect-to sends the TCP connection to HOST:PORT. Debian's curl has a built-in
CApath (/etc/ssl/certs) that stays active next to --cacert: --capath points it at an empty
directory of the probe's own. -q ignores ~/.curlrc; proxy and CA environment variables are removed.

Our servers do not speak HTTP, so curl always fails *after* the handshake (52 empty reply,
56 recv failure, or it waits for a response). Success rule: curl's verbose log shows
"* SSL connection using <version> / <cipher>" and then "*  SSL certificate verify ok." (printed
after the chain check and the host name check). The probe stops curl as soon as that line appears.
Otherwise the error is curl's own "curl: (N) ..." line, with the exit status in error_detail.
"""
from __future__ import annotations

import os
import re
import sys

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliclient.curl")

from .common import Cli, Command, Job, Run, dpkg_version, main, tool_output
from ..jsonlines import curl_trace_hrr
from ..pyssl.kx import openssl_list

VERSIONS = {"1.2": ["--tlsv1.2", "--tls-max", "1.2"], "1.3": ["--tlsv1.3", "--tls-max", "1.3"]}
VERIFY_OK = "SSL certificate verify ok."
#: curl 8.x adds the group and the certificate's key (" / X25519MLKEM768 / id-ecPublicKey"); 7.x stops at the cipher
_USING = re.compile(r"^\* SSL connection using (\S+) / (\S+)(?: / (\S+))?")
_CURL_ERROR = re.compile(r"^curl: \((\d+)\) ")
_TLS_LIBS = ("OpenSSL", "BoringSSL", "LibreSSL", "quictls", "GnuTLS", "NSS", "wolfSSL", "mbedTLS",
             "rustls-ffi", "Schannel", "SecureTransport", "BearSSL")
TIMEOUT_EXIT = 28
#: curl enforces timeout_ms itself; the probe's hard kill comes this much later
HARD_DEADLINE_EXTRA_S = 1.5


class Curl(Cli):
    program = "curl"
    package = "curl"

    def hello(self) -> dict:
        details: dict = {}
        version = provider = None
        if self.path:
            first = ((tool_output([self.path, "--version"]) or "").splitlines() or [""])[0]
            details["cli"] = self.path
            details["version_line"] = first
            m = re.match(r"curl ([0-9][0-9A-Za-z.-]*)", first)
            version = m.group(1) if m else None
            for token in first.split():
                name = token.strip("()").split("/", 1)[0]
                if name in _TLS_LIBS:
                    provider = token.strip("()")
                    break
                if token.startswith("libcurl/"):
                    details["libcurl"] = token.split("/", 1)[1]
        else:
            details["error"] = self.missing.removeprefix("probe: ")
        for package in ("curl", "libcurl4"):
            v = dpkg_version(package)
            if v:
                details[package] = v
        return {"hello": {"stack": "curl", "version": version, "provider": provider, "details": details}}

    def _empty_capath(self) -> str:
        path = os.path.join(self.workdir.path, "empty-capath")
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
        return path

    def command(self, job: Job) -> Command:
        def bracket(h: str) -> str:
            return f"[{h}]" if ":" in h else h

        name, host = bracket(job.servername), bracket(job.host)
        seconds = f"{job.timeout_s:.3f}"
        argv = [self.path, "-q", "-sS", "-v", "--noproxy", "*",
                "--cacert", job.ca_file, "--capath", self._empty_capath(),
                "--connect-to", f"{name}:{job.port}:{host}:{job.port}"]
        if job.tls_version:
            argv += VERSIONS[job.tls_version]
        if job.groups:
            argv += ["--curves", openssl_list(job.groups, job.key_shares)]
        argv += ["--connect-timeout", seconds, "--max-time", seconds, "-o", os.devnull,
                 "-w", "%{ssl_verify_result}", f"https://{name}:{job.port}/"]
        return Command(argv=argv, deadline_s=job.timeout_s + HARD_DEADLINE_EXTRA_S,
                       done=lambda stream, line: stream == "err" and line.lstrip("* ").strip() == VERIFY_OK)

    def interpret(self, job: Job, run: Run) -> dict:
        err = run.err_lines
        using = next((m for m in map(_USING.match, err) if m), None)
        verified = any(l.lstrip("* ").strip() == VERIFY_OK for l in err)
        if using and verified:
            version, cipher, group = using.groups()
            group = None if group in (None, "[blank]", "UNDEF") else group
            return {"ok": True, "negotiated": {"version": version, "cipher": cipher, "group": group, "sigalg": None,
                                               "hrr": curl_trace_hrr(err, version)}}
        errors = [l.strip() for l in err if _CURL_ERROR.match(l)]
        if errors:
            error = errors[-1]
            if job.groups and run.returncode == 59 and "curves" in error:  # OpenSSL refused --curves
                return {"ok": False, "error": f"unsupported group: {error}", "error_detail": "exit status 59",
                        "negotiated": None}
        else:  # no "curl: (N)" line: whatever curl wrote that is not verbose tracing
            error = " | ".join(l.strip() for l in err if l.strip() and not l.startswith(("*", ">", "<", "{", "}")))
        detail = f"exit status {run.returncode}"
        verify_result = run.stdout.strip()
        if verify_result and run.returncode == 60:  # CURLE_PEER_FAILED_VERIFICATION
            detail += f"; ssl_verify_result={verify_result}"
        if run.returncode == TIMEOUT_EXIT and error:
            error = f"timeout: {error}"
        return {"ok": False, "error": error, "error_detail": detail, "negotiated": None}


if __name__ == "__main__":
    sys.exit(main(Curl))
