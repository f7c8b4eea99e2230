"""Where probes are built and which toolchains build them (cargo, Debian's Go)."""
from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROBES_DIR = PACKAGE_DIR / "probes"

GO_INSTALL_HINT = "install Go: `apt-get install golang-1.19-go` (Debian), then `make probes`"
CARGO_INSTALL_HINT = "install Rust (https://rustup.rs), then `make probes`"
JAVA_INSTALL_HINT = "install a JDK 17: `apt-get install openjdk-17-jdk-headless` (Debian), then `make probes`"
WOLFSSL_INSTALL_HINT = "install wolfSSL: `apt-get install libwolfssl-dev` (Debian), then `make probes`"


def project_root() -> Path:
    """The checkout containing the package (where ``build/`` and ``results/`` live)."""
    parent = PACKAGE_DIR.parent
    if (parent / "pyproject.toml").exists():
        return parent
    return Path.cwd()


def build_dir() -> Path:
    """Probe binaries: ``$TLSMATRIX_BUILD_DIR`` or ``<checkout>/build``."""
    return Path(os.environ.get("TLSMATRIX_BUILD_DIR") or project_root() / "build")


def results_dir() -> Path:
    return Path(os.environ.get("TLSMATRIX_RESULTS_DIR") or project_root() / "results")


def pki_cache_dir() -> Path:
    return Path(os.environ.get("TLSMATRIX_PKI_CACHE") or results_dir() / "cache" / "pki")


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


def find_cargo() -> str | None:
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo") / "bin" / "cargo"
    return str(home) if home.exists() else None
