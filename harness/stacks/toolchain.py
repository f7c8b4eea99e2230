"""Where probes are built, which toolchains build them (cargo, Debian's Go) and what to install.

A stack's system requirements are :class:`Debian` packages (and :class:`PythonPackage` s):
the stack descriptors (harness/stacks/__init__.py) and the build targets (harness/stacks/build.py) name them,
``tlsmatrix list --packages`` prints them, and ``make toolchains`` installs the missing ones,
so the package names live here and in the descriptors only.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable



@dataclass(frozen=True)
class Debian:
    """A Debian package a stack needs (``apt-get install <package>``), and how to see that it is
    there without dpkg (the stack may get it elsewhere: Node from nodesource, Go from go.dev):
    the commands the stack runs from it, and/or a finder for what is not a command on PATH."""

    package: str
    commands: tuple[str, ...] = ()
    found: Callable[[], object] | None = None  # e.g. find_go (Debian's go is not on PATH), a header check
    #: what to do when it is missing ({package} is filled in); default: the apt-get line
    hint: str = "install with `apt-get install {package}` (Debian)"

    def absent(self) -> list[str]:
        return [c for c in self.commands if shutil.which(c) is None]

    def installed(self) -> bool:
        return not self.absent() and (self.found is None or bool(self.found()))

    def missing(self) -> str | None:
        """None when installed, else what is missing and how to install it (a stack's availability text)."""
        hint = self.hint.format(package=self.package)
        absent = self.absent()
        if absent:
            return f"{', '.join(absent)} not found: {hint}"
        return None if self.installed() else f"{self.package} not found: {hint}"


@dataclass(frozen=True)
class PythonPackage:
    """A Python module a stack imports; `make setup` installs it (pyproject.toml's dependencies)."""

    module: str
    install: str

    def missing(self) -> str | None:
        if importlib.util.find_spec(self.module):
            return None
        return f"Python package {self.module} not installed: {self.install}"


#: headers of Debian's libwolfssl-dev (or a source install under /usr/local)
WOLFSSL_HEADERS = ("/usr/include/wolfssl/ssl.h", "/usr/local/include/wolfssl/ssl.h")
#: headers of Debian's libnss3-dev (Fedora: nss-devel puts them in nss3/; or a source install under /usr/local)
NSS_HEADERS = ("/usr/include/nss/ssl.h", "/usr/include/nss3/ssl.h", "/usr/local/include/nss/ssl.h")
#: headers of Debian's libgnutls28-dev (or a source install under /usr/local)
GNUTLS_HEADERS = ("/usr/include/gnutls/gnutls.h", "/usr/local/include/gnutls/gnutls.h")
#: headers of Debian's libcurl4-openssl-dev (multiarch) or a source install under /usr/local
LIBCURL_HEADERS = ("/usr/include/x86_64-linux-gnu/curl/curl.h", "/usr/include/aarch64-linux-gnu/curl/curl.h",
                   "/usr/include/curl/curl.h", "/usr/local/include/curl/curl.h")


def find_go() -> str | None:
    """``go`` on PATH, else the newest Debian ``/usr/lib/go-1.*/bin/go``."""
    found = shutil.which("go")
    if found:
        return found
    candidates = glob.glob("/usr/lib/go-1.*/bin/go")

    def version_key(path: str) -> tuple[int, ...]:
        minor = path.split("/usr/lib/go-1.")[1].split("/")[0]
        return (int(minor) if minor.isdigit() else 0,)

    candidates.sort(key=version_key)
    return candidates[-1] if candidates else None


def _any_file(*paths: str) -> Callable[[], bool]:
    return lambda: any(Path(p).exists() for p in paths)


# The packages the build targets' toolchains come from (harness/stacks/build.py TARGETS name them).
# Rust is not among them: the probes are built with a rustup toolchain (CARGO_INSTALL_HINT).
GOLANG = Debian("golang-1.19-go", found=find_go)
JDK = Debian("openjdk-17-jdk-headless", ("javac",))
GCC = Debian("gcc", ("gcc",))
WOLFSSL_DEV = Debian("libwolfssl-dev", found=_any_file(*WOLFSSL_HEADERS))
NSS_DEV = Debian("libnss3-dev", found=_any_file(*NSS_HEADERS))  # pulls in libnspr4-dev
GNUTLS_DEV = Debian("libgnutls28-dev", found=_any_file(*GNUTLS_HEADERS))
LIBCURL_DEV = Debian("libcurl4-openssl-dev", found=_any_file(*LIBCURL_HEADERS))
LIBSSL_DEV = Debian("libssl-dev", found=_any_file("/usr/include/openssl/ssl.h"))  # openssl-sys (kube openssl-tls)
PKG_CONFIG = Debian("pkg-config", ("pkg-config",))  # how openssl-sys finds libssl

GO_INSTALL_HINT = f"install Go: `apt-get install {GOLANG.package}` (Debian), then `make probes`"
CARGO_INSTALL_HINT = "install Rust (https://rustup.rs), then `make probes`"
JAVA_INSTALL_HINT = f"install a JDK 17: `apt-get install {JDK.package}` (Debian), then `make probes`"
WOLFSSL_INSTALL_HINT = f"install wolfSSL: `apt-get install {WOLFSSL_DEV.package}` (Debian), then `make probes`"
NSS_INSTALL_HINT = (f"install NSS's headers: `apt-get install {NSS_DEV.package} {PKG_CONFIG.package}` (Debian), "
                    "then `make probes`")
GNUTLS_INSTALL_HINT = f"install GnuTLS's headers: `apt-get install {GNUTLS_DEV.package}` (Debian), then `make probes`"
LIBCURL_INSTALL_HINT = (f"install libcurl's and OpenSSL's headers: `apt-get install {LIBCURL_DEV.package} "
                        f"{LIBSSL_DEV.package}` (Debian), then `make probes`")


def find_cargo() -> str | None:
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo") / "bin" / "cargo"
    return str(home) if home.exists() else None
