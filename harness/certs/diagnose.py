"""Chain diagnosis: which property of a real chain makes which TLS stacks reject it.

Pure functions over ``cryptography`` certificates: the CA file a client trusts and the chain
a server presents (leaf first). Path building here is deliberately forgiving, as OpenSSL's
is (issuer names compared in canonical form, any order, the CA file searched too), so that
it finds the path the strict stacks miss and can say *why* they miss it. Each finding has a
stable ``id`` (the chain defects of :mod:`tlsmatrix.model.defects` that a chain shows, plus
``unsupported-key``, ``expired-certificate`` and ``hostname-mismatch``), the certificates
concerned and a sentence naming the stacks it breaks.

Which stacks a finding breaks is what ``scenarios/unknown-issuer.toml`` measured (its
committed baseline; ``tests/unit/test_diagnose.py`` checks this table against it).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtensionOID, NameOID

from .certread import ForeignCert, field_problems, is_unknown_algorithm, read_certificate_file, read_der, safe
from .tlswire import certificates_sent
from ..model.core import ACCEPTED, NOT_MEASURED, Result
from ..model.document import Finding


_WEBPKI = ("rustls-*", "kube-*rustls*", "kube-*aws-lc-rs")  # every rustls build: webpki verifies
_OPENSSL = ("openssl", "openssl-cli", "node", "curl", "libcurl", "boringssl", "kube-0.93-openssl", "kubernetes-python")
# a library and its command-line tool: the same verdicts
_GNUTLS = ("gnutls", "gnutls-cli")
_NSS = ("nss", "tstclnt")
_RING = ("rustls-ring*", "kube-0.93-rustls*", "kube-latest-rustls")  # rustls with the ring provider

# ML-DSA-44, -65 and -87 measured alike on every column. A CA's ML-DSA signature is verified only by OpenSSL 3.5
# (openssl@3.5, openssl-cli@3.5, node@20, curl@8.14), rustls with aws-lc-rs (0.23.46; kube >= 0.94) and BoringSSL
_NO_ML_DSA_CA = ("openssl", "openssl-cli", "openssl@1.1.1", "openssl@3.0", "openssl-cli@1.1.1", "openssl-cli@3.0",
                 "node", "node@12", "node@18", "libcurl", "curl", "libcurl@7.*", "curl@7.*", "rustls-ring*", "go",
                 "go@*", "java", "java@*", "gnutls", "gnutls@*", "gnutls-cli", "gnutls-cli@*", *_NSS, "nss@*",
                 "tstclnt@*", "wolfssl", "wolfssl@*", "kube-*rustls*", "kube-0.93-install-aws-lc-rs",
                 "kube-0.93-openssl", "kubernetes-python")
_NO_ML_DSA_CA_WHY = (
    "Only OpenSSL 3.5 (and Node 20, curl 8.14 on it), rustls with aws-lc-rs (0.23.46; kube >= 0.94 with "
    "aws-lc-rs) and BoringSSL verify an ML-DSA signature. OpenSSL up to 3.0 finds no issuer (untrusted; curl on "
    "it: a decode error, on 1.1.1: unsupported algorithm), rustls with ring says UnsupportedSignatureAlgorithm "
    "(rustls 0.23.12 with either provider and 0.21.12: BadSignature, 0.21.0: UnknownIssuer), Go 1.15-1.24, "
    "Java 11-21 and GnuTLS 3.7-3.8 refuse it, NSS says "
    "SEC_ERROR_BAD_SIGNATURE and wolfSSL cannot load the CA file.")
# An ML-DSA leaf: TLS 1.3 only (no TLS 1.2 signature scheme exists); the clients that offer ML-DSA schemes
_NO_ML_DSA_LEAF = (*(p for p in _NO_ML_DSA_CA if not p.startswith("kube")), "boringssl")
_NO_ML_DSA_LEAF_WHY = (
    "Only TLS 1.3 has ML-DSA signature schemes, offered by OpenSSL 3.5 (openssl@3.5, openssl-cli@3.5, node@20, "
    "curl@8.14) and rustls with aws-lc-rs: they accept an ML-DSA leaf on TLS 1.3; every other client offers none, "
    "so the server cannot sign the handshake (handshake_failure), and on TLS 1.2 every client fails. Of the "
    "servers only OpenSSL 3.5 and rustls with aws-lc-rs load an ML-DSA key.")

#: "id" or "id@position" → (client stacks it breaks, why). Measured: scenarios/unknown-issuer.toml
#: (its baseline; tests/unit/test_diagnose.py keeps the two in step), rustls-p521.toml, curves.toml.
KNOWLEDGE: dict[str, tuple[tuple[str, ...], str]] = {
    "issuer-name-encoding": (
        (*_WEBPKI, "go", *_GNUTLS, *_NSS, "wolfssl"),
        "rustls (webpki: UnknownIssuer), Go, GnuTLS, NSS and wolfSSL look an issuer up by the exact bytes of its "
        "name and find none; OpenSSL (and Node, curl, BoringSSL) and Java compare canonical forms and accept."),
    # measured with replay (tests/integration/test_replay.py): GnuTLS matches the issuer of a certificate
    # the server sends loosely and looks a trust anchor up by the exact bytes of its name
    "issuer-name-encoding@intermediate": (
        (*_WEBPKI, "go", *_NSS, "wolfssl"),
        "rustls (webpki: UnknownIssuer), Go, NSS and wolfSSL look an issuer up by the exact bytes of its name "
        "and find none; OpenSSL, Java and GnuTLS (for an issuer the server sends) accept."),
    "missing-intermediate": (
        ("*",),
        "No stack fetches a missing intermediate: every one fails (rustls: UnknownIssuer)."),
    "ca-file-not-a-ca": (
        ("openssl", "openssl-cli", "node", "kube-0.93-openssl", "kubernetes-python", *_WEBPKI, *_NSS),
        "rustls (UnknownIssuer), OpenSSL without PARTIAL_CHAIN, Node and NSS want the CA; Go, Java, GnuTLS, "
        "wolfSSL and curl trust a certificate that is itself in the CA file."),
    "ca-file-intermediate": (
        ("openssl", "openssl-cli", "node", "kube-0.93-openssl", "kubernetes-python"),
        "OpenSSL wants a self-signed anchor unless X509_V_FLAG_PARTIAL_CHAIN is set (curl sets it); rustls, Go, "
        "Java, GnuTLS and NSS anchor on any certificate of the CA file."),
    "intermediate-in-ca-file": (
        (),
        "Every stack measured builds the path through the CA file's intermediate; a client with another CA "
        "file would fail (serve the intermediate)."),
    "ca-not-marked-ca@anchor": (
        ("go", "java"),
        "Go and Java reject such a trust anchor; rustls uses only an anchor's name and key, OpenSSL accepts it."),
    "ca-not-marked-ca@intermediate": (
        ("*",),
        "Every stack rejects it (rustls: EndEntityUsedAsCa; OpenSSL: invalid CA certificate)."),
    "ca-x509-v1@anchor": (
        ("wolfssl",),
        "Only wolfSSL rejects a v1 trust anchor."),
    "ca-x509-v1@intermediate": (
        ("*",),
        "Every stack rejects it (rustls: UnsupportedCertVersion; OpenSSL: invalid CA certificate)."),
    "ca-no-key-cert-sign@anchor": (
        (*_OPENSSL, "go", "java", *_GNUTLS),
        "OpenSSL, Go, Java and GnuTLS reject it; rustls ignores a CA's keyUsage, NSS and wolfSSL check "
        "intermediates only."),
    "ca-no-key-cert-sign@intermediate": (
        (*_OPENSSL, "go", "java", *_GNUTLS, *_NSS, "wolfssl"),
        "Every stack but rustls rejects it (rustls ignores a CA's keyUsage)."),
    "aki-mismatch": (
        (*_OPENSSL, "java", *_GNUTLS, *_NSS, "wolfssl"),
        "OpenSSL, Java, GnuTLS, NSS and wolfSSL reject the issuer; rustls and Go ignore the AKI and check the "
        "signature."),
    "chain-out-of-order": (
        ("wolfssl",),
        "Only wolfSSL fails (no signer found); the other stacks reorder."),
    "ca-file-same-subject": (
        (),
        "Every stack measured tries each candidate (or matches the key identifier) and finds the right one."),
    "expired-certificate": (
        ("*",),
        "Every stack rejects it (wolfSSL reports no signer rather than an expiry)."),
    "wrong-ca": (
        ("*",),
        "Every stack rejects it; rustls finds the anchor by its name and says BadSignature, not UnknownIssuer."),
    "unsupported-key@signer-P-521": (
        _RING,
        "rustls' ring provider cannot verify a P-521 signature (BadSignature up to rustls 0.23.27, "
        "UnsupportedSignatureAlgorithm… from 0.23.28, UnknownIssuer with rustls 0.21.0-0.21.2); the aws-lc-rs "
        "provider (kube >= 0.94: feature aws-lc-rs) can."),
    "unsupported-key@leaf-P-521": (
        (*_RING, "boringssl"),
        "ring and BoringSSL offer no ecdsa_secp521r1_sha512, so the server cannot sign the handshake; rustls "
        "offers no secp521r1 group either, so an OpenSSL TLS 1.2 server fails even aws-lc-rs."),
    "unsupported-key@signer-Ed25519": (
        _NSS,
        "NSS 3.87 cannot import an Ed25519 trust anchor."),
    # measured: scenarios/certificate-verdicts.toml (its baseline; tests/unit/test_diagnose.py)
    "leaf-key-usage": (
        ("*",),
        "Every stack rejects a leaf whose extendedKeyUsage lacks serverAuth (key_usage: OpenSSL "
        "X509_V_ERR_INVALID_PURPOSE, webpki InvalidPurpose, Go IncompatibleUsage, NSS INADEQUATE_CERT_TYPE)."),
    "name-constraints": (
        ("*",),
        "Every stack enforces a CA's nameConstraints on the server name (GnuTLS says only that the chain "
        "\"violates the signer's constraints\")."),
    "path-length-exceeded": (
        ("*",),
        "Every stack enforces pathLenConstraint (wolfSSL reports it as no signer found, GnuTLS as the signer's "
        "constraints)."),
    "critical-extension": (
        ("*",),
        "Every stack rejects a certificate with a critical extension it does not know (RFC 5280 4.2)."),
    "malformed-certificate": (
        ("*",),
        "Every stack measured refuses a leaf whose subjectAltName does not parse, each in its own words "
        "(malformed_certificate, untrusted, hostname_mismatch); other malformed parts depend on the stack."),
    "ca-as-leaf": (
        (*_WEBPKI, *_NSS),
        "rustls (webpki: CaUsedAsEndEntity) and NSS (INADEQUATE_CERT_TYPE) refuse a CA certificate as the server's "
        "certificate; OpenSSL, Go, Java, GnuTLS and wolfSSL accept it."),
    "unsupported-key@leaf-Ed25519": (
        (*_NSS, "boringssl"),
        "NSS and BoringSSL do not offer ed25519 handshake signatures by default."),
    # measured: docs/stacks.md "ML-DSA and Ed448 certificates" (every host stack and release column; the
    # Kubernetes clients for a CA key only: the go server, the only one they can reach, loads neither leaf key)
    "unsupported-key@signer-Ed448": (
        (*_WEBPKI, "go", "go@*", "java@11", *_NSS, "nss@*", "tstclnt@*", "boringssl"),
        "rustls (every version and provider; UnsupportedSignatureAlgorithm, BadSignature in 0.23.12 and 0.21.12, "
        "UnknownIssuer in 0.21.0), Go (1.15-1.24), Java 11, NSS (SEC_ERROR_BAD_SIGNATURE; tstclnt's certutil cannot "
        "import the CA) and BoringSSL cannot verify an Ed448 signature; OpenSSL 1.1.1-3.5, Java 17 and 21, Node, "
        "GnuTLS, curl and wolfSSL can."),
    "unsupported-key@leaf-Ed448": (
        ("rustls-*", "go", "go@*", "java@11", *_NSS, "nss@*", "tstclnt@*", "boringssl"),
        "rustls, Go, Java 11, NSS and BoringSSL offer no ed448 signature scheme, so the server cannot sign the "
        "handshake (handshake_failure); OpenSSL, Java 17 and 21, Node, GnuTLS, curl and wolfSSL accept the leaf. "
        "Of the servers only OpenSSL and GnuTLS load an Ed448 key."),
    **{f"unsupported-key@signer-ML-DSA-{level}": (_NO_ML_DSA_CA, _NO_ML_DSA_CA_WHY) for level in (44, 65, 87)},
    **{f"unsupported-key@leaf-ML-DSA-{level}": (_NO_ML_DSA_LEAF, _NO_ML_DSA_LEAF_WHY) for level in (44, 65, 87)},
}

_SPKI = PublicFormat.SubjectPublicKeyInfo


# --- names ------------------------------------------------------------------------------


def canonical_name(name: x509.Name | None) -> tuple | None:
    """The name as OpenSSL compares it (x509_name_canon): string types folded to text, ASCII
    case folded, leading/trailing whitespace dropped and inner runs collapsed to one space.
    None for a name that does not parse (see harness/certs/certread.py)."""
    if name is None:
        return None
    return tuple(
        tuple(sorted((a.oid.dotted_string, " ".join(str(a.value).lower().split())) for a in rdn))
        for rdn in name.rdns
    )


def _name_difference(issuer: x509.Name, subject: x509.Name) -> str:
    pairs = list(zip(issuer, subject))
    if any(a._type != b._type for a, b in pairs):  # the ASN.1 string type of each value
        kinds = sorted({f"{a._type.name} vs {b._type.name}" for a, b in pairs if a._type != b._type})
        return f"string type ({', '.join(kinds)})"
    if any(a.value != b.value and a.value.lower() == b.value.lower() for a, b in pairs):
        return "letter case"
    return "whitespace"


def describe(cert: x509.Certificate | None) -> str:
    return name_text(safe(lambda: cert.subject)) if cert is not None else "(unparsable certificate)"


def name_text(name: x509.Name | None) -> str:
    if name is None:
        return "(unparsable name)"
    cn = safe(lambda: name.get_attributes_for_oid(NameOID.COMMON_NAME), [])
    return f"CN={cn[0].value}" if cn else safe(name.rfc4514_string) or "(empty name)"


def subject_of(cert: x509.Certificate) -> x509.Name | None:
    return safe(lambda: cert.subject)


def issuer_of(cert: x509.Certificate) -> x509.Name | None:
    return safe(lambda: cert.issuer)


# --- certificate facts --------------------------------------------------------------------


def _ext(cert: x509.Certificate, oid) -> x509.ExtensionType | None:
    """The extension's value; None when absent or when the extensions do not parse (a finding)."""
    return safe(lambda: cert.extensions.get_extension_for_oid(oid).value)


def is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(bc and bc.ca)


def is_self_issued(cert: x509.Certificate) -> bool:
    issuer = canonical_name(issuer_of(cert))
    return issuer is not None and issuer == canonical_name(subject_of(cert))


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """Whether ``issuer``'s key made ``cert``'s signature (names are not compared); None when the
    diagnosis cannot tell: a key or signature algorithm cryptography does not read (SLH-DSA), a finding
    of its own (``unknown-algorithm``)."""
    try:
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, cert.signature_algorithm_parameters,
                       cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, cert.signature_algorithm_parameters)
        elif isinstance(key, tuple(cls for cls, _ in _PURE_KEY_NAMES)):  # EdDSA, ML-DSA: the signature is over the TBS
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return None
    except (InvalidSignature, ValueError, TypeError):
        return False
    except Exception:  # noqa: BLE001 - an unknown or malformed algorithm (harness/certs/certread.py)
        return None
    return True


# --- the path -----------------------------------------------------------------------------


@dataclass
class _Place:
    given: ForeignCert
    where: str  # "chain[1]" or "CA file[0]"

    @property
    def cert(self) -> x509.Certificate:  # only places on a path: their DER parsed (see _usable)
        assert self.given.cert is not None
        return self.given.cert

    def label(self) -> str:
        return f"{self.where} {describe(self.given.cert)}"


def _usable(place: _Place) -> bool:
    """A certificate a path can go through: it parses and so do its names."""
    cert = place.given.cert
    return cert is not None and subject_of(cert) is not None and issuer_of(cert) is not None


@dataclass
class _Path:
    links: list[tuple[_Place, _Place]]  # (certificate, its issuer), leaf first
    anchor: _Place | None  # the CA-file certificate the path ends at
    dead_end: _Place | None  # the certificate whose issuer is nowhere
    name_twins: list[_Place]  # CA-file certificates with the dead end's issuer name but another key


def _issuer_of(place: _Place, pool: list[_Place]) -> _Place | None:
    named = [p for p in pool if canonical_name(p.cert.subject) == canonical_name(place.cert.issuer)]
    verdicts = [(p, signed_by(place.cert, p.cert)) for p in named]
    # one whose signature checks out; else one whose signature cannot be checked here (an algorithm
    # cryptography does not read): its name fits, and "another key" would be a guess
    return next((p for p, v in verdicts if v), None) or next((p for p, v in verdicts if v is None), None)


def build_path(ca: list[_Place], sent: list[_Place]) -> _Path:
    """Leaf → … → a CA-file certificate, the forgiving way (canonical names, any order). Only
    certificates that parse take part (callers pass :func:`_usable` ones; the leaf is sent[0])."""
    anchors_der = {p.given.der: p for p in ca}
    links: list[tuple[_Place, _Place]] = []
    current = sent[0]
    for _ in range(len(sent) + len(ca) + 1):
        if current.given.der in anchors_der:  # the certificate itself is trusted
            return _Path(links, anchors_der[current.given.der], None, [])
        issuer = _issuer_of(current, ca) or _issuer_of(current, [p for p in sent if p is not current])
        if issuer is None:
            twins = [p for p in ca if canonical_name(p.cert.subject) == canonical_name(current.cert.issuer)]
            return _Path(links, None, current, twins)
        links.append((current, issuer))
        if issuer in ca:
            return _Path(links, issuer, None, [])
        current = issuer
    return _Path(links, None, current, [])  # a loop: treat as a dead end


# --- findings -----------------------------------------------------------------------------


def _finding(id_: str, detail: str, places: list[_Place], position: str | None = None) -> Finding:
    affects, why = KNOWLEDGE.get(f"{id_}@{position}") or KNOWLEDGE.get(id_) or ((), "")
    text = f"{detail} {why}".strip()
    return Finding(id_, text, tuple(p.label() for p in places), affects)


def _name_findings(path: _Path) -> list[Finding]:
    out = []
    for cert, issuer in path.links:
        if cert.cert.issuer.public_bytes() != issuer.cert.subject.public_bytes():
            how = _name_difference(cert.cert.issuer, issuer.cert.subject)
            out.append(_finding("issuer-name-encoding",
                                f"{cert.where}'s issuer name equals the subject of {issuer.where} only after "
                                f"canonicalisation (they differ in {how}).", [cert, issuer],
                                "anchor" if issuer is path.anchor else "intermediate"))
    return out


def _aki_findings(path: _Path) -> list[Finding]:
    out = []
    for cert, issuer in path.links:
        aki = _ext(cert.cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        skid = _ext(issuer.cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
        own = skid.digest if skid else safe(
            lambda: x509.SubjectKeyIdentifier.from_public_key(issuer.cert.public_key()).digest)
        if aki is not None and own is not None and aki.key_identifier and aki.key_identifier != own:
            out.append(_finding("aki-mismatch",
                                f"{cert.where}'s authorityKeyIdentifier {aki.key_identifier.hex()[:16]}… is not the "
                                f"key identifier of {issuer.where}, which signed it.", [cert, issuer]))
    return out


def _dead_end_findings(path: _Path, sent: list[_Place]) -> list[Finding]:
    end = path.dead_end
    if end is None:
        return []
    issuer = name_text(end.cert.issuer)
    if path.name_twins:
        return [_finding("wrong-ca", f"the CA file holds a certificate named like {end.where}'s issuer ({issuer}) "
                                     "but with another key: it is another CA of the same name (another "
                                     "cluster's CA?).", [end, *path.name_twins])]
    if is_self_issued(end.cert):
        return [_finding("wrong-ca", f"the chain ends at its own root {describe(end.cert)}, which the CA file "
                                     "does not hold: nothing in the chain leads to the CA file.", [end])]
    return [_finding("missing-intermediate",
                     f"{end.where} is issued by {issuer}, which neither the server sends nor the CA file holds: the "
                     "server omits that intermediate (or the CA file is not the one this chain leads to).",
                     [end])]


def _anchor_findings(path: _Path, ca: list[_Place], sent: list[_Place]) -> list[Finding]:
    anchor = path.anchor
    if anchor is None:
        return []
    if not path.links and not is_ca(anchor.cert):
        return [_finding("ca-file-not-a-ca", f"the CA file holds the server's own certificate ({describe(anchor.cert)}, "
                                             "not a CA) where its CA belongs.", [anchor])]
    out = []
    if not is_self_issued(anchor.cert) and _issuer_of(anchor, ca) is None:
        out.append(_finding("ca-file-intermediate", f"the CA file's certificate that the chain reaches, "
                                                    f"{describe(anchor.cert)}, is an intermediate: its root is not "
                                                    "in the CA file.", [anchor]))
    if len(sent) == 1 and path.links and not is_self_issued(anchor.cert):
        out.append(_finding("intermediate-in-ca-file", "the server sends only its leaf; the path to the root goes "
                                                       f"through {anchor.where}, an intermediate from the CA file.",
                            [sent[0], anchor]))
    return out


def _ca_findings(path: _Path) -> list[Finding]:
    """CA certificates on the path that do not say they are CAs (position: anchor or intermediate)."""
    out = []
    for _, issuer in path.links:
        position = "anchor" if issuer is path.anchor else "intermediate"
        role = "the trust anchor" if position == "anchor" else "an intermediate"
        cert = issuer.cert
        if cert.version is x509.Version.v1:
            out.append(_finding("ca-x509-v1", f"{issuer.where}, {role}, is an X.509 v1 certificate (it cannot say "
                                              "it is a CA).", [issuer], position))
            continue
        bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
        if bc is None or not bc.ca:
            what = "has no basicConstraints" if bc is None else "says CA:FALSE"
            out.append(_finding("ca-not-marked-ca", f"{issuer.where}, {role}, {what}.", [issuer], position))
        usage = _ext(cert, ExtensionOID.KEY_USAGE)
        if usage is not None and not usage.key_cert_sign:
            out.append(_finding("ca-no-key-cert-sign", f"{issuer.where}, {role}, has a keyUsage without "
                                                       "keyCertSign.", [issuer], position))
    return out


def _order_findings(path: _Path, sent: list[_Place]) -> list[Finding]:
    on_path = [issuer for _, issuer in path.links if issuer in sent]
    if on_path and on_path != sent[1:len(on_path) + 1]:
        return [_finding("chain-out-of-order", "the server sends its certificates as "
                                               f"{', '.join(p.where for p in sent)}; the path takes them as "
                                               f"{', '.join(p.where for p in [sent[0], *on_path])}.", sent)]
    return []


def _same_subject_findings(ca: list[_Place]) -> list[Finding]:
    groups: dict[tuple, list[_Place]] = {}
    for p in filter(_usable, ca):
        groups.setdefault(canonical_name(p.cert.subject), []).append(p)
    out = []
    for places in groups.values():
        keys = {safe(lambda: p.cert.public_key().public_bytes(Encoding.DER, _SPKI)) for p in places} - {None}
        if len(keys) > 1:
            out.append(_finding("ca-file-same-subject", f"the CA file holds {len(places)} certificates named "
                                                        f"{describe(places[0].cert)} with different keys.", places))
    return out


def _expiry_findings(path: _Path, now: dt.datetime) -> list[Finding]:
    places = [cert for cert, _ in path.links] + ([path.anchor] if path.anchor else [])
    out = []
    for p in places:
        window = safe(lambda: (p.cert.not_valid_before_utc, p.cert.not_valid_after_utc))
        if window and not window[0] <= now <= window[1]:
            out.append(_finding("expired-certificate", f"{p.where} is valid from {p.cert.not_valid_before_utc:%Y-%m-%d} "
                                                       f"to {p.cert.not_valid_after_utc:%Y-%m-%d}, not now.", [p]))
    return out


def _key_name(cert: x509.Certificate) -> str:
    key = safe(cert.public_key)
    return "unknown" if key is None else key_name(key)


#: the pure-signature key classes and the names tlsmatrix gives them (harness/model/core.py KEY_NAMES)
_PURE_KEY_NAMES = ((ed25519.Ed25519PublicKey, "Ed25519"), (ed448.Ed448PublicKey, "Ed448"),
                   (mldsa.MLDSA44PublicKey, "ML-DSA-44"), (mldsa.MLDSA65PublicKey, "ML-DSA-65"),
                   (mldsa.MLDSA87PublicKey, "ML-DSA-87"))


def key_name(key) -> str:
    """A public key's type as tlsmatrix names key types (P-256, RSA-2048, Ed25519, Ed448, ML-DSA-65; else
    cryptography's name: a curve such as secp192r1, a class name)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(key.curve.name, key.curve.name)
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    named = next((name for cls, name in _PURE_KEY_NAMES if isinstance(key, cls)), None)
    return named or type(key).__name__.removesuffix("PublicKey").removeprefix("_")


def _key_findings(path: _Path, sent: list[_Place]) -> list[Finding]:
    out = []
    signers = {id(issuer): issuer for _, issuer in path.links}.values()
    for p in signers:
        name = _key_name(p.cert)
        if f"unsupported-key@signer-{name}" in KNOWLEDGE:
            article = "an" if name.startswith(("RSA", "Ed", "ML-")) else "a"  # by sound: an RSA-2048, an ML-DSA-65
            out.append(_finding("unsupported-key", f"{p.where} signs with {article} {name} key.", [p], f"signer-{name}"))
    leaf = _key_name(sent[0].cert)
    if f"unsupported-key@leaf-{leaf}" in KNOWLEDGE:
        out.append(_finding("unsupported-key", f"the leaf's key is {leaf}.", [sent[0]], f"leaf-{leaf}"))
    return out


def _usage_findings(path: _Path, sent: list[_Place]) -> list[Finding]:
    """The leaf's extendedKeyUsage without serverAuth; a CA certificate as the leaf."""
    leaf, out = sent[0], []
    eku = _ext(leaf.cert, ExtensionOID.EXTENDED_KEY_USAGE)
    server_auth = (x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    if eku is not None and not any(u in eku for u in server_auth):
        uses = ", ".join(getattr(u, "_name", u.dotted_string) for u in eku) or "none"
        out.append(_finding("leaf-key-usage", f"the leaf's extendedKeyUsage ({uses}) does not include serverAuth.",
                            [leaf]))
    if is_ca(leaf.cert) and path.links:
        out.append(_finding("ca-as-leaf", "the leaf is a CA certificate (basicConstraints CA:TRUE).", [leaf]))
    return out


def _constraint_findings(path: _Path, servername: str | None) -> list[Finding]:
    """CAs on the path whose pathLenConstraint or DNS nameConstraints the chain below them breaks."""
    out = []
    cas = [issuer for _, issuer in path.links]
    for depth, ca in enumerate(cas):
        bc = _ext(ca.cert, ExtensionOID.BASIC_CONSTRAINTS)
        below = sum(1 for c in cas[:depth] if not is_self_issued(c.cert))  # intermediates under this CA
        if bc is not None and bc.path_length is not None and below > bc.path_length:
            out.append(_finding("path-length-exceeded", f"{ca.where} allows {bc.path_length} intermediate(s) below "
                                                         f"it (pathLenConstraint); the path has {below}.", [ca]))
        nc = _ext(ca.cert, ExtensionOID.NAME_CONSTRAINTS)
        name = (servername or "").lower()
        if nc is not None and name and not _ip(name) and not _dns_allowed(name, nc):
            out.append(_finding("name-constraints", f"{ca.where}'s nameConstraints do not allow the name {name!r}.",
                                [ca]))
    return out


def _ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _dns_allowed(name: str, nc: x509.NameConstraints) -> bool:
    def within(subtree: str) -> bool:
        subtree = subtree.lower().lstrip(".")
        return name == subtree or name.endswith("." + subtree)
    permitted = [g.value for g in nc.permitted_subtrees or () if isinstance(g, x509.DNSName)]
    excluded = [g.value for g in nc.excluded_subtrees or () if isinstance(g, x509.DNSName)]
    return (not permitted or any(map(within, permitted))) and not any(map(within, excluded))


def _critical_findings(path: _Path, sent: list[_Place]) -> list[Finding]:
    """Critical extensions cryptography does not know (RFC 5280 4.2: a stack that does not must reject)."""
    places = [sent[0], *(issuer for _, issuer in path.links)]
    out = []
    for p in places:
        unknown = [e.oid.dotted_string for e in safe(lambda: list(p.cert.extensions), [])
                   if e.critical and isinstance(e.value, x509.UnrecognizedExtension)]
        if unknown:
            out.append(_finding("critical-extension", f"{p.where} has critical extension(s) {', '.join(unknown)} "
                                                       "that are not among RFC 5280's.", [p]))
    return out


def leaf_name(leaf: ForeignCert) -> str | None:
    """The first DNS (else IP) name of a leaf's subjectAltName: the name a client would have asked for."""
    san = _ext(leaf.cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME) if leaf.cert is not None else None
    if san is None:
        return None
    dns = [n for n in safe(lambda: san.get_values_for_type(x509.DNSName), []) if "*" not in n]
    ips = safe(lambda: san.get_values_for_type(x509.IPAddress), [])
    return dns[0] if dns else (str(ips[0]) if ips else None)


def _hostname_findings(sent: list[_Place], servername: str | None) -> list[Finding]:
    if not servername or safe(lambda: sent[0].cert.extensions) is None:  # unparsable: a finding of its own
        return []
    san = _ext(sent[0].cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    try:
        wanted: object = ipaddress.ip_address(servername)
        names = san.get_values_for_type(x509.IPAddress) if san else []
        match = wanted in names
    except ValueError:
        names = san.get_values_for_type(x509.DNSName) if san else []
        match = any(_dns_match(servername.lower(), n.lower()) for n in names)
    if match:
        return []
    return [_finding("hostname-mismatch", f"the leaf is not valid for {servername!r} (its names: "
                                          f"{', '.join(map(str, names)) or 'none'}).", [sent[0]])]


def _dns_match(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.count(".") == pattern.count(".") and host.endswith(pattern[1:])
    return host == pattern


# --- entry points ---------------------------------------------------------------------------


def diagnose(ca_certs: list[x509.Certificate | ForeignCert], chain: list[x509.Certificate | ForeignCert],
             servername: str | None = None, now: dt.datetime | None = None) -> list[Finding]:
    """Findings for a CA file's certificates and a presented chain (leaf first), causes first.
    Certificates from outside may be malformed (harness/certs/certread.py): each part that does not
    parse is a finding, and the rest of the diagnosis goes on without that certificate."""
    if not ca_certs or not chain:
        raise ValueError("diagnosis needs at least one CA certificate and one chain certificate")
    ca = [_Place(_given(c), f"CA file[{i}]") for i, c in enumerate(ca_certs)]
    sent = [_Place(_given(c), f"chain[{i}]") for i, c in enumerate(chain)]
    found = _malformed_findings([*sent, *ca])
    if not _usable(sent[0]):
        return found  # no leaf to build a path from: what is wrong with it is the diagnosis
    usable_ca, usable = list(filter(_usable, ca)), list(filter(_usable, sent))
    path = build_path(usable_ca, usable)
    now = now or dt.datetime.now(dt.timezone.utc)
    return [*found, *_dead_end_findings(path, sent), *_name_findings(path), *_anchor_findings(path, usable_ca, usable),
            *_ca_findings(path), *_aki_findings(path), *_order_findings(path, usable), *_same_subject_findings(ca),
            *_expiry_findings(path, now), *_key_findings(path, sent), *_usage_findings(path, usable),
            *_constraint_findings(path, servername), *_critical_findings(path, usable),
            *_hostname_findings(sent, servername)]


def _given(cert: x509.Certificate | ForeignCert) -> ForeignCert:
    if isinstance(cert, ForeignCert):
        return cert
    return ForeignCert(cert.public_bytes(Encoding.DER), cert, field_problems(cert))


#: algorithms cryptography does not read, by OID, so a finding can name them: SLH-DSA (FIPS 205; NIST's
#: CSOR arcs 2.16.840.1.101.3.4.3.20-31), which OpenSSL 3.5 signs and verifies
NAMED_OIDS = {f"2.16.840.1.101.3.4.3.{20 + i}": f"SLH-DSA-{p}" for i, p in enumerate(
    f"{h}-{n}{v}" for h in ("SHA2", "SHAKE") for n in (128, 192, 256) for v in "sf")}


def _name_oids(text: str) -> str:
    """``… OID: 2.16.840.1.101.3.4.3.20 …`` with the algorithm's name after each OID NAMED_OIDS knows."""
    for oid, name in NAMED_OIDS.items():
        text = re.sub(rf"{re.escape(oid)}(?![.\d])", f"{oid} ({name})", text)
    return text


def _malformed_findings(places: list[_Place]) -> list[Finding]:
    """One finding per certificate with parts that do not parse (``unknown-algorithm`` when all
    of them are algorithms cryptography does not implement, not broken bytes)."""
    out = []
    for p in places:
        if not p.given.problems:
            continue
        unknown = all(is_unknown_algorithm(words) for _, words in p.given.problems)
        parts = _name_oids("; ".join(f"{name}: {words}" for name, words in p.given.problems))
        if unknown:
            out.append(_finding("unknown-algorithm", f"{p.where} uses an algorithm the diagnosis cannot read ({parts}); "
                                                     "the cells show which stacks implement it.", [p]))
        else:
            out.append(_finding("malformed-certificate", f"{p.where} does not parse ({parts}).", [p]))
    return out


def diagnose_files(ca_file: str | Path, chain_file: str | Path, servername: str | None = None) -> list[Finding]:
    return diagnose(read_certificate_file(ca_file, "CA file"), read_certificate_file(chain_file, "chain file"),
                    servername)


def with_finding(result: Result, findings: list[Finding]) -> Result:
    """The result, naming the first finding that breaks its client stack when the cell failed."""
    if result.outcome in NOT_MEASURED or result.outcome in ACCEPTED:
        return result
    found = next((f.id for f in findings if f.affects_client(result.cell.client)), None)
    return dataclasses.replace(result, finding=found) if found else result


# --- a live server's chain ------------------------------------------------------------------


def fetch_chain(host: str, port: int, servername: str, timeout_s: float,
                client_cert: tuple[str, str] | None = None) -> list[ForeignCert]:
    """The certificates a server sends, in its order, as sent. This handshake verifies nothing on
    purpose (it only looks at the chain) and decides no cell: the client stacks do that. When
    OpenSSL cannot take the chain apart (a certificate that does not parse), a TLS 1.2 ClientHello
    of our own reads the Certificate message unparsed (harness/certs/tlswire.py)."""
    try:
        return _fetch_with_openssl(host, port, servername, timeout_s, client_cert)
    except ssl.SSLError:
        ders = certificates_sent(host, port, servername if not _ip(servername or "") else None, timeout_s)
        if not ders:
            raise
        return [read_der(d) for d in ders]


def _fetch_with_openssl(host: str, port: int, servername: str, timeout_s: float,
                        client_cert: tuple[str, str] | None) -> list[ForeignCert]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(*client_cert)
    with socket.create_connection((host, port), timeout=timeout_s) as raw:
        with context.wrap_socket(raw, server_hostname=servername or None) as tls:
            # CPython 3.10-3.12 have the unverified chain only on the private _sslobj (public from 3.13)
            sslobj = getattr(tls, "_sslobj", tls)
            chain = sslobj.get_unverified_chain() if hasattr(sslobj, "get_unverified_chain") else None
            ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain] if chain else [tls.getpeercert(True)]
    return [read_der(d) for d in ders if d]


def render_findings(findings: list[Finding]) -> str:
    if not findings:
        return "diagnosis: no finding (the chain leads to the CA file and looks well-formed)\n"
    lines = ["diagnosis:"]
    for f in findings:
        lines.append(f"  [{f.id}] {f.detail}")
        lines.append(f"      certificates: {'; '.join(f.certificates)}")
        if f.affects:
            lines.append(f"      breaks: {', '.join(f.affects)}")
    return "\n".join(lines) + "\n"
