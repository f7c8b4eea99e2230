"""Reading a limbo corpus (untrusted input), deciding what a handshake can express, and expected
divergences (tlsmatrix limbo; the handshakes: tests/integration/test_limbo.py)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tlsmatrix.model.core import ACCEPTED, CertSpec, ChainSpec, KeySpec
from tlsmatrix.model.errors import InputError
from tlsmatrix.running.limbo import (REJECTED, _case, expectations, load_divergences, not_expressed, read_corpus,
                                     select, servername, write_case)

from ..limbo_corpus import limbo_testcase, small_corpus

NOW = dt.datetime.now(dt.timezone.utc)
P256 = CertSpec(KeySpec("P-256"))


@pytest.fixture
def corpus(pki_cache, tmp_path):
    path = tmp_path / "limbo.json"
    path.write_text(json.dumps(small_corpus(pki_cache)))
    return path


def test_the_corpus_is_read_and_what_a_handshake_cannot_ask_is_said(corpus):
    cases, version = read_corpus(corpus)
    assert "11 testcases" in version
    reasons = {c.id: not_expressed(c, NOW) for c in cases}
    assert reasons["tlsmatrix::client-side"].startswith("client-side validation")
    assert reasons["tlsmatrix::crl"].startswith("CRLs")
    assert reasons["tlsmatrix::email"].startswith("an email peer name")
    assert [i for i, why in reasons.items() if why is None] == [c.id for c in cases[:8]]


@pytest.mark.parametrize("change, needle", [
    (lambda d: d.update(testcases="x"), r'expected \{"version": 1, "testcases"'),
    (lambda d: d["testcases"][0].pop("peer_certificate"), r"testcases\[0\]\.peer_certificate: missing"),
    (lambda d: d["testcases"][1].update(expected_result="MAYBE"), r"testcases\[1\]\.expected_result: 'MAYBE'"),
    (lambda d: d["testcases"].append(d["testcases"][0]), r"'tlsmatrix::good' appears twice"),
    (lambda d: d["testcases"].append(7), r"testcases\[11\]: must be an object"),
])
def test_a_bad_corpus_is_an_input_error_naming_the_testcase(pki_cache, tmp_path, change, needle):
    data = small_corpus(pki_cache)
    change(data)
    path = tmp_path / "limbo.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=needle):
        read_corpus(path)


def test_not_json_and_a_missing_file_name_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="bad.json: not JSON"):
        read_corpus(tmp_path / "bad.json")
    with pytest.raises(InputError, match="cannot read limbo corpus"):
        read_corpus(tmp_path / "none.json")


def test_a_fixed_validation_time_is_kept_only_when_today_agrees(pki_cache):
    good = pki_cache.chain(ChainSpec(P256, P256))
    then_valid = limbo_testcase(good, "t", "SUCCESS") | {"validation_time": "2030-01-01T00:00:00Z"}
    before_issue = then_valid | {"validation_time": "2001-01-01T00:00:00Z"}
    assert not_expressed(_case(Path("limbo.json"), 0, then_valid), NOW) is None
    assert "today's clock contradicts" in not_expressed(_case(Path("limbo.json"), 0, before_issue), NOW)


def test_servername_and_files_of_a_testcase(corpus, tmp_path):
    cases = {c.id: c for c in read_corpus(corpus)[0]}
    assert servername(cases["tlsmatrix::ip-name"]) == "127.0.0.1"
    no_name = cases["tlsmatrix::good"].raw | {"expected_peer_name": None}
    assert servername(type(cases["tlsmatrix::good"])("x", "SUCCESS", (), "", no_name)) == "localhost"
    spec = write_case(cases["tlsmatrix::good"], tmp_path / "work", "limbo.json")
    assert spec.label == "tlsmatrix::good" and spec.given.chain_file == "limbo.json#tlsmatrix::good"
    assert spec.given.key_file and len(spec.intermediates) == 1
    keyless = write_case(cases["tlsmatrix::good-without-key"], tmp_path / "work", "limbo.json")
    assert keyless.given.key_file is None
    assert [c.id for c in select(list(cases.values()), ["*::nc::*", "tlsmatrix::eku*"])] == \
        ["tlsmatrix::nc::violation", "tlsmatrix::eku::client-auth-only"]


def test_divergences_and_an_imported_exception_list_turn_an_expectation_around(corpus, tmp_path):
    (tmp_path / "exceptions.json").write_text(json.dumps({
        "tlsmatrix::ca-as-leaf": {"expected": "SUCCESS", "actual": "FAILURE", "reason": "CaUsedAsEndEntity"}}))
    (tmp_path / "known.toml").write_text(
        '[[divergence]]\nid = "tlsmatrix::nc::*"\nclients = ["gnutls*"]\ninstead = "accepts"\nwhy = "measured"\n'
        '[[import]]\nfile = "exceptions.json"\nclients = ["rustls-*"]\n')
    expect = expectations(load_divergences(tmp_path / "known.toml"))
    cases = {c.id: c for c in read_corpus(corpus)[0]}
    assert expect(cases["tlsmatrix::ca-as-leaf"], "openssl").outcomes == ACCEPTED
    # a listed divergence: limbo's verdict or the other one (a nightly fails on new divergences only)
    turned = expect(cases["tlsmatrix::ca-as-leaf"], "rustls-ring")
    assert turned.outcomes == ACCEPTED | REJECTED
    assert "CaUsedAsEndEntity" in turned.why and "x509-limbo: SUCCESS" in turned.why
    assert expect(cases["tlsmatrix::nc::violation"], "gnutls-cli").outcomes == ACCEPTED | REJECTED
    assert expect(cases["tlsmatrix::nc::violation"], "go").outcomes == REJECTED


@pytest.mark.parametrize("text, needle", [
    ('[[divergence]]\nclients = ["x"]\nwhy = "w"\n', r"divergence\[0\]\.id: missing"),
    ('[[divergence]]\nid = "a"\nwhy = "w"\n', r"divergence\[0\]\.clients: give client stacks"),
    ('[[divergence]]\nid = "a"\nclients = "x"\nwhy = "w"\ninstead = "maybe"\n', r"instead: 'maybe'"),
    ('[[divergence]]\nid = "a"\nclients = "x"\nwhy = "w"\nwhen = 1\n', r"divergence\[0\]\.when: unknown key"),
    ('[[import]]\nfile = "none.json"\nclients = "x"\n', r"cannot read divergence file .*import\[0\]\.file .*none.json"),
    ('[divergences]\n', r"unknown table 'divergences'"),
    ('[[divergence]', r"invalid TOML"),
])
def test_a_bad_divergence_file_names_the_entry(tmp_path, text, needle):
    (tmp_path / "known.toml").write_text(text)
    with pytest.raises(InputError, match=needle):
        load_divergences(tmp_path / "known.toml")
