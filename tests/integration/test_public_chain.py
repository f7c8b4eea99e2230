"""A real public chain whose key nobody here has (docs.python.org, tests/data/public-chains/): replayed
through every host client stack it is ``chain_ok`` for each stack that judges the chain, and the
same leaf without its intermediate is ``untrusted`` (issue 19). The certificates are real, so the
clock matters: after the leaf's notAfter the verdict to expect is ``expired``, never a pass."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from tlsmatrix import api
from tlsmatrix.certs.certread import pem_of, read_certificate_file
from tlsmatrix.stacks.clients import CLIENTS, TLS_CLIENTS
from tlsmatrix.stacks.replay import signature_first
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
PUBLIC = Path(__file__).resolve().parents[1] / "data" / "public-chains" / "docs.python.org"
HOST_CLIENTS = [c for c in TLS_CLIENTS if "@" not in c]


def accepted_outcome() -> str:
    """chain_ok while the leaf is valid; expired after (the certificates are not ours to renew)."""
    leaf = x509.load_pem_x509_certificate((PUBLIC / "chain.pem").read_bytes())
    now = dt.datetime.now(dt.timezone.utc)
    return "chain_ok" if leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc else "expired"


@pytest.fixture(autouse=True)
def _stacks():
    require_stack(SERVERS["go"])
    for name in HOST_CLIENTS:
        require_stack(CLIENTS[name])


def test_a_real_public_chain_replays_as_chain_ok_on_every_stack_that_judges_it():
    doc = api.replay(PUBLIC / "chain.pem", PUBLIC / "ca.pem", servername="docs.python.org", clients=HOST_CLIENTS)
    outcomes = {r["client"]: r["outcome"] for r in doc["results"]}
    judging = [c for c in HOST_CLIENTS if not signature_first(c)]
    assert {c: outcomes[c] for c in judging} == {c: accepted_outcome() for c in judging}, doc["results"]
    if accepted_outcome() == "chain_ok":  # the others say why they cannot judge without the key
        assert {outcomes[c] for c in HOST_CLIENTS if signature_first(c)} <= {"skipped"}
    assert doc["diagnosis"] == [] and doc["replay"]["certificates"] == 2


def test_the_same_leaf_without_its_intermediate_is_untrusted(tmp_path):
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pem_of(read_certificate_file(PUBLIC / "chain.pem", "chain file")[:1]))
    clients = ["openssl", "rustls-ring", "rustls-aws-lc-rs", "go"]
    doc = api.replay(leaf, PUBLIC / "ca.pem", servername="docs.python.org", clients=clients)
    assert {r["client"]: r["outcome"] for r in doc["results"]} == dict.fromkeys(clients, "untrusted")
    assert [f["id"] for f in doc["diagnosis"]] == ["missing-intermediate"]


def test_the_system_store_trusts_the_public_chain_and_not_a_test_ca(pki_cache):
    """`--ca system`: the operating system's roots; a chain of tlsmatrix's TEST PKI is untrusted there
    (verification stays on), while docs.python.org's chain leads to a root the store holds."""
    from tlsmatrix import validate
    from tlsmatrix.running.endpoints.base import ListenerSpec
    from tlsmatrix.running.endpoints.process import ProcessEndpoint

    store = validate.ca_file("system")
    clients = ["openssl", "rustls-ring", "go"]
    public = api.replay(PUBLIC / "chain.pem", store, servername="docs.python.org", clients=clients)
    assert {r["client"]: r["outcome"] for r in public["results"]} == dict.fromkeys(clients, accepted_outcome())
    files = pki_cache.chain(api.chain())
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("L", files, None)]) as endpoint:
        ours = api.probe("127.0.0.1", endpoint.listeners["L"].port, store, clients=clients, servername="localhost")
    assert {r["client"]: r["outcome"] for r in ours["results"]} == dict.fromkeys(clients, "untrusted")
