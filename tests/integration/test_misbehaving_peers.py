"""The misbehaving-peer corpus: every client stack × every peer behaviour × 5 repetitions.

Each behaviour has one documented class (harness/running/endpoints/misbehaving.py, docs/probe-contract.md
"Outcome classes"); every stack must land in it on every repetition, with its own words kept as the
raw error. Flips between runs (an EOF that is sometimes a reset) must not flip the class.
"""
from __future__ import annotations

import dataclasses
import time

import pytest

from tlsmatrix.stacks.classify import classify
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints.misbehaving import BEHAVIOURS, MisbehavingEndpoint
from tlsmatrix.model.core import Job, Outcome
from tlsmatrix.model.groups import group_fields

from ..capture_errors import STACK_LIMITS
from .conftest import CHAINS, client_stack

pytestmark = pytest.mark.integration

CLIENT_NAMES = [n for n, c in CLIENTS.items() if c.needs_app is None]
REPETITIONS = 5
#: the stalling peers end only by the client's own timeout: short (the capture uses the same)
STALL_TIMEOUT_MS = 500
TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def peer():
    with MisbehavingEndpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ca_file(pki_cache):
    # any CA: no behaviour gets as far as verifying a certificate the client trusts
    return str(pki_cache.chain(CHAINS["good"]).ca_file)


def run_corpus(session: ProbeSession, peer: MisbehavingEndpoint, ca_file: str):
    """Every behaviour REPETITIONS times through one long-lived probe: {behaviour: [(class, raw)]}.
    A peer of the post-quantum era gets the hybrid group from the stacks that can be told to offer it
    (a stack that lacks it says so, and then sends its own hello, as a stack without group settings does)."""
    seen: dict[str, list] = {name: [] for name in BEHAVIOURS}
    for rep in range(REPETITIONS):
        for name, behaviour in BEHAVIOURS.items():
            job = Job(id=f"{name}-{rep}", host="127.0.0.1", port=peer.ports[name], servername="localhost",
                      ca_file=ca_file, tls_version=behaviour.tls,
                      timeout_ms=STALL_TIMEOUT_MS if behaviour.stalls else TIMEOUT_MS,
                      **(group_fields(behaviour.groups) if session.stack.groups else {}))
            started = time.monotonic()
            raw = session.run(job)
            if not raw.ok and (raw.error or "").startswith("unsupported group:"):
                raw = session.run(dataclasses.replace(job, groups=None, group_codes=None))
            seen[name].append((classify(session.stack.family, raw).outcome, raw, time.monotonic() - started))
    return seen


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_every_behaviour_gets_its_one_class_on_every_repetition(peer, ca_file, client):
    with ProbeSession(client_stack(client)) as session:
        session.start()
        seen = run_corpus(session, peer, ca_file)
    def expected(name: str) -> str:  # the documented class, or what an old version's own words support
        return STACK_LIMITS.get((client, BEHAVIOURS[name].case), BEHAVIOURS[name].outcome.value)

    wrong = {name: [(o.value, r.error) for o, r, _ in runs if o.value != expected(name)]
             for name, runs in seen.items()}
    assert not any(wrong.values()), {n: w for n, w in wrong.items() if w}
    for name, runs in seen.items():
        for outcome, raw, took in runs:
            assert not raw.ok and raw.error and not raw.error.startswith("probe:"), raw  # the stack's own words
            if outcome is Outcome.TIMEOUT:  # the probe's own deadline, not the harness killing it
                assert "harness killed it" not in raw.error and took < 5.0, (name, took, raw)
    assert session.restarts == 0  # no behaviour broke the probe itself
