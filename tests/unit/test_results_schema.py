from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.model import CertSpec, Cell, ChainSpec, Expectation, KeySpec, Outcome, Result
from harness.runner import RunReport
from harness.schema import SCHEMA_VERSION, render_schema, results_schema

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code():
    committed = (ROOT / "docs" / "results.schema.json").read_text()
    assert committed == render_schema(), "run `tlsmatrix schema > docs/results.schema.json`"


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(results_schema())


def _document() -> dict:
    chain = ChainSpec(CertSpec(KeySpec("P-521")), CertSpec(KeySpec("P-256")), (CertSpec(KeySpec("P-384"), "SHA-512"),))
    cells = [Cell("s", chain, "go", "1.3", "rustls-ring", Expectation(frozenset({Outcome.OK}), "why"), index=0),
             Cell("s", chain, "go", None, "openssl", None, index=1)]
    results = [Result(cells[0], Outcome.UNSUPPORTED_ALGORITHM, error="invalid peer certificate: X", attempts=2,
                      negotiated=None, elapsed_ms=1.5),
               Result(cells[1], Outcome.OK, negotiated={"version": "TLSv1.3", "cipher": "x", "group": None,
                                                         "sigalg": None})]
    report = RunReport(results=results, clients={"openssl": {"available": True, "stack": "OpenSSL", "version": "3",
                                                             "provider": None, "details": {}}},
                       servers={"go": {"available": False, "reason": "not built"}}, started="2026-11-29T00:00:00+00:00",
                       duration_s=1.0, certificates_generated=0,
                       chains={chain.label: {"fingerprint": "f", "leaf_sha256": "a", "root_sha256": "b"}})
    doc = report.to_json()
    doc["scenarios"] = [{"name": "s", "title": "t", "notes": "", "path": None, "sha256": None}]
    return doc


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
    assert set(workflow["jobs"]) == {"shard", "soak", "docker", "regress"}
    assert "pytest -m soak" in " ".join(str(s.get("run", "")) for s in workflow["jobs"]["soak"]["steps"])
    assert workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["regress"]["steps"])
    for command in ("tlsmatrix merge", "tlsmatrix regress", "--format junit", "--format html", "tlsmatrix bundle"):
        assert command in steps
    checker = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
