"""Chain defects: named properties of a chain that some TLS stacks reject and others accept.

A scenario's ``[[chain]]`` takes ``defect = "ID"`` (or a list: a product axis, ``"none"``
for the clean chain). :mod:`tlsmatrix.certs.pki` builds each defect with ``cryptography`` like every
other certificate; :mod:`tlsmatrix.certs.diagnose` recognises them in a user's real chain. This
module is the one place that names them and says what each one is.

"The CA" below is the leaf's issuer: the root for a chain without intermediates (the
trust anchor itself), else the last intermediate.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    id: str
    summary: str  # what the generated chain looks like
    min_intermediates: int = 0
    #: the tlsmatrix.certs.diagnose finding id this defect shows as (default: the defect's own id)
    finding: str | None = None

    @property
    def finding_id(self) -> str:
        return self.finding or self.id


DEFECTS: dict[str, Defect] = {d.id: d for d in (
    Defect("issuer-name-string-type",
           "the leaf's issuer name is the CA's subject encoded as PrintableString; the CA's subject "
           "is UTF8String (same text, other bytes)", finding="issuer-name-encoding"),
    Defect("issuer-name-case",
           "the leaf's issuer name is the CA's subject in upper case (same name for case-folding "
           "comparisons, other bytes)", finding="issuer-name-encoding"),
    Defect("issuer-name-whitespace",
           "the leaf's issuer name is the CA's subject with doubled spaces (same name once "
           "whitespace is collapsed, other bytes)", finding="issuer-name-encoding"),
    Defect("missing-intermediate", "the server sends its leaf without the intermediate; the CA file holds "
           "the root", min_intermediates=1),
    Defect("intermediate-in-ca-file", "the server sends its leaf without the intermediate; the CA file holds "
           "the root and the intermediate", min_intermediates=1),
    Defect("ca-file-leaf", "the CA file holds the server's leaf certificate instead of its CA",
           finding="ca-file-not-a-ca"),
    Defect("ca-file-intermediate", "the CA file holds the intermediate only (not the self-signed root)",
           min_intermediates=1),
    Defect("ca-no-basic-constraints", "the CA has no basicConstraints extension", finding="ca-not-marked-ca"),
    Defect("ca-x509-v1", "the CA is an X.509 version 1 certificate (no extensions at all)"),
    Defect("ca-no-key-cert-sign", "the CA's keyUsage lacks keyCertSign"),
    Defect("aki-mismatch", "the leaf's authorityKeyIdentifier does not match its CA's subjectKeyIdentifier"),
    Defect("chain-out-of-order", "the server sends its intermediates root side first (leaf, then the "
           "intermediate the root signed, …)", min_intermediates=2),
    Defect("ca-file-same-subject", "the CA file holds, before the real root, another root with the same "
           "subject and a different key"),
    Defect("expired-intermediate", "the CA (an intermediate) expired in 2021", min_intermediates=1,
           finding="expired-certificate"),
    Defect("wrong-ca", "the CA file holds another root with the same subject and a different key (another "
           "cluster's CA: every kubeadm CA is named \"kubernetes\")"),
    # certificate verdicts beyond the path (issue 19: what x509-limbo's corpus shows, as chains of our own)
    Defect("leaf-eku-client-auth", "the leaf's extendedKeyUsage is clientAuth only (no serverAuth)",
           finding="leaf-key-usage"),
    Defect("name-constraints-violation", "the CA's nameConstraints permit only DNS names under example.com; the "
           "leaf is named localhost", finding="name-constraints"),
    Defect("path-length-exceeded", "the first intermediate has pathLenConstraint 0 and issues another "
           "intermediate", min_intermediates=2),
    Defect("unknown-critical-extension", "the leaf carries a critical extension of an OID no stack knows",
           finding="critical-extension"),
    Defect("ca-as-leaf", "the leaf says basicConstraints CA:TRUE (a CA certificate serving TLS)"),
    Defect("malformed-san", "the leaf's subjectAltName extension holds bytes that are not a GeneralNames "
           "SEQUENCE", finding="malformed-certificate"),
)}


def parse_defect(text: object) -> Defect | None:
    """``"none"`` → None; an unknown id raises ValueError naming the known ones."""
    if text == "none":
        return None
    if not isinstance(text, str) or text not in DEFECTS:
        raise ValueError(f"unknown chain defect {text!r} (known: none, {', '.join(DEFECTS)})")
    return DEFECTS[text]
