"""The reported failure, end to end through the runner: scenarios/rustls-p521.toml."""
from __future__ import annotations

from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.core import Outcome
from tlsmatrix.running.runner import RunOptions, run_cells
from tlsmatrix.running.scenarios import load_scenario
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(pki_cache):
    scenario = load_scenario(ROOT / "scenarios" / "rustls-p521.toml", CLIENTS, SERVERS)
    for stack in [*(CLIENTS[c] for c in scenario.clients), *(SERVERS[s] for s in scenario.servers)]:
        require_stack(stack)
    report = run_cells(scenario.cells(), pki_cache, RunOptions(timeout_ms=5000))
    report.scenario = scenario
    return report


def cells(report, client, **where):
    out = []
    for r in report.results:
        c = r.cell
        if c.client != client:
            continue
        if "root" in where and c.chain.root.key.name != where["root"]:
            continue
        if "leaf" in where and c.chain.leaf.key.name != where["leaf"]:
            continue
        if "tls" in where and c.tls != where["tls"]:
            continue
        if "intermediate" in where and bool(c.chain.intermediates) != where["intermediate"]:
            continue
        out.append(r)
    assert out
    return out


def test_every_cell_matches_the_scenario(report):
    assert len(report.results) == 5 * 2 * 2 * len(report.scenario.clients)
    bad = [(r.cell.id, r.outcome, r.error) for r in report.results if r.verdict != "match"]
    assert bad == []


def test_rustls_ring_fails_wherever_p521_signs(report):
    for r in cells(report, "rustls-ring", root="P-521"):
        assert r.outcome in (Outcome.UNSUPPORTED_ALGORITHM, Outcome.BAD_SIGNATURE, Outcome.HANDSHAKE_FAILURE), r
    for r in cells(report, "rustls-ring", root="P-521", leaf="P-256"):
        assert "UnsupportedSignatureAlgorithm" in r.error or "BadSignature" in r.error
    # the intermediate variant: P-521 only at the top still breaks ring
    for r in cells(report, "rustls-ring", intermediate=True):
        assert r.outcome is Outcome.UNSUPPORTED_ALGORITHM


def test_rustls_ring_fails_with_a_p521_leaf(report):
    for r in cells(report, "rustls-ring", leaf="P-521"):
        assert r.outcome is not Outcome.OK
    for r in cells(report, "rustls-ring", root="P-256", leaf="P-521", tls="1.3"):
        assert r.outcome is Outcome.HANDSHAKE_FAILURE and "HandshakeFailure" in r.error


def test_rustls_aws_lc_rs_succeeds_except_p521_leaf_on_tls12_with_openssl(report):
    for r in cells(report, "rustls-aws-lc-rs"):
        exception = r.cell.chain.leaf.key.name == "P-521" and r.cell.tls == "1.2" and r.cell.server == "openssl"
        assert (r.outcome is Outcome.HANDSHAKE_FAILURE) if exception else (r.outcome is Outcome.OK), (r.cell.id, r.error)
    for r in cells(report, "rustls-aws-lc-rs", leaf="P-521", tls="1.3"):
        assert r.negotiated["sigalg"] == "ecdsa_secp521r1_sha512"


@pytest.mark.parametrize("client", ["openssl", "go"])
def test_openssl_and_go_succeed_everywhere(report, client):
    for r in cells(report, client):
        assert r.outcome is Outcome.OK, (r.cell.id, r.error)


def test_results_carry_exact_versions(report):
    assert report.clients["rustls-ring"].info.provider == "ring"
    assert report.clients["rustls-aws-lc-rs"].info.provider == "aws-lc-rs"
    assert report.clients["rustls-ring"].info.version == report.clients["rustls-aws-lc-rs"].info.version
    for r in report.results:
        assert r.client_version and r.server_version


def test_the_rustls_version_axis_shows_how_the_error_changed(report):
    """A P-521 CA: BadSignature in rustls 0.21.12 and 0.23.12, UnsupportedSignatureAlgorithm… today."""
    by_client = {}
    for client in ("rustls-ring@0.21.12", "rustls-ring@0.23.12", "rustls-ring"):
        errors = {r.error for r in cells(report, client, root="P-521", leaf="P-256")}
        assert len(errors) == 1, errors
        by_client[client] = errors.pop()
    assert by_client["rustls-ring@0.21.12"] == "invalid peer certificate: BadSignature"
    assert by_client["rustls-ring@0.23.12"] == "invalid peer certificate: BadSignature"
    assert by_client["rustls-ring"].startswith("invalid peer certificate: UnsupportedSignatureAlgorithmContext")
    assert {r.client_version for r in cells(report, "rustls-ring@0.23.12")} == {"rustls 0.23.12 (ring)"}


@pytest.fixture(scope="module")
def rustls_021(pki_cache):
    """Only the two rustls 0.21 columns of rustls-p521.toml, run for real (no other stack needed)."""
    clients = ("rustls-ring@0.21.0", "rustls-ring@0.21.12")
    for stack in [*(CLIENTS[c] for c in clients), SERVERS["openssl"], SERVERS["go"]]:
        require_stack(stack)
    scenario = load_scenario(ROOT / "scenarios" / "rustls-p521.toml", CLIENTS, SERVERS)
    report = run_cells(scenario.cells(clients=clients, servers=("openssl", "go")), pki_cache,
                       RunOptions(timeout_ms=5000))
    report.scenario = scenario
    return report


def test_rustls_0_21_0_says_unknown_issuer_where_0_21_12_says_bad_signature(rustls_021):
    """webpki 0.100.x (rustls 0.21.0) reports a P-521 signer as UnknownIssuer; 0.101 (rustls 0.21.12) as BadSignature."""
    assert rustls_021.clients["rustls-ring@0.21.0"].info.version == "0.21.0"
    assert rustls_021.clients["rustls-ring@0.21.0"].info.details["rustls-webpki"].startswith("0.100.")
    assert rustls_021.clients["rustls-ring@0.21.12"].info.details["rustls-webpki"].startswith("0.101.")
    old = {r.cell.row_key: r for r in rustls_021.results if r.cell.client == "rustls-ring@0.21.0"}
    new = {r.cell.row_key: r for r in rustls_021.results if r.cell.client == "rustls-ring@0.21.12"}
    assert old.keys() == new.keys()
    p521_signed = cells(rustls_021, "rustls-ring@0.21.0", root="P-521", leaf="P-256")
    assert len(p521_signed) == 8  # P-521 → P-256 and P-521 → P-256 → P-256, 2 servers × 2 TLS versions
    for r in p521_signed:
        twin = new[r.cell.row_key]
        assert "UnknownIssuer" in r.error and r.outcome is Outcome.UNTRUSTED, (r.cell.id, r.error)
        assert r.error_detail == "InvalidCertificate(UnknownIssuer)", r.error_detail
        assert "BadSignature" in twin.error and twin.outcome is Outcome.BAD_SIGNATURE, (twin.cell.id, twin.error)
    # the same probe verifies a P-256 chain, so UnknownIssuer above is about P-521, not a broken trust setup
    for r in cells(rustls_021, "rustls-ring@0.21.0", root="P-256", leaf="P-256"):
        assert r.outcome is Outcome.OK, (r.cell.id, r.error)
    assert not [r.cell.id for r in rustls_021.results
                if r.error and "UnknownIssuer" in r.error and r.cell.chain.root.key.name != "P-521"]
    assert [r.cell.id for r in rustls_021.results if r.verdict != "match"] == []
