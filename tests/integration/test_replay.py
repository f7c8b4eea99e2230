"""`tlsmatrix replay`: a chain served exactly as given, without its server key (issue 19).

Every client stack on this machine, against the Go server presenting the chain byte for byte and
signing with a TEST-ONLY substitute key: a chain the stack accepts is ``chain_ok`` (never ``ok``),
and every certificate verdict still comes out as itself: a missing intermediate, an expired leaf,
a wrong name, an issuer name that differs from the CA's subject only in string type (the report's
``UnknownIssuer``, from public certificates alone), a malformed certificate.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tlsmatrix import api, cli
from tlsmatrix.certs.certread import pem_of, read_certificate_file, read_der
from tlsmatrix.stacks.clients import CLIENTS, TLS_CLIENTS
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec
from tlsmatrix.stacks.replay import name_after_handshake, signature_first
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration

P256 = CertSpec(KeySpec("P-256"))
HOST_CLIENTS = [c for c in TLS_CLIENTS if "@" not in c]
#: stacks that judge the chain before the handshake signature: replay without the key shows their verdict
JUDGING = [c for c in HOST_CLIENTS if not signature_first(c)]


def public_files(pki_cache, spec: ChainSpec, tmp_path: Path) -> tuple[Path, Path]:
    """A chain's public certificates only, as a reporter attaches them: chain.pem and ca.pem (no key)."""
    files = pki_cache.chain(spec)
    shutil.copy(files.cert_file, tmp_path / "chain.pem")
    shutil.copy(files.ca_file, tmp_path / "ca.pem")
    return tmp_path / "chain.pem", tmp_path / "ca.pem"


def outcomes(doc: dict) -> dict[str, str]:
    return {r["client"]: r["outcome"] for r in doc["results"]}


@pytest.fixture(autouse=True)
def _go_server():
    require_stack(SERVERS["go"])


def _available(names):
    for name in names:
        require_stack(CLIENTS[name])
    return names


@pytest.mark.parametrize("key", ["P-256", "RSA-2048", "Ed25519"])
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_a_good_chain_without_its_key_is_chain_ok_for_every_stack_that_judges_it(pki_cache, tmp_path, key, tls):
    k = CertSpec(KeySpec(key))
    chain, ca = public_files(pki_cache, ChainSpec(k, k, intermediates=(k,)), tmp_path)
    doc = api.replay(chain, ca, clients=_available(HOST_CLIENTS), tls=tls)
    assert doc["replay"]["signed_with"].startswith(f"a substitute {key} key")
    got = outcomes(doc)
    # negotiation facts that hold with any key (measured, docs/stacks.md): NSS offers no ed25519 scheme,
    # BoringSSL neither; certutil of some NSS releases refuses an Ed25519 CA
    expected_other = {"nss", "tstclnt", "boringssl"} if key == "Ed25519" else set()
    for client in JUDGING:
        if client not in expected_other:
            assert got[client] == "chain_ok", (client, doc["results"])
    for client in HOST_CLIENTS:
        assert got[client] != "ok", client  # a handshake signed by another key never succeeds


def test_with_its_key_the_replay_is_a_normal_handshake(pki_cache, tmp_path):
    files = pki_cache.chain(ChainSpec(P256, P256, intermediates=(P256,)))
    doc = api.replay(files.cert_file, files.ca_file, key_file=files.key_file, clients=_available(HOST_CLIENTS))
    assert set(outcomes(doc).values()) == {"ok"}, doc["results"]
    assert doc["replay"]["signed_with"] == "the given key"


def test_a_leaf_without_its_intermediate_is_untrusted_not_chain_ok(pki_cache, tmp_path):
    files = pki_cache.chain(ChainSpec(P256, P256, intermediates=(P256,)))
    (tmp_path / "leaf.pem").write_bytes(pem_of(read_certificate_file(files.cert_file, "chain")[:1]))
    doc = api.replay(tmp_path / "leaf.pem", files.ca_file, clients=_available(HOST_CLIENTS))
    got = outcomes(doc)
    assert {c: got[c] for c in JUDGING} == {c: "untrusted" for c in JUDGING}, doc["results"]
    for client in HOST_CLIENTS:
        if signature_first(client):  # the measured reason they are skipped: they say "bad signature" here
            assert got[client] == "skipped" and "--key" in next(r["error"] for r in doc["results"] if r["client"] == client)
    assert [f["id"] for f in doc["diagnosis"]] == ["missing-intermediate"]


def test_an_expired_leaf_and_a_wrong_name_come_out_as_themselves(pki_cache, tmp_path):
    chain, ca = public_files(pki_cache, ChainSpec(P256, P256, expired=True), tmp_path)
    got = outcomes(api.replay(chain, ca, clients=_available(JUDGING)))
    assert {c: got[c] for c in JUDGING} == {c: "expired" for c in JUDGING}
    chain, ca = public_files(pki_cache, ChainSpec(P256, P256), tmp_path)
    got = outcomes(api.replay(chain, ca, clients=_available(JUDGING), servername="wrong.example"))
    for client in JUDGING:  # curl checks the name after the handshake: its chain_ok carries a note
        assert got[client] == ("chain_ok" if name_after_handshake(client) else "hostname_mismatch"), client


def test_the_reports_unknown_issuer_from_public_certificates_alone(pki_cache, tmp_path):
    """The leaf's issuer name differs from its CA's subject (an intermediate) only in string type."""
    spec = ChainSpec(P256, P256, intermediates=(P256,), defect="issuer-name-string-type")
    chain, ca = public_files(pki_cache, spec, tmp_path)
    doc = api.replay(chain, ca, clients=_available(["openssl", "java", "rustls-ring", "rustls-aws-lc-rs", "go"]))
    assert outcomes(doc) == {"openssl": "chain_ok", "java": "chain_ok", "rustls-ring": "untrusted",
                             "rustls-aws-lc-rs": "untrusted", "go": "untrusted"}
    rustls = next(r for r in doc["results"] if r["client"] == "rustls-ring")
    assert rustls["error"] == "invalid peer certificate: UnknownIssuer" and rustls["finding"] == "issuer-name-encoding"


@pytest.mark.parametrize("intermediates", [0, 1])
def test_the_diagnosis_predicts_which_stacks_an_issuer_name_encoding_breaks(pki_cache, tmp_path, intermediates):
    """Where the issuer is a trust anchor every exact-bytes stack fails; GnuTLS forgives a sent intermediate."""
    from tlsmatrix.model.document import Finding

    spec = ChainSpec(P256, P256, intermediates=(P256,) * intermediates, defect="issuer-name-string-type")
    chain, ca = public_files(pki_cache, spec, tmp_path)
    doc = api.replay(chain, ca, clients=_available(JUDGING))
    (finding,) = [Finding.from_json(f) for f in doc["diagnosis"]]
    for client, outcome in outcomes(doc).items():
        assert outcome == ("untrusted" if finding.affects_client(client) else "chain_ok"), (client, outcome)


def test_a_malformed_certificate_is_served_as_given_and_every_result_kept(pki_cache, tmp_path):
    files = pki_cache.chain(ChainSpec(P256, P256, intermediates=(P256,)))
    leaf, inter = read_certificate_file(files.cert_file, "chain")
    broken = read_der(inter.der[:-20])  # the intermediate cut short: no parser accepts it
    (tmp_path / "chain.pem").write_bytes(pem_of([leaf, broken]))
    doc = api.replay(tmp_path / "chain.pem", files.ca_file, clients=_available(JUDGING))
    assert len(doc["results"]) == len(JUDGING)
    assert all(r["outcome"] not in ("ok", "chain_ok", "probe_error") for r in doc["results"]), doc["results"]
    assert doc["diagnosis"][0]["id"] == "malformed-certificate" and "chain[1]" in doc["diagnosis"][0]["detail"]


def test_the_command_line_json_has_the_shape_of_probe(pki_cache, tmp_path, capsys):
    chain, ca = public_files(pki_cache, ChainSpec(P256, P256), tmp_path)
    assert cli.main(["replay", "--chain", str(chain), "--ca", str(ca), "--clients", "openssl,go",
                     "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["client"], r["outcome"]) for r in doc["results"]] == [("openssl", "chain_ok"), ("go", "chain_ok")]
    assert {"results", "diagnosis", "servername", "replay"} <= doc.keys()
    assert doc["servername"] == "localhost"  # the leaf's first DNS name


def test_bad_input_is_exit_2_naming_the_file(tmp_path, capsys, pki_cache):
    (tmp_path / "empty.pem").write_text("nothing here\n")
    files = pki_cache.chain(ChainSpec(P256, P256))
    assert cli.main(["replay", "--chain", str(tmp_path / "empty.pem"), "--ca", str(files.ca_file)]) == 2
    assert "empty.pem holds no PEM certificate block" in capsys.readouterr().err
    other = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-384")), CertSpec(KeySpec("P-384"))))
    assert cli.main(["replay", "--chain", str(files.cert_file), "--ca", str(files.ca_file),
                     "--key", str(other.key_file)]) == 2
    assert "does not belong to the chain's leaf" in capsys.readouterr().err


def test_a_live_server_sending_a_malformed_certificate_is_diagnosed_and_saved(pki_cache, tmp_path):
    """OpenSSL cannot take such a chain apart; our own TLS 1.2 ClientHello reads it as sent."""
    from tlsmatrix.running.endpoints.base import ListenerSpec
    from tlsmatrix.running.endpoints.process import ProcessEndpoint
    from tlsmatrix.certs.given import given_chain, write_given

    files = pki_cache.chain(ChainSpec(P256, P256, intermediates=(P256,)))
    leaf, inter = read_certificate_file(files.cert_file, "chain")
    sent = [leaf, read_der(inter.der[:-20])]
    (tmp_path / "sent.pem").write_bytes(pem_of(sent))
    (tmp_path / "served").mkdir()
    given, _ = write_given(given_chain(tmp_path / "sent.pem", files.ca_file), tmp_path / "served")
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("m", given, None, replay=True)]) as ep:
        port = ep.listeners["m"].port
        doc = api.probe("127.0.0.1", port, files.ca_file, clients=_available(["openssl", "go"]),
                        servername="localhost", save_chain=tmp_path / "saved.pem")
        findings = api.diagnose_chain(files.ca_file, "127.0.0.1", port, servername="localhost")
    assert [c.der for c in read_certificate_file(tmp_path / "saved.pem", "saved")] == [c.der for c in sent]
    assert doc["diagnosis"][0]["id"] == "malformed-certificate" and findings[0].id == "malformed-certificate"
    assert {r["client"]: r["outcome"] for r in doc["results"]} == {"openssl": "malformed_certificate",
                                                                    "go": "malformed_certificate"}


@pytest.mark.docker
def test_versioned_columns_replay_the_reports_chain(pki_cache, tmp_path):
    """Every release column (bullseye, bookworm, trixie images) judges a replayed chain too: OpenSSL 1.1.1
    to 3.5 (3.5 says "provider signature failure"), Java 11 to 21, Node 12 to 20 accept the issuer name
    in another string type; webpki, Go 1.15 to 1.24, GnuTLS, NSS and wolfSSL do not."""
    from tlsmatrix.stacks.clients.containers import VERSIONED, image_missing

    columns = list(VERSIONED)
    for column in columns:
        why = image_missing(VERSIONED[column])
        if why:
            if os.environ.get("TLSMATRIX_REQUIRE_DOCKER") == "1":
                pytest.fail(f"{column}: {why}")
            pytest.skip(f"{column}: {why}")
    spec = ChainSpec(P256, P256, defect="issuer-name-string-type")  # root → leaf, as in the README
    chain, ca = public_files(pki_cache, spec, tmp_path)
    got = outcomes(api.replay(chain, ca, clients=columns))
    canonical = ("openssl@", "java@", "node@", "libcurl@", "curl@", "openssl-cli@")
    for column in columns:
        expected = ("skipped" if signature_first(column) else
                    "chain_ok" if column.startswith(canonical) else "untrusted")
        assert got[column] == expected, (column, got[column])
