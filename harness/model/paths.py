"""Where tlsmatrix's files are (a checkout, ``$TLSMATRIX_HOME``, or the user's cache and data
directories for an installed package) and how a file is written so that no reader sees half of it."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # harness/
PROBES_DIR = PACKAGE_DIR / "probes"


def project_root() -> Path:
    """The directory holding the ``harness`` package: a checkout, or site-packages when installed.
    Paths of probe sources, Dockerfiles and image build contexts are relative to it."""
    return PACKAGE_DIR.parent


def checkout_root() -> Path | None:
    """The source checkout this package runs from (pyproject.toml and scenarios/ beside harness/), else None."""
    parent = PACKAGE_DIR.parent
    return parent if (parent / "pyproject.toml").is_file() and (parent / "scenarios").is_dir() else None


def home() -> Path | None:
    """Where tlsmatrix keeps its working files: ``$TLSMATRIX_HOME``, else the checkout, else None (an
    installed package: the user's cache and data directories). A home is laid out like a checkout:
    ``scenarios/`` (optional: the shipped ones are used), ``results/`` (baselines in
    ``results/baseline/``), ``build/`` (the compiled probes)."""
    env = os.environ.get("TLSMATRIX_HOME")
    return Path(env).expanduser() if env else checkout_root()


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tlsmatrix`` (``~/.cache/tlsmatrix``): builds and certificates, safe to delete."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tlsmatrix"


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/tlsmatrix`` (``~/.local/share/tlsmatrix``): results a user may want to keep."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "tlsmatrix"


def build_dir() -> Path:
    """Probe binaries: ``$TLSMATRIX_BUILD_DIR``, else ``<home>/build``, else the user cache's ``build``."""
    env = os.environ.get("TLSMATRIX_BUILD_DIR")
    if env:
        return Path(env)
    base = home()
    return base / "build" if base is not None else user_cache_dir() / "build"


def results_dir() -> Path:
    """``$TLSMATRIX_RESULTS_DIR``, else ``<home>/results``, else the user data directory's ``results``."""
    env = os.environ.get("TLSMATRIX_RESULTS_DIR")
    if env:
        return Path(env)
    base = home()
    return base / "results" if base is not None else user_data_dir() / "results"


def pki_cache_dir() -> Path:
    """Generated certificates: ``$TLSMATRIX_PKI_CACHE``, else under the results (a checkout, a home or
    ``$TLSMATRIX_RESULTS_DIR``), else the user cache (certificates are regenerated at will)."""
    env = os.environ.get("TLSMATRIX_PKI_CACHE")
    if env:
        return Path(env)
    if home() is None and not os.environ.get("TLSMATRIX_RESULTS_DIR"):
        return user_cache_dir() / "pki"
    return results_dir() / "cache" / "pki"


#: scenario files and baselines shipped inside the package (setup.py maps them there in a wheel)
SHIPPED_DIR = PACKAGE_DIR / "_data"


def scenarios_dir() -> Path:
    """``<home>/scenarios`` when there is one, else the checkout's, else the scenarios shipped with the package."""
    return _first_dir("scenarios", SHIPPED_DIR / "scenarios")


def baseline_dir() -> Path:
    """``<home>/results/baseline`` when there is one, else the checkout's, else the shipped baselines."""
    return _first_dir("results/baseline", SHIPPED_DIR / "baseline")


def _first_dir(relative: str, shipped: Path) -> Path:
    for base in (home(), checkout_root()):
        if base is not None and (base / relative).is_dir():
            return base / relative
    return shipped


def resolve_scenario(path: str | Path) -> Path:
    """A scenario file as given, else the shipped/home one of that name: ``scenarios/rustls-p521.toml``
    (or ``rustls-p521``) works from any directory. A path that matches nothing is returned as given,
    so the error names what the user typed."""
    given = Path(path)
    if given.exists() or given.is_absolute():
        return given
    named = given if given.suffix == ".toml" else given.with_name(given.name + ".toml")
    inside = Path(*named.parts[1:]) if named.parts[0] == "scenarios" and len(named.parts) > 1 else named
    for candidate in (scenarios_dir() / inside, scenarios_dir() / named.name):
        if candidate.is_file():
            return candidate
    return given


def portable_scenario_path(path: Path) -> str:
    """A scenario's path as results and baselines record it: ``scenarios/<file>`` for the scenarios
    tlsmatrix has (checkout, home or shipped), relative to the checkout for others in it, else the
    file's name (results are attached to public reports; no local directory goes into them)."""
    resolved = path.resolve()
    for root in dict.fromkeys(p for p in (checkout_root(), home()) if p is not None):
        try:
            return resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    try:
        return "scenarios/" + resolved.relative_to(scenarios_dir().resolve()).as_posix()
    except ValueError:
        return path.name


def in_checkout_hint(text: str) -> str:
    """A hint as this installation can follow it: without a Makefile (an installed package), the
    `make` targets are said as the commands they run."""
    base = home()
    if base is not None and (base / "Makefile").is_file():
        return text
    for make, command in (("`make probes`", "`tlsmatrix build`"), ("`sudo make images`", "`sudo tlsmatrix images`"),
                          ("`make images`", "`tlsmatrix images`"),
                          ("run `make setup`", "run `pip install 'tlsmatrix[docker]'`")):  # the Docker SDK
        text = text.replace(make, command)
    return text


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file + rename: readers never see half a file."""
    with atomic_file(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A file that appears at ``path`` whole, or not at all: written as a hidden ``.tmp`` file beside
    it, synced, then renamed over it (readable by all: results and bundles are for sharing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path, what: str, error: type[Exception]) -> Any:
    """A JSON file's content; ``error`` names ``what`` and the file when it cannot be read or is not JSON."""
    try:
        return json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise error(f"{what} {path}: not JSON ({exc})") from None
