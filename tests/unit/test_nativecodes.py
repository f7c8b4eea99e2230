"""Each stack's own code (harness/stacks/nativecodes.py) and classification by code first (harness/stacks/classify.py),
on the texts the real stacks wrote (tests/data/errors.json, refreshed by tests/capture_errors.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlsmatrix.stacks.classify import CODE_TABLES, classify_code, classify_error
from tlsmatrix.stacks.nativecodes import X509_V_ERR, gnutls_status_names, native_code

CAPTURED = json.loads((Path(__file__).resolve().parents[1] / "data" / "errors.json").read_text())
#: the certificate verdict cases of the corpus (a chain the stack refuses for what it is)
VERDICT_CASES = {"wrong CA", "wrong name", "wrong IP", "expired leaf", "malformed certificate in the CA file"}
#: stacks whose probes print a code (the command-line columns print text only)
CODED = {"openssl", "rustls-ring", "rustls-aws-lc-rs", "go", "java", "node", "gnutls", "nss", "tstclnt", "boringssl",
         "libcurl", "curl", "openssl-cli", "wolfssl"}


def verdicts():
    return [r for r in CAPTURED if r["case"] in VERDICT_CASES or r["case"].startswith("defect ")]


@pytest.mark.parametrize("record", verdicts(), ids=lambda r: f"{r['client']}:{r['case']}")
def test_a_certificate_verdict_is_never_a_negotiation_class(record):
    c = classify_error(record["family"], record["error"], record["error_detail"])
    assert c.outcome.value not in ("handshake_failure", "probe_error"), (record, c)


@pytest.mark.parametrize("record", [r for r in verdicts() if r["case"].startswith("defect ")
                                    and r["client"].split("@")[0] in CODED], ids=lambda r: f"{r['client']}:{r['case']}")
def test_coded_stacks_are_classified_by_their_code(record):
    c = classify_error(record["family"], record["error"], record["error_detail"])
    assert c.code, record
    if classify_code(record["family"], c.code) is not None:
        assert c.rule == f"code {c.code}"


@pytest.mark.parametrize("family,error,detail,code", [
    ("openssl", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
     "SSLCertVerificationError verify_code=20 verify_message='unable to get local issuer certificate'",
     "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
    ("openssl", "[SSL: BAD_SIGNATURE] bad signature (_ssl.c:1006)", "SSLError library=SSL reason=BAD_SIGNATURE",
     "SSL_R_BAD_SIGNATURE"),
    ("node", "unable to verify the first certificate", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
     "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
    ("node", "unhandled critical extension", "UNSPECIFIED", "UNSPECIFIED"),  # Node has no name for it: the text decides
    ("curl", "SSL certificate problem: unable to get local issuer certificate",
     "CURLcode=60 (SSL peer certificate or SSH remote key was not OK) ssl_verifyresult=20",
     "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
    ("rustls", "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
     "InvalidCertificate(Other(OtherError(CaUsedAsEndEntity)))", "Other(CaUsedAsEndEntity)"),
    ("rustls", "invalid peer certificate: certificate expired: …",
     "InvalidCertificate(ExpiredContext { time: UnixTime(1), not_after: UnixTime(0) })", "Expired"),
    ("rustls", "received fatal alert: HandshakeFailure", "AlertReceived(HandshakeFailure)",
     "AlertReceived(HandshakeFailure)"),
    ("go", "x509: certificate has expired", "*tls.CertificateVerificationError > x509.CertificateInvalidError(Expired)",
     "x509.CertificateInvalidError(Expired)"),
    ("go", "x509: certificate is valid for a, not b", 'x509.HostnameError(host="b")', "x509.HostnameError"),
    ("java", "PKIX path validation failed: …", "javax.net.ssl.SSLHandshakeException: x <- "
     "java.security.cert.CertPathValidatorException: validity check failed [reason=EXPIRED]",
     "CertPathValidatorException.EXPIRED"),
    ("gnutls", "Error in the certificate verification.", "GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR (-348), verify "
     "status 0x42", "GNUTLS_CERT_SIGNER_NOT_FOUND"),
    ("nss", "SEC_ERROR_UNKNOWN_ISSUER: …", "PRErrorCode -8179 SEC_ERROR_UNKNOWN_ISSUER", "SEC_ERROR_UNKNOWN_ISSUER"),
    ("wolfssl", "certificate verify failed", "-188", "ASN_NO_SIGNER_E"),
    ("wolfssl", "x", "-99999", "-99999"),  # a number the headers do not name stays a number
])
def test_native_codes_from_the_probes_words(family, error, detail, code):
    assert native_code(family, error, detail) == code


def test_the_tables_name_only_real_codes():
    """Every X509_V_ERR code of the table is one OpenSSL's headers define (no typo can hide a class)."""
    openssl = CODE_TABLES["openssl"]
    x509 = {c.removeprefix("X509_V_ERR_") for c in openssl if c.startswith("X509_V_ERR_")}
    assert x509 <= set(X509_V_ERR.values()), x509 - set(X509_V_ERR.values())
    assert gnutls_status_names(0x42) == ["INVALID", "SIGNER_NOT_FOUND"]
