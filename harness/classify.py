"""Raw stack errors → :class:`Outcome` classes, one table per stack family.

Each table is an ordered list of (regex, outcome); the first match wins. The strings the
tables were written against were captured from the real stacks (``tests/data/errors.json``,
refreshed by ``tlsmatrix capture-errors``) and the unit tests check every one of them.
An error that no rule knows is ``handshake_failure`` with ``rule = None``, so reports and
tests can spot a gap instead of hiding it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .model import HandshakeResult, Outcome

O = Outcome


@dataclass(frozen=True)
class Classification:
    outcome: Outcome
    short: str | None  # a few words for a matrix cell, e.g. "BadSignature"
    rule: str | None  # the pattern that matched; None when nothing did (fallback)


# Errors that the probe contract defines the same way for every stack.
_COMMON: list[tuple[str, Outcome]] = [
    (r"^timeout:", O.TIMEOUT),
    (r"^probe:", O.PROBE_ERROR),
]

_RUSTLS: list[tuple[str, Outcome]] = [
    (r"UnknownIssuer|UnknownRevocationStatus|NotValidForIssuer", O.UNTRUSTED),
    (r"NotValidForName|certificate not valid for name", O.HOSTNAME_MISMATCH),
    (r"invalid peer certificate: (Expired|NotValidYet)|certificate expired|certificate not valid yet", O.EXPIRED),
    (r"UnsupportedSignatureAlgorithm|UnsupportedCertVersion|UnsupportedNameType|UnsupportedCriticalExtension", O.UNSUPPORTED_ALGORITHM),
    (r"invalid peer certificate: BadSignature|BadSignature", O.BAD_SIGNATURE),
    (r"peer is incompatible: (ServerDoesNotSupportTls12Or13|.*Version)|alert: ProtocolVersion|fatal alert: ProtocolVersion", O.PROTOCOL_VERSION),
    (r"NoSignatureSchemesInCommon|SignatureAlgorithmsExtensionRequired|NoKxGroupsInCommon|NoCipherSuitesInCommon", O.HANDSHAKE_FAILURE),
    (r"received fatal alert", O.HANDSHAKE_FAILURE),
    (r"peer is incompatible|peer misbehaved|PeerMisbehaved|PeerIncompatible", O.HANDSHAKE_FAILURE),
    (r"invalid peer certificate: (BadEncoding|Other)", O.UNSUPPORTED_ALGORITHM),
    (r"[Cc]onnection refused|[Cc]onnection reset|[Bb]roken pipe|unexpected end of file|UnexpectedEof|peer closed connection|os error", O.CONNECTION),
]

_GO: list[tuple[str, Outcome]] = [
    (r"x509: certificate signed by unknown authority", O.UNTRUSTED),
    (r"x509: certificate is (valid for|not valid for any names)|x509: cannot validate certificate for", O.HOSTNAME_MISMATCH),
    (r"x509: certificate has expired or is not yet valid", O.EXPIRED),
    (r"x509: cannot verify signature: algorithm unimplemented|x509: unsupported elliptic curve|x509: signature algorithm .* is not supported|unsupported public key|insecure algorithm", O.UNSUPPORTED_ALGORITHM),
    (r"x509: .*(verification error|signature)|tls: invalid signature by the server certificate|crypto/.*verification error", O.BAD_SIGNATURE),
    (r"protocol version not supported|tls: server selected unsupported protocol version|tls: no supported versions", O.PROTOCOL_VERSION),
    (r"remote error: tls: |tls: no (mutual|common)|tls: server chose an unconfigured|unsupported signature algorithm|tls: ", O.HANDSHAKE_FAILURE),
    (r"connection refused|connection reset|broken pipe|EOF$|^EOF|no route to host|network is unreachable", O.CONNECTION),
]

_OPENSSL: list[tuple[str, Outcome]] = [
    (r"[Hh]ostname mismatch|IP address mismatch|certificate is not valid for", O.HOSTNAME_MISMATCH),
    (r"certificate has expired|certificate is not yet valid", O.EXPIRED),
    (r"unable to get local issuer certificate|self[- ]signed certificate|unable to get issuer certificate|unable to verify the first certificate|certificate chain too long|invalid CA certificate", O.UNTRUSTED),
    (r"certificate signature failure|BAD_SIGNATURE|bad signature|SIGNATURE_FAILURE", O.BAD_SIGNATURE),
    (r"unsupported algorithm|UNSUPPORTED_ALGORITHM|WRONG_CURVE|UNKNOWN_CERTIFICATE_TYPE|unknown (message digest|signature) algorithm|unsupported certificate", O.UNSUPPORTED_ALGORITHM),
    (r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_SSL_VERSION|NO_PROTOCOLS_AVAILABLE|unsupported protocol", O.PROTOCOL_VERSION),
    (r"HANDSHAKE_FAILURE|NO_SHARED|NO_SUITABLE|ALERT_|WRONG_SIGNATURE_TYPE|NO_CIPHERS|SSL: ", O.HANDSHAKE_FAILURE),
    (r"[Cc]onnection refused|[Cc]onnection reset|EOF occurred|Broken pipe|UNEXPECTED_EOF|Errno", O.CONNECTION),
]

TABLES: dict[str, list[tuple[str, Outcome]]] = {"rustls": _RUSTLS, "go": _GO, "openssl": _OPENSSL}
_COMPILED = {family: [(re.compile(p), o, p) for p, o in table] for family, table in TABLES.items()}
_COMMON_COMPILED = [(re.compile(p), o, p) for p, o in _COMMON]


def classify_error(family: str, error: str, detail: str | None = None) -> Classification:
    """Classify one raw error text (and the probe's structured detail) from a stack of ``family``."""
    for rx, outcome, pattern in _COMMON_COMPILED:
        if rx.search(error):
            return Classification(outcome, shorten(family, error), pattern)
    for text in (error, detail or ""):
        for rx, outcome, pattern in _COMPILED.get(family, []):
            if rx.search(text):
                return Classification(outcome, shorten(family, error), pattern)
    return Classification(O.HANDSHAKE_FAILURE, shorten(family, error), None)


def classify(family: str, result: HandshakeResult) -> Classification:
    if result.ok:
        return Classification(O.OK, None, None)
    return classify_error(family, result.error or "", result.error_detail)


# --- short forms for matrix cells ----------------------------------------------------------

_RUSTLS_CERT = re.compile(r"invalid peer certificate: ([A-Za-z0-9]+)")
_RUSTLS_ALERT = re.compile(r"received fatal alert: ([A-Za-z0-9]+)")
_RUSTLS_OTHER = re.compile(r"(?:peer is incompatible|peer misbehaved): ([A-Za-z0-9]+)")
_OPENSSL_VERIFY = re.compile(r"certificate verify failed: ([^(]+?)\s*\(_ssl")
_OPENSSL_REASON = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
_GO_REMOTE = re.compile(r"remote error: tls: (.+)$")


def shorten(family: str, error: str, width: int = 44) -> str:
    """A few words that identify the error in a matrix cell; the full text stays in the JSON."""
    text = error.strip()
    if text.startswith("timeout:"):
        return "timeout"
    m = None
    if family == "rustls":
        for rx, fmt in ((_RUSTLS_CERT, "{}"), (_RUSTLS_ALERT, "alert {}"), (_RUSTLS_OTHER, "{}")):
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
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
