"""Small corpora in x509-limbo's format, written by this project from its own test PKI (the project
ships no copy of limbo's corpus): a good chain, a name-constraint violation, an EKU mismatch, a
malformed extension, an IP name, a CA certificate as the leaf, and testcases a handshake cannot
express. Shared by tests/unit/test_limbo.py and tests/integration/test_limbo.py."""
from __future__ import annotations

import json
from pathlib import Path

from tlsmatrix.certs.certread import pem_of, read_certificate_file
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

P256 = CertSpec(KeySpec("P-256"))


def limbo_testcase(files, id_: str, expected: str, peer: tuple[str, str] | None = ("DNS", "localhost"), key: bool = True,
             **extra) -> dict:
    """A limbo SERVER testcase from a chain's files (its leaf first, then the intermediates it sends)."""
    sent = read_certificate_file(files.cert_file, "chain")
    return {
        "id": id_, "features": extra.pop("features", []), "importance": "undetermined",
        "description": f"tlsmatrix test corpus: {id_}", "validation_kind": extra.pop("validation_kind", "SERVER"),
        "trusted_certs": [pem_of(read_certificate_file(files.ca_file, "ca")).decode()],
        "untrusted_intermediates": [pem_of([c]).decode() for c in sent[1:]],
        "peer_certificate": pem_of(sent[:1]).decode(),
        "peer_certificate_key": Path(files.key_file).read_text() if key else None,
        "validation_time": None, "signature_algorithms": [], "key_usage": [], "extended_key_usage": [],
        "expected_result": expected,
        "expected_peer_name": {"kind": peer[0], "value": peer[1]} if peer else None,
        "expected_peer_names": [], "max_chain_depth": None, "crls": [], **extra,
    }


def small_corpus(pki_cache) -> dict:
    def chain(defect=None, intermediates=1):
        return pki_cache.chain(ChainSpec(P256, P256, intermediates=(P256,) * intermediates, defect=defect))

    good = chain()
    return {"version": 1, "testcases": [
        limbo_testcase(good, "tlsmatrix::good", "SUCCESS"),
        limbo_testcase(good, "tlsmatrix::good-without-key", "SUCCESS", key=False),
        limbo_testcase(good, "tlsmatrix::ip-name", "SUCCESS", peer=("IP", "127.0.0.1")),
        limbo_testcase(good, "tlsmatrix::wrong-name", "FAILURE", peer=("DNS", "other.example")),
        limbo_testcase(chain("name-constraints-violation"), "tlsmatrix::nc::violation", "FAILURE",
                 features=["name-constraint-dns"]),
        limbo_testcase(chain("leaf-eku-client-auth"), "tlsmatrix::eku::client-auth-only", "FAILURE"),
        limbo_testcase(chain("malformed-san"), "tlsmatrix::san::malformed", "FAILURE"),
        limbo_testcase(chain("ca-as-leaf"), "tlsmatrix::ca-as-leaf", "SUCCESS"),
        limbo_testcase(good, "tlsmatrix::client-side", "SUCCESS", validation_kind="CLIENT"),
        limbo_testcase(good, "tlsmatrix::crl", "FAILURE", crls=["-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"]),
        limbo_testcase(good, "tlsmatrix::email", "SUCCESS", peer=("RFC822", "user@example.com")),
    ]}


def write_corpus(pki_cache, path: Path) -> Path:
    path.write_text(json.dumps(small_corpus(pki_cache)))
    return path
