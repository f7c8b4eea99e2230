"""The library's surface (issue 11, item 2) without real stacks: exports, one error base class, input
checked before any work, where an installed tlsmatrix keeps its files, and the matrix's closing summary."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tlsmatrix
from tlsmatrix.model import paths
from tlsmatrix.model.errors import TlsmatrixError, UsageError
from tlsmatrix.report.summary import render_summary

from .test_report import sample

ROOT = Path(__file__).resolve().parents[2]


def test_the_public_api_is_exported_and_import_harness_stays_light():
    for name in ("run", "probe", "serve", "diagnose_chain", "load_results", "load_scenarios", "chain",
                 "TlsmatrixError", "ResultsDocument"):
        assert name in tlsmatrix.__all__ and getattr(tlsmatrix, name) is not None
    # every probe program imports the package (python -m tlsmatrix.probes...): that must not pull the library in
    out = subprocess.run([sys.executable, "-c", "import tlsmatrix, sys; print(sorted(m for m in sys.modules "
                          "if m.startswith(('tlsmatrix', 'harness'))))"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tlsmatrix', 'tlsmatrix.model', 'tlsmatrix.model.errors']"


def _harness_exceptions() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(tlsmatrix.__path__, "tlsmatrix."):
        if ".probes" in info.name or info.name.endswith(("__main__", "pytest_plugin")):
            continue  # probe programs run on their own (in containers too): their errors never reach a caller
        module = importlib.import_module(info.name)
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, Exception) and not issubclass(obj, Warning) and obj.__module__ == info.name]
    return found


def test_every_harness_error_derives_from_one_base_class():
    errors = _harness_exceptions()
    assert len(errors) >= 15
    loose = [e.__qualname__ for e in errors if not issubclass(e, TlsmatrixError) and e.__name__ != "CellContradiction"]
    assert loose == []
    from tlsmatrix.report.merge import ShardError
    from tlsmatrix.model.core import SpecError

    assert issubclass(SpecError, ValueError) and issubclass(ShardError, ValueError)  # still, for older callers


def test_chain_specs_are_checked_like_a_scenario_chain():
    spec = tlsmatrix.chain(root="P-521", leaf="P-256", intermediates=["P-384"], client_cert="P-256")
    assert spec.label == "P-521 → P-384 → P-256 + client P-256"
    with pytest.raises(TlsmatrixError, match="unknown key type 'P-999'"):
        tlsmatrix.chain(root="P-999")


@pytest.mark.parametrize("kwargs,needle", [
    ({"clients": ["schannel"]}, "unknown client stack 'schannel'"),
    ({"servers": "openssl,iis"}, "unknown server stack 'iis'"),
    ({"tls": ["1.4"]}, "1.4"),
    ({"timeout": 0}, "--timeout 0: must be positive"),
    ({"max_cells": 3}, "exceed --max-cells 3"),
    ({"clients": ["openssl"], "servers": ["gnutls"]}, "the selection leaves no cells"),
])
def test_run_checks_its_input_before_any_certificate(tmp_path, kwargs, needle):
    with pytest.raises(TlsmatrixError, match=needle):
        tlsmatrix.run("scenarios/rustls-p521.toml", pki_cache=tmp_path / "pki", output=tmp_path / "out", **kwargs)
    assert not (tmp_path / "pki").exists() and not (tmp_path / "out").exists()


def test_scenarios_are_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given in ("scenarios/rustls-p521.toml", "rustls-p521", "rustls-p521.toml"):
        assert tlsmatrix.load_scenarios(given)[0].name == "rustls-p521"
    with pytest.raises(TlsmatrixError, match="nothing.toml: cannot read scenario file"):
        tlsmatrix.load_scenarios("nothing.toml")
    with pytest.raises(UsageError, match="share a name"):
        tlsmatrix.load_scenarios(["rustls-p521", "scenarios/rustls-p521.toml"])


def test_serve_wants_specs_without_a_scenario():
    with pytest.raises(UsageError, match="give chains as tlsmatrix.chain"):
        with tlsmatrix.serve(chains=["P-521 → P-256"]):
            pass


# --- where files go (item 3) ----------------------------------------------------------------------


def test_a_checkout_keeps_everything_in_the_checkout(monkeypatch):
    for var in ("TLSMATRIX_HOME", "TLSMATRIX_BUILD_DIR", "TLSMATRIX_RESULTS_DIR", "TLSMATRIX_PKI_CACHE"):
        monkeypatch.delenv(var, raising=False)
    assert paths.home() == ROOT
    assert paths.build_dir() == ROOT / "build" and paths.results_dir() == ROOT / "results"
    assert paths.pki_cache_dir() == ROOT / "results" / "cache" / "pki"
    assert paths.scenarios_dir() == ROOT / "scenarios" and paths.baseline_dir() == ROOT / "results" / "baseline"
    assert paths.in_checkout_hint("run `make probes`") == "run `make probes`"


def test_tlsmatrix_home_moves_the_working_files(tmp_path, monkeypatch):
    for var in ("TLSMATRIX_BUILD_DIR", "TLSMATRIX_RESULTS_DIR", "TLSMATRIX_PKI_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TLSMATRIX_HOME", str(tmp_path))
    assert paths.build_dir() == tmp_path / "build" and paths.results_dir() == tmp_path / "results"
    assert paths.scenarios_dir() == ROOT / "scenarios"  # the home has none of its own: the checkout's
    (tmp_path / "scenarios").mkdir()
    assert paths.scenarios_dir() == tmp_path / "scenarios"
    # no Makefile there: the hints say the commands `make` would run
    assert paths.in_checkout_hint("then `make probes`") == "then `tlsmatrix build`"
    assert paths.in_checkout_hint("run `make images` (or x)") == "run `tlsmatrix images` (or x)"


def test_an_installed_package_uses_the_user_directories(tmp_path, monkeypatch):
    for var in ("TLSMATRIX_HOME", "TLSMATRIX_BUILD_DIR", "TLSMATRIX_RESULTS_DIR", "TLSMATRIX_PKI_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(paths, "checkout_root", lambda: None)  # as in site-packages
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert paths.build_dir() == tmp_path / "cache" / "tlsmatrix" / "build"
    assert paths.pki_cache_dir() == tmp_path / "cache" / "tlsmatrix" / "pki"
    assert paths.results_dir() == tmp_path / "data" / "tlsmatrix" / "results"
    assert paths.scenarios_dir() == paths.SHIPPED_DIR / "scenarios"
    assert paths.baseline_dir() == paths.SHIPPED_DIR / "baseline"


def test_the_wheel_ships_scenarios_and_baselines():
    """setup.py maps scenarios/ and results/baseline/ into the package; every file there is one a checkout has."""
    setup = (ROOT / "setup.py").read_text()
    assert '"tlsmatrix._data.scenarios": "scenarios"' in setup and '"tlsmatrix._data.baseline": "results/baseline"' in setup
    assert sorted(p.name for p in (ROOT / "scenarios").glob("*.toml"))
    assert sorted(p.name for p in (ROOT / "results" / "baseline").glob("*.json"))


# --- output (item 5) --------------------------------------------------------------------------------


def test_the_matrix_ends_with_a_short_summary_per_scenario():
    text = render_summary(sample())
    lines = text.strip().splitlines()
    assert lines[0] == "Summary:"
    assert lines[1] == "  demo: Demo: 6 cells, 5 match the expectations, 1 contradict them"
    assert "    rustls-ring fails 2 of 3 iff a P-521 key signs in the chain [bad_signature, untrusted]" in lines
    assert "    ok on every cell: openssl" in lines
