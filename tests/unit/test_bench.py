"""`make bench` writes results/bench.json in the shape docs/performance.md documents."""
from __future__ import annotations

import json

from tlsmatrix import bench
from tlsmatrix.stacks.clients import CLIENTS


def fake_stacks(clients, batch_n, single_n, repeat, server):
    return [{"client": "openssl", "batch_hs_per_s": 300.0, "process_hs_per_s": 15.0, "version": "OpenSSL 3.0.22",
             "batch_runs": [290.0, 300.0, 310.0], "skipped": None},
            {"client": "java", "batch_hs_per_s": None, "process_hs_per_s": None, "version": None,
             "batch_runs": [], "skipped": "no JDK"}]


def fake_curves(runs, backends=("process",)):
    return [{"backend": b, "wall_s": 12.5, "cells": 2940, "cells_per_s": 235.2, "runs_s": [12.5] * runs,
             "exit_codes": [0] * runs} for b in backends]


def test_bench_json_has_the_documented_shape(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "stack_rates", fake_stacks)
    monkeypatch.setattr(bench, "curves_wall_time", fake_curves)
    monkeypatch.setattr(bench, "cold_setup", lambda: {"wall_s": 540.0, "exit_code": 0, "builds": [], "commit": "c0ffee"})
    out = tmp_path / "bench.json"
    assert bench.main(["--docker", "no", "--curves-runs", "2", "--cold-setup", "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert list(doc) == ["machine", "stacks", "curves", "cold_setup_s", "cold_setup"]
    assert doc["machine"]["cpus"] and doc["machine"]["load_avg_end"] is not None
    for entry in doc["stacks"]:
        assert {"client", "batch_hs_per_s", "process_hs_per_s", "version"} <= set(entry)
    assert doc["curves"] == fake_curves(2)
    assert doc["cold_setup_s"] == 540
    printed = capsys.readouterr().out
    assert "openssl" in printed and "skipped" in printed and "12.50s" in printed and "cold setup" in printed


def test_cold_setup_is_null_unless_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "stack_rates", fake_stacks)
    monkeypatch.setattr(bench, "curves_wall_time", fake_curves)
    out = tmp_path / "bench.json"
    bench.main(["--docker", "no", "--output", str(out)])
    assert json.loads(out.read_text())["cold_setup_s"] is None


def test_client_selection_takes_names_and_patterns():
    assert bench.selected_clients("openssl,go") == [n for n in CLIENTS if n in ("openssl", "go")]
    rustls = bench.selected_clients("rustls-*")
    assert rustls and all(n.startswith("rustls-") for n in rustls)
    assert not any(CLIENTS[n].needs_app for n in bench.selected_clients("*"))


def test_cpu_shares_name_each_process_and_the_rest_largest_first():
    data = {"run": {"cpu_s": 1.5}, "servers": {"go": {"cpu_s": 5.0}, "gnutls": {"available": False}},
            "clients": {"curl": {"cpu_s": 3.0}, "java": {"cpu_s": 2.0}}}
    assert bench.cpu_shares(data, total=12.0) == {
        "server go": 5.0, "client curl": 3.0, "client java": 2.0, "harness (the run)": 1.5,
        "harness (start, reports) and the rest": 0.5}
    assert bench.cpu_shares({"run": {}}, total=3.0) == {}  # a document without figures: nothing to say
