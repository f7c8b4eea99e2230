"""Issue 14, item 5: nothing local in what users attach."""
from __future__ import annotations

import json
from pathlib import Path

from tlsmatrix.model.redact import Redactor
from tlsmatrix.running.runner import _cache_relative, build_document


def test_directories_become_placeholders_longest_first(tmp_path):
    run, pki = tmp_path / "results" / "latest", tmp_path / "results" / "cache" / "pki"
    r = Redactor([(run, "<run>"), (pki, "<pki>"), (tmp_path, "<tmp>"), ("/home/alice", "~")])
    text = (f"certutil -A exit status 255: NSS refused CA certificate #0 of {pki}/chains/f560-bd12/ca.pem; "
            f"kubeconfig {run}/kubeconfig/k.yaml; argv: gnutls-cli --x509cafile {tmp_path}/x/ca.pem; "
            "/home/alice/.cargo/bin/cargo")
    assert r.text(text) == ("certutil -A exit status 255: NSS refused CA certificate #0 of <pki>/chains/f560-bd12/"
                            "ca.pem; kubeconfig <run>/kubeconfig/k.yaml; argv: gnutls-cli --x509cafile <tmp>/x/ca.pem; "
                            "~/.cargo/bin/cargo")


def test_only_whole_path_components_are_replaced():
    r = Redactor([("/tmp", "<tmp>")])
    assert r.text("/tmpfs /tmp /tmp/x '/tmp' /tmp.d /var/tmp") == "/tmpfs <tmp> <tmp>/x '<tmp>' /tmp.d /var/tmp"


def test_the_root_directory_is_never_replaced_and_relative_ones_mean_the_working_directory():
    r = Redactor([("/", "<root>"), (None, "<none>"), ("", "<empty>")])
    assert r.table == {} and r.text("/etc") == "/etc"
    assert Redactor([("out", "<run>")]).text(f"{Path.cwd()}/out/x out/x") == "<run>/x out/x"


def test_every_string_of_a_document_is_redacted(tmp_path):
    doc = {"results": [{"error": f"cannot read {tmp_path}/ca.pem", "attempts": 1, "x": [f"{tmp_path}"]}],
           "ok": None}
    assert Redactor([(tmp_path, "<pki>")]).document(doc) == {
        "results": [{"error": "cannot read <pki>/ca.pem", "attempts": 1, "x": ["<pki>"]}], "ok": None}


def test_the_run_document_names_no_host_and_no_absolute_chain_directory(tmp_path):
    cache = tmp_path / "pki"
    assert _cache_relative(cache / "chains" / "abc-123", cache) == "chains/abc-123"
    doc = build_document([], clients={}, servers={}, chains={}, scenarios=[], started="2025-01-01T00:00:00+00:00",
                         duration_s=1.0, certificates_generated=0)
    machine = doc.to_json()["run"]["machine"]
    assert "hostname" not in machine and set(machine) == {"platform", "python", "cpus"}


def test_for_run_covers_the_build_dir_home_and_the_run(tmp_path):
    from tlsmatrix.model.paths import project_root

    r = Redactor.for_run(tmp_path / "out", tmp_path / "pki")
    line = json.dumps([f"{project_root()}/build/go/x", f"{Path.home()}/.x", f"{tmp_path}/out/k", f"{tmp_path}/pki/c"])
    assert r.text(line) == json.dumps(["<build>/go/x", "~/.x", "<run>/k", "<pki>/c"])


def test_a_results_document_is_redacted_in_place_of_its_json_and_copies_only_what_changes(tmp_path):
    """redacted() walks the typed document: the cell that names a local file is a new record, the others
    are the same objects, and the text written (dumps) is that of the redacted document."""
    import dataclasses

    from tlsmatrix.model.document import ResultsDocument
    from tlsmatrix.model.paths import project_root

    doc = ResultsDocument.from_json(json.loads((project_root() / "tests" / "data" / "results-v1.json").read_text()))
    leaky = dataclasses.replace(doc.cells[0], error=f"cannot read {tmp_path}/pki/ca.pem",
                                extra={f"{tmp_path}/key": [f"{tmp_path}/x"]})
    doc = doc.with_cells([leaky, *doc.cells[1:]])
    before = doc.dumps()  # computed once per document: the redacted one must not inherit it
    red = doc.redacted(Redactor([(tmp_path, "<tmp>")]))
    assert red.cells[0].error == "cannot read <tmp>/pki/ca.pem" and red.cells[0].extra == {"<tmp>/key": ["<tmp>/x"]}
    assert all(a is b for a, b in zip(red.cells[1:], doc.cells[1:])) and red.chains is doc.chains
    assert str(tmp_path) in before and str(tmp_path) not in red.dumps()
    assert red.to_json() == Redactor([(tmp_path, "<tmp>")]).document(doc.to_json())  # as through JSON
    assert doc.redacted(Redactor([("/nowhere/at/all", "<x>")])) is doc
