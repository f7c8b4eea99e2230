"""Post-quantum and modern key types (issue 22): ML-DSA-44/65/87 and Ed448 as names, as generated
certificates at every position of a chain, as what a chain from outside is recorded as, and in the
reproduction bundle's regenerate.sh. What the stacks do with them: docs/stacks.md, "ML-DSA and
Ed448 certificates" (and tests/integration/test_pq_keys.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, mldsa

from tlsmatrix.certs.diagnose import diagnose_files, key_name
from tlsmatrix.certs.given import given_chain
from tlsmatrix.certs.pki import PKIError
from tlsmatrix.model.core import KEY_NAMES, RECORD_KEY_NAMES, CertSpec, ChainRecord, ChainSpec, KeySpec, SpecError
from tlsmatrix.report.bundle import regenerate_script
from tlsmatrix.report.explain import condition_text
from tlsmatrix.stacks.classify import classify_error

NEW_KEYS = ("Ed448", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87")
#: the signature AlgorithmIdentifier OIDs (RFC 8410, RFC 9881); the same OID names the subject's key
OIDS = {"Ed448": "1.3.101.113", "ML-DSA-44": "2.16.840.1.101.3.4.3.17", "ML-DSA-65": "2.16.840.1.101.3.4.3.18",
        "ML-DSA-87": "2.16.840.1.101.3.4.3.19"}
PUBLIC_KEY_CLASSES = {"Ed448": ed448.Ed448PublicKey, "ML-DSA-44": mldsa.MLDSA44PublicKey,
                      "ML-DSA-65": mldsa.MLDSA65PublicKey, "ML-DSA-87": mldsa.MLDSA87PublicKey}


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alias,name", [
    ("ML-DSA-65", "ML-DSA-65"), ("mldsa65", "ML-DSA-65"), ("ML-DSA65", "ML-DSA-65"), ("id-ml-dsa-65", "ML-DSA-65"),
    ("ml_dsa_65", "ML-DSA-65"), ("MLDSA-44", "ML-DSA-44"), ("mldsa44", "ML-DSA-44"), ("id-ml-dsa-87", "ML-DSA-87"),
    (" ML-DSA-87 ", "ML-DSA-87"), ("ed448", "Ed448"), ("Ed448", "Ed448"), ("ED448", "Ed448"),
])
def test_aliases_name_the_canonical_key(alias, name):
    assert KeySpec.parse(alias) == KeySpec(name)


@pytest.mark.parametrize("name,family", [("Ed448", "eddsa"), ("Ed25519", "eddsa"), ("ML-DSA-44", "mldsa"),
                                         ("ML-DSA-65", "mldsa"), ("ML-DSA-87", "mldsa")])
def test_pure_signers_have_a_family_and_no_default_hash(name, family):
    key = KeySpec(name)
    assert key.family == family and key.pure and key.default_hash is None
    assert CertSpec(key).signing_hash is None and CertSpec(key).label() == name


def test_classic_keys_are_not_pure():
    assert not any(KeySpec(k).pure for k in KEY_NAMES if KeySpec(k).family in ("rsa", "ecdsa"))
    assert KeySpec("P-521").default_hash == "SHA-512" and KeySpec("RSA-2048").default_hash == "SHA-256"


def test_key_names_keep_their_report_order():
    """By family, then by strength: the order reports list keys in (explain, tables)."""
    assert KEY_NAMES == ("RSA-1024", "RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519",
                         "Ed448", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87")
    assert RECORD_KEY_NAMES[-1] == "other" and set(NEW_KEYS) <= set(RECORD_KEY_NAMES)


@pytest.mark.parametrize("text", ["SLH-DSA-SHA2-128s", "ML-DSA-66", "mldsa", "Ed449", "ML-KEM-768"])
def test_unknown_keys_are_refused_naming_the_known_ones(text):
    with pytest.raises(SpecError, match=r"unknown key type .*ML-DSA-44, ML-DSA-65, ML-DSA-87"):
        KeySpec.parse(text)


def test_explain_says_an_before_ml_dsa_and_ed448():
    assert condition_text("signer=ML-DSA-65") == "an ML-DSA-65 key signs in the chain"
    assert condition_text("signer=Ed448") == "an Ed448 key signs in the chain"
    assert condition_text("signer=P-256") == "a P-256 key signs in the chain"


# --- certificates ----------------------------------------------------------------------------


def _load(path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("key", NEW_KEYS)
def test_each_new_key_at_each_position_signs_and_verifies(pki_cache, key):
    """Root, intermediate, leaf and client certificate of one key type: every signature verifies with
    the issuer's key, every OID is the key's, and the TEST-ONLY keys are PKCS#8 PEM that belong."""
    k = KeySpec(key)
    files = pki_cache.chain(ChainSpec(root=CertSpec(k), intermediates=(CertSpec(k),), leaf=CertSpec(k), client_cert=k))
    leaf, inter = _load(files.cert_file)
    root, = _load(files.ca_file)
    client, = _load(files.client_cert_file)
    for cert, issuer in ((root, root), (inter, root), (leaf, inter), (client, root)):
        cert.verify_directly_issued_by(issuer)
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes)  # pure: over the TBS itself
        assert cert.signature_algorithm_oid.dotted_string == OIDS[key]
        assert cert.public_key_algorithm_oid.dotted_string == OIDS[key]
        assert cert.signature_hash_algorithm is None
        assert isinstance(cert.public_key(), PUBLIC_KEY_CLASSES[key])
    for key_file, cert in ((files.key_file, leaf), (files.client_key_file, client)):
        pem = key_file.read_bytes()
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----") and key_file.name.startswith("TEST-ONLY")
        assert _spki(serialization.load_pem_private_key(pem, None).public_key()) == _spki(cert.public_key())
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert json.loads((files.cert_file.parent / "spec.json").read_text())["root"] == {"key": key, "hash": None}


@pytest.mark.parametrize("key", NEW_KEYS)
def test_a_new_key_beside_classic_ones(pki_cache, key):
    """A new key as the root over a P-256 leaf and as the leaf under a P-384 CA (its own hash)."""
    signer = pki_cache.chain(ChainSpec(root=CertSpec(KeySpec(key)), leaf=CertSpec(KeySpec("P-256"))))
    leaf, = _load(signer.cert_file)
    assert leaf.signature_algorithm_oid.dotted_string == OIDS[key]
    leaf.verify_directly_issued_by(_load(signer.ca_file)[0])
    signed = pki_cache.chain(ChainSpec(root=CertSpec(KeySpec("P-384")), leaf=CertSpec(KeySpec(key))))
    leaf, = _load(signed.cert_file)
    assert leaf.signature_hash_algorithm.name == "sha384" and isinstance(leaf.public_key(), PUBLIC_KEY_CLASSES[key])


def test_each_key_type_gets_its_own_cached_nodes(tmp_path):
    from tlsmatrix.certs.pki import CertificateCache

    cache = CertificateCache(tmp_path)
    dirs = {key: cache.chain(ChainSpec(root=CertSpec(KeySpec(key)), leaf=CertSpec(KeySpec("P-256")))).cert_file.parent
            for key in NEW_KEYS}
    assert cache.generated == 2 * len(NEW_KEYS) and len(set(dirs.values())) == len(NEW_KEYS)
    nodes = sorted(p.name.split("-", 1)[1].rsplit("-", 1)[0] for p in (tmp_path / "nodes").iterdir() if p.name.startswith("root"))
    assert nodes == sorted(NEW_KEYS)
    node = next((tmp_path / "nodes").glob("root-ML-DSA-65-*"))
    assert json.loads((node / "node.json").read_text())["signed_with"] is None
    again = CertificateCache(tmp_path)
    again.chain(ChainSpec(root=CertSpec(KeySpec("ML-DSA-65")), leaf=CertSpec(KeySpec("P-256"))))
    assert again.generated == 0


@pytest.mark.parametrize("key", ["ML-DSA-65", "Ed448"])
def test_a_hash_for_a_pure_signer_is_refused(pki_cache, key):
    with pytest.raises(PKIError, match=f"{key} signs without a separate hash"):
        pki_cache.chain(ChainSpec(root=CertSpec(KeySpec(key), "SHA-256"), leaf=CertSpec(KeySpec("P-256"))))


# --- chains from outside -----------------------------------------------------------------------


@pytest.mark.parametrize("key", NEW_KEYS)
def test_a_given_chain_names_the_new_keys_not_other(pki_cache, key):
    k = KeySpec(key)
    files = pki_cache.chain(ChainSpec(root=CertSpec(k), intermediates=(CertSpec(k),), leaf=CertSpec(k)))
    spec = given_chain(files.cert_file, files.ca_file)
    record = ChainRecord.of(spec).to_json()
    assert record["root"] == {"key": key, "hash": None} and record["intermediates"] == [{"key": key, "hash": None}]
    assert record["leaf"] == {"key": key}
    assert key_name(_load(files.cert_file)[0].public_key()) == key


@pytest.mark.parametrize("key", NEW_KEYS)
def test_diagnosis_builds_the_path_through_pure_signatures(pki_cache, key):
    """The forgiving path builder checks EdDSA and ML-DSA signatures too: a clean chain is no dead end."""
    k = KeySpec(key)
    files = pki_cache.chain(ChainSpec(root=CertSpec(k), intermediates=(CertSpec(k),), leaf=CertSpec(KeySpec("P-256"))))
    found = diagnose_files(files.ca_file, files.cert_file, "localhost")
    assert [f.id for f in found] == ["unsupported-key"] * len(found)
    assert not any(f.id in ("wrong-ca", "missing-intermediate") for f in found)


# --- regenerate.sh -------------------------------------------------------------------------------


def _script(root: str, leaf: str, inter: str | None = None, client: str | None = None) -> str:
    spec = ChainSpec(root=CertSpec(KeySpec(root)), leaf=CertSpec(KeySpec(leaf)),
                     intermediates=(CertSpec(KeySpec(inter)),) if inter else (),
                     client_cert=KeySpec(client) if client else None)
    return regenerate_script(SimpleNamespace(spec=ChainRecord.of(spec)))


def test_regenerate_makes_ml_dsa_keys_with_openssl_3_5_and_names_no_digest():
    text = _script("ML-DSA-87", "ML-DSA-44", inter="ML-DSA-65", client="ML-DSA-65")
    assert "# Needs OpenSSL 3.5 or newer (ML-DSA)." in text
    for out, alg in (("root", "ML-DSA-87"), ("inter0", "ML-DSA-65"), ("leaf", "ML-DSA-44"), ("client", "ML-DSA-65")):
        assert f"run openssl genpkey -algorithm {alg} -out work/{out}.key\n" in text
    ca_lines = [line for line in text.splitlines() if line.startswith("run openssl ca ")]
    assert len(ca_lines) == 4 and not any(" -md " in line for line in ca_lines)
    assert all(line.endswith("-notext") for line in ca_lines)
    assert "signed by the root (pure ML-DSA-87)" in text and "default_md = default" in text


def test_regenerate_makes_ed448_keys():
    text = _script("Ed448", "Ed448")
    assert "run openssl genpkey -algorithm ED448 -out work/root.key" in text
    assert "# Needs OpenSSL 1.1.1 or newer." in text and " -md " not in text


def test_regenerate_keeps_the_digest_of_classic_signers_beside_new_keys():
    text = _script("P-384", "ML-DSA-65")
    assert "-notext -md sha384" in text and "Needs OpenSSL 3.5" in text
    text = _script("ML-DSA-65", "P-256")
    leaf_ca = next(line for line in text.splitlines() if "-out work/leaf.pem" in line)
    assert " -md " not in leaf_ca
    assert "run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256" in text


# --- classification (captured texts) --------------------------------------------------------------

#: go 1.19 (host) against an ML-DSA-65 and an Ed448 root that signed a P-256 leaf (docs/stacks.md)
GO_UNIMPLEMENTED = [
    'x509: certificate signed by unknown authority (possibly because of "x509: cannot verify signature: algorithm '
    'unimplemented" while trying to verify candidate authority certificate "tlsmatrix TEST-ONLY root CA ML-DSA-65 '
    '(root)")',
    'x509: certificate signed by unknown authority (possibly because of "x509: cannot verify signature: algorithm '
    'unimplemented" while trying to verify candidate authority certificate "tlsmatrix TEST-ONLY root CA Ed448 (root)")',
]


@pytest.mark.parametrize("error", GO_UNIMPLEMENTED)
def test_go_refusing_an_unimplemented_ca_key_is_unsupported_algorithm(error):
    c = classify_error("go", error, "x509.UnknownAuthorityError")
    assert c.outcome.value == "unsupported_algorithm" and "algorithm unimplemented" in c.rule


def test_go_without_the_cause_is_still_untrusted():
    c = classify_error("go", 'x509: certificate signed by unknown authority (possibly because of "crypto/rsa: '
                             'verification error" while trying to verify candidate authority certificate "x")',
                       "x509.UnknownAuthorityError")
    assert c.outcome.value == "untrusted"
    assert classify_error("go", "x509: certificate signed by unknown authority").outcome.value == "untrusted"


# --- diagnose's knowledge = what was measured --------------------------------------------------

#: every client column measured (docs/stacks.md, "ML-DSA and Ed448 certificates"): the host stacks and every
#: release column; the Kubernetes clients only under a CA key (the go server cannot load either leaf key).
#: kube-0.93-two-providers panics on every chain (no provider installed) and says nothing about keys.
_COLUMNS = ("openssl", "openssl-cli", "rustls-ring", "rustls-aws-lc-rs", "rustls-ring@0.23.12", "rustls-ring@0.21.12",
            "rustls-ring@0.21.0", "go", "java", "node", "gnutls", "gnutls-cli", "nss", "tstclnt", "boringssl",
            "libcurl", "curl", "wolfssl",
            *(f"{s}@{v}" for s, vs in {"openssl": ("1.1.1", "3.0", "3.5"), "openssl-cli": ("1.1.1", "3.0", "3.5"),
                                       "go": ("1.15", "1.19", "1.24"), "java": ("11", "17", "21"),
                                       "node": ("12", "18", "20"), "gnutls": ("3.7.1", "3.7.9", "3.8"),
                                       "gnutls-cli": ("3.7.1", "3.7.9", "3.8"), "nss": ("3.61", "3.87", "3.110"),
                                       "tstclnt": ("3.61", "3.87", "3.110"), "libcurl": ("7.74", "7.88", "8.14"),
                                       "curl": ("7.74", "7.88", "8.14"), "wolfssl": ("4.6", "5.5", "5.7")}.items()
              for v in vs))
_KUBE = ("kube-0.93-rustls", "kube-0.93-rustls-2024-08", "kube-0.93-openssl", "kube-0.94-aws-lc-rs",
         "kube-latest-rustls", "kube-latest-aws-lc-rs", "kube-0.93-install-aws-lc-rs", "kubernetes-python")
_ED448_OK = {"openssl", "openssl-cli", "java", "node", "gnutls", "gnutls-cli", "libcurl", "curl", "wolfssl",
             *(c for c in _COLUMNS if "@" in c and not c.startswith(("go@", "nss@", "tstclnt@", "rustls", "java@11")))}
#: (position, key) → the columns that accepted (TLS 1.3; an ML-DSA leaf fails everywhere on TLS 1.2)
ACCEPTED_BY = {
    ("signer", "Ed448"): _ED448_OK | {"kube-0.93-openssl", "kubernetes-python"},
    ("leaf", "Ed448"): _ED448_OK,
    ("signer", "ML-DSA"): {"rustls-aws-lc-rs", "boringssl", "openssl@3.5", "openssl-cli@3.5", "node@20", "libcurl@8.14",
                           "curl@8.14", "kube-0.94-aws-lc-rs", "kube-latest-aws-lc-rs"},
    ("leaf", "ML-DSA"): {"rustls-aws-lc-rs", "openssl@3.5", "openssl-cli@3.5", "node@20", "libcurl@8.14", "curl@8.14"},
}


def test_the_measured_columns_are_the_registered_ones():
    from tlsmatrix.stacks.clients import CLIENTS

    assert len(_COLUMNS) == 54 and set(_COLUMNS) | set(_KUBE) <= set(CLIENTS)
    assert len(_ED448_OK) == 35


@pytest.mark.parametrize("position,key", [(p, k) for p in ("signer", "leaf") for k in NEW_KEYS])
def test_unsupported_key_knowledge_is_what_was_measured(position, key):
    from tlsmatrix.certs.diagnose import KNOWLEDGE
    from tlsmatrix.model.document import Finding

    affects, why = KNOWLEDGE[f"unsupported-key@{position}-{key}"]
    finding = Finding("unsupported-key", why, (), affects)
    accepted = ACCEPTED_BY[(position, "ML-DSA" if key.startswith("ML-DSA") else key)]
    for client in (*_COLUMNS, *(_KUBE if position == "signer" else ())):
        assert finding.affects_client(client) == (client not in accepted), (client, affects)


@pytest.mark.parametrize("key", NEW_KEYS)
def test_a_chain_of_new_keys_is_diagnosed_at_each_position(pki_cache, key):
    k = KeySpec(key)
    files = pki_cache.chain(ChainSpec(root=CertSpec(k), intermediates=(CertSpec(k),), leaf=CertSpec(k)))
    found = diagnose_files(files.ca_file, files.cert_file, "localhost")
    assert [(f.id, f.certificates[0].split()[0]) for f in found] == [
        ("unsupported-key", "chain[1]"), ("unsupported-key", "CA"), ("unsupported-key", "chain[0]")]
    assert f"signs with an {key} key" in found[0].detail and f"the leaf's key is {key}" in found[2].detail
    assert found[2].affects_client("rustls-ring") and not found[0].affects_client("openssl@3.5")


@pytest.mark.parametrize("key", ["Ed25519", "Ed448", "ML-DSA-65"])
def test_a_scenario_names_no_hash_for_a_pure_signature_key(key):
    from tlsmatrix.running.scenarios import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError, match=rf"chain\[0\]\.root\.hash: {key} signs without a separate hash"):
        parse_scenario({"name": "pure", "chain": [{"root": {"key": key, "hash": "SHA-256"}, "leaf": "P-256"}]})
