from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlsmatrix.stacks.classify import TABLES, classify, classify_error, shorten
from tlsmatrix.model.core import HandshakeResult, Outcome

CAPTURED = json.loads((Path(__file__).resolve().parents[1] / "data" / "errors.json").read_text())


@pytest.mark.parametrize("rec", CAPTURED, ids=lambda r: f"{r['client']}:{r['case']}")
def test_every_captured_error_is_classified_by_a_rule(rec):
    """Strings captured from the real stacks (tests/capture_errors.py) land in the right class."""
    c = classify_error(rec["family"], rec["error"], rec.get("error_detail"))
    assert c.outcome is Outcome(rec["expected"]), rec
    assert c.rule is not None or c.outcome in (Outcome.TIMEOUT, Outcome.PROBE_ERROR)


def test_captured_set_covers_every_client_and_the_negative_controls():
    from tlsmatrix.stacks.clients import CLIENTS

    clients = {r["client"] for r in CAPTURED}
    assert clients == {n for n, c in CLIENTS.items() if c.needs_app is None}
    for client in clients:
        cases = {r["case"] for r in CAPTURED if r["client"] == client}
        assert {"wrong CA", "wrong name", "expired leaf", "silent peer", "closed port"} <= cases


def test_misbehaving_peer_corpus_is_captured_for_every_client_in_its_one_class():
    """Every stack's words for every peer behaviour are in the file, each expected in the behaviour's
    documented class (the parametrized test above then checks the classifier agrees), except where a
    stack version's own words cannot tell (tests/capture_errors.py STACK_LIMITS, each one named)."""
    from tlsmatrix.running.endpoints.misbehaving import BEHAVIOURS

    from ..capture_errors import STACK_LIMITS

    documented = {b.case: b.outcome.value for b in BEHAVIOURS.values()}
    peer_records = [r for r in CAPTURED if r["case"].startswith("peer: ")]
    assert {r["case"] for r in peer_records} == set(documented)
    for client in {r["client"] for r in CAPTURED}:
        assert {r["case"] for r in peer_records if r["client"] == client} == set(documented), client
    assert all(r["expected"] == STACK_LIMITS.get((r["client"], r["case"]), documented[r["case"]]) for r in peer_records)


@pytest.mark.parametrize("family, error, outcome", [
    # issue 14's flips: the same EOF / reset / plain bytes, once behind a stack's generic prefix
    ("openssl", "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol (_ssl.c:1006)", Outcome.CONNECTION),
    ("openssl", "error:0A000126:SSL routines:ssl3_read_n:unexpected eof while reading:../ssl/record/rec_layer_s3.c:318:", Outcome.CONNECTION),
    ("java", "Remote host terminated the handshake", Outcome.CONNECTION),
    ("gnutls", "*** Fatal error: Error in the pull function.", Outcome.CONNECTION),
    ("gnutls", "The TLS connection was non-properly terminated.", Outcome.CONNECTION),
    ("curl", "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to localhost:443", Outcome.CONNECTION),
    ("boringssl", "Failed to perform, curl: (35) Recv failure: Connection reset by peer", Outcome.CONNECTION),
    ("nss", "tstclnt: read from socket failed: SSL_ERROR_RX_RECORD_TOO_LONG: SSL received a record that exceeded the maximum permissible length.", Outcome.NOT_TLS),
    ("go", "tls: first record does not look like a TLS handshake", Outcome.NOT_TLS),
    # OpenSSL 1.1.1's security level 2 (Debian bullseye, measured by scenarios/versions.toml): refused by policy
    ("openssl", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: CA signature digest algorithm too weak (_ssl.c:1123)", Outcome.UNSUPPORTED_ALGORITHM),
    ("openssl", "verify error:num=67:CA certificate key too weak", Outcome.UNSUPPORTED_ALGORITHM),
    ("node", "EE certificate key too weak", Outcome.UNSUPPORTED_ALGORITHM),
    ("curl", "curl: (60) SSL certificate problem: CA certificate key too weak", Outcome.UNSUPPORTED_ALGORITHM),
    ("nss", "SSL_ERROR_BAD_SERVER: The client has encountered bad data from the server.", Outcome.NOT_TLS),
    ("go", 'tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of '
           '"x509: cannot verify signature: insecure algorithm SHA1-RSA (temporarily override with GODEBUG=x509sha1=1)" '
           'while trying to verify candidate authority certificate "tlsmatrix TEST-ONLY root CA RSA-2048 (root)")',
     Outcome.UNSUPPORTED_ALGORITHM),
])
def test_transport_facts_win_over_generic_prefixes(family, error, outcome):
    assert classify_error(family, error).outcome is outcome


# Error texts of other versions, as documented upstream (rustls src/webpki/mod.rs pki_error
# history, rustls issue 1335); not producible with the pinned versions, kept so a user
# pinning an older rustls still gets the right class.
DOCUMENTED = [
    ("rustls", "invalid peer certificate: BadSignature", Outcome.BAD_SIGNATURE),  # 0.23.0–0.23.27, P-521 CA
    ("rustls", "invalid peer certificate: UnsupportedSignatureAlgorithm", Outcome.UNSUPPORTED_ALGORITHM),  # 0.23.28
    ("rustls", "invalid peer certificate: UnknownIssuer", Outcome.UNTRUSTED),
    ("rustls", "invalid peer certificate: NotValidForName", Outcome.HOSTNAME_MISMATCH),
    ("rustls", "invalid peer certificate: Expired", Outcome.EXPIRED),
    ("rustls", "peer is incompatible: NoSignatureSchemesInCommon", Outcome.HANDSHAKE_FAILURE),
    ("go", "tls: failed to verify certificate: x509: certificate signed by unknown authority", Outcome.UNTRUSTED),
    ("go", "remote error: tls: handshake failure", Outcome.HANDSHAKE_FAILURE),
    ("openssl", "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure (_ssl.c:1006)", Outcome.HANDSHAKE_FAILURE),
    ("openssl", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)", Outcome.UNTRUSTED),
]


@pytest.mark.parametrize("family,error,outcome", DOCUMENTED)
def test_documented_errors_of_other_versions(family, error, outcome):
    assert classify_error(family, error).outcome is outcome


def test_unknown_error_falls_back_visibly():
    c = classify_error("go", "something nobody has seen before")
    assert c.outcome is Outcome.HANDSHAKE_FAILURE and c.rule is None


def test_ok_result_is_ok_whatever_the_error_field():
    assert classify("rustls", HandshakeResult(ok=True)).outcome is Outcome.OK


def test_tables_exist_for_every_client_family():
    from tlsmatrix.stacks.clients import CLIENTS

    assert {c.family for c in CLIENTS.values()} <= set(TABLES)


@pytest.mark.parametrize("family,error,short", [
    ("rustls", "invalid peer certificate: BadSignature", "BadSignature"),
    ("rustls", "invalid peer certificate: UnsupportedSignatureAlgorithmContext { signature_algorithm_id: [6] }",
     "UnsupportedSignatureAlgorithm"),
    ("rustls", "received fatal alert: HandshakeFailure", "alert HandshakeFailure"),
    ("openssl", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)",
     "unable to get local issuer certificate"),
    ("openssl", "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)", "TLSV1_ALERT_PROTOCOL_VERSION"),
    ("go", "remote error: tls: handshake failure", "remote error: handshake failure"),
    ("go", "timeout: read tcp 1->2: i/o timeout", "timeout"),
    ("gnutls", "Error in the certificate verification. | The certificate is NOT trusted. The certificate issuer is "
               "unknown.", "The certificate issuer is unknown."),
    ("gnutls", "- Status: The certificate is NOT trusted. The name in the certificate does not match the expected. | "
               "*** PKI verification of server certificate failed... | *** Fatal error: Error in the certificate.",
     "The name in the certificate does not match …"),
    ("gnutls", "A TLS fatal alert has been received. | Handshake failed", "alert Handshake failed"),
    ("gnutls", "*** Received alert [70]: Error in protocol version | *** Fatal error: A TLS fatal alert has been "
               "received.", "alert Error in protocol version"),
])
def test_short_forms(family, error, short):
    assert shorten(family, error) == short


@pytest.mark.parametrize("family, error, short", [
    ("node", "80DC4AA4A87F0000:error:0A00041B:SSL routines:ssl3_read_bytes:tlsv1 alert decrypt error:"
             "../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 51", "tlsv1 alert decrypt error"),
    ("kube", "ServiceError: client error (Connect): error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad "
             "certificate:../ssl/record/rec_layer_s3.c:1602:SSL alert number 42", "sslv3 alert bad certificate"),
])
def test_openssl_error_lines_shorten_to_their_reason(family, error, short):
    from tlsmatrix.stacks.classify import shorten

    assert shorten(family, error) == short


def test_a_kube_request_canceled_after_an_mtls_handshake_is_the_server_s_refusal():
    from tlsmatrix.model.core import HandshakeResult
    from tlsmatrix.stacks.classify import classify

    raw = HandshakeResult(ok=False, error="ServiceError: client error (Canceled): operation was canceled: "
                                          "connection was not ready")
    assert classify("kube", raw, client_cert=True).outcome is Outcome.HANDSHAKE_FAILURE
    assert classify("kube", raw).outcome is Outcome.CONNECTION  # without a client certificate: the transport


def test_gnutls_not_trusted_without_a_reason_is_untrusted_in_both_columns():
    """An SLH-DSA CA (GnuTLS 3.7/3.8 cannot check its signature): the status is INVALID and nothing else."""
    probe = classify_error("gnutls", "Error in the certificate verification. | The certificate is NOT trusted.",
                           "GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR (-348), verify status 0x2")
    assert probe.outcome is Outcome.UNTRUSTED and probe.code == "GNUTLS_CERT_INVALID"
    cli = classify_error("gnutls", "- Status: The certificate is NOT trusted. | *** PKI verification of server "
                                   "certificate failed... | *** Fatal error: Error in the certificate.")
    assert cli.outcome is Outcome.UNTRUSTED
    # with a reason, the reason decides
    assert classify_error("gnutls", "x", "GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR (-348), verify status 0x42"
                          ).outcome is Outcome.UNTRUSTED
    assert classify_error("gnutls", "x", "GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR (-348), verify status 0x802"
                          ).outcome is Outcome.BAD_SIGNATURE
