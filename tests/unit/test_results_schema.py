from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tlsmatrix.model.document import ChainInfo, ResultsDocument, ScenarioInfo, StackEntry
from tlsmatrix.model.core import CertSpec, Cell, ChainSpec, Expectation, KeySpec, Outcome, Result, StackInfo
from tlsmatrix.running.runner import build_document
from tlsmatrix.model.schema import PROBE_SCHEMAS, SCHEMA_VERSION, probe_schema, render, render_schema, results_schema

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code():
    committed = (ROOT / "docs" / "results.schema.json").read_text()
    assert committed == render_schema(), "run `tlsmatrix schema > docs/results.schema.json`"


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(results_schema())


@pytest.mark.parametrize("name", sorted(PROBE_SCHEMAS))
def test_committed_probe_schemas_match_the_code(name):
    """The probe contract's lines (docs/probe-contract.md); tests/integration/test_probe_lines.py checks
    them against what real probes write."""
    jsonschema.Draft202012Validator.check_schema(probe_schema(name))
    committed = (ROOT / "docs" / name).read_text()
    assert committed == render(probe_schema(name)), f"regenerate docs/{name} from tlsmatrix.model.schema.probe_schema"


def _document() -> dict:
    chain = ChainSpec(CertSpec(KeySpec("P-521")), CertSpec(KeySpec("P-256")), (CertSpec(KeySpec("P-384"), "SHA-512"),))
    cells = [Cell("s", chain, "go", "1.3", "rustls-ring", Expectation(frozenset({Outcome.OK}), "why"), index=0),
             Cell("s", chain, "go", None, "openssl", None, index=1)]
    results = [Result(cells[0], Outcome.UNSUPPORTED_ALGORITHM, error="invalid peer certificate: X", attempts=2,
                      negotiated=None, elapsed_ms=1.5),
               Result(cells[1], Outcome.OK, negotiated={"version": "TLSv1.3", "cipher": "x", "group": None,
                                                         "sigalg": None})]
    doc = build_document(
        results, clients={"openssl": StackEntry(available=True, info=StackInfo("OpenSSL", "3"), restarts=0)},
        servers={"go": StackEntry(available=False, reason="not built")},
        chains={chain.label: ChainInfo(fingerprint="f", leaf_sha256="a", root_sha256="b")},
        scenarios=[ScenarioInfo(name="s", title="t", notes="", path=None, sha256=None)],
        started="2026-11-29T00:00:00+00:00", duration_s=1.0, certificates_generated=0)
    return doc.to_json()


def test_a_document_reads_back_to_the_same_json():
    doc = _document()
    assert ResultsDocument.from_json(doc).to_json() == doc


def test_documents_of_older_versions_still_read(tmp_path):
    """tests/data/results-legacy.json: run metadata at the top level and no schema_version, as before
    schema v1; tests/data/results-v1.json: a real v1 run of an earlier version (no diagnosis, no index…)."""
    from tlsmatrix.model.document import load_results

    legacy = load_results(ROOT / "tests" / "data" / "results-legacy.json")
    assert legacy.run.started and legacy.run.machine and legacy.cells and legacy.schema_version is None
    v1 = load_results(ROOT / "tests" / "data" / "results-v1.json")
    assert v1.schema_version == 1 and v1.cells[0].chain is not None
    import json

    assert v1.to_json() == json.loads((ROOT / "tests" / "data" / "results-v1.json").read_text())


def test_a_run_document_validates():
    doc = _document()
    assert doc["schema_version"] == SCHEMA_VERSION
    jsonschema.validate(doc, results_schema())


@pytest.mark.parametrize("mutate", [
    lambda d: d["results"][0].update(outcome="fine"),
    lambda d: d["results"][0].pop("attempts"),
    lambda d: d["results"][0]["chain"]["leaf"].update(key="P-999"),
    lambda d: d.update(surprise=1),
    lambda d: d["run"].update(backend="vm"),
])
def test_schema_rejects_drifted_documents(mutate):
    doc = _document()
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, results_schema())


def test_nightly_workflow_is_valid():
    path = ROOT / ".github" / "workflows" / "nightly.yml"
    workflow = yaml.safe_load(path.read_text())
    assert set(workflow["jobs"]) == {"shard", "soak", "docker", "versions", "limbo", "regress"}
    limbo = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["limbo"]["steps"])
    assert "x509-limbo/$LIMBO_COMMIT/limbo.json" in limbo and "--divergences results/baseline/limbo-divergences.toml" in limbo
    assert (ROOT / "results" / "baseline" / "limbo-divergences.toml").is_file()
    versions = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["versions"]["steps"])
    assert "make images" in versions and "regress --backend docker scenarios/versions.toml" in versions
    shard = workflow["jobs"]["shard"]["steps"]
    assert any("actions/cache" in str(s.get("uses", "")) for s in shard)  # cargo registry and probe builds
    assert "pytest -m soak" in " ".join(str(s.get("run", "")) for s in workflow["jobs"]["soak"]["steps"])
    assert workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["regress"]["steps"])
    for command in ("tlsmatrix merge", "tlsmatrix regress", "--format junit", "--format html", "tlsmatrix bundle"):
        assert command in steps
    checker = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
