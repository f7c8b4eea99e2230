"""`tlsmatrix limbo` on a small corpus in x509-limbo's format (tests/limbo_corpus.py): every testcase
a handshake can express is served as given and judged by real client stacks, each cell naming its
testcase and limbo's verdict; agreement is measured, known divergences turn into expectations, and
the run's results regress clean against themselves."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from tlsmatrix import api, cli
from tlsmatrix.model.document import load_results
from tlsmatrix.report.limbo import agreement
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack
from ..limbo_corpus import write_corpus

pytestmark = pytest.mark.integration
CLIENTS_UNDER_TEST = ["openssl", "rustls-ring", "go"]


@pytest.fixture(autouse=True)
def _stacks():
    require_stack(SERVERS["go"])
    for name in CLIENTS_UNDER_TEST:
        require_stack(CLIENTS[name])


def test_every_expressible_testcase_is_judged_and_agreement_is_counted(pki_cache, tmp_path):
    corpus = write_corpus(pki_cache, tmp_path / "limbo.json")
    doc, left_out = api.limbo(corpus, clients=CLIENTS_UNDER_TEST, tls="1.3", output=tmp_path / "out")
    assert [case for case, _ in left_out] == ["tlsmatrix::client-side", "tlsmatrix::crl", "tlsmatrix::email"]
    by = {(c.chain_label, c.client): c for c in doc.cells}
    assert len(doc.cells) == 8 * 3
    assert by[("tlsmatrix::good", "go")].outcome == "ok" and by[("tlsmatrix::good-without-key", "go")].outcome == \
        "chain_ok"
    assert by[("tlsmatrix::ip-name", "openssl")].outcome == "ok"
    assert {by[("tlsmatrix::nc::violation", c)].outcome for c in CLIENTS_UNDER_TEST} == {"name_constraints"}
    assert {by[("tlsmatrix::eku::client-auth-only", c)].outcome for c in CLIENTS_UNDER_TEST} == {"key_usage"}
    assert by[("tlsmatrix::ca-as-leaf", "rustls-ring")].outcome == "basic_constraints"  # webpki: CaUsedAsEndEntity
    columns, divergent = agreement(doc)
    counts = {c.client: (c.agree, c.disagree) for c in columns}
    assert counts == {"openssl": (8, 0), "rustls-ring": (7, 1), "go": (8, 0)}
    assert [d.case for d in divergent] == ["tlsmatrix::ca-as-leaf"]
    assert by[("tlsmatrix::ca-as-leaf", "rustls-ring")].verdict == "mismatch"  # a new divergence fails the run
    report = (tmp_path / "out" / "limbo.md").read_text()
    assert "| rustls-ring |" in report and "`tlsmatrix::ca-as-leaf` (limbo: SUCCESS)" in report
    assert "`tlsmatrix::crl`: CRLs" in report


def test_a_known_divergence_passes_and_the_command_line_says_so(pki_cache, tmp_path, capsys):
    corpus = write_corpus(pki_cache, tmp_path / "limbo.json")
    (tmp_path / "known.toml").write_text('[[divergence]]\nid = "tlsmatrix::ca-as-leaf"\nclients = ["rustls-*"]\n'
                                         'instead = "rejects"\nwhy = "webpki: CaUsedAsEndEntity"\n')
    argv = ["limbo", str(corpus), "--clients", ",".join(CLIENTS_UNDER_TEST), "--tls", "1.3",
            "--ids", "tlsmatrix::ca-as-leaf,tlsmatrix::good*", "--output", str(tmp_path / "out")]
    assert cli.main(argv) == 1  # rustls' divergence is new
    assert cli.main([*argv, "--divergences", str(tmp_path / "known.toml")]) == 0
    out = capsys.readouterr().out
    assert "rustls-ring" in out and "2/3" in out and "known" in out
    doc = load_results(tmp_path / "out" / "results.json")
    assert {c.verdict for c in doc.cells} == {"match"}
    columns = {c.client: c for c in agreement(doc)[0]}
    assert (columns["rustls-ring"].known, columns["openssl"].known, columns["rustls-ring"].stale) == (1, 0, 0)
    assert cli.main(["regress", "--results", str(tmp_path / "out"), "--baseline", str(tmp_path / "base"),
                     "--update-baseline"]) == 0
    assert cli.main(["regress", "--results", str(tmp_path / "out"), "--baseline", str(tmp_path / "base")]) == 0


def test_bad_input_is_exit_2_naming_the_file(tmp_path, capsys):
    (tmp_path / "limbo.json").write_text(json.dumps({"version": 1, "testcases": [{"id": "x"}]}))
    assert cli.main(["limbo", str(tmp_path / "limbo.json")]) == 2
    assert "limbo.json: testcases[0].validation_kind: missing" in capsys.readouterr().err


def test_the_limbo_cells_are_what_probe_measures_case_by_case(pki_cache, tmp_path):
    """Agreement is counted from the same outcomes `tlsmatrix probe` gets from each testcase served alone."""
    from tlsmatrix.certs.given import write_given
    from tlsmatrix.running.endpoints.base import ListenerSpec
    from tlsmatrix.running.endpoints.process import ProcessEndpoint
    from tlsmatrix.running.limbo import not_expressed, read_corpus, servername, write_case

    corpus = write_corpus(pki_cache, tmp_path / "limbo.json")
    doc, _ = api.limbo(corpus, clients=CLIENTS_UNDER_TEST, tls="1.3")
    in_limbo = {(c.chain_label, c.client): c.outcome for c in doc.cells}
    cases = [c for c in read_corpus(corpus)[0] if not_expressed(c, dt.datetime.now(dt.timezone.utc)) is None
             and c.raw["peer_certificate_key"]]  # with the corpus's key: probe's outcome is the handshake's
    assert len(cases) == 7  # every keyed testcase of the small corpus is compared
    specs = {}
    for n, case in enumerate(cases):
        (tmp_path / f"served{n}").mkdir()
        specs[case.id] = write_given(write_case(case, tmp_path / "cases", "limbo.json"), tmp_path / f"served{n}")[0]
    listeners = [ListenerSpec(case.id, specs[case.id], "1.3", replay=True) for case in cases]
    with ProcessEndpoint(SERVERS["go"], listeners) as endpoint:
        for case in cases:
            probed = api.probe("127.0.0.1", endpoint.listeners[case.id].port, specs[case.id].ca_file,
                               clients=CLIENTS_UNDER_TEST, servername=servername(case), tls="1.3")
            assert {r["client"]: r["outcome"] for r in probed["results"]} == \
                {c: in_limbo[(case.id, c)] for c in CLIENTS_UNDER_TEST}, case.id


def test_a_runs_divergences_written_as_a_file_make_the_next_run_pass(pki_cache, tmp_path):
    corpus = write_corpus(pki_cache, tmp_path / "limbo.json")
    base = ["limbo", str(corpus), "--clients", ",".join(CLIENTS_UNDER_TEST), "--tls", "1.3", "-q",
            "--output", str(tmp_path / "out")]
    assert cli.main([*base, "--write-divergences", str(tmp_path / "measured.toml")]) == 1
    text = (tmp_path / "measured.toml").read_text()
    assert 'id = "tlsmatrix::ca-as-leaf"' in text and 'clients = ["rustls-ring"]' in text and "CaUsedAsEndEntity" in text
    assert cli.main([*base, "--divergences", str(tmp_path / "measured.toml")]) == 0
