"""Chains tlsmatrix did not make: a bug report's ``chain.pem`` + ``ca.pem`` (the server's key, rarely).

``tlsmatrix replay`` and a scenario's ``[[chain]] chain_file = …`` both come here. The files are
read without trusting them (harness/certs/certread.py): a certificate that does not parse is served as
given all the same. The chain becomes a :class:`~tlsmatrix.model.ChainSpec` whose root, intermediates
and leaf describe what the files hold (key types as tlsmatrix names them, Ed448 and ML-DSA included;
``other`` for the rest: P-192, RSA-1536, SLH-DSA),
so ``[[expect]]`` matchers, reports and explain treat it like any chain. Without the server's key, a
TEST-ONLY *substitute* of the leaf's key type signs the handshake (harness/stacks/replay.py: ``chain_ok``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .certread import ForeignCert, pem_of, read_certificate_file, read_der, safe
from .diagnose import key_name
from ..model.core import KEY_NAMES, OTHER_KEY, CertSpec, ChainSpec, GivenChain, KeySpec, parse_hash
from .pki import LEAF_KEY_FILE, CertificateCache, ChainFiles, chain_files, generate_private_key
from ..model.errors import InputError


def given_chain(chain_file: Path, ca_file: Path, key_file: Path | None = None, *, written: tuple[str, str, str | None]
                | None = None, name: str | None = None, key_flag: str = "--key") -> ChainSpec:
    """The chain of ``chain_file`` (leaf first) trusted through ``ca_file``; ``written``: the paths
    as the user wrote them (recorded in results; default: as given). Raises CertificateFileError
    (a file with no certificate) or InputError (a key that is not the leaf's)."""
    chain = read_certificate_file(chain_file, "chain file")
    ca = read_certificate_file(ca_file, "CA file")
    if key_file is not None:
        server_key(key_file, chain[0].der, key_flag)
    shown = written or (str(chain_file), str(ca_file), str(key_file) if key_file else None)
    given = GivenChain(chain_file=shown[0], ca_file=shown[1], key_file=shown[2],
                       chain_sha256=_sha256(chain), ca_sha256=_sha256(ca),
                       paths=(str(chain_file), str(ca_file), str(key_file) if key_file else None))
    # a signer's hash: the one the certificate below it (in the order given) is signed with
    return ChainSpec(root=CertSpec(_key(ca[0]), _hash(chain[-1])), leaf=CertSpec(_key(chain[0])),
                     intermediates=tuple(CertSpec(_key(c), _hash(chain[i])) for i, c in enumerate(chain[1:])),
                     name=name, given=given)


def _sha256(certs: list[ForeignCert]) -> str:
    return hashlib.sha256(pem_of(certs)).hexdigest()


def _key(cert: ForeignCert) -> KeySpec:
    key = safe(cert.cert.public_key) if cert.cert is not None else None
    name = key_name(key) if key is not None else OTHER_KEY
    return KeySpec(name if name in KEY_NAMES else OTHER_KEY)


def _hash(cert: ForeignCert) -> str | None:
    algorithm = safe(lambda: cert.cert.signature_hash_algorithm) if cert.cert is not None else None
    try:
        return parse_hash(algorithm.name) if algorithm is not None else None
    except ValueError:  # MD5, SHA-224, SHA3: none of the hashes scenarios name
        return None


def substitute_key(leaf: ForeignCert):
    """A fresh TEST-ONLY key of the leaf's type (RSA of its size, its curve, Ed25519 or Ed448, its ML-DSA
    level), so the server offers the signature schemes the real one would; P-256 when the leaf's key is
    unreadable or of a type tlsmatrix does not make (the client's error then says so). A server stack
    that cannot load the substitute (Go: Ed448, ML-DSA) answers server_error, as it would for the real key."""
    key = safe(leaf.cert.public_key) if leaf.cert is not None else None
    if isinstance(key, rsa.RSAPublicKey):  # any size, not only the sizes scenarios name
        return rsa.generate_private_key(65537, max(key.key_size, 1024))
    name = key_name(key) if key is not None else None
    return generate_private_key(KeySpec(name if name in KEY_NAMES else "P-256"))


def given_files(spec: ChainSpec) -> tuple[dict[str, bytes], str]:
    """What a chain directory holds for a given chain (file name → bytes: the chain and its leaf as
    given, the CA file, the server's key or a TEST-ONLY substitute, spec.json), and how the handshake
    is signed ("the given key" / "a substitute P-256 key (TEST-ONLY)")."""
    assert spec.given is not None
    chain_path, ca_path, key_path = spec.given.paths
    chain = read_certificate_file(chain_path, "chain file")
    key = server_key(Path(key_path), chain[0].der) if key_path else substitute_key(chain[0])
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    signer = "the given key" if key_path else f"a substitute {key_name(key.public_key())} key (TEST-ONLY)"
    files = {"chain.pem": pem_of(chain), "leaf.pem": pem_of(chain[:1]), "ca.pem": Path(ca_path).read_bytes(),
             LEAF_KEY_FILE: pkcs8, "spec.json": spec_json(spec)}
    return files, signer


def spec_json(spec: ChainSpec) -> bytes:
    return json.dumps(spec.to_json(), indent=2, ensure_ascii=False).encode()


def write_given(spec: ChainSpec, directory: Path) -> tuple[ChainFiles, str]:
    """The given chain's files written into ``directory`` (a replay's private temporary directory)."""
    files, signer = given_files(spec)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return chain_files(spec, directory), signer


def cached_given(spec: ChainSpec, cache: CertificateCache) -> ChainFiles:
    """The given chain's files in the certificate cache (where the docker backend copies files from).
    The directory's name digests the key file too, so a changed key is not served from an old copy;
    a substitute key, once made, is kept with its chain."""
    assert spec.given is not None
    key_path = spec.given.paths[2]
    key_digest = hashlib.sha256(Path(key_path).read_bytes()).hexdigest()[:8] if key_path else "substitute"
    directory = cache.root / "given" / f"{spec.fingerprint}-{key_digest}"
    if not (directory / "chain.pem").exists():
        cache.publish(directory, given_files(spec)[0])
    return chain_files(spec, directory)


def server_key(key_path: Path, leaf_der: bytes | None, flag: str = "--key"):
    """``replay --key`` (a scenario's ``key_file``: ``flag``): an unencrypted PEM private key (any
    format cryptography reads) that belongs to the replayed leaf (when the leaf parses); returned as a key object."""
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except TypeError:
        raise InputError(f"{flag} {key_path}: the key is encrypted; give an unencrypted PEM key") from None
    except Exception as exc:  # noqa: BLE001 - ValueError, OSError, UnsupportedAlgorithm: all an input error
        words = (str(exc) or type(exc).__name__).splitlines()[0]
        raise InputError(f"{flag} {key_path}: not a usable PEM private key ({words})") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    leaf = read_der(leaf_der).cert if leaf_der else None  # a malformed leaf: nothing to compare the key with
    leaf_key = safe(lambda: leaf.public_key().public_bytes(*spki)) if leaf is not None else None
    if leaf_key is not None and key.public_key().public_bytes(*spki) != leaf_key:
        raise InputError(f"{flag} {key_path}: does not belong to the chain's leaf (their public keys differ); "
                         f"leave {flag} out to replay with a substitute key")
    return key
