"""A plain (non-editable) `pip install` of the checkout into another virtualenv gives a working
`tlsmatrix`, library and pytest plugin from any directory (issue 11, item 2).

Slow and it needs PyPI (the new virtualenv installs cryptography, pytest, ...): it runs only with
TLSMATRIX_TEST_PACKAGING=1. The probes it builds go to the new user cache (XDG_CACHE_HOME), so only
the quick Go build runs; the other compiled stacks are reported as needing `tlsmatrix build`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.environ.get("TLSMATRIX_TEST_PACKAGING") != "1",
                                                          reason="set TLSMATRIX_TEST_PACKAGING=1 (slow; needs PyPI)")]
ROOT = Path(__file__).resolve().parents[2]


def test_a_plain_install_works_from_any_directory(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run([bin_dir / "pip", "install", "--quiet", str(ROOT), "pytest"], check=True, cwd=tmp_path,
                   timeout=900)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TLSMATRIX_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_DATA_HOME=str(tmp_path / "data"),
               PATH=f"{bin_dir}:{os.environ['PATH']}")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in argv], cwd=work, env=env, capture_output=True, text=True, timeout=600)

    listing = run(bin_dir / "tlsmatrix", "list")
    assert listing.returncode == 0, listing.stderr
    assert "scenarios/rustls-p521.toml" in listing.stdout  # shipped with the package
    assert "run `tlsmatrix build`" in listing.stdout and "make probes" not in listing.stdout
    assert str(tmp_path / "cache" / "tlsmatrix" / "build") in listing.stdout

    built = run(bin_dir / "tlsmatrix", "build", "go")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "cache" / "tlsmatrix" / "build" / "go" / "tlsmatrix-go-client").exists()

    matrix = run(bin_dir / "tlsmatrix", "matrix", "scenarios/rustls-p521.toml", "--clients", "openssl,go", "-q")
    assert matrix.returncode == 0, matrix.stderr
    latest = tmp_path / "data" / "tlsmatrix" / "results" / "latest"
    assert {p.name for p in latest.iterdir()} >= {"results.json", "matrix.md", "matrix.html"}
    assert len(json.loads((latest / "results.json").read_text())["results"]) == 40

    library = run(bin_dir / "python", "-c", "import tlsmatrix; d = tlsmatrix.run('rustls-p521', clients=['openssl'], "
                                            "servers=['go']); print(len(d.cells), d.verdicts()['match'])")
    assert library.stdout.split() == ["10", "10"], library.stderr
    # the import name is tlsmatrix: no top-level `harness` to clash with a project's own test harness
    names = run(bin_dir / "python", "-c", "import importlib.util as u, tlsmatrix; "
                                          "print(u.find_spec('harness'), tlsmatrix.TlsmatrixError.__module__)")
    assert names.stdout.split() == ["None", "tlsmatrix.model.errors"], names.stderr

    plugin = run(bin_dir / "pytest", "--tlsmatrix", "scenarios/rustls-p521.toml", "-q", "-p", "no:cacheprovider",
                 "-k", "openssl and not openssl-cli")
    assert plugin.returncode == 0 and "passed" in plugin.stdout, plugin.stdout[-2000:] + plugin.stderr
    assert not (work / "results").exists() and not (work / "build").exists()  # nothing in the working directory
