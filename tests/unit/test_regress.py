from __future__ import annotations

import copy

from tlsmatrix.model.document import ResultsDocument
from tlsmatrix.report.merge import merge, select_shard
from tlsmatrix.report.regress import compare, make_baseline, render_changes


def record(i, client, outcome, error=None, scenario="s"):
    return {"id": f"{scenario}|P-521 → P-256|1.3|go|{client}", "index": i, "scenario": scenario, "client": client, "server": "go",
            "outcome": outcome, "error": error}


def doc(records):
    return {"schema_version": 1, "run": {"started": "2026", "backend": "process", "duration_s": 1.0,
                                         "certificates_generated": 0},
            "clients": {}, "servers": {}, "chains": {}, "scenarios": [{"name": "s", "path": "scenarios/s.toml"}],
            "results": records}


def test_identical_results_have_no_changes():
    d = doc([record(0, "openssl", "ok"), record(1, "rustls-ring", "unsupported_algorithm", "Unsupported")])
    changes, texts = compare(d, {"s": make_baseline(d, "s")})
    assert changes == [] and texts == []
    assert "No cell changed" in render_changes(changes, texts)


def test_changed_new_and_gone_cells_are_changes_with_raw_errors():
    before = doc([record(0, "openssl", "ok"), record(1, "rustls-ring", "bad_signature", "invalid peer certificate: BadSignature"),
                  record(2, "go", "ok")])
    base = {"s": make_baseline(before, "s")}
    after = doc([record(0, "openssl", "ok"),
                 record(1, "rustls-ring", "unsupported_algorithm", "invalid peer certificate: Unsupported…"),
                 record(3, "java", "ok")])
    changes, _ = compare(after, base)
    assert {(c.label.split(" | ")[-1], c.was, c.now) for c in changes} == {
        ("rustls-ring", "bad_signature", "unsupported_algorithm"), ("go", "ok", None), ("java", None, "ok")}
    table = render_changes(changes, [])
    assert "3 changed cell(s)" in table and "invalid peer certificate: BadSignature" in table and "(gone)" in table


def test_error_text_only_changes_do_not_fail():
    before = doc([record(0, "rustls-ring", "bad_signature", "invalid peer certificate: BadSignature")])
    after = doc([record(0, "rustls-ring", "bad_signature", "invalid peer certificate: BadSignatureContext")])
    changes, texts = compare(after, {"s": make_baseline(before, "s")})
    assert changes == [] and len(texts) == 1


def test_shards_partition_and_merge_restores_order():
    records = [record(i, f"c{i}", "ok") for i in range(10)]
    shards = [select_shard(records, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(r["index"] for s in shards for r in s) == list(range(10))
    merged = merge([ResultsDocument.from_json(doc(copy.deepcopy(s))) for s in reversed(shards)], ["c", "b", "a"])
    assert [r.index for r in merged.cells] == list(range(10))
    assert merged.run.merged_from == ["c", "b", "a"] and merged.run.shard is None
    assert merged.to_json()["run"]["merged_from"] == ["c", "b", "a"]


def test_merged_shards_add_up_their_cpu():
    """run.cpu_s and each stack's cpu_s of a merged document: what every shard used, together."""
    shards = []
    for k, (harness, go) in enumerate(((1.5, 2.0), (0.5, None))):
        d = doc([record(k, f"c{k}", "ok")])
        d["run"]["cpu_s"] = harness
        d["clients"] = {"openssl": {"available": True, "stack": "OpenSSL", "version": "3.0", "cpu_s": 1.25 * (k + 1)}}
        d["servers"] = {"go": {"available": True, "stack": "go", "version": "1.19", **({"cpu_s": go} if go else {})}}
        shards.append(ResultsDocument.from_json(d))
    merged = merge(shards, ["a", "b"])
    assert merged.run.cpu_s == 2.0
    assert merged.clients["openssl"].cpu_s == 3.75 and merged.servers["go"].cpu_s == 2.0


def test_committed_baselines_cover_exactly_their_scenarios_cells():
    """A scenario edited without re-blessing its baseline (tlsmatrix regress --update-baseline) fails here."""
    import json
    from pathlib import Path

    from tlsmatrix.stacks.clients import CLIENTS
    from tlsmatrix.running.scenarios import load_scenario
    from tlsmatrix.stacks.servers import SERVERS

    root = Path(__file__).resolve().parents[2]
    baselines = sorted((root / "results" / "baseline").glob("*.json"))
    assert {b.stem for b in baselines} >= {"rustls-p521", "kube-rs-1562", "client-certs"}
    for path in baselines:
        data = json.loads(path.read_text())
        scenario = load_scenario(root / data["scenario_path"], CLIENTS, SERVERS)
        assert scenario.name == data["scenario"] == path.stem
        assert set(data["cells"]) == {c.id for c in scenario.cells()}, path.name


def test_openssl_thread_prefixes_are_not_an_error_text_change():
    from tlsmatrix.report.regress import _stable

    a = "80DC4AA4A87F0000:error:0A00041B:SSL routines:ssl3_read_bytes:tlsv1 alert decrypt error"
    b = "80ACA148607F0000:error:0A00041B:SSL routines:ssl3_read_bytes:tlsv1 alert decrypt error"
    assert _stable(a) == _stable(b) and _stable(a) != _stable(b.replace("decrypt", "bad certificate"))


def test_a_stack_missing_here_is_not_a_regression_but_its_own_skip_is():
    from tlsmatrix.report.regress import missing_here, render_missing

    before = doc([record(0, "openssl", "ok"), record(1, "go@1.24", "ok"), record(2, "java@21", "ok"),
                  record(3, "curl", "ok")])
    base = {"s": make_baseline(before, "s")}
    engine = "needs Docker (no Docker engine at unix:///var/run/docker.sock): install/start Docker"
    after = doc([record(0, "openssl", "ok"), record(1, "go@1.24", "skipped", engine),
                 record(2, "java@21", "skipped", engine), record(3, "curl", "skipped", "no client certificate support")])
    after["clients"] = {"openssl": {"available": True}, "go@1.24": {"available": False, "reason": engine},
                        "java@21": {"available": False, "reason": engine}, "curl": {"available": True}}
    changes, _ = compare(after, base)
    real, missing = missing_here(ResultsDocument.coerce(after), changes)
    assert [c.label.split(" | ")[-1] for c in real] == ["curl"]  # it ran, and skipped for a reason of its own
    assert missing == {engine: ["go@1.24", "java@21"]}
    assert render_missing(missing, 2).splitlines()[1] == f"  go@1.24, java@21: {engine}"
