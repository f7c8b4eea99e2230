"""regress, shards and the schema on real runs of the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tlsmatrix.model.schema import results_schema

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "rustls-p521.toml"
SMALL = ["--clients", "openssl,rustls-ring,go", "--servers", "openssl,go"]


@pytest.fixture(scope="module")
def env(pki_cache, tmp_path_factory):
    return dict(os.environ, TLSMATRIX_PKI_CACHE=str(pki_cache.root),
                TLSMATRIX_RESULTS_DIR=str(tmp_path_factory.mktemp("results")))


def tlsmatrix(env, *args):
    return subprocess.run([sys.executable, "-m", "tlsmatrix", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def full_run(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    r = tlsmatrix(env, "matrix", SCENARIO, *SMALL, "--output", out, "-q")
    assert r.returncode == 0, r.stderr
    return out


def test_real_results_validate_against_the_schema(full_run):
    data = json.loads((full_run / "results.json").read_text())
    jsonschema.validate(data, results_schema())
    assert data["run"]["git_commit"] and data["scenarios"][0]["sha256"]
    assert all(r["attempts"] == 1 for r in data["results"])


def test_regress_exit_codes_and_diff(env, full_run, tmp_path):
    base = tmp_path / "baseline"
    r = tlsmatrix(env, "regress", "--results", full_run, "--baseline", base, "--update-baseline")
    assert r.returncode == 0 and (base / "rustls-p521.json").exists(), r.stderr
    r = tlsmatrix(env, "regress", "--results", full_run, "--baseline", base)
    assert r.returncode == 0 and "No cell changed" in r.stdout, r.stdout + r.stderr
    # a real run (not --results) of the whole scenario: every client the baseline lacks is a new cell
    r = tlsmatrix(env, "regress", SCENARIO, "--baseline", base, "--output", tmp_path / "again", "-q")
    assert r.returncode == 1 and "(new cell)" in r.stdout and "rustls-aws-lc-rs" in r.stdout, r.stderr
    assert "(gone)" not in r.stdout  # every baseline cell is still there, with the same outcome
    # tamper: pretend rustls-ring used to accept a P-521 CA
    data = json.loads((base / "rustls-p521.json").read_text())
    cell = "rustls-p521|P-521 → P-256|1.3|openssl|rustls-ring"
    was = data["cells"][cell]
    data["cells"][cell] = {"outcome": "ok", "error": None}
    (base / "rustls-p521.json").write_text(json.dumps(data))
    r = tlsmatrix(env, "regress", "--results", full_run, "--baseline", base)
    assert r.returncode == 1
    assert "1 changed cell(s)" in r.stdout and "P-521 → P-256 | openssl | TLS 1.3 | rustls-ring" in r.stdout
    assert was["outcome"] in r.stdout and "UnsupportedSignatureAlgorithm" in r.stdout


def test_regress_without_baselines_is_a_harness_error(env, full_run, tmp_path):
    r = tlsmatrix(env, "regress", "--results", full_run, "--baseline", tmp_path / "none")
    assert r.returncode == 2 and "--update-baseline" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.json").write_text("{not json")
    r = tlsmatrix(env, "regress", "--results", full_run, "--baseline", bad)
    assert r.returncode == 2 and "x.json" in r.stderr


def test_shards_merged_equal_the_unsharded_run(env, full_run, tmp_path):
    for k in (1, 2, 3):
        r = tlsmatrix(env, "matrix", SCENARIO, *SMALL, "--shard", f"{k}/3", "--output", tmp_path / f"s{k}", "-q")
        assert r.returncode == 0, r.stderr
    r = tlsmatrix(env, "merge", *(tmp_path / f"s{k}" for k in (3, 1, 2)), "-o", tmp_path / "merged")
    assert r.returncode == 0, r.stderr
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    whole = json.loads((full_run / "results.json").read_text())
    assert [(x["id"], x["outcome"]) for x in merged["results"]] == [(x["id"], x["outcome"]) for x in whole["results"]]
    jsonschema.validate(merged, results_schema())
    r = tlsmatrix(env, "merge", tmp_path / "s1", tmp_path / "s1", "-o", tmp_path / "dup")
    assert r.returncode == 2 and "is in both" in r.stderr


def test_bad_shard_argument(env):
    r = tlsmatrix(env, "matrix", SCENARIO, "--shard", "5/4")
    assert r.returncode == 2 and "argument --shard: '5/4'" in r.stderr


@pytest.mark.docker
def test_regress_without_an_engine_says_what_is_missing_instead_of_failing_every_cell(env, tmp_path):
    """A fresh clone before `make images`, a runner without Docker: not a regression of the stacks."""
    scenario = tmp_path / "small.toml"
    scenario.write_text('name = "small"\n[axes]\ntls = ["1.3"]\nservers = ["go"]\nclients = ["openssl", "go@1.24"]\n'
                        '[[chain]]\nroot = "P-256"\nleaf = "P-256"\n')
    args = [scenario, "--baseline", tmp_path / "baseline", "--output", tmp_path / "out", "-q"]
    blessed = tlsmatrix(env, "regress", *args, "--update-baseline")
    assert blessed.returncode == 0, blessed.stderr
    no_engine = dict(env, DOCKER_HOST="unix:///nonexistent.sock")
    refused = tlsmatrix(no_engine, "regress", *args)
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) <= 40, refused.stderr
    assert "go@1.24: needs Docker" in refused.stderr and "--allow-missing" in refused.stderr
    allowed = tlsmatrix(no_engine, "regress", *args, "--allow-missing")
    assert allowed.returncode == 0 and "1 cell(s) not compared" in allowed.stdout, allowed.stdout + allowed.stderr
