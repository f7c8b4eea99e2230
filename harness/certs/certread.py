"""Certificates from outside (a user's file, a server's bytes), read without trusting them.

tlsmatrix's own chains always parse; a reporter's or a server's need not: a flipped bit, a
length that lies, a duplicated or malformed extension, an algorithm ``cryptography`` does
not know. Nothing here raises on such bytes. Each certificate keeps its exact DER (a server
presents it byte for byte, whatever it holds), the parsed certificate when the DER parses,
and the *problems* found on reading each field: the field and the parser's own words.
:mod:`tlsmatrix.certs.diagnose` turns problems into ``malformed-certificate`` / ``unknown-algorithm``
findings, so a diagnosis, and every handshake result beside it, survive any certificate.

``cryptography`` parses lazily: ``load_der_x509_certificate`` checks the outer structure,
and names, extensions, the key and the signature algorithm are parsed when first read. So
:func:`field_problems` reads each of them once, and every accessor below catches what a
malformed field raises (ValueError, DuplicateExtension, UnsupportedGeneralNameType,
UnsupportedAlgorithm, ...): any exception class, since a new cryptography may add one.
"""
from __future__ import annotations

import base64
import binascii
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..model.errors import TlsmatrixError

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE")  # RFC 7468 and its legacy label


class CertificateFileError(TlsmatrixError):
    """A certificate file that holds no certificate at all (the message names the file and why)."""

    path: Path | None = None  # the file, when the error is about one (a caller names its option by it)


@dataclass(frozen=True)
class ForeignCert:
    """One certificate as given: its exact DER, the parsed form when the DER parses, and what did not."""

    der: bytes
    cert: x509.Certificate | None
    #: (field, the parser's words) for each part that does not parse; the whole DER: field "certificate"
    problems: tuple[tuple[str, str], ...] = field(default=())

    @property
    def parsed(self) -> bool:
        return self.cert is not None


def _words(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def read_der(der: bytes) -> ForeignCert:
    """Parse one certificate's DER, never raising."""
    try:
        with warnings.catch_warnings():  # e.g. a serial number that is not positive: tolerated, said elsewhere
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
    except Exception as exc:  # noqa: BLE001 - foreign bytes: whatever the parser says is a finding
        return ForeignCert(der, None, (("certificate", _words(exc)),))
    return ForeignCert(der, cert, field_problems(cert))


#: the lazily parsed parts of a certificate, each read once by field_problems
_FIELDS: tuple[tuple[str, Callable[[x509.Certificate], Any]], ...] = (
    ("version", lambda c: c.version),
    ("serial number", lambda c: c.serial_number),
    ("issuer", lambda c: [a.value for a in c.issuer]),
    ("subject", lambda c: [a.value for a in c.subject]),
    ("validity", lambda c: (c.not_valid_before_utc, c.not_valid_after_utc)),
    ("extensions", lambda c: [e.value for e in c.extensions]),
    ("public key", lambda c: c.public_key()),
    ("signature algorithm", lambda c: c.signature_hash_algorithm),
)


def field_problems(cert: x509.Certificate) -> tuple[tuple[str, str], ...]:
    out = []
    with warnings.catch_warnings():  # cryptography warns of what it tolerates (a 7-letter country name)
        warnings.simplefilter("ignore")
        for name, read in _FIELDS:
            try:
                read(cert)
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                out.append((name, _words(exc)))
    return tuple(out)


def is_unknown_algorithm(words: str) -> bool:
    """A problem that is an algorithm cryptography does not implement, not broken bytes."""
    return words.startswith(UnsupportedAlgorithm.__name__)


def split_pem(data: bytes) -> list[bytes | str]:
    """The DER of every certificate block of a PEM text, in order; a block whose base64 does not
    decode is its error text instead. Blocks of other labels (keys, CRLs) are not certificates."""
    out: list[bytes | str] = []
    for label, body in _PEM.findall(data):
        if label not in _CERT_LABELS:
            continue
        try:
            out.append(base64.b64decode(b"".join(body.split()), validate=True))
        except (binascii.Error, ValueError) as exc:
            out.append(f"the PEM block's base64 does not decode ({exc})")
    return out


def read_certificates(data: bytes, what: str) -> list[ForeignCert]:
    """Every certificate of a PEM (or single-DER) text, malformed ones included. Raises only when
    the text holds no certificate block at all, naming ``what`` (e.g. "chain file chain.pem")."""
    blocks = split_pem(data)
    if not blocks and data[:1] == b"\x30":  # a DER file: one certificate
        blocks = [data]
    if not blocks:
        hint = " (it holds a private key, not a certificate)" if b"PRIVATE KEY-----" in data else ""
        raise CertificateFileError(f"{what} holds no PEM certificate block (-----BEGIN CERTIFICATE-----){hint}")
    return [read_der(b) if isinstance(b, bytes) else ForeignCert(b"", None, (("PEM", b),)) for b in blocks]


def read_certificate_file(path: str | Path, what: str) -> list[ForeignCert]:
    path = Path(path)
    try:
        return read_certificates(path.read_bytes(), f"{what} {path}")
    except OSError as exc:
        error = CertificateFileError(f"cannot read {what} {path}: {exc.strerror or exc}")
    except CertificateFileError as exc:
        error = exc
    error.path = path
    raise error from None


def pem_of(certs: list[ForeignCert]) -> bytes:
    """The certificates as PEM, byte for byte what was read (a block whose base64 was broken: empty)."""
    out = []
    for c in certs:
        body = base64.b64encode(c.der)
        lines = b"".join(body[i:i + 64] + b"\n" for i in range(0, len(body), 64))
        out.append(b"-----BEGIN CERTIFICATE-----\n" + lines + b"-----END CERTIFICATE-----\n")
    return b"".join(out)


# --- tolerant accessors: None when the field does not parse (field_problems already said why) ---


def safe(read: Callable[[], Any], default: Any = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read()
        except Exception:  # noqa: BLE001 - see the module docstring
            return default
