"""Certificate chains for any :class:`ChainSpec`, built with ``cryptography``, cached on disk.

Every certificate is a *node* identified by a hash of what it is: its key type, the hash
its issuer signs with, its role, its validity window and its issuer's node id. A node is
generated once and reused by every chain that contains it (the P-521 root of ten chains
is one key), so a second run generates nothing. Writes go to a temporary directory that is
renamed into place, so an interrupted run never leaves a half-written node behind.

All keys are TEST KEYS: file names say ``TEST-ONLY`` and subjects say so too.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, padding, rsa
from cryptography.x509.name import _ASN1Type  # the string type of a name attribute (PrintableString)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..model.errors import TlsmatrixError
from ..model.core import KEY_NAMES, CertSpec, ChainSpec, KeySpec

#: bump when the certificate profile changes, so caches are not reused across profiles
PROFILE_VERSION = 2

#: fixed validity windows: runs are reproducible and nothing expires under the nightly job
VALID_FROM = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
VALID_UNTIL = dt.datetime(2045, 1, 1, tzinfo=dt.timezone.utc)
EXPIRED_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
EXPIRED_UNTIL = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)

DEFAULT_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
ORGANIZATION = "tlsmatrix TEST PKI - test keys, never trust in production"

_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
#: the pure signers (no separate hash: cryptography signs them with algorithm None). ML-DSA certificates
#: need cryptography >= 49 (pyproject.toml's floor) on a backend with ML-DSA (OpenSSL >= 3.5, AWS-LC, BoringSSL)
_PURE_KEYS = {"Ed25519": ed25519.Ed25519PrivateKey, "Ed448": ed448.Ed448PrivateKey,
              "ML-DSA-44": mldsa.MLDSA44PrivateKey, "ML-DSA-65": mldsa.MLDSA65PrivateKey,
              "ML-DSA-87": mldsa.MLDSA87PrivateKey}
_HASHES = {"SHA-1": hashes.SHA1, "SHA-256": hashes.SHA256, "SHA-384": hashes.SHA384, "SHA-512": hashes.SHA512}


class PKIError(TlsmatrixError):
    """Certificates could not be produced or read."""


@dataclass(frozen=True)
class ChainFiles:
    """The files a server and a client need for one chain."""

    spec: ChainSpec
    ca_file: Path  # the root certificate: the only trust anchor
    cert_file: Path  # leaf followed by intermediates (what a server sends)
    key_file: Path  # the leaf's TEST-ONLY private key (PKCS#8 PEM)
    leaf_file: Path
    leaf_sha256: str
    root_sha256: str
    #: mTLS (spec.client_cert set): a clientAuth certificate issued by the root, and its TEST-ONLY key
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    @property
    def client_sha256(self) -> str | None:
        return _cert_sha256(self.client_cert_file) if self.client_cert_file else None


#: the server's key in a chain directory (a pki-made chain's TEST-ONLY key, or a replayed chain's)
LEAF_KEY_FILE = "TEST-ONLY-leaf-key.pem"


def chain_files(spec: ChainSpec, chain_dir: Path, client: bool = False) -> ChainFiles:
    """The files of a chain directory (pki-made or given: harness/certs/given.py)."""
    return ChainFiles(
        spec=spec,
        ca_file=chain_dir / "ca.pem",
        cert_file=chain_dir / "chain.pem",
        key_file=chain_dir / LEAF_KEY_FILE,
        leaf_file=chain_dir / "leaf.pem",
        leaf_sha256=_cert_sha256(chain_dir / "leaf.pem"),
        root_sha256=_cert_sha256(chain_dir / "ca.pem"),
        client_cert_file=chain_dir / "client.pem" if client else None,
        client_key_file=chain_dir / "TEST-ONLY-client-key.pem" if client else None,
    )


def generate_private_key(spec: KeySpec):
    if spec.family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.rsa_bits)
    if spec.family == "ecdsa":
        return ec.generate_private_key(_CURVES[spec.name]())
    if spec.name not in _PURE_KEYS:
        raise PKIError(f"cannot generate a {spec.name} key (known: {', '.join(KEY_NAMES)})")
    try:
        return _PURE_KEYS[spec.name].generate()
    except UnsupportedAlgorithm as exc:  # a cryptography built against an OpenSSL older than 3.5
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        raise PKIError(f"cannot generate a {spec.name} key: cryptography {cryptography.__version__} on "
                       f"{backend.openssl_version_text()} has no {spec.name} ({exc}); it needs OpenSSL 3.5 or newer, "
                       "AWS-LC or BoringSSL (the cryptography wheels from PyPI have it)") from None


def signature_hash(signer: CertSpec):
    """The ``cryptography`` hash object a signer uses (None for the pure signers: EdDSA, ML-DSA)."""
    if signer.key.pure:
        return None
    name = signer.signing_hash
    return _HASHES[name]() if name else None


class CertificateCache:
    """Builds chains into ``root`` (default ``results/cache/pki``) and reuses them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.generated = 0  # nodes generated by this instance (0 on a warm cache)

    # -- public API --

    def chain(self, spec: ChainSpec, names: tuple[str, ...] = DEFAULT_NAMES) -> ChainFiles:
        """Return the files for ``spec``, generating only the nodes not yet on disk."""
        last = len(spec.intermediates) - 1  # index of the leaf's issuer among the intermediates (-1: the root)
        for signer in spec.signers:
            if signer.key.pure and signer.hash is not None:
                raise PKIError(f"{signer.key.name} signs without a separate hash; remove hash {signer.hash!r}")
        root_dir = self._node(role="root", cert=spec.root, issuer=None, issuer_spec=None, expired=False, names=(),
                              variant=_ca_variant(spec.defect) if last < 0 else {})
        issuer_dir, issuer_spec = root_dir, spec.root
        inter_dirs = []
        for i, inter in enumerate(spec.intermediates):
            d = self._node(role=f"intermediate{i}", cert=inter, issuer=issuer_dir, issuer_spec=issuer_spec,
                           expired=i == last and spec.defect == "expired-intermediate", names=(),
                           variant=_ca_variant(spec.defect) if i == last else
                           {"ca_profile": "path-length-0"} if i == 0 and spec.defect == "path-length-exceeded" else {})
            inter_dirs.append(d)
            issuer_dir, issuer_spec = d, inter
        leaf_dir = self._node(role="leaf", cert=spec.leaf, issuer=issuer_dir, issuer_spec=issuer_spec,
                              expired=spec.expired, names=names, variant=_leaf_variant(spec.defect))
        client_dir = None
        if spec.client_cert is not None:
            # issued by the root, as kubeadm's cluster CA issues the admin's client certificate
            client_dir = self._node(role="client", cert=CertSpec(spec.client_cert), issuer=root_dir,
                                    issuer_spec=spec.root, expired=False, names=())

        chain_dir = self.root / "chains" / f"{spec.fingerprint}-{_digest(str(leaf_dir) + str(client_dir or ''))[:8]}"
        if not (chain_dir / "chain.pem").exists():
            ca_dirs, sent_dirs = self._placement(spec, root_dir, inter_dirs, leaf_dir)
            files = {"ca.pem": b"".join((d / "cert.pem").read_bytes() for d in ca_dirs),
                     "chain.pem": b"".join((d / "cert.pem").read_bytes() for d in sent_dirs),
                     "leaf.pem": (leaf_dir / "cert.pem").read_bytes(),
                     LEAF_KEY_FILE: (leaf_dir / "TEST-ONLY-key.pem").read_bytes(),
                     "spec.json": json.dumps(spec.to_json(), indent=2, ensure_ascii=False).encode()}
            if client_dir is not None:
                files |= {"client.pem": (client_dir / "cert.pem").read_bytes(),
                          "TEST-ONLY-client-key.pem": (client_dir / "TEST-ONLY-key.pem").read_bytes()}
            self.publish(chain_dir, files)
        return chain_files(spec, chain_dir, client=client_dir is not None)

    def publish(self, final: Path, files: dict[str, bytes]) -> None:
        """Write ``files`` (name → bytes) into ``final`` at once: a
        concurrent run sees the whole directory or none of it."""
        tmp = self._tmpdir()
        try:
            for name, data in files.items():
                (tmp / name).write_bytes(data)
            self._publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _placement(self, spec: ChainSpec, root: Path, inters: list[Path], leaf: Path) -> tuple[list[Path], list[Path]]:
        """Which certificates go into the CA file and which the server sends, in order (the
        defects that are about placement rather than about a certificate's contents)."""
        ca, sent = [root], [leaf, *reversed(inters)]
        defect = spec.defect
        if defect in ("missing-intermediate", "intermediate-in-ca-file"):
            sent = [leaf]
            if defect == "intermediate-in-ca-file":
                ca = [root, *inters]
        elif defect == "ca-file-leaf":
            ca = [leaf]
        elif defect == "ca-file-intermediate":
            ca = [inters[-1]]
        elif defect == "chain-out-of-order":
            sent = [leaf, *inters]
        elif defect in ("ca-file-same-subject", "wrong-ca"):
            # another root of the same name (the subject is derived from role and key type)
            other = self._node(role="root", cert=spec.root, issuer=None, issuer_spec=None, expired=False, names=(),
                               variant={"decoy": "same-subject"})
            ca = [other, root] if defect == "ca-file-same-subject" else [other]
        return ca, sent

    # -- internals --

    def _node(
        self,
        role: str,
        cert: CertSpec,
        issuer: Path | None,
        issuer_spec: CertSpec | None,
        expired: bool,
        names: tuple[str, ...],
        variant: dict[str, str] | None = None,
    ) -> Path:
        ident = {
            "profile": PROFILE_VERSION,
            "role": "root" if issuer is None else (role if role in ("leaf", "client") else "intermediate"),
            "depth": role,
            "key": cert.key.name,
            # the hash this certificate is signed with (its issuer's hash; its own for a root)
            "signed_with": (issuer_spec or cert).signing_hash if not (issuer_spec or cert).key.pure else None,
            "issuer": issuer.name if issuer else None,
            "expired": expired,
            "names": list(names),
            **(variant or {}),  # only defects add keys: clean nodes keep their ids
        }
        node_id = _digest(json.dumps(ident, sort_keys=True))[:20]
        node_dir = self.root / "nodes" / f"{role}-{cert.key.name}-{node_id}"
        if (node_dir / "cert.pem").exists():
            return node_dir
        key = generate_private_key(cert.key)
        if issuer is None:
            issuer_key, issuer_cert, signer = key, None, cert
        else:
            issuer_key = serialization.load_pem_private_key((issuer / "TEST-ONLY-key.pem").read_bytes(), None)
            issuer_cert = x509.load_pem_x509_certificate((issuer / "cert.pem").read_bytes())
            signer = issuer_spec
        certificate = _build_certificate(
            role=ident["role"],
            key=key,
            key_spec=cert.key,
            issuer_key=issuer_key,
            issuer_cert=issuer_cert,
            signer=signer,
            serial=int(node_id, 16) >> 1 or 1,
            expired=expired,
            names=names,
            depth=role,
            variant=variant or {},
        )
        tmp = self._tmpdir()
        try:
            key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            (tmp / "TEST-ONLY-key.pem").write_bytes(key_pem)
            os.chmod(tmp / "TEST-ONLY-key.pem", 0o644)  # test key; containers read it as another user
            (tmp / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            (tmp / "node.json").write_text(json.dumps(ident, indent=2))
            self._publish(tmp, node_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.generated += 1
        return node_dir

    def _tmpdir(self) -> Path:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        from ..model.owner import owned_prefix  # the owner in the name: a later run removes it after a kill -9

        return Path(tempfile.mkdtemp(prefix=owned_prefix("building"), dir=self.root / "tmp"))

    @staticmethod
    def _publish(tmp: Path, final: Path) -> None:
        os.chmod(tmp, 0o755)  # readable by the unprivileged user of a container (test keys only)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "cert.pem").exists() and not (final / "chain.pem").exists():
                raise  # another writer did not win the race: a real error


def _build_certificate(role, key, key_spec, issuer_key, issuer_cert, signer, serial, expired, names, depth,
                       variant: dict[str, str]) -> x509.Certificate:
    subject = _subject(role, key_spec, depth)
    issuer_name = subject if issuer_cert is None else _issuer_name(issuer_cert.subject, variant.get("issuer_name"))
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(EXPIRED_FROM if expired else VALID_FROM)
        .not_valid_after(EXPIRED_UNTIL if expired else VALID_UNTIL)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if variant.get("aki") == "mismatch":  # names a key that is nobody's
        aki = x509.AuthorityKeyIdentifier(hashlib.sha1(b"tlsmatrix: no such key").digest(), None, None)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    builder = builder.add_extension(aki, critical=False)
    for ext in (_ca_extensions(variant.get("ca_profile")) if role in ("root", "intermediate")
                else _end_entity_extensions(role, key_spec, names, variant.get("ee_profile"))):
        builder = builder.add_extension(ext, critical=_critical(ext))
    sha1 = signer.signing_hash == "SHA-1"
    certificate = builder.sign(issuer_key, hashes.SHA256() if sha1 else signature_hash(signer))
    version_1 = variant.get("ca_profile") == "x509-v1"
    if sha1 or version_1:
        certificate = _resigned(certificate, issuer_key, signer, version_1)
    return certificate


def _subject(role: str, key_spec: KeySpec, depth: str) -> x509.Name:
    label = {"root": "root CA", "intermediate": "intermediate CA", "leaf": "server", "client": "client"}[role]
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, f"tlsmatrix TEST-ONLY {label} {key_spec.name} ({depth})"),
    ])


def _issuer_name(ca_subject: x509.Name, style: str | None) -> x509.Name:
    """The issuer field as the leaf writes it: the CA's subject, or the same name in other bytes
    (another string type, case or spacing) that canonicalising comparisons treat as equal."""
    if style is None:
        return ca_subject
    attrs = []
    for attr in ca_subject:
        value, kind = attr.value, {}
        if style == "string-type":
            kind = {"_type": _ASN1Type.PrintableString}
        elif style == "case":
            value = value.upper()
        elif style == "whitespace":
            value = value.replace(" ", "  ")
        attrs.append(x509.NameAttribute(attr.oid, value, **kind))
    return x509.Name(attrs)


#: under IANA's enterprise number for documentation (RFC 5612: 32473): no stack knows it. Small arcs:
#: Go's and GnuTLS' parsers refuse an OID arc beyond 64 bits (a UUID arc) as malformed
UNKNOWN_EXTENSION_OID = x509.ObjectIdentifier("1.3.6.1.4.1.32473.19.1")
#: what the malformed-san defect puts where the GeneralNames SEQUENCE belongs: an OCTET STRING
MALFORMED_SAN = bytes.fromhex("0409") + b"localhost"


def _critical(ext: x509.ExtensionType) -> bool:
    if isinstance(ext, x509.UnrecognizedExtension):
        return ext.oid == UNKNOWN_EXTENSION_OID
    return not isinstance(ext, (x509.ExtendedKeyUsage, x509.SubjectAlternativeName, x509.NameConstraints))


def _ca_extensions(profile: str | None) -> list[x509.ExtensionType]:
    extensions: list[x509.ExtensionType] = []
    if profile != "no-basic-constraints":
        extensions.append(x509.BasicConstraints(ca=True, path_length=0 if profile == "path-length-0" else None))
    if profile == "name-constraints":  # non-critical: some stacks refuse a critical one they cannot process
        extensions.append(x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")],
                                               excluded_subtrees=None))
    extensions.append(x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=profile != "no-key-cert-sign", crl_sign=True, encipher_only=False,
        decipher_only=False,
    ))
    return extensions


def _end_entity_extensions(role: str, key_spec: KeySpec, names: tuple[str, ...],
                           profile: str | None = None) -> list[x509.ExtensionType]:
    client_only = role == "client" or profile == "eku-client-auth"
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client_only else ExtendedKeyUsageOID.SERVER_AUTH
    extensions: list[x509.ExtensionType] = [
        x509.BasicConstraints(ca=profile == "ca", path_length=None),
        x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=key_spec.family == "rsa",
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        ),
        x509.ExtendedKeyUsage([usage]),
    ]
    if profile == "malformed-san":
        extensions.append(x509.UnrecognizedExtension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, MALFORMED_SAN))
    elif names:
        extensions.append(x509.SubjectAlternativeName([_general_name(n) for n in names]))
    if profile == "unknown-critical":
        extensions.append(x509.UnrecognizedExtension(UNKNOWN_EXTENSION_OID, b"\x05\x00"))
    return extensions


#: the signature AlgorithmIdentifier of a SHA-1 signature (DER), by signer key family
_SHA1_ALGORITHM = {"rsa": bytes.fromhex("300d06092a864886f70d0101050500"),  # sha1WithRSAEncryption, NULL
                   "ecdsa": bytes.fromhex("300906072a8648ce3d0401")}  # ecdsa-with-SHA1


def _resigned(cert: x509.Certificate, issuer_key, signer: CertSpec, version_1: bool) -> x509.Certificate:
    """The same certificate signed again from its DER to-be-signed part, for what ``cryptography``
    does not build: X.509 v1 (drop the version and extensions fields) and SHA-1 signatures (the
    signature algorithm is rewritten in the to-be-signed part and outside it)."""
    sha1 = signer.signing_hash == "SHA-1"
    signature_algorithm = _der_children(cert.public_bytes(serialization.Encoding.DER))[1][1]
    if sha1:
        signature_algorithm = _SHA1_ALGORITHM[signer.key.family]
    tbs = []
    for tag, whole in _der_children(cert.tbs_certificate_bytes):
        if version_1 and tag in (0xA0, 0xA3):
            continue
        if tag == 0x30 and not any(t == 0x30 for t, _ in tbs):  # the first SEQUENCE: the signature field
            whole = signature_algorithm
        tbs.append((tag, whole))
    tbs_der = _der(0x30, b"".join(whole for _, whole in tbs))
    if signer.key.pure:
        signature = issuer_key.sign(tbs_der)
    elif signer.key.family == "ecdsa":
        signature = issuer_key.sign(tbs_der, ec.ECDSA(signature_hash(signer)))
    else:
        signature = issuer_key.sign(tbs_der, padding.PKCS1v15(), signature_hash(signer))
    der = _der(0x30, tbs_der + signature_algorithm + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def _der_children(der: bytes) -> list[tuple[int, bytes]]:
    """(tag, whole TLV) of each element inside the outer SEQUENCE of ``der``."""
    def header(buf: bytes, at: int) -> tuple[int, int]:  # (content offset, content length)
        first = buf[at + 1]
        if first < 0x80:
            return at + 2, first
        n = first & 0x7F
        return at + 2 + n, int.from_bytes(buf[at + 2:at + 2 + n], "big")
    start, length = header(der, 0)
    out, at = [], start
    while at < start + length:
        content, size = header(der, at)
        out.append((der[at], der[at:content + size]))
        at = content + size
    return out


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def _ca_variant(defect: str | None) -> dict[str, str]:
    """Node variant of the leaf's issuer for the defects that change a CA's contents."""
    profile = {"ca-no-basic-constraints": "no-basic-constraints", "ca-x509-v1": "x509-v1",
               "ca-no-key-cert-sign": "no-key-cert-sign", "name-constraints-violation": "name-constraints"
               }.get(defect or "")
    return {"ca_profile": profile} if profile else {}


#: defects that change the leaf: its node variant
_LEAF_VARIANTS: dict[str, dict[str, str]] = {
    "issuer-name-string-type": {"issuer_name": "string-type"}, "issuer-name-case": {"issuer_name": "case"},
    "issuer-name-whitespace": {"issuer_name": "whitespace"}, "aki-mismatch": {"aki": "mismatch"},
    "leaf-eku-client-auth": {"ee_profile": "eku-client-auth"}, "ca-as-leaf": {"ee_profile": "ca"},
    "unknown-critical-extension": {"ee_profile": "unknown-critical"}, "malformed-san": {"ee_profile": "malformed-san"},
}


def _leaf_variant(defect: str | None) -> dict[str, str]:
    return _LEAF_VARIANTS.get(defect or "", {})


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _cert_sha256(path: Path) -> str:
    """The SHA-256 of the file's first certificate's DER, as given (a replayed leaf need not parse)."""
    from .certread import split_pem

    first = split_pem(path.read_bytes())[0]
    return hashlib.sha256(first).hexdigest() if isinstance(first, bytes) else ""


def load_pem_certificates(path: str | Path, what: str = "CA file") -> list[x509.Certificate]:
    """The certificates of a PEM file that must all parse (a client certificate tlsmatrix presents);
    errors name ``what``, the file and, for a certificate that does not parse, the parser's words.
    Files from outside that may hold anything are read with harness/certs/certread.py instead."""
    from .certread import CertificateFileError, read_certificate_file

    try:
        certs = read_certificate_file(path, what)
    except CertificateFileError as exc:
        raise PKIError(str(exc)) from None
    broken = next((c for c in certs if c.cert is None), None)
    if broken is not None:
        raise PKIError(f"{what} {path}: a certificate does not parse ({broken.problems[0][1]})")
    return [c.cert for c in certs]


def load_ca_file(path: str | Path) -> list[x509.Certificate]:
    """Read a user's CA file (``tlsmatrix probe``, ``diagnose``); errors name the file."""
    return load_pem_certificates(path, "CA file")
