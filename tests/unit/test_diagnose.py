"""Chain diagnosis (harness/certs/diagnose.py) on chains generated with every defect, and its
knowledge of which stacks each finding breaks kept in step with the measured baseline."""
from __future__ import annotations

import datetime as dt
import fnmatch
import json
from pathlib import Path

import pytest
from cryptography import x509

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.defects import DEFECTS
from tlsmatrix.certs.diagnose import KNOWLEDGE, canonical_name, diagnose, diagnose_files, with_finding
from tlsmatrix.model.core import Cell, CertSpec, ChainSpec, KeySpec, Outcome, Result
from tlsmatrix.running.scenarios import load_scenario
from tlsmatrix.stacks.servers import SERVERS

ROOT = Path(__file__).resolve().parents[2]
P256 = CertSpec(KeySpec("P-256"))


def chain(defect=None, intermediates=0, root="P-256", leaf="P-256", expired=False) -> ChainSpec:
    return ChainSpec(root=CertSpec(KeySpec(root)), leaf=CertSpec(KeySpec(leaf)), intermediates=(P256,) * intermediates,
                     defect=defect, expired=expired)


def ids(pki_cache, spec, servername="localhost") -> list[str]:
    files = pki_cache.chain(spec)
    return [f.id for f in diagnose_files(files.ca_file, files.cert_file, servername)]


@pytest.mark.parametrize("intermediates", [0, 1, 2])
@pytest.mark.parametrize("key", ["P-256", "RSA-2048"])
def test_a_clean_chain_has_no_finding(pki_cache, intermediates, key):
    assert ids(pki_cache, chain(intermediates=intermediates, root=key, leaf=key)) == []


def _shapes(defect) -> list[int]:
    """Every defect at its smallest shape; defects about "the CA" also with the CA an intermediate."""
    return sorted({defect.min_intermediates, *((1,) if defect.id.startswith("ca-no") or defect.id == "ca-x509-v1" else ())})


@pytest.mark.parametrize("defect,intermediates", [(d, n) for d in DEFECTS.values() for n in _shapes(d)],
                         ids=lambda v: v.id if hasattr(v, "id") else str(v))
def test_each_defect_is_named_by_exactly_its_finding(pki_cache, defect, intermediates):
    assert ids(pki_cache, chain(defect.id, intermediates)) == [defect.finding_id]


def test_findings_name_the_certificates_and_the_stacks(pki_cache):
    files = pki_cache.chain(chain("issuer-name-string-type"))
    (finding,) = diagnose_files(files.ca_file, files.cert_file, "localhost")
    assert "PrintableString vs UTF8String" in finding.detail and "UnknownIssuer" in finding.detail
    assert [c.split()[0] for c in finding.certificates] == ["chain[0]", "CA"]
    assert finding.affects_client("rustls-ring") and finding.affects_client("kube-0.93-rustls")
    assert not finding.affects_client("openssl") and not finding.affects_client("kube-0.93-openssl")


def test_the_ca_finding_depends_on_where_the_ca_sits(pki_cache):
    as_anchor = diagnose_files(*_files(pki_cache, chain("ca-no-basic-constraints")), "localhost")[0]
    as_intermediate = diagnose_files(*_files(pki_cache, chain("ca-no-basic-constraints", 1)), "localhost")[0]
    assert "trust anchor" in as_anchor.detail and as_anchor.affects == ("go", "java")
    assert "an intermediate" in as_intermediate.detail and as_intermediate.affects == ("*",)


def _files(pki_cache, spec):
    files = pki_cache.chain(spec)
    return files.ca_file, files.cert_file


def test_other_findings(pki_cache):
    assert ids(pki_cache, chain(), servername="wrong.example") == ["hostname-mismatch"]
    assert ids(pki_cache, chain(), servername="127.0.0.1") == []
    assert ids(pki_cache, chain(expired=True)) == ["expired-certificate"]
    assert ids(pki_cache, chain(root="P-521")) == ["unsupported-key"]
    assert ids(pki_cache, chain(leaf="P-521")) == ["unsupported-key"]
    assert ids(pki_cache, chain(root="Ed25519", leaf="Ed25519")) == ["unsupported-key", "unsupported-key"]


def test_the_clock_decides_expiry(pki_cache):
    """The intermediate expired in 2021; in 2020 it was the leaf and root that were not valid yet."""
    ca, sent = _files(pki_cache, chain("expired-intermediate", 1))
    ca_certs = x509.load_pem_x509_certificates(ca.read_bytes())
    chain_certs = x509.load_pem_x509_certificates(sent.read_bytes())
    now = [f.certificates[0].split()[0] for f in diagnose(ca_certs, chain_certs, "localhost")]
    in_2020 = dt.datetime(2020, 6, 1, tzinfo=dt.timezone.utc)
    then = [f.certificates[0].split()[0] for f in diagnose(ca_certs, chain_certs, "localhost", now=in_2020)]
    assert now == ["chain[1]"] and then == ["chain[0]", "CA"]


def test_canonical_name_folds_what_openssl_folds():
    a = x509.Name.from_rfc4514_string("CN=Kubernetes  CA,O=Example")
    b = x509.Name.from_rfc4514_string("CN=kubernetes ca,O=EXAMPLE")
    c = x509.Name.from_rfc4514_string("CN=kubernetes-ca,O=Example")
    assert canonical_name(a) == canonical_name(b) != canonical_name(c)


def test_diagnose_needs_certificates():
    with pytest.raises(ValueError):
        diagnose([], [])


def test_a_failing_cell_names_the_finding_that_breaks_its_client(pki_cache):
    spec = chain("issuer-name-case")
    files = pki_cache.chain(spec)
    findings = diagnose_files(files.ca_file, files.cert_file, "localhost")

    def result(client, outcome):
        return Result(Cell("s", spec, "go", "1.3", client), outcome, error="x")

    assert with_finding(result("rustls-ring", Outcome.UNTRUSTED), findings).finding == "issuer-name-encoding"
    assert with_finding(result("openssl", Outcome.UNTRUSTED), findings).finding is None  # not a stack it breaks
    assert with_finding(result("rustls-ring", Outcome.OK), findings).finding is None
    assert with_finding(result("rustls-ring", Outcome.SKIPPED), findings).finding is None


@pytest.mark.parametrize("name", ["unknown-issuer", "certificate-verdicts"])
def test_knowledge_matches_the_measured_baseline(name):
    """Which stacks a finding breaks (KNOWLEDGE) is what the defect scenarios measured."""
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.toml", CLIENTS, SERVERS)
    baseline = json.loads((ROOT / "results" / "baseline" / f"{name}.json").read_text())["cells"]
    by_label = {c.label: c for c in scenario.chains}
    checked = 0
    for cell_id, cell in baseline.items():
        _, label, _, _, client = cell_id.split("|")
        spec = by_label[label]
        if spec.defect is None or cell["outcome"] in ("skipped", "crash"):
            continue
        finding = DEFECTS[spec.defect].finding_id
        position = ("anchor" if not spec.intermediates else "intermediate") if finding.startswith("ca-") and \
            finding not in ("ca-file-not-a-ca", "ca-file-intermediate", "ca-file-same-subject") else None
        affects, _ = KNOWLEDGE.get(f"{finding}@{position}") or KNOWLEDGE[finding]
        predicted = any(fnmatch.fnmatchcase(client, p) for p in affects)
        assert predicted == (cell["outcome"] != "ok"), (cell_id, cell, affects)
        checked += 1
    assert checked > 150
