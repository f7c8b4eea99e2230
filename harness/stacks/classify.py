"""Raw stack errors → :class:`Outcome` classes, one table per stack family.

Each table is an ordered list of (regex, outcome); the first match wins. The strings the
tables were written against were captured from the real stacks (``tests/data/errors.json``,
refreshed by ``.venv/bin/python -m tests.capture_errors``, see tests/capture_errors.py) and the unit
tests check every one of them.
An error that no rule knows is ``handshake_failure`` with ``rule = None``, so reports and
tests can spot a gap instead of hiding it.

Order within a table: specific TLS facts (certificate verdicts, versions, alerts), then
``not_tls`` and transport facts (EOF, reset, refused), and only then a stack's generic
prefix ("SSL: ", "curl: (35)", "Fatal error", SSLHandshakeException), so one peer behaviour
gets one class from every stack (the misbehaving-peer corpus, harness/running/endpoints/misbehaving.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..model.core import HandshakeResult, Outcome
from .nativecodes import native_code

O = Outcome


@dataclass(frozen=True)
class Classification:
    outcome: Outcome
    short: str | None  # a few words for a matrix cell, e.g. "BadSignature"
    rule: str | None  # the code or pattern that matched; None when nothing did (fallback)
    code: str | None = None  # the stack's own code (harness/stacks/nativecodes.py), whether or not it decided


# --- by code: each stack's own verdict names, first -----------------------------------------------
# Only codes whose meaning is settled are here; a code that needs its text to say why (Go's
# UnknownAuthorityError "possibly because of … insecure algorithm") is left to the text tables.
# docs/probe-contract.md lists, per class, every stack's codes.


def _codes(table: dict[Outcome, str]) -> dict[str, Outcome]:
    return {code: outcome for outcome, codes in table.items() for code in codes.split()}


_X509_V_ERR = _codes({
    O.UNTRUSTED: "UNABLE_TO_GET_ISSUER_CERT UNABLE_TO_GET_ISSUER_CERT_LOCALLY UNABLE_TO_VERIFY_LEAF_SIGNATURE "
                 "DEPTH_ZERO_SELF_SIGNED_CERT SELF_SIGNED_CERT_IN_CHAIN CERT_UNTRUSTED CERT_REJECTED "
                 "SUBJECT_ISSUER_MISMATCH AKID_SKID_MISMATCH AKID_ISSUER_SERIAL_MISMATCH INVALID_CA "
                 "KEYUSAGE_NO_CERTSIGN PATH_LOOP CERT_CHAIN_TOO_LONG NO_ISSUER_PUBLIC_KEY NO_EXPLICIT_POLICY",
    O.EXPIRED: "CERT_HAS_EXPIRED CERT_NOT_YET_VALID",
    O.HOSTNAME_MISMATCH: "HOSTNAME_MISMATCH IP_ADDRESS_MISMATCH EMAIL_MISMATCH",
    O.BAD_SIGNATURE: "CERT_SIGNATURE_FAILURE UNABLE_TO_DECRYPT_CERT_SIGNATURE",
    O.UNSUPPORTED_ALGORITHM: "EE_KEY_TOO_SMALL CA_KEY_TOO_SMALL CA_MD_TOO_WEAK UNSUPPORTED_SIGNATURE_ALGORITHM "
                             "SIGNATURE_ALGORITHM_MISMATCH EC_KEY_EXPLICIT_PARAMS UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
    O.KEY_USAGE: "INVALID_PURPOSE KEYUSAGE_NO_DIGITAL_SIGNATURE KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA "
                 "CA_CERT_MISSING_KEY_USAGE",
    O.BASIC_CONSTRAINTS: "PATH_LENGTH_EXCEEDED PATHLEN_INVALID_FOR_NON_CA PATHLEN_WITHOUT_KU_KEY_CERT_SIGN "
                         "CA_BCONS_NOT_CRITICAL INVALID_NON_CA",
    O.NAME_CONSTRAINTS: "PERMITTED_VIOLATION EXCLUDED_VIOLATION SUBTREE_MINMAX UNSUPPORTED_CONSTRAINT_TYPE "
                        "UNSUPPORTED_CONSTRAINT_SYNTAX UNSUPPORTED_NAME_SYNTAX",
    O.CRITICAL_EXTENSION: "UNHANDLED_CRITICAL_EXTENSION",
    # X509_V_FLAG_X509_STRICT's profile checks and fields that do not parse
    O.MALFORMED_CERTIFICATE: "ERROR_IN_CERT_NOT_BEFORE_FIELD ERROR_IN_CERT_NOT_AFTER_FIELD INVALID_EXTENSION "
                             "SIGNATURE_ALGORITHM_INCONSISTENCY ISSUER_NAME_EMPTY SUBJECT_NAME_EMPTY "
                             "MISSING_AUTHORITY_KEY_IDENTIFIER MISSING_SUBJECT_KEY_IDENTIFIER EMPTY_SUBJECT_ALT_NAME "
                             "EMPTY_SUBJECT_SAN_NOT_CRITICAL AUTHORITY_KEY_IDENTIFIER_CRITICAL "
                             "SUBJECT_KEY_IDENTIFIER_CRITICAL EXTENSIONS_REQUIRE_VERSION_3",
})
#: the verification results by name, then the library's reasons (LIB_R_*, Node's ERR_SSL_*)
_OPENSSL_CODES = {**{f"X509_V_ERR_{code}": outcome for code, outcome in _X509_V_ERR.items()}, **_codes({
    # TLS 1.2 with an ECDSA leaf whose keyUsage OpenSSL could not read as allowing signatures
    O.KEY_USAGE: "SSL_R_KEY_USAGE_BIT_INCORRECT SSL_R_ECC_CERT_NOT_FOR_SIGNING ERR_SSL_ECC_CERT_NOT_FOR_SIGNING",
    # OpenSSL 1.1.1 (curl@7.74) verifying with a CA key of a type it has no method for (ML-DSA):
    # "digital envelope routines:pkey_set_type:unsupported algorithm"
    O.UNSUPPORTED_ALGORITHM: "EVP_R_UNSUPPORTED_ALGORITHM",
    # the peer's alert about our ClientHello (a server that parsed it from one read, one that rejects the
    # hybrid group): not a certificate that failed to decode, whatever the words "decode error" say
    O.HANDSHAKE_FAILURE: "SSL_R_TLSV1_ALERT_DECODE_ERROR ERR_SSL_TLSV1_ALERT_DECODE_ERROR "
                         "SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER ERR_SSL_SSLV3_ALERT_ILLEGAL_PARAMETER",
    O.MALFORMED_CERTIFICATE: "EVP_R_DECODE_ERROR X509V3_R_INVALID_CERTIFICATE ASN1_R_TOO_LONG ASN1_R_HEADER_TOO_LONG "
                             "ASN1_R_WRONG_TAG ASN1_R_NESTED_ASN1_ERROR ASN1_R_DECODE_ERROR ASN1_R_BAD_OBJECT_HEADER "
                             "ASN1_R_NOT_ENOUGH_DATA ASN1_R_ILLEGAL_PADDING ASN1_R_TOO_SMALL",
})}

_WEBPKI_CODES = _codes({
    # a CA that may not sign (not a CA, X.509 v1) breaks the path like a missing one
    O.UNTRUSTED: "UnknownIssuer EndEntityUsedAsCa UnsupportedCertVersion Other(EndEntityUsedAsCa) "
                 "Other(UnsupportedCertVersion) Other(MaximumPathBuildCallsExceeded) Other(MaximumSignatureChecksExceeded) "
                 "Other(MaximumPathDepthExceeded)",
    O.EXPIRED: "Expired NotValidYet",
    O.HOSTNAME_MISMATCH: "NotValidForName",
    O.BAD_SIGNATURE: "BadSignature",
    O.UNSUPPORTED_ALGORITHM: "UnsupportedSignatureAlgorithm UnsupportedSignatureAlgorithmForPublicKey "
                             "Other(UnsupportedSignatureAlgorithm) Other(UnsupportedSignatureAlgorithmForPublicKey)",
    O.KEY_USAGE: "InvalidPurpose Other(RequiredEkuNotFound)",
    O.BASIC_CONSTRAINTS: "Other(CaUsedAsEndEntity) Other(PathLenConstraintViolated)",
    O.NAME_CONSTRAINTS: "Other(NameConstraintViolation) Other(UnsupportedNameType) UnsupportedNameType "
                        "Other(MalformedNameConstraint) Other(MaximumNameConstraintComparisonsExceeded) "
                        "Other(InvalidNetworkMaskConstraint)",
    O.CRITICAL_EXTENSION: "UnhandledCriticalExtension Other(UnsupportedCriticalExtension) UnsupportedCriticalExtension",
    O.MALFORMED_CERTIFICATE: "BadEncoding Other(BadDer) Other(BadDerTime) Other(MalformedExtensions) "
                             "Other(ExtensionValueInvalid) Other(EmptyEkuExtension) Other(InvalidSerialNumber) "
                             "Other(TrailingData) Other(InvalidCertValidity) Other(MalformedDnsIdentifier)",
})

_GO_CODES = _codes({
    O.UNTRUSTED: "x509.CertificateInvalidError(NotAuthorizedToSign) x509.CertificateInvalidError(NameMismatch) "
                 "x509.ConstraintViolationError",
    O.EXPIRED: "x509.CertificateInvalidError(Expired)",
    O.HOSTNAME_MISMATCH: "x509.HostnameError",
    O.UNSUPPORTED_ALGORITHM: "x509.InsecureAlgorithmError",
    O.KEY_USAGE: "x509.CertificateInvalidError(IncompatibleUsage) x509.CertificateInvalidError(CANotAuthorizedForExtKeyUsage)",
    O.BASIC_CONSTRAINTS: "x509.CertificateInvalidError(TooManyIntermediates)",
    O.NAME_CONSTRAINTS: "x509.CertificateInvalidError(CANotAuthorizedForThisName) "
                        "x509.CertificateInvalidError(NameConstraintsWithoutSANs) "
                        "x509.CertificateInvalidError(UnconstrainedName) x509.CertificateInvalidError(TooManyConstraints)",
    O.CRITICAL_EXTENSION: "x509.UnhandledCriticalExtension",
})

_JAVA_CODES = _codes({
    # INVALID_KEY_USAGE is a CA without keyCertSign here (the leaf's usage is checked after path validation)
    O.UNTRUSTED: "CertPathValidatorException.NO_TRUST_ANCHOR CertPathValidatorException.NAME_CHAINING "
                 "CertPathValidatorException.NOT_CA_CERT CertPathValidatorException.INVALID_KEY_USAGE "
                 "CertPathValidatorException.INVALID_POLICY SunCertPathBuilderException",
    O.EXPIRED: "CertPathValidatorException.EXPIRED CertPathValidatorException.NOT_YET_VALID "
               "CertificateExpiredException CertificateNotYetValidException",
    O.BAD_SIGNATURE: "CertPathValidatorException.INVALID_SIGNATURE",
    O.UNSUPPORTED_ALGORITHM: "CertPathValidatorException.ALGORITHM_CONSTRAINED",
    O.BASIC_CONSTRAINTS: "CertPathValidatorException.PATH_TOO_LONG",
    O.NAME_CONSTRAINTS: "CertPathValidatorException.INVALID_NAME",
    O.CRITICAL_EXTENSION: "CertPathValidatorException.UNRECOGNIZED_CRIT_EXT",
})

#: GnuTLS' verification status bits, in the order their class wins when several are set
_GNUTLS_STATUS_BITS = _codes({
    O.EXPIRED: "EXPIRED NOT_ACTIVATED",
    O.HOSTNAME_MISMATCH: "UNEXPECTED_OWNER",
    # before SIGNATURE_FAILURE: a CA key GnuTLS cannot verify with (ML-DSA, GnuTLS 3.8) sets both bits
    # (0x902: "uses insecure algorithm. The signature in the certificate is invalid."); the algorithm is the
    # cause, as gnutls-cli's words say (measured: docs/stacks.md, "ML-DSA and Ed448 certificates")
    O.UNSUPPORTED_ALGORITHM: "INSECURE_ALGORITHM",
    O.BAD_SIGNATURE: "SIGNATURE_FAILURE",
    O.KEY_USAGE: "PURPOSE_MISMATCH",
    O.CRITICAL_EXTENSION: "UNKNOWN_CRIT_EXTENSIONS",
    # "violates the signer's constraints": name constraints, path length or keyUsage, GnuTLS does not say
    O.UNTRUSTED: "SIGNER_NOT_FOUND SIGNER_NOT_CA SIGNER_CONSTRAINTS_FAILURE MISMATCH",
})
# INVALID without a reason bit ("The certificate is NOT trusted." and nothing after it): GnuTLS marks a
# certificate so when it cannot check its signature at all (an SLH-DSA CA, measured: docs/stacks.md);
# not trusted is all it says, so untrusted, after every reason above
_GNUTLS_STATUS_BITS["INVALID"] = O.UNTRUSTED
_GNUTLS_CODES = _codes({
    O.MALFORMED_CERTIFICATE: "GNUTLS_E_ASN1_DER_ERROR GNUTLS_E_ASN1_DER_OVERFLOW GNUTLS_E_ASN1_TAG_ERROR "
                             "GNUTLS_E_ASN1_VALUE_NOT_VALID GNUTLS_E_ASN1_GENERIC_ERROR GNUTLS_E_ASN1_ELEMENT_NOT_FOUND "
                             "GNUTLS_E_X509_CERTIFICATE_ERROR GNUTLS_E_CERTIFICATE_TIME_ERROR "
                             "GNUTLS_E_X509_DUPLICATE_EXTENSION GNUTLS_E_CERTIFICATE_ERROR",
    O.CRITICAL_EXTENSION: "GNUTLS_E_X509_UNSUPPORTED_CRITICAL_EXTENSION",
    O.KEY_USAGE: "GNUTLS_E_KEY_USAGE_VIOLATION",
    O.UNSUPPORTED_ALGORITHM: "GNUTLS_E_UNKNOWN_PK_ALGORITHM GNUTLS_E_X509_UNSUPPORTED_ATTRIBUTE "
                             "GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM GNUTLS_E_ECC_UNSUPPORTED_CURVE",
})

_NSS_CODES = _codes({
    # NSS names a CA without keyCertSign and a leaf's wrong keyUsage alike (INADEQUATE_KEY_USAGE): the
    # first is what the scenarios measure, so it stays with "a CA that may not sign"
    O.UNTRUSTED: "SEC_ERROR_UNKNOWN_ISSUER SEC_ERROR_UNTRUSTED_ISSUER SEC_ERROR_CA_CERT_INVALID "
                 "SEC_ERROR_UNTRUSTED_CERT SEC_ERROR_INADEQUATE_KEY_USAGE",
    O.EXPIRED: "SEC_ERROR_EXPIRED_CERTIFICATE SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE SEC_ERROR_CERT_NOT_VALID_YET "
               "SEC_ERROR_INVALID_TIME",
    O.HOSTNAME_MISMATCH: "SSL_ERROR_BAD_CERT_DOMAIN",
    O.KEY_USAGE: "SEC_ERROR_INADEQUATE_CERT_TYPE",
    O.BASIC_CONSTRAINTS: "SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID",
    O.NAME_CONSTRAINTS: "SEC_ERROR_CERT_NOT_IN_NAME_SPACE",
    O.CRITICAL_EXTENSION: "SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION",
    O.MALFORMED_CERTIFICATE: "SEC_ERROR_BAD_DER SEC_ERROR_EXTENSION_VALUE_INVALID SEC_ERROR_CERT_BAD_ACCESS_LOCATION "
                             "SEC_ERROR_BAD_DATA",
})

_WOLFSSL_CODES = _codes({
    O.UNTRUSTED: "ASN_NO_SIGNER_E NOT_CA_ERROR ASN_SELF_SIGNED_E",
    O.EXPIRED: "ASN_AFTER_DATE_E ASN_BEFORE_DATE_E",
    O.HOSTNAME_MISMATCH: "DOMAIN_NAME_MISMATCH IPADDR_MISMATCH",
    O.BAD_SIGNATURE: "ASN_SIG_CONFIRM_E",
    O.UNSUPPORTED_ALGORITHM: "ASN_SIG_OID_E ASN_SIG_KEY_E ASN_SIG_HASH_E ECC_CURVE_OID_E NOT_COMPILED_IN "
                             "ASN_ECC_KEY_E",
    O.KEY_USAGE: "EXTKEYUSAGE_E KEYUSAGE_E EXTKEYUSE_AUTH_E KEYUSE_SIGNATURE_E",
    O.BASIC_CONSTRAINTS: "ASN_PATHLEN_INV_E ASN_PATHLEN_SIZE_E",
    O.NAME_CONSTRAINTS: "ASN_NAME_INVALID_E",
    O.CRITICAL_EXTENSION: "ASN_CRIT_EXT_E",
    # a HelloRetryRequest for a group the ClientHello did not offer
    O.HANDSHAKE_FAILURE: "BAD_KEY_SHARE_DATA",
    O.MALFORMED_CERTIFICATE: "ASN_PARSE_E ASN_GETINT_E ASN_OBJECT_ID_E ASN_EXPECT_0_E ASN_BITSTR_E ASN_TAG_NULL_E "
                             "ASN_VERSION_E ASN_TIME_E ASN_DATE_SZ_E ASN_INPUT_E ASN_ALT_NAME_E ASN_UNKNOWN_OID_E "
                             "ALT_NAME_E ASN_RSA_KEY_E BUFFER_E",
})

CODE_TABLES: dict[str, dict[str, Outcome]] = {
    "openssl": _OPENSSL_CODES, "node": _OPENSSL_CODES, "curl": _OPENSSL_CODES, "boringssl": _OPENSSL_CODES,
    "rustls": _WEBPKI_CODES, "go": _GO_CODES, "java": _JAVA_CODES, "gnutls": _GNUTLS_CODES, "nss": _NSS_CODES,
    "wolfssl": _WOLFSSL_CODES, "kube": {**_OPENSSL_CODES, **_WEBPKI_CODES},
}


def classify_code(family: str, code: str | None) -> Outcome | None:
    """The class a stack's own code settles, or None (no code, or one that needs its text)."""
    if not code:
        return None
    if family == "gnutls" and code.startswith("GNUTLS_CERT_"):
        bits = code.removeprefix("GNUTLS_CERT_").split("|")
        return next((o for bit, o in _GNUTLS_STATUS_BITS.items() if bit in bits), None)
    return CODE_TABLES.get(family, {}).get(code)


# Errors that the probe contract defines the same way for every stack.
_COMMON: list[tuple[str, Outcome]] = [
    (r"^timeout:", O.TIMEOUT),
    # the stack refused a certificate of the CA file (not: the file could not be read); each probe says
    # "probe: cannot load/parse/use … CA file/ca_file …" with its stack's words after it
    (r"^probe: cannot (?:load|parse|use) (?:certificate #\d+ (?:in|of) )?(?:the )?(?:CA file|ca_file)"
     r"(?!.*(?:[Nn]o such file|Permission denied|Is a directory|ENOENT|EACCES|EISDIR|FileNotFound))", O.CA_FILE_REJECTED),
    # the same refusal in the words of the probes that hand the CA file to a tool or a library call
    # (gnutls-cli, the nss probe, certutil for tstclnt, curl and curl-impersonate: CURLE_SSL_CACERT_BADFILE)
    (r"^\*?\*?\*? ?Error setting the x509 trust file|^CERT_NewTempCertificate: NSS refused CA certificate|"
     r"^certutil: could not decode certificate|curl: \(77\)", O.CA_FILE_REJECTED),
    # the stack cannot offer or accept the key-exchange groups the job names (it lacks one, or its
    # API cannot restrict the list): the cell is skipped with the stack's words
    (r"^unsupported group:", O.SKIPPED),
    (r"^probe:", O.PROBE_ERROR),
    # the program under test aborted (a panic, a fatal signal): a result, not a probe failure
    (r"^crash:", O.CRASH),
]

_RUSTLS: list[tuple[str, Outcome]] = [
    # the provider cannot load the client certificate's key (ring: no P-521 signing)
    (r"failed to parse private key as RSA, ECDSA, or EdDSA", O.UNSUPPORTED_ALGORITHM),
    # a CA that may not sign (no CA basicConstraints, X.509 v1) breaks the path like a missing one
    (r"UnknownIssuer|UnknownRevocationStatus|NotValidForIssuer|EndEntityUsedAsCa|UnsupportedCertVersion", O.UNTRUSTED),
    (r"NotValidForName|certificate not valid for name", O.HOSTNAME_MISMATCH),
    (r"invalid peer certificate: (Expired|NotValidYet)|certificate expired|certificate not valid yet", O.EXPIRED),
    (r"UnsupportedSignatureAlgorithm|UnsupportedNameType|UnsupportedCriticalExtension", O.UNSUPPORTED_ALGORITHM),
    (r"invalid peer certificate: BadSignature|BadSignature", O.BAD_SIGNATURE),
    (r"peer is incompatible: (ServerDoesNotSupportTls12Or13|.*Version)|alert: ProtocolVersion|fatal alert: ProtocolVersion", O.PROTOCOL_VERSION),
    (r"NoSignatureSchemesInCommon|SignatureAlgorithmsExtensionRequired|NoKxGroupsInCommon|NoCipherSuitesInCommon", O.HANDSHAKE_FAILURE),
    (r"received fatal alert", O.HANDSHAKE_FAILURE),
    (r"peer is incompatible|peer misbehaved|PeerMisbehaved|PeerIncompatible", O.HANDSHAKE_FAILURE),
    (r"invalid peer certificate: (BadEncoding|Other)", O.UNSUPPORTED_ALGORITHM),
    # a first record of no TLS content type: the peer speaks another protocol (misbehaving-peer corpus)
    (r"InvalidContentType", O.NOT_TLS),
    (r"received corrupt message|InvalidMessage", O.HANDSHAKE_FAILURE),  # e.g. HandshakePayloadTooLarge
    # stays last: the kube table drops it (TABLES["kube"])
    (r"[Cc]onnection refused|[Cc]onnection reset|[Bb]roken pipe|unexpected end of file|UnexpectedEof|peer closed connection|os error", O.CONNECTION),
]

_GO: list[tuple[str, Outcome]] = [
    # crypto/tls parses the server's certificates before it verifies them
    (r"tls: failed to parse certificate from server", O.MALFORMED_CERTIFICATE),
    (r"x509: certificate relies on legacy Common Name field", O.HOSTNAME_MISMATCH),
    # Go >= 1.18 refuses SHA-1 signatures: "signed by unknown authority (possibly because of … insecure algorithm
    # SHA1-RSA …)": the algorithm is the cause (measured: go@1.19, go@1.24 in scenarios/versions.toml)
    (r"insecure algorithm", O.UNSUPPORTED_ALGORITHM),
    # a CA whose key type Go does not implement (Ed448, ML-DSA): "signed by unknown authority (possibly
    # because of "x509: cannot verify signature: algorithm unimplemented" while trying to verify candidate authority
    # …)": the algorithm is the cause (measured: go 1.19, go@1.15, go@1.19; go@1.24 no longer says why, so it stays
    # untrusted: docs/stacks.md "ML-DSA and Ed448 certificates")
    (r"possibly because of \"x509: cannot verify signature: algorithm unimplemented", O.UNSUPPORTED_ALGORITHM),
    (r"x509: certificate signed by unknown authority|x509: certificate is not authorized to sign", O.UNTRUSTED),
    (r"x509: certificate is (valid for|not valid for any names)|x509: cannot validate certificate for", O.HOSTNAME_MISMATCH),
    (r"x509: certificate has expired or is not yet valid", O.EXPIRED),
    (r"x509: cannot verify signature: algorithm unimplemented|x509: unsupported elliptic curve|x509: signature algorithm .* is not supported|unsupported public key", O.UNSUPPORTED_ALGORITHM),
    (r"x509: .*(verification error|signature)|tls: invalid signature by the server certificate|crypto/.*verification error", O.BAD_SIGNATURE),
    (r"protocol version not supported|tls: server selected unsupported protocol version|tls: no supported versions", O.PROTOCOL_VERSION),
    (r"remote error: tls: |tls: no (mutual|common)|tls: server chose an unconfigured|unsupported signature algorithm", O.HANDSHAKE_FAILURE),
    (r"tls: first record does not look like a TLS handshake", O.NOT_TLS),
    # transport facts before the generic "tls: " prefix (issue 14: one class per peer behaviour)
    (r"connection refused|connection reset|broken pipe|EOF$|^EOF|no route to host|network is unreachable", O.CONNECTION),
    (r"tls: ", O.HANDSHAKE_FAILURE),
]

#: OpenSSL's own words for the certificate verdicts the tables below did not know before issue 19
#: (x509-limbo's corpus): Node reports some of them with the code UNSPECIFIED, openssl s_client by number
_OPENSSL_VERDICTS: list[tuple[str, Outcome]] = [
    (r"unhandled critical extension", O.CRITICAL_EXTENSION),
    (r"(permitted|excluded) subtree violation|name constraints minimum and maximum not supported|"
     r"unsupported name constraint type|unsupported or invalid name (constraint|syntax)", O.NAME_CONSTRAINTS),
    (r"path length constraint exceeded|[Pp]athlen", O.BASIC_CONSTRAINTS),
    (r"KEY_USAGE_BIT_INCORRECT|key usage bit incorrect", O.KEY_USAGE),
    # CPython names the library when OpenSSL gives no reason: "[SSL] ASN1 lib" (a certificate that does not parse)
    (r"\[SSL\] ASN1 lib|asn1 encoding routines|ASN\.1 encoding routines|X509 V3 routines::invalid certificate|couldn't get X509-issuer "
     r"name|digital envelope routines::decode error|DECODE_ERROR", O.MALFORMED_CERTIFICATE),
    # X509_V_ERR_UNSPECIFIED: no verdict named, the chain was refused (a name-constraint budget, ...)
    (r"unspecified certificate verification error|unknown certificate verification error", O.UNTRUSTED),
]

_OPENSSL: list[tuple[str, Outcome]] = [
    *_OPENSSL_VERDICTS,
    (r"[Hh]ostname mismatch|IP address mismatch|certificate is not valid for", O.HOSTNAME_MISMATCH),
    (r"certificate has expired|certificate is not yet valid", O.EXPIRED),
    (r"unable to get local issuer certificate|self[- ]signed certificate|unable to get issuer certificate|unable to verify the first certificate|certificate chain too long|invalid CA certificate|key usage does not include certificate signing|unsuitable certificate purpose", O.UNTRUSTED),
    (r"certificate signature failure|BAD_SIGNATURE|bad signature|SIGNATURE_FAILURE", O.BAD_SIGNATURE),
    # also the security level's refusals (a key too small, a SHA-1 signature): refused by policy
    (r"unsupported algorithm|UNSUPPORTED_ALGORITHM|WRONG_CURVE|UNKNOWN_CERTIFICATE_TYPE|unknown (message digest|signature) algorithm|unsupported certificate|key too weak|digest algorithm too weak|md too weak|KEY_TOO_SMALL|MD_TOO_WEAK", O.UNSUPPORTED_ALGORITHM),
    (r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_SSL_VERSION|NO_PROTOCOLS_AVAILABLE|unsupported protocol|alert protocol version", O.PROTOCOL_VERSION),
    (r"HANDSHAKE_FAILURE|NO_SHARED|NO_SUITABLE|ALERT_|WRONG_SIGNATURE_TYPE|NO_CIPHERS|alert handshake failure", O.HANDSHAKE_FAILURE),
    # a record header whose version is no TLS version at all: not a TLS peer (HTTP, MySQL, ...)
    (r"WRONG_VERSION_NUMBER|wrong version number", O.NOT_TLS),
    # transport facts before the generic "SSL: " / "SSL routines" (issue 14: EOF flipped with them)
    # (CPython's "TLS/SSL connection has been closed (EOF)": the peer closed before the handshake)
    (r"[Cc]onnection refused|[Cc]onnection reset|EOF occurred|Broken pipe|UNEXPECTED_EOF|unexpected eof|Errno|errno=|connection has been closed \(EOF\)", O.CONNECTION),
    (r"SSL: |SSL routines", O.HANDSHAKE_FAILURE),
]

_JAVA: list[tuple[str, Outcome]] = [
    # Java's certificate parser refusing a name or a constraint it cannot decode (x509-limbo: an
    # underscore in a DNS SAN, an otherName constraint) is a parse failure of the server's certificate
    (r"Failed to parse server certificates|CertificateParsingException|Contains non-LDH ASCII characters|"
     r"Unsupported handshake message: certificate", O.MALFORMED_CERTIFICATE),
    (r"name constraints check failed", O.NAME_CONSTRAINTS),
    (r"KeyUsage does not allow|Extended key usage does not permit", O.KEY_USAGE),
    (r"[Uu]nrecognized critical extension", O.CRITICAL_EXTENSION),
    (r"PKIX path building failed|unable to find valid certification path|SunCertPathBuilderException", O.UNTRUSTED),
    # a path whose CA may not sign, or that does not reach the anchor, is no trusted path either
    (r"basic constraints check failed|key usage check failed|does not chain with any of the trust anchors|TrustAnchor with subject .* (is not a CA|does not have keyCertSign)", O.UNTRUSTED),
    (r"No subject alternative (DNS )?names? matching|No name matching", O.HOSTNAME_MISMATCH),
    (r"CertificateExpiredException|CertificateNotYetValidException|validity check failed", O.EXPIRED),
    (r"Algorithm constraints check failed|[Uu]nsupported (signature|curve|key|EC)|NoSuchAlgorithmException|disabled algorithm", O.UNSUPPORTED_ALGORITHM),
    (r"[Ss]ignature (check|verification) failed|Signature does not match", O.BAD_SIGNATURE),
    (r"protocol_version|No appropriate protocol|protocol is disabled|is not accepted by client preferences", O.PROTOCOL_VERSION),
    (r"Received fatal alert|No supported signature|no cipher suites in common|handshake_failure|exceeds the maximum allowed size|"
     r"Unsupported HelloRetryRequest selected group", O.HANDSHAKE_FAILURE),
    (r"Unsupported or unrecognized SSL message", O.NOT_TLS),
    # transport facts before the generic SSLHandshakeException ("Remote host terminated the handshake" is an EOF)
    (r"Connection refused|Connection reset|Remote host terminated|SocketException|EOFException|peer shut down incorrectly|Broken pipe", O.CONNECTION),
    (r"SSLHandshakeException", O.HANDSHAKE_FAILURE),
]

_NODE: list[tuple[str, Outcome]] = [
    *_OPENSSL_VERDICTS,
    (r"UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT", O.UNTRUSTED),
    (r"INVALID_CA|invalid CA certificate|KEYUSAGE_NO_CERTSIGN|key usage does not include certificate signing|INVALID_PURPOSE|unsuitable certificate purpose", O.UNTRUSTED),
    (r"ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames", O.HOSTNAME_MISMATCH),
    (r"CERT_HAS_EXPIRED|CERT_NOT_YET_VALID", O.EXPIRED),
    (r"CERT_SIGNATURE_FAILURE", O.BAD_SIGNATURE),
    (r"key too weak|digest algorithm too weak|md too weak|KEY_TOO_SMALL|MD_TOO_WEAK", O.UNSUPPORTED_ALGORITHM),  # OpenSSL's security level
    (r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|alert protocol version", O.PROTOCOL_VERSION),
    (r"alert handshake failure", O.HANDSHAKE_FAILURE),
    (r"ERR_SSL_WRONG_VERSION_NUMBER|wrong version number", O.NOT_TLS),
    # transport facts before the generic ERR_SSL_ / "SSL routines"
    (r"ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|network socket disconnected", O.CONNECTION),
    (r"ERR_SSL_|SSL routines", O.HANDSHAKE_FAILURE),
]

_GNUTLS: list[tuple[str, Outcome]] = [
    # gnutls-cli prints the verification status without its bits (the gnutls probe has them: by code)
    (r"does not match the intended purpose", O.KEY_USAGE),
    (r"ASN1 parser: |Error in DER parsing", O.MALFORMED_CERTIFICATE),
    (r"unknown critical extension|critical extension.*not supported", O.CRITICAL_EXTENSION),
    (r"issuer is unknown|signer not found|issuer is not a CA|violates the signer's constraints", O.UNTRUSTED),
    (r"name in the certificate does not match", O.HOSTNAME_MISMATCH),
    (r"expired certificate|has expired|not yet activated", O.EXPIRED),
    (r"insecure algorithm|[Uu]nsupported (signature|public key|certificate|elliptic)|algorithm is not supported", O.UNSUPPORTED_ALGORITHM),
    (r"signature (verification )?(has )?failed|signature is invalid|Public key signature verification", O.BAD_SIGNATURE),
    (r"Received alert \[70\]|[Pp]rotocol version|unsupported version", O.PROTOCOL_VERSION),
    # gnutls-cli's status line with no reason after it (the probe's INVALID alone): not trusted
    (r"The certificate is NOT trusted\.\s*(?:\||$)", O.UNTRUSTED),
    # GNUTLS_E_CERTIFICATE_ERROR without a verification status: the certificate could not be processed
    (r"Fatal error: Error in the certificate\.$|^Error in the certificate\.", O.MALFORMED_CERTIFICATE),
    # gnutls-cli: "*** Received alert [40]: Handshake failed"; the library (gnutls probe): gnutls_strerror | alert name
    (r"Received alert|A TLS fatal alert has been received", O.HANDSHAKE_FAILURE),
    (r"Received record packet of unknown type", O.NOT_TLS),
    # transport facts before the generic "Fatal error" (pull/push = recv/send failed; EOF = non-properly terminated)
    (r"Could not connect|^connect to |Connection refused|Connection reset|closed the connection|Error in the (push|pull) function|non-properly terminated", O.CONNECTION),
    # generic: gnutls-cli's "*** Fatal error", the gnutls probe's error name in error_detail
    (r"Fatal error|Handshake failed|[Hh]andshake|^GNUTLS_E_", O.HANDSHAKE_FAILURE),
]

_NSS: list[tuple[str, Outcome]] = [
    (r"SEC_ERROR_UNKNOWN_ISSUER|SEC_ERROR_UNTRUSTED_ISSUER|SEC_ERROR_CA_CERT_INVALID|SEC_ERROR_UNTRUSTED_CERT|SEC_ERROR_INADEQUATE_KEY_USAGE", O.UNTRUSTED),
    (r"SSL_ERROR_BAD_CERT_DOMAIN", O.HOSTNAME_MISMATCH),
    (r"SEC_ERROR_EXPIRED_CERTIFICATE|SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE|SEC_ERROR_CERT_NOT_VALID_YET|SEC_ERROR_INVALID_TIME", O.EXPIRED),
    (r"SEC_ERROR_ADDING_CERT|SEC_ERROR_UNSUPPORTED_KEYALG|SEC_ERROR_UNSUPPORTED_ELLIPTIC_CURVE|ALGORITHM_DISABLED|SEC_ERROR_INVALID_ALGORITHM|UNSUPPORTED_SIGNATURE_ALGORITHM", O.UNSUPPORTED_ALGORITHM),
    (r"SEC_ERROR_BAD_SIGNATURE|SSL_ERROR_BAD_HANDSHAKE_HASH_VALUE", O.BAD_SIGNATURE),
    (r"PROTOCOL_VERSION|SSL_ERROR_UNSUPPORTED_VERSION", O.PROTOCOL_VERSION),
    (r"SSL_ERROR_\w*ALERT|SSL_ERROR_NO_CYPHER_OVERLAP|HANDSHAKE_FAILURE", O.HANDSHAKE_FAILURE),
    # no TLS content type, or a "record" longer than TLS allows (the plain-HTTP symptom); NSS 3.61 says
    # "bad data from the server" for the same bytes (measured: the MySQL greeting, nss@3.61, tstclnt@3.61)
    (r"SSL_ERROR_RX_UNKNOWN_RECORD_TYPE|SSL_ERROR_RX_RECORD_TOO_LONG|SSL_ERROR_BAD_SERVER", O.NOT_TLS),
    # transport facts before the generic SSL_ERROR_
    # (the nss C probe connects with the shared probe_tcp_connect: "connect to H:P: <strerror>")
    (r"PR_CONNECT_REFUSED_ERROR|PR_CONNECT_RESET_ERROR|PR_CONNECT_ABORTED_ERROR|PR_END_OF_FILE_ERROR|unable to connect|^connect to \S+: ", O.CONNECTION),
    (r"SSL_ERROR_", O.HANDSHAKE_FAILURE),
]

# libcurl's messages, for the system curl (OpenSSL), curl-impersonate (BoringSSL) and the libcurl C probe
# (its error is curl's error buffer without the command's "curl: (N) " prefix; error_detail "CURLcode=N (…)")
_CURL: list[tuple[str, Outcome]] = [
    *_OPENSSL_VERDICTS,
    (r"unable to get local issuer certificate|self.signed certificate|unable to get issuer certificate|unable to verify the first certificate|invalid CA certificate|key usage does not include certificate signing|unsuitable certificate purpose", O.UNTRUSTED),
    (r"no alternative certificate subject name matches|subject name does not match|does not match target host", O.HOSTNAME_MISMATCH),
    (r"certificate has expired|certificate is not yet valid", O.EXPIRED),
    (r"certificate signature failure|BAD_SIGNATURE", O.BAD_SIGNATURE),
    (r"key too weak|digest algorithm too weak|md too weak|KEY_TOO_SMALL|MD_TOO_WEAK", O.UNSUPPORTED_ALGORITHM),  # OpenSSL's security level
    (r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|alert protocol version|unsupported protocol", O.PROTOCOL_VERSION),
    (r"HANDSHAKE_FAILURE|alert handshake failure", O.HANDSHAKE_FAILURE),
    (r"WRONG_VERSION_NUMBER|wrong version number", O.NOT_TLS),
    # transport facts before the generic "curl: (35)" (SSL_ERROR_SYSCALL: the peer closed without an alert)
    (r"curl: \((7|52|56)\)|Could not connect|Couldn't connect|Connection refused|Connection reset|Recv failure|Send failure|SSL_ERROR_SYSCALL|unexpected eof|Connection closed abruptly|^CURLcode=(7|52|56)\b", O.CONNECTION),
    (r"curl: \(35\)|SSL routines|curl: \(60\)|^CURLcode=(35|60)\b", O.HANDSHAKE_FAILURE),
]

_WOLFSSL: list[tuple[str, Outcome]] = [
    (r"ASN no signer|^-188$", O.UNTRUSTED),
    (r"peer subject name mismatch|peer ip address mismatch|DOMAIN_NAME_MISMATCH|^-32[25]$", O.HOSTNAME_MISMATCH),
    (r"ASN date error|^-15[01]$", O.EXPIRED),
    (r"ASN sig error|signature .*fail|^-155$", O.BAD_SIGNATURE),
    (r"unsupported|not compiled in|^-(140|173|188)$", O.UNSUPPORTED_ALGORITHM),
    (r"alert=70|record layer version error|^-326$", O.PROTOCOL_VERSION),
    (r"received alert fatal error|alert=", O.HANDSHAKE_FAILURE),
    # no TLS content type (-311), or a "record" longer than TLS allows (-341): not a TLS peer
    (r"unknown type in record hdr|record layer length error|^-311$|^-341$", O.NOT_TLS),
    # transport facts before the generic ones; -308 is a failed recv/send (reset, EOF), -397 a peer close
    (r"Connection refused|errno=111|Connection reset|errno=104|socket|[Pp]eer closed|^-308$|^-397$", O.CONNECTION),
    (r"[Hh]andshake|malformed buffer input|^-31[03]$|^-328$|^-404$", O.HANDSHAKE_FAILURE),
]

TABLES: dict[str, list[tuple[str, Outcome]]] = {
    "rustls": _RUSTLS, "go": _GO, "openssl": _OPENSSL, "java": _JAVA, "node": _NODE, "gnutls": _GNUTLS,
    "nss": _NSS, "curl": _CURL, "boringssl": _CURL, "wolfssl": _WOLFSSL,
    # kube-rs: "ServiceError: client error (Connect): <rustls or OpenSSL text>"
    "kube": _RUSTLS[:-1] + _OPENSSL + [(r"client error \((Connect|SendRequest|Canceled)\)", O.CONNECTION)],
}
_COMPILED = {family: [(re.compile(p), o, p) for p, o in table] for family, table in TABLES.items()}
_COMMON_COMPILED = [(re.compile(p), o, p) for p, o in _COMMON]


#: The server's handshake signature (TLS 1.3 CertificateVerify, TLS 1.2 ServerKeyExchange) does not
#: verify with the leaf's key, in each stack's own words: what a substitute key causes once the chain
#: is accepted (tlsmatrix replay without the server's key; tests/integration/test_replay.py measures
#: each stack). Never a certificate's signature: those say "certificate" (OpenSSL's
#: X509_V_ERR_CERT_SIGNATURE_FAILURE, webpki's BadSignature during path building).
#: an RSA signature made with another key fails inside the RSA code, with whatever check comes first
#: ("last octet invalid", "data too large for modulus", "salt length recovery failed", ...)
_RSA_PADDING = (r"[Rr][Ss][Aa] routines:|ERR_SSL_(FIRST_OCTET|LAST_OCTET|DATA_TOO_LARGE|PADDING|SLEN)"
                # OpenSSL 3.5 (trixie: node@20, curl@8.14) says it from the provider: any key type
                r"|provider signature failure|PROVIDER_SIGNATURE_FAILURE")
_HANDSHAKE_SIGNATURE: dict[str, str] = {
    "openssl": r"\[SSL: BAD_SIGNATURE\]|:bad signature|SSL routines::bad signature|" + _RSA_PADDING,
    "node": r"ERR_SSL_BAD_SIGNATURE|bad signature|" + _RSA_PADDING,
    "curl": r"bad signature|BAD_SIGNATURE|" + _RSA_PADDING,
    "boringssl": r"BAD_SIGNATURE|bad signature|" + _RSA_PADDING,
    "go": r"tls: invalid signature by the server certificate",
    "rustls": r"handshake signature",  # the probe marks it: webpki says BadSignature for both
    "java": r"(Invalid|Cannot verify) (the )?(CertificateVerify|ECDH ServerKeyExchange|DH ServerKeyExchange|ServerKeyExchange)? ?signature|signature verification failed",
    "gnutls": r"GNUTLS_E_PK_SIG_VERIFY_FAILED|Public key signature verification has failed",
    "nss": r"SEC_ERROR_BAD_SIGNATURE|SSL_ERROR_BAD_HANDSHAKE_HASH_VALUE",
    "wolfssl": r"verify problem based on signature|^-330$|Bad padding|^-193$",  # VERIFY_SIGN_ERROR, BAD_PADDING_E
}
_HANDSHAKE_SIGNATURE_RX = {family: re.compile(p) for family, p in _HANDSHAKE_SIGNATURE.items()}


def handshake_signature_failed(family: str, error: str, detail: str | None = None) -> bool:
    rx = _HANDSHAKE_SIGNATURE_RX.get(family)
    return bool(rx and (rx.search(error) or (detail and rx.search(detail))))


#: A Kubernetes API that *answered* with 401/403: the TLS handshake (and the request) worked, the
#: credentials did not (kube-rs "ApiError: … code: 403", the Python client's "(403)\nReason: Forbidden").
#: A TLS matrix counts that as ok; the raw error stays on the cell.
_API_REFUSAL = re.compile(r"(?s)^ApiError: .*?(?:code: (40[13])\b|\b(Unauthorized|Forbidden)\b)|^\((40[13])\)\s*Reason: (\w+)")


def classify_error(family: str, error: str, detail: str | None = None) -> Classification:
    """Classify one raw error (text and the probe's structured detail) from a stack of ``family``:
    the contract's prefixes, then the stack's own code, then its words."""
    code = native_code(family, error, detail)
    for rx, outcome, pattern in _COMMON_COMPILED:
        if rx.search(error):
            return Classification(outcome, shorten(family, error), pattern, code)
    m = _API_REFUSAL.search(error)
    if m:
        status = m.group(1) or m.group(3) or {"Unauthorized": "401", "Forbidden": "403"}[m.group(2)]
        return Classification(O.OK, f"TLS ok; API answered HTTP {status}", _API_REFUSAL.pattern, code)
    by_code = classify_code(family, code)
    if by_code is not None:
        return Classification(by_code, shorten(family, error), f"code {code}", code)
    for rx, outcome, pattern in _COMPILED.get(family, []):
        if rx.search(error) or (detail and rx.search(detail)):
            return Classification(outcome, shorten(family, error), pattern, code)
    return Classification(O.HANDSHAKE_FAILURE, shorten(family, error), None, code)


_KUBE_CANCELED = re.compile(r"client error \(Canceled\): operation was canceled: connection was not ready")


def classify(family: str, result: HandshakeResult, client_cert: bool = False) -> Classification:
    """``client_cert``: the job carried a client certificate, so an API that still answers 401/403
    did not get (or did not accept) it; that is a failure, not the anonymous TLS-ok case."""
    if result.ok:
        return Classification(O.OK, None, None)
    c = classify_error(family, result.error or "", result.error_detail)
    if client_cert and c.outcome is O.OK:
        return Classification(O.HANDSHAKE_FAILURE, f"client certificate not used: {c.short}", c.rule)
    if client_cert and family == "kube" and _KUBE_CANCELED.search(result.error or ""):
        # TLS 1.3: the server judges the client certificate after the client's handshake is done and
        # answers with an alert and a close; when hyper's connection task reads them before the request
        # is dispatched, the alert is lost and the request is "canceled" (seen under load): the server's
        # refusal all the same, as the alert says when it arrives in time
        return Classification(O.HANDSHAKE_FAILURE, "server closed after the handshake (client certificate refused)",
                              _KUBE_CANCELED.pattern)
    return c


# --- short forms for matrix cells ----------------------------------------------------------

# "…: UnknownIssuer", "…: Other(OtherError(EndEntityUsedAsCa))", "…: certificate expired: verification time …"
_RUSTLS_CERT = re.compile(r"invalid peer certificate: (?:Other\((?:OtherError\()?)?([A-Za-z0-9]+(?: expired| not valid yet)?)")
_RUSTLS_ALERT = re.compile(r"received fatal alert: ([A-Za-z0-9]+)")
_OPENSSL_ERROR_LINE = re.compile(r"(?:\b[0-9A-F]{8,16}:)?\berror:[0-9A-F]{8}:[^:]*:[^:]*:([^:]+)")
_RUSTLS_CLIENT_KEY = re.compile(r"(failed to parse private key)")
_RUSTLS_OTHER = re.compile(r"(?:peer is incompatible|peer misbehaved): ([A-Za-z0-9]+)")
_OPENSSL_VERIFY = re.compile(r"certificate verify failed: ([^(]+?)\s*\(_ssl")
_OPENSSL_REASON = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
_GO_REMOTE = re.compile(r"remote error: tls: (.+)$")
# GnuTLS' verification status ("- Status: " before it in gnutls-cli) and received alerts (gnutls-cli, gnutls probe)
_GNUTLS_STATUS = re.compile(r"The certificate is NOT trusted\. ([^|]+?)\s*(?:\||$)")
_GNUTLS_ALERT = re.compile(r"(?:Received alert \[\d+\]: |A TLS fatal alert has been received\. \| )([^|]+?)\s*(?:\||$)")
_PANIC = re.compile(r"^crash: thread '[^']*' panicked at \S+?:\d+:\d+: (.*)$")


def shorten(family: str, error: str, width: int = 44) -> str:
    """A few words that identify the error in a matrix cell; the full text stays in the JSON."""
    text = error.strip()
    if text.startswith("timeout:"):
        return "timeout"
    if text.startswith("crash:"):  # the panic message without its source location
        m = _PANIC.search(text)
        text = f"panic: {m.group(1)}" if m else text
    m = None
    # OpenSSL 3's queued error line ("80DC…0000:error:0A00041B:SSL routines:ssl3_read_bytes:tlsv1 alert
    # decrypt error:../ssl/…"), as Node and kube's openssl-tls print it: keep the reason
    m = _OPENSSL_ERROR_LINE.search(text)
    if m:
        text = m.group(1)
    if family == "kube":
        text = re.sub(r"^ServiceError: client error \(\w+\): (connection error: )?", "", text)
        family = "rustls" if ("invalid peer certificate" in text or "fatal alert" in text
                              or "failed to parse private key" in text) else "openssl"
    if family == "rustls":
        for rx, fmt in ((_RUSTLS_CERT, "{}"), (_RUSTLS_ALERT, "alert {}"), (_RUSTLS_OTHER, "{}"),
                        (_RUSTLS_CLIENT_KEY, "client key: {}")):
            m = rx.search(text)
            if m:
                text = fmt.format(m.group(1).removesuffix("Context"))
                break
    elif family == "openssl":
        m = _OPENSSL_VERIFY.search(text)
        if m:
            text = m.group(1)
        elif "Hostname mismatch" in text or "IP address mismatch" in text:
            text = text.split(",")[0]
        else:
            m = _OPENSSL_REASON.search(text)
            if m:
                text = m.group(1)
    elif family == "go":
        m = _GO_REMOTE.search(text)
        if m:
            text = "remote error: " + m.group(1)
        else:
            text = text.removeprefix("tls: failed to verify certificate: ")
            text = re.sub(r"^(x509: certificate is valid for) .*?, (not .*)$", r"\1 …, \2", text)
            text = text.split(": current time")[0]
    elif family == "gnutls":
        m = _GNUTLS_STATUS.search(text) or _GNUTLS_ALERT.search(text)
        if m:
            text = m.group(1) if m.re is _GNUTLS_STATUS else "alert " + m.group(1)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
