"""NSS server program: one ``selfserv`` (Debian: libnss3-tools) per listener.

Per distinct (cert_file, key_file) an NSS database in the supervisor's temp directory:

    certutil -N -d sql:DB --empty-password
    pk12util -i KEY+CHAIN.p12 -d sql:DB -W PASS -K ""     (the .p12 written by ``openssl pkcs12``)
    selfserv -d sql:DB -n tlsmatrix -p PORT -V MIN:MAX [-I GROUPS]
"""
from __future__ import annotations

import os
import re
import sys

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliserver.nss")

from .supervisor import ListenerError, Stack, dpkg_version, find_library, main, run_tool, which
from ..jsonlines import nss_group_option, nss_tool_groups, nss_version

VERSIONS = {"1.2": "tls1.2:tls1.2", "1.3": "tls1.3:tls1.3", None: "tls1.2:tls1.3"}
NICKNAME = "tlsmatrix"
P12_PASSWORD = "tlsmatrix"  # protects nothing (the file lives for one pk12util run); NSS wants one
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def write_pkcs12(cert_file: str, key_file: str, p12: str) -> None:
    """Key + chain (leaf first, nickname on the leaf) as the PKCS#12 file ``p12``: pk12util is the only
    NSS tool that imports a private key. Written by ``openssl pkcs12 -export`` with the algorithms named
    (PBES2 AES-256-CBC, HMAC-SHA256), so OpenSSL 1.1.1 to 3.5 write the same kind of file; its key and
    certificate carry a localKeyID, which NSS 3.110 needs to import the key (trixie's cryptography 43
    writes none: SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY). ListenerError when a file cannot be used."""
    openssl = which("openssl")
    if openssl is None:
        raise ListenerError("openssl not found on PATH (it writes the PKCS#12 file pk12util imports)")
    with open(cert_file, "rb") as f:
        if not _PEM_CERT.search(f.read()):
            raise ListenerError(f"{cert_file}: no PEM certificate found")
    proc = run_tool([openssl, "pkcs12", "-export", "-in", cert_file, "-inkey", key_file, "-name", NICKNAME,
                     "-passout", f"pass:{P12_PASSWORD}", "-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC",
                     "-macalg", "sha256", "-iter", "2048", "-out", p12])
    if proc.returncode != 0:
        raise ListenerError(_tail(proc))


def _tail(proc) -> str:
    text = "\n".join(l for l in (proc.stderr + "\n" + proc.stdout).splitlines() if l.strip())
    return "\n".join(text.splitlines()[-10:]) or f"exit status {proc.returncode}"


class NSS(Stack):
    name = "NSS"
    program = "selfserv"
    module = "nss"
    log_prefix = "tlsmatrix-nss-server"

    def __init__(self) -> None:
        self.databases: dict[tuple[str, str], str | ListenerError] = {}
        self._known_groups: list[str] | None = None

    def hello(self) -> dict:
        details = {}
        version = None
        library = find_library("libnss3.so")
        version = nss_version(library) if library else None
        if version:
            details["libnss3.so"] = library
        package = dpkg_version("libnss3")
        if package:
            details["libnss3"] = package
            if version is None:  # "2:3.87.1-1+deb12u4" -> "3.87.1"
                version = package.split(":", 1)[-1].rsplit("-", 1)[0]
        return {"hello": {"stack": self.name, "version": version, "provider": None, "details": details}}

    def group_option(self, groups: object) -> list[str]:
        """``-I`` for a listener's groups; ListenerError 'unsupported group: …' for one selfserv lacks
        (checked against its usage text: selfserv itself says only 'Bad group specified.')."""
        if not groups:
            return []
        if not isinstance(groups, list):
            raise ListenerError(f"groups must be a list, got {groups!r}")
        if self._known_groups is None:
            try:
                usage = run_tool([which(self.program) or self.program, "-h"])
                self._known_groups = nss_tool_groups(usage.stdout + usage.stderr)
            except (OSError, ValueError):
                self._known_groups = []
        try:
            return nss_group_option(groups, self._known_groups, self.program)
        except ValueError as exc:
            raise ListenerError(str(exc)) from None

    def prepare(self, spec: dict, workdir: str) -> object:
        version = spec.get("tls_version")
        if version not in VERSIONS:
            raise ListenerError(f"unsupported tls_version {version!r}")
        cert_file, key_file = spec.get("cert_file"), spec.get("key_file")
        if not isinstance(cert_file, str) or not isinstance(key_file, str):
            raise ListenerError("listener without cert_file/key_file")
        key = (cert_file, key_file)
        if key not in self.databases:
            try:
                self.databases[key] = self._database(cert_file, key_file, workdir)
            except ListenerError as exc:
                self.databases[key] = exc
        groups = self.group_option(spec.get("groups"))
        db = self.databases[key]
        if isinstance(db, ListenerError):
            raise ListenerError(str(db))
        return db, VERSIONS[version], groups

    def _database(self, cert_file: str, key_file: str, workdir: str) -> str:
        tools = {name: which(name) for name in ("certutil", "pk12util")}
        missing = [name for name, path in tools.items() if path is None]
        if missing:
            raise ListenerError(f"{', '.join(missing)} not found on PATH")
        db = os.path.join(workdir, f"nssdb{len(self.databases)}")
        os.mkdir(db, 0o700)  # the key's PKCS#12 file lives inside it, for one pk12util run
        p12 = os.path.join(db, "import.p12")
        try:
            write_pkcs12(cert_file, key_file, p12)
            proc = run_tool([tools["certutil"], "-N", "-d", f"sql:{db}", "--empty-password"])
            if proc.returncode != 0:
                raise ListenerError(_tail(proc))
            proc = run_tool([tools["pk12util"], "-i", p12, "-d", f"sql:{db}", "-W", P12_PASSWORD, "-K", ""])
            if proc.returncode != 0:
                raise ListenerError(_tail(proc))
        except (OSError, ValueError) as exc:
            raise ListenerError(str(exc)) from None
        finally:
            if os.path.exists(p12):
                os.unlink(p12)
        return db

    def warnings(self) -> list[str]:
        try:
            with open("/proc/sys/net/ipv6/conf/lo/disable_ipv6") as f:
                disabled = f.read().strip() == "1"
        except OSError:
            return []  # no IPv6 at all: getaddrinfo offers 127.0.0.1 only, which works
        if not disabled:
            return []
        return ["IPv6 is disabled on lo here, and selfserv (NSS >= 3.79) listens on the preferred "
                "loopback address from PR_GetPrefLoopbackAddrInfo, which is ::1 in that case: its bind will "
                "fail (PR_Bind error -5986). Enable IPv6 in this network namespace, e.g. "
                "docker run --sysctl net.ipv6.conf.all.disable_ipv6=0"]

    def command(self, spec: dict, prepared: object, port: int) -> list[str]:
        db, versions, groups = prepared  # type: ignore[misc]
        return [which(self.program) or self.program, "-d", f"sql:{db}", "-n", NICKNAME, "-p", str(port),
                "-V", versions, *groups]


if __name__ == "__main__":
    sys.exit(main(NSS()))
