"""A scenario's ``[[chain]]`` from files tlsmatrix did not make (``chain_file``, ``ca_file``, ``key_file``):
read without trusting them, described by what they hold, identified by their contents."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tlsmatrix.certs.certread import pem_of, read_certificate_file, read_der
from tlsmatrix.certs.given import cached_given, given_chain
from tlsmatrix.model.core import OTHER_KEY, CertSpec, ChainRecord, ChainSpec, KeySpec
from tlsmatrix.running.scenarios import ScenarioError, load_scenario

P256 = CertSpec(KeySpec("P-256"))
HEAD = 'name = "given"\n[axes]\nservers = ["go"]\nclients = ["openssl"]\n'


@pytest.fixture
def files(pki_cache, tmp_path) -> Path:
    """A reporter's directory: chain.pem (leaf + intermediate), ca.pem, and the leaf's key."""
    made = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-384")), P256, intermediates=(P256,)))
    d = tmp_path / "report"
    d.mkdir()
    shutil.copy(made.cert_file, d / "chain.pem")
    shutil.copy(made.ca_file, d / "ca.pem")
    shutil.copy(made.key_file, d / "key.pem")
    return d


def scenario(tmp_path: Path, chain: str) -> Path:
    path = tmp_path / "given.toml"
    path.write_text(HEAD + "[[chain]]\n" + chain)
    return path


def test_paths_are_relative_to_the_scenario_and_the_chain_is_described_by_what_it_holds(files, tmp_path):
    sc = load_scenario(scenario(tmp_path, 'chain_file = "report/chain.pem"\nca_file = "report/ca.pem"\n'))
    spec = sc.chains[0]
    assert (spec.root.key.name, [i.key.name for i in spec.intermediates], spec.leaf.key.name) == \
        ("P-384", ["P-256"], "P-256")
    assert spec.root.signing_hash == "SHA-384"  # the hash the root signed the intermediate with
    assert spec.label == "given report/chain.pem" and spec.given.key_file is None
    record = ChainRecord.of(spec)
    assert ChainRecord.from_json(record.to_json()) == record
    assert record.given.chain_file == "report/chain.pem" and str(tmp_path) not in str(record.to_json())


def test_the_identity_is_the_files_contents_not_their_paths(files, tmp_path):
    first = given_chain(files / "chain.pem", files / "ca.pem")
    moved = tmp_path / "moved"
    shutil.copytree(files, moved)
    assert given_chain(moved / "chain.pem", moved / "ca.pem", written=(str(files / "chain.pem"),
                                                                        str(files / "ca.pem"), None)) == first
    leaf = read_certificate_file(files / "chain.pem", "chain")[:1]
    (moved / "chain.pem").write_bytes(pem_of(leaf))  # the intermediate left out: another chain
    other = given_chain(moved / "chain.pem", moved / "ca.pem", written=(str(files / "chain.pem"),
                                                                         str(files / "ca.pem"), None))
    assert other.fingerprint != first.fingerprint


def test_a_key_must_be_the_leafs(files, tmp_path, pki_cache):
    path = scenario(tmp_path, 'chain_file = "report/chain.pem"\nca_file = "report/ca.pem"\nkey_file = "report/key.pem"\n')
    assert load_scenario(path).chains[0].given.key_file == "report/key.pem"
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (files / "key.pem").write_bytes(other)
    with pytest.raises(ScenarioError, match=r"chain\[0\]\.key_file: .*does not belong to the chain's leaf"):
        load_scenario(path)


@pytest.mark.parametrize("table, needle", [
    ('ca_file = "report/ca.pem"\nchain_file = "report/none.pem"\n', r"chain\[0\]\.chain_file: cannot read chain file"),
    ('chain_file = "report/chain.pem"\n', r"chain\[0\]\.ca_file: missing"),
    ('chain_file = "report/chain.pem"\nca_file = "report/key.pem"\n',
     r"chain\[0\]\.ca_file: CA file .*holds no PEM certificate.*private key"),
    ('chain_file = "report/chain.pem"\nca_file = "report/ca.pem"\nleaf = "P-256"\n', r"chain\[0\]\.leaf: unknown key"),
    ('chain_file = 3\nca_file = "report/ca.pem"\n', r"chain\[0\]\.chain_file: must be a file name"),
])
def test_bad_given_chains_name_the_key(files, tmp_path, table, needle):
    with pytest.raises(ScenarioError, match=needle):
        load_scenario(scenario(tmp_path, table))


def test_a_malformed_certificate_and_an_unknown_key_type_are_still_a_chain(files, tmp_path, pki_cache):
    leaf, inter = read_certificate_file(files / "chain.pem", "chain")
    (files / "broken.pem").write_bytes(pem_of([read_der(leaf.der[:-20]), inter]))
    spec = given_chain(files / "broken.pem", files / "ca.pem")
    assert spec.leaf.key.name == OTHER_KEY and ChainRecord.of(spec).leaf.key == OTHER_KEY
    served = cached_given(spec, pki_cache)  # the leaf as given, a substitute key beside it
    assert served.cert_file.read_bytes() == (files / "broken.pem").read_bytes()
    assert b"PRIVATE KEY" in served.key_file.read_bytes() and served.key_file.name.startswith("TEST-ONLY")
    assert cached_given(spec, pki_cache).key_file.read_bytes() == served.key_file.read_bytes()  # made once
