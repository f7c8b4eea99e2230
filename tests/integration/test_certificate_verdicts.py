"""scenarios/certificate-verdicts.toml through every host client stack (issue 19): each certificate
verdict comes out in its own class, decided by the stack's own code where it has one, and the
diagnosis names the defect behind every failing cell."""
from __future__ import annotations

import pytest

from tlsmatrix.certs.diagnose import KNOWLEDGE

from .conftest import run_scenario

pytestmark = pytest.mark.integration

#: classes a certificate verdict may take; never a negotiation class
VERDICTS = {"untrusted", "hostname_mismatch", "key_usage", "name_constraints", "basic_constraints",
            "critical_extension", "malformed_certificate"}


@pytest.fixture(scope="module")
def report(pki_cache):
    return run_scenario(pki_cache, "certificate-verdicts.toml")


def test_every_cell_matches_its_measured_expectation(report):
    bad = [(r.cell.id, r.outcome.value, r.error) for r in report.results if r.verdict != "match"]
    assert bad == []


def test_no_certificate_verdict_is_a_negotiation_class(report):
    failing = [r for r in report.results if r.outcome.value != "ok"]
    assert failing and all(r.outcome.value in VERDICTS for r in failing), \
        {(r.cell.client, r.outcome.value) for r in failing if r.outcome.value not in VERDICTS}


def test_coded_stacks_decide_by_their_code(report):
    """The library probes carry a code on every verdict; classification used it where it settles the class."""
    coded = {"openssl", "rustls-ring", "rustls-aws-lc-rs", "go", "java", "nss", "wolfssl", "libcurl", "curl"}
    verdicts = [r for r in report.results if r.cell.client in coded and r.outcome.value in
                ("key_usage", "name_constraints", "basic_constraints", "critical_extension")]
    assert len(verdicts) >= 60  # 9 stacks × 4 defects × 2 TLS versions, but for a few that say untrusted
    assert [(r.cell.id, r.error) for r in verdicts if not r.code] == []


def test_the_diagnosis_names_the_defect_of_every_failing_cell(report):
    for r in report.results:
        if r.outcome.value != "ok":
            assert r.finding is not None and r.finding.split("@")[0] in {k.split("@")[0] for k in KNOWLEDGE}, \
                (r.cell.id, r.outcome.value, r.finding)
