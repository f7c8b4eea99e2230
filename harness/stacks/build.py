"""Build the compiled probes (Rust, Go) into the build directory, once per source change.

A stamp file holds a hash of the sources and the toolchain version; a second build with
nothing changed runs no compiler at all. TARGETS says only how to build each program; the
stack descriptors (harness/stacks/clients, harness/stacks/servers) name the target that builds theirs.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..model.errors import TlsmatrixError
from .toolchain import (CARGO_INSTALL_HINT, GCC, GNUTLS_DEV, GNUTLS_INSTALL_HINT, GO_INSTALL_HINT, GOLANG,
    JAVA_INSTALL_HINT, JDK, LIBCURL_DEV, LIBCURL_INSTALL_HINT, LIBSSL_DEV, NSS_DEV, NSS_INSTALL_HINT, PKG_CONFIG,
    WOLFSSL_DEV, WOLFSSL_INSTALL_HINT, Debian, find_cargo, find_go)
from ..model.paths import PROBES_DIR, build_dir, in_checkout_hint


class BuildError(TlsmatrixError):
    """A toolchain was present but the build failed; carries the command and output tail."""


@dataclass(frozen=True)
class Target:
    name: str
    sources: Path
    outputs: tuple[str, ...]  # relative to build_dir()
    toolchain: Callable[[], str | None]
    hint: str
    commands: Callable[[str, Path], list[tuple[list[str], dict[str, str]]]]
    shared: tuple[str, ...] = ()  # sources outside `sources` the build also reads (relative to PROBES_DIR)
    #: Debian packages the build needs (its toolchain, system libraries): `tlsmatrix list --packages`
    packages: tuple[Debian, ...] = ()
    #: the outputs are programs to execute (False: Java class files, which `java` runs)
    executable: bool = True


#: every Rust probe builds into this one target dir (under the build dir): a crate that several probes
#: lock at the same version with the same features (aws-lc-sys, ring, tokio, serde, ...) compiles once,
#: however many Cargo projects use it; each project keeps its own Cargo.lock, so every pin stays
CARGO_TARGET = "cargo-target"


#: The kube programs make one handshake per run, and the cryptography in it is ring's and AWS-LC's
#: assembly at any opt-level: without LLVM's optimizations the kube builds take a third of the time
#: (kube latest-rustls from scratch on 2 cores: 158 s at opt-level 3, 53 s at 0). `--release` still
#: keeps debug assertions and overflow checks off. The rustls probes, fed batches, stay optimized.
UNOPTIMIZED = ("--config", "profile.release.opt-level=0")


def _cargo_commands(dest: str, binaries: tuple[str, ...], feature: str | None = None, with_lockfile: bool = False,
                    flags: tuple[str, ...] = ()) -> Callable[[str, Path], list[tuple[list[str], dict[str, str]]]]:
    """`cargo build` into the shared target dir, then the binaries copied to ``dest`` (several projects
    build binaries of the same name); ``feature``: the one crypto-provider feature, defaults off."""
    def commands(cargo: str, out: Path) -> list[tuple[list[str], dict[str, str]]]:
        release = out / CARGO_TARGET / "release"
        features = ["--no-default-features", "--features", feature] if feature else []
        steps = [
            ([cargo, "build", "--release", "--locked", *flags, *features, "--target-dir", str(out / CARGO_TARGET)], {}),
            (["install", "-D", "-m", "0755", "-t", str(out / dest), *(str(release / b) for b in binaries)], {}),
        ]
        if with_lockfile:  # the adapter reports the versions the binaries were built from
            steps.append((["install", "-m", "0644", "Cargo.lock", str(out / dest / "Cargo.lock")], {}))
        return steps
    return commands


def cargo_build_line(target: str) -> str:
    """The shell line that builds a Rust probe in a checkout, as `tlsmatrix build` does (bundles)."""
    t = TARGETS[target]
    source = t.sources.relative_to(PROBES_DIR.parents[1])  # harness/probes/...
    out = Path(*[".."] * len(source.parts), "build")
    steps = t.commands("cargo", out)
    return f"(cd {source.as_posix()} && {' && '.join(shlex.join(argv) for argv, _ in steps)})"


KUBE_VARIANTS = ("0.93-rustls", "0.93-rustls-2024-08", "0.93-openssl", "0.94-aws-lc-rs", "latest-rustls",
                 "latest-aws-lc-rs")
#: openssl-tls links the system OpenSSL through openssl-sys, which pkg-config finds
_KUBE_PACKAGES = {"0.93-openssl": (LIBSSL_DEV, PKG_CONFIG)}
#: kube-rs issue 1562's fix program (harness/probes/kube-report): two binaries of one Cargo project
KUBE_REPORT_PROGRAMS = ("install-aws-lc-rs", "two-providers")


def _java_commands(javac: str, out: Path) -> list[tuple[list[str], dict[str, str]]]:
    return [([javac, "-d", str(out / "java"), "Probe.java"], {})]


#: the JSON-lines loop every C probe links (harness/probes/cprobe: its changes must rebuild them)
C_PROBE_LOOP = "cprobe"
#: the C probes and how each links its library (words for gcc; `$(pkg-config …)` is expanded); the
#: client image's Dockerfile links them the same way
C_PROBE_LIBS = {"wolfssl": "-lwolfssl", "gnutls": "-lgnutls", "nss": "$(pkg-config --cflags --libs nss)",
                "libcurl": "-lcurl -lssl -lcrypto"}


def c_probe_build_line(stack: str) -> str:
    """The shell line that builds a C probe in a checkout (bundles' "Probe programs" table)."""
    return (f"(cd harness/probes/{stack} && mkdir -p ../../../build/{stack} && gcc -O2 -I../{C_PROBE_LOOP} "
            f"-o ../../../build/{stack}/tlsmatrix-{stack}-probe probe.c ../{C_PROBE_LOOP}/probe_loop.c "
            f"{C_PROBE_LIBS[stack]})")


def c_probe_commands(stack: str) -> Callable[[str, Path], list[tuple[list[str], dict[str, str]]]]:
    """gcc in the probe's directory: its probe.c and the shared loop, linked with the stack's library."""
    def commands(gcc: str, out: Path) -> list[tuple[list[str], dict[str, str]]]:
        (out / stack).mkdir(parents=True, exist_ok=True)
        return [([gcc, "-O2", "-Wall", f"-I../{C_PROBE_LOOP}", "-o", str(out / stack / f"tlsmatrix-{stack}-probe"),
                  "probe.c", f"../{C_PROBE_LOOP}/probe_loop.c", *_expand_libs(stack)], {})]
    return commands


def _expand_libs(stack: str) -> list[str]:
    words = []
    for part in re.split(r"(\$\([^)]*\))", C_PROBE_LIBS[stack]):
        if part.startswith("$("):  # pkg-config: include dirs and libraries of NSS/NSPR
            argv = part[2:-1].split()
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"building {stack} failed: `{' '.join(argv)}` exited {proc.returncode}\n"
                                 f"{proc.stderr.strip()}")
            words += proc.stdout.split()
        else:
            words += part.split()
    return words


def gcc_with(*packages: Debian) -> Callable[[], str | None]:
    """A C probe's toolchain: gcc, but only where the library's development packages are installed
    (their headers: Debian's libwolfssl-dev, libgnutls28-dev, ...)."""
    def find() -> str | None:
        import shutil

        gcc = shutil.which("gcc")
        return gcc if gcc and all(p.installed() for p in packages) else None
    return find


def _find_javac() -> str | None:
    import shutil

    return shutil.which("javac")


def _go_commands(directory: str, *programs: tuple[str, str]) -> Callable[[str, Path], list[tuple[list[str], dict[str, str]]]]:
    """`go build` of each (package of the module, binary) into build/<directory>/: offline
    (GOPROXY=off: standard library only) and static (CGO_ENABLED=0), with the toolchain's own
    defaults: Go applies the GODEBUG defaults of the main module's `go` line, so the build uses a
    go.mod whose line is the toolchain's version (-modfile; the checkout's says the oldest it needs)."""
    def commands(go: str, out: Path) -> list[tuple[list[str], dict[str, str]]]:
        env = {"GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOCACHE": str(out / "go" / "cache"), "CGO_ENABLED": "0",
               "GOPATH": str(out / "go" / "gopath"), "GOTOOLCHAIN": "local"}
        modfile = out / "go" / "toolchain.mod"
        modfile.parent.mkdir(parents=True, exist_ok=True)
        modfile.write_text(f"module tlsmatrix/probes/go\n\ngo {_go_release(go)}\n")
        return [([go, "build", f"-modfile={modfile}", "-trimpath", "-o", str(out / directory / binary), f"./{package}"],
                 env) for package, binary in programs]
    return commands


def _go_release(go: str) -> str:
    """``1.19`` for a go1.19.8 toolchain."""
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    return ".".join(version.removeprefix("go").split(".")[:2])


#: the JSON-lines loop every Rust probe links (a path dependency: its changes must rebuild them)
PROBE_LOOP = "probe-loop"
_RUSTLS_PROBE = "tlsmatrix-rustls-probe"
_RUSTLS_BINARIES = (_RUSTLS_PROBE, "tlsmatrix-rustls-server")  # the newest rustls: client probe and server
#: the handshake loop every rustls probe builds, whatever its rustls version (rustls/src/handshake.rs)
_HANDSHAKE = "rustls/src/handshake.rs"

TARGETS: dict[str, Target] = {
    **{
        f"rustls-{provider}": Target(
            f"rustls-{provider}", PROBES_DIR / "rustls", tuple(f"rustls-{provider}/{b}" for b in _RUSTLS_BINARIES),
            find_cargo, CARGO_INSTALL_HINT, _cargo_commands(f"rustls-{provider}", _RUSTLS_BINARIES, provider),
            shared=(PROBE_LOOP,),
        )
        for provider in ("ring", "aws-lc-rs")
    },
    "go": Target(
        "go", PROBES_DIR / "go", ("go/tlsmatrix-go-client", "go/tlsmatrix-go-server"),
        find_go, GO_INSTALL_HINT, _go_commands("go", ("client", "tlsmatrix-go-client"), ("server", "tlsmatrix-go-server")),
        packages=(GOLANG,),
    ),
    "rustls-0.23.12": Target(
        "rustls-0.23.12", PROBES_DIR / "rustls-0.23.12", (f"rustls-0.23.12/{_RUSTLS_PROBE}",),
        find_cargo, CARGO_INSTALL_HINT, _cargo_commands("rustls-0.23.12", (_RUSTLS_PROBE,), "ring"),
        shared=("rustls/build.rs", "rustls/lockfile.rs", "rustls/src/lib.rs", "rustls/src/main.rs", _HANDSHAKE, PROBE_LOOP),
    ),
    "rustls-0.21": Target(
        "rustls-0.21", PROBES_DIR / "rustls-0.21", (f"rustls-0.21/{_RUSTLS_PROBE}",),
        find_cargo, CARGO_INSTALL_HINT, _cargo_commands("rustls-0.21", (_RUSTLS_PROBE,), "ring"),
        shared=("rustls/build.rs", "rustls/lockfile.rs", _HANDSHAKE, PROBE_LOOP),
    ),
    "rustls-0.21.0": Target(
        "rustls-0.21.0", PROBES_DIR / "rustls-0.21.0", (f"rustls-0.21.0/{_RUSTLS_PROBE}",),
        find_cargo, CARGO_INSTALL_HINT, _cargo_commands("rustls-0.21.0", (_RUSTLS_PROBE,), "ring"),
        shared=("rustls/build.rs", "rustls/lockfile.rs", "rustls-0.21/src/lib.rs", "rustls-0.21/src/main.rs", _HANDSHAKE,
                PROBE_LOOP),
    ),
    **{
        f"kube-{v}": Target(
            f"kube-{v}", PROBES_DIR / "kube" / v, (f"kube/{v}/tlsmatrix-kube-probe",),
            find_cargo, CARGO_INSTALL_HINT, _cargo_commands(f"kube/{v}", ("tlsmatrix-kube-probe",), flags=UNOPTIMIZED),
            shared=("kube/src", "kube/build.rs", "rustls/lockfile.rs", PROBE_LOOP), packages=_KUBE_PACKAGES.get(v, ()),
        )
        for v in KUBE_VARIANTS
    },
    "kube-report": Target(
        "kube-report", PROBES_DIR / "kube-report",
        (*(f"kube-report/{p}" for p in KUBE_REPORT_PROGRAMS), "kube-report/Cargo.lock"),
        find_cargo, CARGO_INSTALL_HINT, _cargo_commands("kube-report", KUBE_REPORT_PROGRAMS, with_lockfile=True,
                                                          flags=UNOPTIMIZED),
    ),
    # not a stack: the docker backend's relay (harness/running/endpoints/docker.py), one published port per container
    "router": Target(
        "router", PROBES_DIR / "router", ("router/tlsmatrix-router",),
        find_go, GO_INSTALL_HINT, _go_commands("router", (".", "tlsmatrix-router")), packages=(GOLANG,),
    ),
    "java": Target(
        "java", PROBES_DIR / "java", ("java/Probe.class",),
        _find_javac, JAVA_INSTALL_HINT, _java_commands, packages=(JDK,), executable=False,
    ),
    "wolfssl": Target(
        "wolfssl", PROBES_DIR / "wolfssl", ("wolfssl/tlsmatrix-wolfssl-probe",),
        gcc_with(WOLFSSL_DEV), WOLFSSL_INSTALL_HINT, c_probe_commands("wolfssl"), shared=(C_PROBE_LOOP,),
        packages=(WOLFSSL_DEV, GCC),
    ),
    "nss": Target(
        "nss", PROBES_DIR / "nss", ("nss/tlsmatrix-nss-probe",),
        gcc_with(NSS_DEV, PKG_CONFIG), NSS_INSTALL_HINT, c_probe_commands("nss"), shared=(C_PROBE_LOOP,), packages=(NSS_DEV, PKG_CONFIG, GCC),
    ),
    "gnutls": Target(
        "gnutls", PROBES_DIR / "gnutls", ("gnutls/tlsmatrix-gnutls-probe",),
        gcc_with(GNUTLS_DEV), GNUTLS_INSTALL_HINT, c_probe_commands("gnutls"), shared=(C_PROBE_LOOP,),
        packages=(GNUTLS_DEV, GCC),
    ),
    "libcurl": Target(
        "libcurl", PROBES_DIR / "libcurl", ("libcurl/tlsmatrix-libcurl-probe",),
        gcc_with(LIBCURL_DEV, LIBSSL_DEV), LIBCURL_INSTALL_HINT, c_probe_commands("libcurl"),
        shared=(C_PROBE_LOOP,), packages=(LIBCURL_DEV, LIBSSL_DEV, GCC),
    ),
}


def output_path(target: str, index: int = 0) -> Path:
    return build_dir() / TARGETS[target].outputs[index]


def not_built(target: str, index: int = 0) -> str | None:
    """None when the target's output ``index`` is built, else a stack's availability text: which file
    is missing, and `make probes` when the toolchain is there (else how to install the toolchain)."""
    t = TARGETS[target]
    path = output_path(target, index)
    if path.exists() and (not t.executable or os.access(path, os.X_OK)):
        return None
    return f"probe not built ({path} missing): {'run `make probes`' if t.toolchain() else t.hint}"


def _source_hash(target: Target, tool: str, commands: list[tuple[list[str], dict[str, str]]]) -> str:
    """Sources, toolchain version and build commands: a change of any of them rebuilds."""
    h = hashlib.sha256()
    h.update(repr(commands).encode())
    for rel in target.shared:
        extra = PROBES_DIR / rel
        for path in sorted(extra.rglob("*") if extra.is_dir() else [extra]):
            if path.is_file():
                h.update(rel.encode() + str(path.relative_to(extra) if extra.is_dir() else "").encode())
                h.update(path.read_bytes())
    for path in sorted(target.sources.rglob("*")):
        if path.is_file() and "target" not in path.relative_to(target.sources).parts:
            h.update(str(path.relative_to(target.sources)).encode())
            h.update(path.read_bytes())
    try:
        version = subprocess.run([tool, "version" if target.name == "go" else "--version"],
                                 capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        version = "?"
    h.update(version.encode())
    h.update(target.name.encode())
    return h.hexdigest()


def build(names: list[str] | None = None, log: Callable[[str], None] = print, force: bool = False) -> dict[str, str]:
    """Build targets; returns name → "built" | "cached" | "skipped: <why>". Raises BuildError.

    The Rust probes build one after another (they share a target dir, which cargo locks); Go, Java
    and the C probes build beside them, so the other core is not idle while cargo links."""
    out = build_dir()
    out.mkdir(parents=True, exist_ok=True)
    names = names or list(TARGETS)
    for name in names:
        if name not in TARGETS:
            raise BuildError(f"unknown build target {name!r} (known: {', '.join(TARGETS)})")
    lanes = [[n for n in names if TARGETS[n].toolchain is find_cargo],
             [n for n in names if TARGETS[n].toolchain is not find_cargo]]
    status: dict[str, str] = {}
    with ThreadPoolExecutor(len(lanes)) as pool:
        for built in pool.map(lambda lane: {n: _build_one(n, out, log, force) for n in lane}, lanes):
            status.update(built)
    cached = sum(1 for s in status.values() if s == "cached")
    if cached:  # one line, not one per target: a run's log says what was built
        log(f"[build] {cached} of {len(names)} targets up to date")
    return {name: status[name] for name in names}


def _build_one(name: str, out: Path, log: Callable[[str], None], force: bool) -> str:
    target = TARGETS[name]
    tool = target.toolchain()
    if tool is None:
        why = f"skipped: toolchain not found; {in_checkout_hint(target.hint)}"
        log(f"[build] {name}: {why}")
        return why
    stamp = out / f"{name}.stamp"
    commands = target.commands(tool, out)  # once: a C probe's runs pkg-config
    digest = _source_hash(target, tool, commands)
    if not force and stamp.exists() and stamp.read_text() == digest and all((out / o).exists() for o in target.outputs):
        return "cached"
    log(f"[build] {name}: building with {tool} ...")
    started = time.monotonic()
    for argv, extra_env in commands:
        proc = subprocess.run(argv, cwd=target.sources, env=dict(os.environ, **extra_env), capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
            raise BuildError(
                f"building {name} failed: `{' '.join(argv)}` in {target.sources} exited {proc.returncode}\n{tail}"
            )
    stamp.write_text(digest)
    log(f"[build] {name}: built in {time.monotonic() - started:.1f}s")
    return "built"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tlsmatrix build", description="Build the compiled probes.")
    parser.add_argument("targets", nargs="*", help=f"targets (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        build(args.targets or None, log=lambda m: print(m, file=sys.stderr), force=args.force)
    except BuildError as exc:
        print(f"tlsmatrix: error: {exc}", file=sys.stderr)
        return 2
    return 0
