from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, rsa
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tlsmatrix.model.core import KEY_NAMES, CertSpec, ChainSpec, KeySpec
from tlsmatrix.certs.pki import CertificateCache, PKIError, load_ca_file

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def chain(root: str, leaf: str, inters=(), expired=False, root_hash=None) -> ChainSpec:
    return ChainSpec(root=CertSpec(KeySpec.parse(root), root_hash), leaf=CertSpec(KeySpec.parse(leaf)),
                     intermediates=tuple(CertSpec(KeySpec.parse(i)) for i in inters), expired=expired)


def load(path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def key_matches(cert: x509.Certificate, name: str) -> bool:
    pub = cert.public_key()
    spec = KeySpec.parse(name)
    if spec.family == "rsa":
        return isinstance(pub, rsa.RSAPublicKey) and pub.key_size == spec.rsa_bits
    if spec.family == "ecdsa":
        return isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.key_size == int(name[2:])
    return isinstance(pub, {"Ed25519": ed25519.Ed25519PublicKey, "Ed448": ed448.Ed448PublicKey,
                            "ML-DSA-44": mldsa.MLDSA44PublicKey, "ML-DSA-65": mldsa.MLDSA65PublicKey,
                            "ML-DSA-87": mldsa.MLDSA87PublicKey}[spec.name])


@pytest.mark.parametrize("key", KEY_NAMES)
def test_every_key_type_as_root_and_leaf(pki_cache, key):
    files = pki_cache.chain(chain(key, key))
    root, = load(files.ca_file)
    leaf, = load(files.cert_file)
    assert key_matches(root, key) and key_matches(leaf, key)
    expected_hash = KeySpec.parse(key).default_hash
    if expected_hash is None:
        assert leaf.signature_hash_algorithm is None
    else:
        assert leaf.signature_hash_algorithm.name.upper().replace("SHA", "SHA-") == expected_hash
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert "TEST" in root.subject.rfc4514_string() and "TEST-ONLY" in files.key_file.name
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # the key file really belongs to the leaf
    from cryptography.hazmat.primitives import serialization
    key_obj = serialization.load_pem_private_key(files.key_file.read_bytes(), None)
    assert key_obj.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# cryptography's verifier follows the CA/B Forum profile: it refuses Ed25519, Ed448 and RSA-1024, so
# those chains are checked by the real stacks in the integration tests instead (and their signatures one
# by one in tests/unit/test_pq_keys.py); cryptography 51 permits ML-DSA.
VERIFIABLE = [k for k in KEY_NAMES if KeySpec(k).family != "eddsa" and k != "RSA-1024"]


@pytest.mark.parametrize("root", VERIFIABLE)
@pytest.mark.parametrize("leaf", ["P-256", "P-521", "RSA-2048"])
def test_chains_verify_with_cryptography(pki_cache, root, leaf):
    files = pki_cache.chain(chain(root, leaf, inters=("P-384",)))
    certs = load(files.cert_file)
    assert len(certs) == 2
    verifier = PolicyBuilder().store(Store(load(files.ca_file))).time(NOW).build_server_verifier(x509.DNSName("localhost"))
    verified = verifier.verify(certs[0], certs[1:])
    assert len(verified) == 3


def test_wrong_name_wrong_anchor_and_expiry_fail_verification(pki_cache):
    good = pki_cache.chain(chain("P-256", "P-256"))
    other = pki_cache.chain(chain("P-384", "P-256"))
    leaf = load(good.cert_file)[0]
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store(load(good.ca_file))).time(NOW).build_server_verifier(
            x509.DNSName("wrong.example")).verify(leaf, [])
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store(load(other.ca_file))).time(NOW).build_server_verifier(
            x509.DNSName("localhost")).verify(leaf, [])
    expired = pki_cache.chain(chain("P-256", "P-256", expired=True))
    exp_leaf = load(expired.cert_file)[0]
    assert exp_leaf.not_valid_after_utc < NOW
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store(load(expired.ca_file))).time(NOW).build_server_verifier(
            x509.DNSName("localhost")).verify(exp_leaf, [])


def test_explicit_signature_hash(pki_cache):
    files = pki_cache.chain(chain("P-521", "P-256", root_hash="SHA-256"))
    assert load(files.cert_file)[0].signature_hash_algorithm.name == "sha256"
    default = pki_cache.chain(chain("P-521", "P-256"))
    assert load(default.cert_file)[0].signature_hash_algorithm.name == "sha512"


def test_cache_generates_once_and_shares_roots(tmp_path):
    cache = CertificateCache(tmp_path)
    a = cache.chain(chain("P-521", "P-256"))
    assert cache.generated == 2
    b = cache.chain(chain("P-521", "P-384"))
    assert cache.generated == 3  # the P-521 root is reused
    assert a.ca_file.read_bytes() == b.ca_file.read_bytes()
    warm = CertificateCache(tmp_path)
    again = warm.chain(chain("P-521", "P-256"))
    assert warm.generated == 0
    assert again.cert_file.read_bytes() == a.cert_file.read_bytes()
    assert not list((tmp_path / "tmp").iterdir())  # no half-built leftovers


def test_load_ca_file_errors_name_the_file(tmp_path):
    with pytest.raises(PKIError, match="cannot read CA file .*missing.pem"):
        load_ca_file(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(PKIError, match="junk.pem holds no PEM certificate"):
        load_ca_file(junk)


@pytest.mark.parametrize("key", ["P-256", "P-521", "Ed25519", "RSA-2048"])
def test_client_certificate_is_issued_by_the_root_for_client_auth(pki_cache, key):
    spec = ChainSpec(root=CertSpec(KeySpec("P-384")), leaf=CertSpec(KeySpec("P-256")), client_cert=KeySpec(key))
    files = pki_cache.chain(spec)
    [client] = load(files.client_cert_file)
    assert key_matches(client, key)
    assert "TEST-ONLY" in files.client_key_file.name and "TEST-ONLY client" in client.subject.rfc4514_string()
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not client.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    [root] = load(files.ca_file)
    assert client.issuer == root.subject
    client.verify_directly_issued_by(root)  # signed by the root (P-384, SHA-384)
    assert client.signature_hash_algorithm.name == "sha384"
    # the server side is the same as the chain without a client certificate
    plain = pki_cache.chain(ChainSpec(root=spec.root, leaf=spec.leaf))
    assert plain.client_cert_file is None and plain.ca_file.read_bytes() == files.ca_file.read_bytes()
    assert spec.fingerprint != plain.spec.fingerprint and files.cert_file.parent != plain.cert_file.parent
    assert spec.label == "P-384 → P-256 + client " + key


def test_server_only_fingerprints_do_not_change():
    """Results and caches of chains without a client certificate keep their ids."""
    assert chain("P-256", "P-256").fingerprint == "".join(
        __import__("hashlib").sha256(b'{"expired": false, "intermediates": [], "leaf": {"key": "P-256"}, '
                                     b'"root": {"hash": "SHA-256", "key": "P-256"}}').hexdigest()[:16])
