"""A user's chain joins a matrix (issue 19): a scenario ``[[chain]]`` naming chain files, run with its
axes (servers, TLS versions, clients), reported, bundled and regressed like any chain."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from tlsmatrix import api
from tlsmatrix.report.bundle import write_bundle
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
P256 = CertSpec(KeySpec("P-256"))


def given_scenario(tmp_path: Path, pki_cache, servers: list[str], clients: list[str], with_key: bool) -> Path:
    made = pki_cache.chain(ChainSpec(P256, P256, intermediates=(P256,)))
    for name, src in (("chain.pem", made.cert_file), ("ca.pem", made.ca_file), ("key.pem", made.key_file)):
        shutil.copy(src, tmp_path / name)
    key = 'key_file = "key.pem"\n' if with_key else ""
    path = tmp_path / "mine.toml"
    path.write_text(f'name = "mine"\n[axes]\ntls = ["1.2", "1.3"]\nservers = {servers!r}\nclients = {clients!r}\n'
                    f'[[chain]]\nname = "reporter"\nchain_file = "chain.pem"\nca_file = "ca.pem"\n{key}'.replace("'", '"'))
    return path


def _require(servers, clients):
    for s in servers:
        require_stack(SERVERS[s])
    for c in clients:
        require_stack(CLIENTS[c])


def test_the_shipped_given_chain_scenario_matches_its_expectations(tmp_path):
    """chain_ok for a good chain, untrusted without its intermediate, the report's UnknownIssuer for
    rustls and Go (chain_ok for OpenSSL and Java) from public certificates alone."""
    path = ROOT / "scenarios/given-chain.toml"
    sc = api.load_scenarios(path)[0]
    _require(sc.servers, sc.clients)
    doc = api.run(path, output=tmp_path / "run")
    assert doc.cells and all(c.verdict == "match" for c in doc.cells), \
        [(c.client, c.chain_label, c.outcome) for c in doc.cells if c.verdict != "match"]
    by = {(c.client, c.chain_label, c.tls): c.outcome for c in doc.cells}
    for client in ("openssl", "java"):
        assert by[(client, "given: issuer name PrintableString vs UTF8String", "1.3")] == "chain_ok"
    for client in ("rustls-ring", "go"):
        assert by[(client, "given: issuer name PrintableString vs UTF8String", "1.3")] == "untrusted"
    assert not [c for c in doc.cells if c.outcome == "ok"]  # no server key: no handshake completes


def test_with_its_key_every_server_serves_a_given_chain(tmp_path, pki_cache):
    servers, clients = ["openssl", "go", "gnutls", "nss", "rustls-ring"], ["openssl", "rustls-ring", "go"]
    _require(servers, clients)
    doc = api.run(given_scenario(tmp_path, pki_cache, servers, clients, with_key=True))
    assert len(doc.cells) == 30 and {c.outcome for c in doc.cells} == {"ok"}


def test_without_its_key_only_the_go_server_serves_it_and_the_others_say_why(tmp_path, pki_cache):
    servers, clients = ["openssl", "go"], ["openssl", "go"]
    _require(servers, clients)
    doc = api.run(given_scenario(tmp_path, pki_cache, servers, clients, with_key=False), output=tmp_path / "run")
    outcomes = {(c.server, c.outcome) for c in doc.cells}
    assert outcomes == {("go", "chain_ok"), ("openssl", "skipped")}
    skipped = next(c for c in doc.cells if c.server == "openssl")
    assert "without its server key" in skipped.error and "go server" in skipped.error

    bundle = write_bundle(tmp_path / "run", None, tmp_path / "b.tar.gz")
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        cell = next(n.rsplit("/", 1)[0] for n in names if n.endswith("/cell.json") and "-go-" in n)
        readme = tar.extractfile(next(n for n in names if n.endswith("REPRODUCE.md"))).read().decode()
        chain = tar.extractfile(f"{cell}/chain.pem").read()
    assert chain == (tmp_path / "chain.pem").read_bytes()  # the public files as given
    assert f"{cell}/regenerate.sh" not in names and not [n for n in names if "key" in n.lower()]
    assert "tlsmatrix replay --chain chain.pem --ca ca.pem" in readme
