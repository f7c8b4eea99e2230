"""tlsmatrix.report.explain: the differential summary, on constructed results and on a real run."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tlsmatrix.report.explain import Finding, explain, render_explain

ROOT = Path(__file__).resolve().parents[2]

KEYS = ("RSA-2048", "P-256", "P-384", "P-521", "Ed25519")
GOOD_CLIENTS = ("good-a", "good-b", "good-c", "good-d")


def chains() -> list[dict]:
    out = []
    for root in KEYS:
        for leaf in KEYS:
            out.append({"label": f"{root} → {leaf}", "root": {"key": root, "hash": None}, "intermediates": [],
                        "leaf": {"key": leaf}, "expired": False})
    # P-521 signing as an intermediate under a P-256 root: "signer" and "root" differ here
    out.append({"label": "P-256 → P-521 → P-256", "root": {"key": "P-256", "hash": "SHA-256"},
                "intermediates": [{"key": "P-521", "hash": "SHA-512"}], "leaf": {"key": "P-256"}, "expired": False})
    out.append({"label": "P-521 → P-256 → P-256", "root": {"key": "P-521", "hash": "SHA-512"},
                "intermediates": [{"key": "P-256", "hash": "SHA-256"}], "leaf": {"key": "P-256"}, "expired": False})
    return out


def signers(chain: dict) -> set[str]:
    return {chain["root"]["key"], *(i["key"] for i in chain["intermediates"])}


def document(fails: dict, servers=("openssl", "go"), extra=None) -> dict:
    """A results document: GOOD_CLIENTS always ok; fails[client](chain, tls, server) -> outcome or None."""
    records = []
    for chain in chains():
        for server in servers:
            for tls in ("1.2", "1.3"):
                for client in (*GOOD_CLIENTS, *fails):
                    outcome = fails[client](chain, tls, server) if client in fails else None
                    outcome = outcome or "ok"
                    short = {"ok": None, "handshake_failure": "alert HandshakeFailure",
                             "unsupported_algorithm": "UnsupportedSignatureAlgorithm"}.get(outcome, outcome)
                    records.append({
                        "id": f"demo|{chain['label']}|{tls}|{server}|{client}", "scenario": "demo", "chain": chain,
                        "server": server, "tls": tls, "client": client, "servername": "localhost",
                        "outcome": outcome, "error": short and f"error: {short}", "short_error": short,
                        "verdict": "match", "expected": None, "some_future_key": {"x": 1},
                    })
    if extra:
        records += extra
    return {"tool": {"name": "tlsmatrix", "version": "test"}, "started": "2026-01-01T00:00:00+00:00",
            "clients": {}, "servers": {}, "chains": {}, "results": records, "scenarios": [], "unknown": True}


def finding(findings: list[Finding], stack: str, kind: str = "client") -> Finding | None:
    found = [f for f in findings if f.kind == kind and f.stack == stack]
    assert len(found) <= 1
    return found[0] if found else None


def ring_like(chain, tls, server):
    if "P-521" in signers(chain):
        return "unsupported_algorithm"
    if chain["leaf"]["key"] == "P-521":
        return "handshake_failure"
    return None


def aws_like(chain, tls, server):
    return "handshake_failure" if chain["leaf"]["key"] == "P-521" and tls == "1.2" and server == "openssl" else None


def test_signer_or_leaf_gives_exactly_those_two_terms():
    findings = explain(document({"fake-ring": ring_like}))
    f = finding(findings, "fake-ring")
    assert f is not None and f.exact, render_explain(findings)
    assert sorted(t.conditions for t in f.terms) == [("leaf=P-521",), ("signer=P-521",)]
    signer = next(t for t in f.terms if t.conditions == ("signer=P-521",))
    leaf = next(t for t in f.terms if t.conditions == ("leaf=P-521",))
    assert signer.outcomes == {"unsupported_algorithm": ["UnsupportedSignatureAlgorithm"]}
    assert leaf.outcomes == {"handshake_failure": ["alert HandshakeFailure"]}
    # P-521 → P-521: both hold; the signer wins there in this fake
    assert f.overlap == {"unsupported_algorithm": ["UnsupportedSignatureAlgorithm"]}
    text = f.text
    assert text.startswith("fake-ring fails iff ")
    assert "a P-521 key signs in the chain (unsupported_algorithm: UnsupportedSignatureAlgorithm)" in text
    assert "the leaf key is P-521 (handshake_failure: alert HandshakeFailure)" in text
    # the always-ok clients have no finding
    for good in GOOD_CLIENTS:
        assert finding(findings, good) is None


def test_three_condition_conjunction():
    findings = explain(document({"fake-aws": aws_like}))
    f = finding(findings, "fake-aws")
    assert f is not None and f.exact
    assert [t.conditions for t in f.terms] == [("leaf=P-521", "tls=1.2", "server=openssl")]
    assert f.terms[0].cells == len(KEYS)  # every root × P-521 leaf, TLS 1.2, openssl
    assert f.text.startswith("fake-aws fails iff the leaf key is P-521 and TLS is 1.2 and the server is openssl "
                             "(handshake_failure: alert HandshakeFailure).")


def test_several_fake_clients_at_once_and_json():
    findings = explain(document({"fake-ring": ring_like, "fake-aws": aws_like}))
    assert {f.stack for f in findings} == {"fake-ring", "fake-aws"}
    json.dumps([f.to_dict() for f in findings])  # serializable for --format json


def test_random_subset_reports_misses():
    rng = random.Random(1234)
    chosen = {c["label"] + t + s for c in chains() for t in ("1.2", "1.3") for s in ("openssl", "go")
              if rng.random() < 0.35}

    def noisy(chain, tls, server):
        return "timeout" if chain["label"] + tls + server in chosen else None

    findings = explain(document({"flaky": noisy}))
    f = finding(findings, "flaky")
    assert f is not None
    assert f.failing == len(chosen)
    assert not f.exact and f.missed
    assert len(f.missed) + sum(t.cells for t in f.terms) >= f.failing
    assert f"misses {len(f.missed)} of {f.failing} failing cells" in f.text
    assert "fails iff" not in f.text


def test_skipped_and_probe_error_are_ignored_and_reported():
    extra = [{"id": "demo|x|1.3|openssl|wolfssl", "scenario": "demo", "chain": chains()[0], "server": "openssl",
              "tls": "1.3", "client": "wolfssl", "outcome": "skipped", "error": "not built"},
             {"id": "demo|y|1.3|openssl|good-a", "scenario": "demo", "chain": chains()[1], "server": "openssl",
              "tls": "1.3", "client": "good-a", "outcome": "probe_error", "error": "probe: broke"}]
    findings = explain(document({"fake-ring": ring_like}, extra=extra))
    notes = [f for f in findings if f.kind == "note"]
    assert len(notes) == 1 and "1 skipped" in notes[0].text and "1 probe_error" in notes[0].text
    assert finding(findings, "wolfssl") is None
    assert finding(findings, "good-a") is None
    assert render_explain(findings).splitlines()[0].startswith("Note: ignored")


def test_server_error_finding_for_the_server_that_cannot_load_a_key():
    def fails(chain, tls, server):
        return "server_error" if server == "rustls-ring" and chain["leaf"]["key"] == "P-521" else None

    doc = document({}, servers=("openssl", "go", "rustls-ring"))
    for r in doc["results"]:
        if fails(r["chain"], r["tls"], r["server"]):
            r["outcome"] = "server_error"
            r["error"] = r["short_error"] = "server rustls-ring: failed to parse private key"
    findings = explain(doc)
    assert not [f for f in findings if f.kind == "client"], "a server's failure is not the clients'"
    f = finding(findings, "rustls-ring", kind="server")
    assert f is not None and f.exact
    assert [t.conditions for t in f.terms] == [("leaf=P-521",)]
    assert f.terms[0].outcomes == {"server_error": ["failed to parse private key"]}
    assert f.text.startswith("the rustls-ring server fails iff the leaf key is P-521")
    assert finding(findings, "openssl", kind="server") is None


def test_a_stack_that_never_succeeds_fails_on_every_cell():
    """A program that always crashes (kube-0.93-two-providers): no condition separates anything."""
    f = finding(explain(document({"crasher": lambda chain, tls, server: "crash"})), "crasher")
    assert f is not None and f.exact and f.succeeding == 0
    assert [t.conditions for t in f.terms] == [()] and f.terms[0].cells == f.failing
    assert f.text.startswith("crasher fails on every cell (crash)")


def test_nothing_differs():
    findings = explain(document({}))
    assert findings == []
    assert render_explain(findings) == "No client or server stack fails where the others succeed."
    assert explain({"results": []}) == []
    assert explain({}) == []


def test_fast_on_a_curves_sized_document():
    keys = ("RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519")
    clients = [f"c{i}" for i in range(10)] + ["ring", "aws", "bssl", "nss"]
    rules = {
        "ring": lambda r, l, t, s: "unsupported_algorithm" if r == "P-521" else ("handshake_failure" if l == "P-521" else None),
        "aws": lambda r, l, t, s: "handshake_failure" if (l, t, s) == ("P-521", "1.2", "openssl") else None,
        "bssl": lambda r, l, t, s: "handshake_failure" if l in ("P-521", "Ed25519") else None,
        "nss": lambda r, l, t, s: "unsupported_algorithm" if r == "Ed25519" else ("handshake_failure" if l == "Ed25519" else None),
    }
    records = []
    for r in keys:
        for l in keys:
            chain = {"label": f"{r} → {l}", "root": {"key": r}, "intermediates": [], "leaf": {"key": l}}
            for s in ("openssl", "go"):
                for t in ("1.2", "1.3"):
                    for c in clients:
                        o = rules[c](r, l, t, s) if c in rules else None
                        records.append({"id": f"{chain['label']}|{t}|{s}|{c}", "scenario": "curves", "chain": chain,
                                        "server": s, "tls": t, "client": c, "outcome": o or "ok", "short_error": o})
    assert len(records) == 2744
    findings = explain({"results": records})  # its speed: `make bench` (no timed tests)
    text = render_explain(findings)
    assert {f.stack for f in findings} == set(rules), text
    assert all(f.exact for f in findings), text
    assert [t.conditions for t in finding(findings, "aws").terms] == [("leaf=P-521", "tls=1.2", "server=openssl")]
    assert sorted(t.conditions for t in finding(findings, "bssl").terms) == [("leaf=Ed25519",), ("leaf=P-521",)]


# --- a real run --------------------------------------------------------------------------


@pytest.mark.integration
def test_real_rustls_p521_run(tmp_path, pki_cache):
    from tlsmatrix.stacks.clients import CLIENTS
    from tests.conftest import require_stack

    for name in ("openssl", "go", "rustls-ring"):
        require_stack(CLIENTS[name])
    env = dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path / "results"), TLSMATRIX_PKI_CACHE=str(pki_cache.root))
    proc = subprocess.run([sys.executable, "-m", "tlsmatrix", "matrix", "scenarios/rustls-p521.toml", "-q",
                           "--clients", "openssl,go,rustls-ring,rustls-aws-lc-rs", "--servers", "openssl,go"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads((tmp_path / "results" / "latest" / "results.json").read_text())
    findings = explain(data)
    text = render_explain(findings)
    ring = finding(findings, "rustls-ring")
    assert ring is not None and ring.exact, text
    conditions = {t.conditions for t in ring.terms}
    assert ("signer=P-521",) in conditions, text
    assert ("leaf=P-521",) in conditions, text
    assert "a P-521 key signs in the chain" in ring.text and "the leaf key is P-521" in ring.text
    assert finding(findings, "openssl") is None, text
    assert finding(findings, "go") is None, text
    if data["clients"].get("rustls-aws-lc-rs", {}).get("available"):
        aws = finding(findings, "rustls-aws-lc-rs")
        assert aws is not None and [t.conditions for t in aws.terms] == [("leaf=P-521", "tls=1.2", "server=openssl")], text


def test_client_certificate_key_is_a_condition():
    """mTLS chains: 'the client certificate key is P-521' explains ring's client-side failures."""
    extra = []
    for client_key in ("P-256", "P-521"):
        chain = {"label": f"P-256 → P-256 + client {client_key}", "root": {"key": "P-256", "hash": "SHA-256"},
                 "intermediates": [], "leaf": {"key": "P-256"}, "expired": False, "client_cert": {"key": client_key}}
        for client in (*GOOD_CLIENTS, "ring"):
            bad = client == "ring" and client_key == "P-521"
            extra.append({"id": f"demo|{chain['label']}|1.3|go|{client}", "scenario": "demo", "chain": chain,
                          "server": "go", "tls": "1.3", "client": client, "servername": "localhost",
                          "outcome": "unsupported_algorithm" if bad else "ok",
                          "error": "client key: failed to parse private key" if bad else None,
                          "short_error": "client key: failed to parse private key" if bad else None,
                          "verdict": "match", "expected": None})
    f = finding(explain(document({"ring": ring_like}, extra=extra)), "ring")
    assert f is not None and f.exact
    assert "the client certificate key is P-521" in render_explain([f])


def test_many_columns_of_one_family_count_once_when_others_fail_too():
    """A stack that fails with several columns of another family (versions of it) is still explained:
    the 'most other clients fail too' rule counts each family once, not each column."""
    p521_signs = ring_like
    fails = {"rustls-ring": p521_signs, **{f"go@1.{v}": p521_signs for v in (15, 19, 24)},
             "go": p521_signs, "wolfssl@4.6": p521_signs}
    found = finding(explain(document(fails)), "rustls-ring")
    assert found is not None and "P-521" in render_explain([found])
