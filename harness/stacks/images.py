"""Server-stack images for the docker backend: standard Dockerfiles, built offline if need be.

``make images`` (``tlsmatrix images``) builds one image per server stack through the Docker
SDK. Every Dockerfile starts ``FROM ${BASE}`` (default ``debian:bookworm-slim``). When that
base image is neither present nor pullable (no registry, air-gapped CI), it is bootstrapped
locally: ``debootstrap --variant=minbase bookworm`` + ``docker import``, tagged with the very
name the Dockerfiles use, so the Dockerfiles stay unchanged. A built image carries a label
with the hash of its Dockerfile, sources and build arguments; a second ``make images`` with
nothing changed builds nothing. Besides the stacks' images, one image is not a stack's: the run
watchdog's (harness/images/watchdog, WATCHDOG_IMAGE), which every docker run starts first
(harness/running/watchdog.py).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..model import __version__
from .servers import SERVERS
from . import IMAGE_PREFIX, ImageSpec  # noqa: F401 (ImageSpec: re-exported, the descriptors' image type)
from ..model.errors import TlsmatrixError
from ..model.paths import build_dir, project_root
from .engine import LABEL_PREFIX, DockerUnavailable, docker_client

BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_MIRROR = os.environ.get("TLSMATRIX_DEBIAN_MIRROR", "http://deb.debian.org/debian")


class ImageError(TlsmatrixError):
    """An image is missing or failed to build; carries the command/log tail."""


#: server stack -> its image: the server descriptors' `image` (harness/stacks/servers), in their order
IMAGES: dict[str, ImageSpec] = {name: s.image for name, s in SERVERS.items() if s.image is not None}


@dataclass(frozen=True)
class WatchdogImageSpec(ImageSpec):
    """The run watchdog's image: no stack's, so not named like a server's."""

    @property
    def tag(self) -> str:
        return f"tlsmatrix/{self.stack}:{__version__}"


#: the run watchdog (harness/running/watchdog.py): `make images` builds it with the stacks' images
WATCHDOG = "watchdog"
WATCHDOG_IMAGE = WatchdogImageSpec(WATCHDOG, "harness/images/watchdog/Dockerfile",
                                   ("harness/images/watchdog/watchdog.py",))


# --- base image -----------------------------------------------------------------------------


def base_image(release: str = "bookworm") -> str:
    """The official image name of a Debian release's slim base (the name a bootstrap is tagged with)."""
    return f"debian:{release}-slim"


def ensure_base(client, log: Callable[[str], None] = print, release: str = "bookworm") -> str:
    """Make sure a release's base image exists: present, else pulled, else bootstrapped. Returns how."""
    from docker.errors import APIError, ImageNotFound

    name = base_image(release)
    try:
        client.images.get(name)
        return "present"
    except ImageNotFound:
        pass
    repo, tag = name.split(":")
    try:
        log(f"[images] pulling {name} ...")
        client.images.pull(repo, tag=tag)
        return "pulled"
    except APIError as exc:
        log(f"[images] cannot pull {name} ({_short(exc)}); bootstrapping it with debootstrap")
    bootstrap_base(client, log, release)
    return "bootstrapped"


def _apt_sources(release: str) -> str:
    """The official image's apt sources for ``release``: main, updates, security."""
    mirror = DEBIAN_MIRROR.rstrip("/")
    security = mirror.rsplit("/", 1)[0] + "/debian-security"
    return (f"Types: deb\nURIs: {mirror}\nSuites: {release} {release}-updates\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            f"Types: deb\nURIs: {security}\nSuites: {release}-security\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")


def bootstrap_base(client, log: Callable[[str], None] = print, release: str = "bookworm") -> None:
    """debootstrap --variant=minbase <release> → docker import as debian:<release>-slim."""
    name = base_image(release)
    if os.geteuid() != 0:
        raise ImageError(
            f"base image {name} is missing and cannot be pulled; bootstrapping it needs root "
            f"(debootstrap): run `sudo make images`, or `docker pull {name}` where a registry is reachable")
    if not shutil.which("debootstrap"):
        if not shutil.which("apt-get"):
            raise ImageError("debootstrap is not installed and apt-get is not available to install it")
        log("[images] installing debootstrap (apt-get)")
        _run(["apt-get", "install", "-y", "-qq", "debootstrap"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=_ensure(build_dir() / "images")))
    rootfs = work / "rootfs"
    try:
        log(f"[images] debootstrap --variant=minbase {release} from {DEBIAN_MIRROR} (about a minute)")
        _run(["debootstrap", "--variant=minbase", release, str(rootfs), DEBIAN_MIRROR])
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(_apt_sources(release))
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (rootfs / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar_path = work / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tar_path), "."])
        repo, tag = name.split(":")
        log(f"[images] docker import → {name}")
        client.api.import_image_from_file(
            str(tar_path), repository=repo, tag=tag,
            changes=['CMD ["bash"]', f'LABEL {LABEL_PREFIX}.bootstrap="debootstrap --variant=minbase {release}"'])
        client.images.get(name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- stack images -----------------------------------------------------------------------------


def source_hash(spec: ImageSpec, base_id: str) -> str:
    root = project_root()
    h = hashlib.sha256()
    for f in _context_files(spec):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    h.update(repr(sorted(spec.buildargs.items())).encode())
    h.update(base_id.encode())
    h.update(__version__.encode())
    return h.hexdigest()


def _context_files(spec: ImageSpec) -> list[Path]:
    root = project_root()
    files: list[Path] = []
    for rel in (spec.dockerfile, *spec.sources):
        path = root / rel
        if path.is_file():
            files.append(path)
            continue
        files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not {"target", "vendor", "__pycache__"} & set(
            p.relative_to(root).parts)))
    return files


def vendor_crates(cargo_project: str, log: Callable[[str], None]) -> Path:
    """`cargo vendor` a project's locked dependencies (cached per Cargo.lock) for offline image builds.

    The build containers may not reach crates.io (air-gapped runners, TLS-intercepting
    proxies whose CA only the host trusts); the host's cargo can.
    """
    with _VENDORING:  # images of one Cargo project (rustls-ring, rustls-aws-lc-rs) build at once
        return _vendor(cargo_project, log)


_VENDORING = threading.Lock()


def _vendor(cargo_project: str, log: Callable[[str], None]) -> Path:
    from .toolchain import find_cargo

    project = project_root() / cargo_project
    lock = (project / "Cargo.lock").read_bytes()
    out = build_dir() / "vendor" / hashlib.sha256(lock).hexdigest()[:16]
    if (out / ".complete").exists():
        return out
    cargo = find_cargo()
    if cargo is None:
        raise ImageError(f"vendoring crates for {cargo_project} needs cargo on the host (https://rustup.rs)")
    log(f"[images] cargo vendor ({cargo_project}) for an offline build")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([cargo, "vendor", "--locked", "--versioned-dirs", str(out)], cwd=project,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(f"`cargo vendor` in {project} exited {proc.returncode}\n{proc.stderr[-2000:]}")
    (out / ".complete").write_text("ok\n")
    return out


def build_context(spec: ImageSpec, log: Callable[[str], None]):
    """A tar of exactly what the Dockerfile needs (plus vendored crates), paths as in the repo."""
    root = project_root()
    fileobj = tempfile.TemporaryFile()
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        for path in _context_files(spec):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
        if spec.vendor_cargo:
            vendor = vendor_crates(spec.vendor_cargo, log)
            tar.add(vendor, arcname=f"{spec.vendor_cargo}/vendor", filter=lambda t: None if t.name.endswith(".complete") else t)
    fileobj.seek(0)
    return fileobj


#: images built at once: a build spends much of its time on apt downloads and single-threaded steps,
#: which overlap the other builds' compiles (measured: docs/performance.md, "Cold setup")
PARALLEL_BUILDS = 3


def build_images(names: list[str] | None = None, log: Callable[[str], None] = print, force: bool = False,
                 client=None) -> dict[str, str]:
    """Build (or find up to date) the images for ``names``, several at once; returns stack → built | cached."""
    client = client or docker_client(timeout=3600)
    from .clients.containers import CLIENT_IMAGES

    # a versioned server names its release's image
    specs = {**IMAGES, **CLIENT_IMAGES, WATCHDOG: WATCHDOG_IMAGE} if names else all_images()
    for name in names or []:
        if name not in specs:
            raise ImageError(f"unknown image {name!r} (known: {', '.join(specs)})")
    todo = names or list(specs)
    for base in dict.fromkeys(specs[n].buildargs.get("BASE", BASE_IMAGE) for n in todo):  # shared by several images
        ensure_base(client, log, release=base.split(":", 1)[1].removesuffix("-slim"))
    with ThreadPoolExecutor(PARALLEL_BUILDS) as pool:
        status = dict(zip(todo, pool.map(lambda n: _build_image(client, n, specs[n], log, force), todo)))
    cached = sum(1 for s in status.values() if s == "cached")
    if cached:  # one line, not one per image
        log(f"[images] {cached} of {len(todo)} images up to date")
    return status


def _build_image(client, name: str, spec: ImageSpec, log: Callable[[str], None], force: bool) -> str:
    """One image: "cached" when its label carries the hash of its current sources, else built."""
    digest = source_hash(spec, client.images.get(spec.buildargs.get("BASE", BASE_IMAGE)).id)
    existing = _get(client, spec.tag)
    if not force and existing is not None and existing.labels.get(f"{LABEL_PREFIX}.source-hash") == digest:
        return "cached"
    log(f"[images] {spec.tag}: building from {spec.dockerfile} ...")
    started = time.monotonic()
    labels = {
        f"{LABEL_PREFIX}.stack": name,
        f"{LABEL_PREFIX}.source-hash": digest,
        "org.opencontainers.image.version": __version__,
        "org.opencontainers.image.title": f"tlsmatrix {_kind(name)} {name}",
    }
    tail: list[str] = []
    try:
        context = build_context(spec, log)
        for chunk in client.api.build(fileobj=context, custom_context=True, dockerfile=spec.dockerfile, tag=spec.tag,
                                      buildargs={"BASE": BASE_IMAGE, **spec.buildargs}, labels=labels, rm=True,
                                      forcerm=True, decode=True):
            text = chunk.get("stream") or chunk.get("status") or ""
            if text.strip():
                tail.append(text.rstrip())
                del tail[:-30]
            if "error" in chunk:
                raise ImageError(f"building {spec.tag} from {spec.dockerfile} failed: {chunk['error'].strip()}\n"
                                 + "\n".join(tail))
    except ImageError:
        raise
    except Exception as exc:  # docker.errors.APIError / BuildError
        raise ImageError(f"building {spec.tag} from {spec.dockerfile} failed: {_short(exc)}\n" + "\n".join(tail)) from None
    log(f"[images] {spec.tag}: built in {time.monotonic() - started:.0f}s")
    _remove_superseded(client, name, log)
    return "built"


def _kind(name: str) -> str:
    """What an image holds, for its title label."""
    return "server stack" if name in IMAGES else "run" if name == WATCHDOG else "client stacks"


def _remove_superseded(client, name: str, log: Callable[[str], None]) -> None:
    """The image this build replaced, now untagged: removed (only images carrying this stack's label,
    never another project's). Without it every rebuild leaves a GB-sized dangling image behind."""
    try:
        pruned = client.images.prune(filters={"dangling": True, "label": f"{LABEL_PREFIX}.stack={name}"})
    except Exception as exc:  # noqa: BLE001 - the new image is built; an old one left over is no failure
        log(f"[images] {name}: the superseded image stays ({_short(exc)})")
        return
    freed = ((pruned or {}).get("SpaceReclaimed") or 0) + _remove_old_build_stages(client, name)
    if freed:
        log(f"[images] {name}: removed the superseded image ({freed / 1e6:.0f} MB)")


def _remove_old_build_stages(client, name: str) -> int:
    """A multi-stage Dockerfile's build stage (Rust, Go toolchains: 0.8-1.5 GB) stays behind untagged,
    labelled ``build-stage=<stack>``: all but the newest (the next build's cache) are removed.
    Returns the bytes freed."""
    stages = client.images.list(filters={"dangling": True, "label": f"{LABEL_PREFIX}.build-stage={name}"})
    freed = 0
    for old in sorted(stages, key=lambda i: i.attrs.get("Created", ""), reverse=True)[1:]:
        try:
            client.images.remove(old.id)
            freed += old.attrs.get("Size") or 0
        except Exception:  # noqa: BLE001 - in use (a running build), or gone meanwhile
            continue
    return freed


def all_images() -> dict[str, ImageSpec]:
    """Every image once: the server stacks' own images, then one client image per Debian release
    (harness/stacks/clients/containers.py), which the versioned server stacks (openssl@1.1.1, ...) run in too,
    then the run watchdog's."""
    from .clients.containers import CLIENT_IMAGES

    client_tags = {spec.tag for spec in CLIENT_IMAGES.values()}
    return {**{n: s for n, s in IMAGES.items() if s.tag not in client_tags}, **CLIENT_IMAGES, WATCHDOG: WATCHDOG_IMAGE}


def image_for(client, stack: str):
    """The built image of a server stack, or ImageError saying how to build it."""
    spec = IMAGES.get(stack)
    if spec is None:
        raise ImageError(f"server stack {stack!r} has no image (images exist for: {', '.join(IMAGES)})")
    image = _get(client, spec.tag)
    if image is None:
        raise ImageError(f"image {spec.tag} is missing: run `make images` (or `tlsmatrix images {stack}`)")
    return image


def _get(client, tag: str):
    from docker.errors import ImageNotFound

    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise ImageError(f"`{' '.join(argv)}` exited {proc.returncode}\n{tail}")


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:300]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="tlsmatrix images", description="Build the server-stack and client images.")
    parser.add_argument("stacks", nargs="*", help=f"images to build (default: all): {', '.join(all_images())}")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        build_images(args.stacks or None, log=lambda m: print(m, file=sys.stderr, flush=True), force=args.force)
    except (DockerUnavailable, ImageError) as exc:
        print(f"tlsmatrix: error: {exc}", file=sys.stderr)
        return 2
    return 0
