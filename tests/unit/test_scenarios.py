from __future__ import annotations

from pathlib import Path

import pytest

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.core import Outcome
from tlsmatrix.running.scenarios import ScenarioError, load_scenario
from tlsmatrix.stacks.servers import SERVERS

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


GOOD = """
name = "t"
[axes]
tls = ["1.2", "1.3"]
servers = ["openssl"]
clients = ["openssl", "rustls-ring"]
[[chain]]
root = ["P-256", {key = "P-521", hash = "SHA-256"}]
leaf = ["P-256", "ed25519"]
[[chain]]
name = "via intermediate"
root = "rsa4096"
intermediates = ["secp384r1"]
leaf = "RSA-2048"
[[expect]]
outcome = "ok"
[[expect]]
client = "rustls-ring"
signer = "P-521"
outcome = ["bad_signature", "unsupported_algorithm"]
why = "ring"
"""


def test_good_scenario_expands_the_product(tmp_path):
    s = load_scenario(write(tmp_path, GOOD), CLIENTS, SERVERS)
    labels = [c.label for c in s.chains]
    assert labels == ["P-256 → P-256", "P-256 → Ed25519", "P-521/SHA-256 → P-256", "P-521/SHA-256 → Ed25519",
                      "via intermediate"]
    assert s.chains[4].root.key.name == "RSA-4096" and s.chains[4].intermediates[0].key.name == "P-384"
    assert s.chains[2].root.signing_hash == "SHA-256"
    assert s.chains[0].root.signing_hash == "SHA-256"
    cells = s.cells()
    assert len(cells) == 5 * 2 * 1 * 2


def test_default_hash_follows_the_key(tmp_path):
    s = load_scenario(write(tmp_path, GOOD.replace('{key = "P-521", hash = "SHA-256"}', '"P-521"')))
    p521 = [c for c in s.chains if c.root.key.name == "P-521"][0]
    assert p521.root.signing_hash == "SHA-512"


def test_last_matching_rule_wins(tmp_path):
    s = load_scenario(write(tmp_path, GOOD), CLIENTS, SERVERS)
    by_key = {(c.chain.label, c.client): c.expect for c in s.cells(tls_versions=["1.3"])}
    assert by_key[("P-521/SHA-256 → P-256", "rustls-ring")].outcomes == {Outcome.BAD_SIGNATURE, Outcome.UNSUPPORTED_ALGORITHM}
    assert by_key[("P-521/SHA-256 → P-256", "openssl")].outcomes == {Outcome.OK}
    assert by_key[("P-256 → P-256", "rustls-ring")].outcomes == {Outcome.OK}


def test_cells_can_be_narrowed(tmp_path):
    s = load_scenario(write(tmp_path, GOOD), CLIENTS, SERVERS)
    cells = s.cells(clients=["openssl"], tls_versions=["1.2"])
    assert {c.client for c in cells} == {"openssl"} and {c.tls for c in cells} == {"1.2"}


@pytest.mark.parametrize(
    "old,new,needles",
    [
        ('leaf = "RSA-2048"', 'leaf = "P-999"', ["chain[1].leaf", "P-999", "unknown key type"]),
        ('root = "rsa4096"', 'root = "RSA-512"', ["chain[1].root", "RSA-512"]),
        ('hash = "SHA-256"', 'hash = "MD5"', ["chain[0].root.hash", "MD5"]),
        ('tls = ["1.2", "1.3"]', 'tls = ["1.1"]', ["axes.tls[0]", "1.1"]),
        ('"openssl", "rustls-ring"]', '"openssl", "schannel"]', ["axes.clients", "schannel", "known:"]),
        ('servers = ["openssl"]', 'servers = ["iis"]', ["axes.servers", "iis"]),
        ('outcome = "ok"', 'outcome = "fine"', ["expect[0].outcome", "fine"]),
        ('why = "ring"', 'why = "ring"\ncolour = "red"', ["expect[1].colour", "unknown key"]),
        ('name = "t"', 'name = "t"\nsurprise = 1', ["surprise", "unknown key"]),
        ('intermediates = ["secp384r1"]', 'intermediates = "P-384"', ["chain[1].intermediates", "must be a list"]),
        ('signer = "P-521"', 'signer = "P-522"', ["expect[1].signer", "P-522"]),
    ],
)
def test_bad_scenarios_name_file_key_and_value(tmp_path, old, new, needles):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, CLIENTS, SERVERS)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


def test_ed25519_with_a_hash_is_rejected(tmp_path):
    path = write(tmp_path, GOOD.replace('{key = "P-521", hash = "SHA-256"}', '{key = "Ed25519", hash = "SHA-512"}'))
    with pytest.raises(ScenarioError, match=r"chain\[0\]\.root\.hash: Ed25519 signs without"):
        load_scenario(path)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"s\.toml: invalid TOML"):
        load_scenario(write(tmp_path, "name = [unclosed"))
    with pytest.raises(ScenarioError, match=r"nope\.toml: cannot read scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_missing_chain_and_duplicate_chain(tmp_path):
    with pytest.raises(ScenarioError, match=r": chain: missing"):
        load_scenario(write(tmp_path, 'name = "x"\n'))
    dup = 'name = "x"\n[[chain]]\nroot = "P-256"\nleaf = "P-256"\n[[chain]]\nroot = "P-256"\nleaf = "P-256"\n'
    with pytest.raises(ScenarioError, match="listed twice"):
        load_scenario(write(tmp_path, dup))


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(path):
    s = load_scenario(path, CLIENTS, SERVERS)
    cells = s.cells()
    assert cells and all(c.expect is not None for c in cells)


def test_rustls_p521_scenario_says_what_the_issue_says():
    s = load_scenario(ROOT / "scenarios" / "rustls-p521.toml", CLIENTS, SERVERS)
    assert {c.label for c in s.chains} == {"P-256 → P-256", "P-256 → P-521", "P-521 → P-256", "P-521 → P-521",
                                           "P-521 → P-256 → P-256"}
    assert set(s.tls_versions) == {"1.2", "1.3"}
    assert {"openssl", "rustls-ring", "rustls-aws-lc-rs", "go"} <= set(s.clients)
    for cell in s.cells():
        uses_p521 = cell.chain.leaf.key.name == "P-521" or any(c.key.name == "P-521" for c in cell.chain.signers)
        ok_expected = cell.expect.outcomes == {Outcome.OK}
        if cell.client.startswith("rustls-ring") and uses_p521:
            assert Outcome.OK not in cell.expect.outcomes, cell.id
        elif cell.chain.leaf.key.name == "P-521" and (
            (cell.client == "rustls-aws-lc-rs" and cell.tls == "1.2" and cell.server == "openssl")
            or cell.client == "boringssl"
        ):
            # measured: rustls offers no secp521r1 group, which an OpenSSL TLS 1.2 server needs;
            # BoringSSL offers neither the P-521 group nor its signature scheme by default
            assert cell.expect.outcomes == {Outcome.HANDSHAKE_FAILURE}, cell.id
        elif cell.client in ("openssl", "go", "rustls-aws-lc-rs"):
            assert ok_expected, cell.id


def test_curves_scenario_covers_every_key_type():
    s = load_scenario(ROOT / "scenarios" / "curves.toml", CLIENTS, SERVERS)
    keys = {"RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519"}
    assert {c.root.key.name for c in s.chains} == keys
    assert {c.leaf.key.name for c in s.chains} == keys
    assert len(s.chains) == 49


def test_client_cert_axis_and_matcher(tmp_path):
    path = write(tmp_path, """
name = "m"
[axes]
servers = ["go", "openssl"]
clients = ["openssl", "rustls-ring"]
[[chain]]
root = "P-256"
leaf = "P-256"
client_cert = ["P-256", "secp521r1"]
[[chain]]
root = "P-256"
leaf = "P-384"
[[expect]]
outcome = "ok"
[[expect]]
client = "rustls-ring"
client_cert = "P-521"
outcome = "unsupported_algorithm"
[[expect]]
client_cert = "none"
leaf = "P-384"
outcome = "untrusted"
""")
    s = load_scenario(path, CLIENTS, SERVERS)
    assert [c.label for c in s.chains] == ["P-256 → P-256 + client P-256", "P-256 → P-256 + client P-521",
                                           "P-256 → P-384"]
    cells = {(c.chain.label, c.client, c.tls, c.server): c.expect.outcomes for c in s.cells()}
    assert cells[("P-256 → P-256 + client P-521", "rustls-ring", "1.3", "go")] == {Outcome.UNSUPPORTED_ALGORITHM}
    assert cells[("P-256 → P-256 + client P-256", "rustls-ring", "1.3", "go")] == {Outcome.OK}
    assert cells[("P-256 → P-384", "openssl", "1.2", "openssl")] == {Outcome.UNTRUSTED}


@pytest.mark.parametrize("old, new, needles", [
    ('client_cert = ["P-256", "secp521r1"]', 'client_cert = "P-999"', ["chain[0].client_cert", "P-999"]),
    ('client_cert = ["P-256", "secp521r1"]', 'client_cert = {key = "P-256", hash = "SHA-256"}',
     ["chain[0].client_cert.hash", "unknown key"]),
    ('servers = ["go", "openssl"]', 'servers = ["go", "gnutls"]',
     ["axes.servers", "'gnutls' cannot require a client certificate", "servers that can: openssl, go, rustls-ring, rustls-aws-lc-rs"]),
    ('[[expect]]\noutcome', '[[expect]]\nclient_cert = "P-1"\noutcome', ["expect[0].client_cert", "P-1"]),
])
def test_bad_client_cert_settings_name_key_and_value(tmp_path, old, new, needles):
    text = """
name = "m"
[axes]
servers = ["go", "openssl"]
clients = ["openssl"]
[[chain]]
root = "P-256"
leaf = "P-256"
client_cert = ["P-256", "secp521r1"]
[[expect]]
outcome = "ok"
"""
    assert old in text
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text.replace(old, new)), CLIENTS, SERVERS)
    for needle in needles:
        assert needle in str(err.value), str(err.value)
