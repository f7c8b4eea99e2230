"""Replaying a chain tlsmatrix did not make (``tlsmatrix replay``), with or without its server key.

A bug report carries public certificates (the server's chain, the cluster's CA), never the
server's private key. A server stack presents the chain exactly as given (harness/probes/go/server:
``replay``), byte for byte and in the given order, malformed certificates included. Without the
key, a *substitute* key of the leaf's type signs the handshake: a client that accepts the chain
then fails on the server's handshake signature (TLS 1.3 CertificateVerify, TLS 1.2
ServerKeyExchange), and that failure, in the stack's own words, becomes ``chain_ok``: "the chain
was accepted; the handshake could not complete without the server's key". Every other verdict
(``untrusted``, ``expired``, ...) comes out as itself, since stacks judge the chain first.
"""
from __future__ import annotations

import fnmatch

from .classify import handshake_signature_failed
from ..model.core import Outcome

#: the server stack that can present a chain as given and sign with a key that is not the leaf's
REPLAY_SERVER = "go"


#: client stacks that check the server's handshake signature before they judge the chain, with no
#: API left to ask for the chain's verdict (command-line tools; curl-impersonate). Measured: a leaf
#: without its intermediate, replayed without the key, is "bad signature" for them, not untrusted
#: (tests/integration/test_replay.py). Node and the gnutls library probe ask their stack instead.
SIGNATURE_FIRST = ("gnutls-cli", "gnutls-cli@*", "tstclnt", "tstclnt@*", "boringssl")


def _listed(client: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(client, pattern) for pattern in patterns)


def signature_first(client: str) -> bool:
    return _listed(client, SIGNATURE_FIRST)


def not_judged(client: str, error: str | None) -> str:
    return (f"{client} checks the server's handshake signature before it judges the chain, so without the "
            f"server's key it cannot say what it thinks of the chain (replay with --key); it said: {error}")


def replay_entry(entry: dict, family: str, with_key: bool) -> None:
    """A probe entry as replay reports it (in place): ``chain_ok`` for a refusal of the substitute
    key's signature, ``skipped`` when such a refusal says nothing of the chain; verdicts unchanged."""
    if not with_key:
        entry.update(without_key(entry["client"], family, entry["outcome"], entry["error"], entry.get("error_detail")))


def without_key(client: str, family: str, outcome: str, error: str | None, detail: str | None) -> dict[str, str]:
    """What changes in a client's answer to a chain served with a substitute key (nothing when the
    answer is a verdict on the chain): outcome, error, short_error and note."""
    if not signature_failure(family, outcome, error, detail):
        return {}
    if signature_first(client):
        return {"outcome": Outcome.SKIPPED.value, "error": not_judged(client, error), "short_error": "needs --key"}
    if name_after_handshake(client):
        return {"outcome": Outcome.CHAIN_OK.value, "short_error": "chain accepted; name not judged (no server key)",
                "note": f"{client} checks the server name only after the handshake: this chain_ok says nothing "
                        "of the name"}
    return {"outcome": Outcome.CHAIN_OK.value, "short_error": "chain accepted (no server key)"}


#: client stacks that check the server *name* only after the handshake (curl's OpenSSL backend):
#: their chain_ok says the chain was accepted; whether the name would have been is not judged
NAME_AFTER_HANDSHAKE = ("curl", "curl@*", "libcurl", "libcurl@*")


def name_after_handshake(client: str) -> bool:
    return _listed(client, NAME_AFTER_HANDSHAKE)


def signature_failure(family: str, outcome: str, error: str | None, detail: str | None) -> bool:
    """The stack refused the server's handshake signature (what a substitute key causes), not a certificate."""
    return outcome in _SIGNATURE_CLASSES and handshake_signature_failed(family, error or "", detail)


#: the classes a failed handshake signature falls in, per stack table (harness/stacks/classify.py)
_SIGNATURE_CLASSES = {Outcome.BAD_SIGNATURE.value, Outcome.HANDSHAKE_FAILURE.value}
