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
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .certread import ForeignCert, pem_of, safe
from .classify import handshake_signature_failed
from .diagnose import key_name
from .model import KEY_NAMES, KeySpec, Outcome
from .pki import generate_private_key

#: the server stack that can present a chain as given and sign with a key that is not the leaf's
REPLAY_SERVER = "go"
SUBSTITUTE_KEY_FILE = "substitute-key.TEST-ONLY.pem"


@dataclass(frozen=True)
class ReplayFiles:
    """What a listener needs (the attributes of pki.ChainFiles a server reads)."""

    ca_file: Path
    cert_file: Path  # the chain as given, leaf first
    key_file: Path  # the server's key, or a TEST-ONLY substitute
    leaf_file: Path
    client_cert_file: Path | None = None
    client_key_file: Path | None = None


def substitute_key(leaf: ForeignCert):
    """A fresh TEST-ONLY key of the leaf's type (RSA of its size, its curve, Ed25519), so the server
    offers the signature schemes the real one would; P-256 when the leaf's key is unreadable or of a
    type the replay server cannot sign with (the client's error then says so)."""
    key = safe(leaf.cert.public_key) if leaf.cert is not None else None
    if isinstance(key, rsa.RSAPublicKey):  # any size, not only the sizes scenarios name
        return rsa.generate_private_key(65537, max(key.key_size, 1024))
    name = key_name(key) if key is not None else None
    return generate_private_key(KeySpec(name if name in KEY_NAMES else "P-256"))


def write_files(directory: Path, chain: list[ForeignCert], ca_file: Path, key=None) -> tuple[ReplayFiles, str]:
    """The chain as given, its leaf, and the key (the user's, or a substitute) as PKCS#8 for the server.
    Returns the files and how the handshake is signed ("the given key" / "a substitute P-256 key")."""
    cert_file, leaf_file = directory / "chain.pem", directory / "leaf.pem"
    cert_file.write_bytes(pem_of(chain))
    leaf_file.write_bytes(pem_of(chain[:1]))
    signer = "the given key" if key is not None else None
    key = key if key is not None else substitute_key(chain[0])
    path = directory / (SUBSTITUTE_KEY_FILE if signer is None else "server-key.pem")
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return ReplayFiles(ca_file, cert_file, path, leaf_file), signer or f"a substitute {key_name(key.public_key())} key (TEST-ONLY)"


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
    client = entry["client"]
    if with_key or not signature_failure(family, entry["outcome"], entry["error"], entry.get("error_detail")):
        return
    if signature_first(client):
        entry.update(outcome=Outcome.SKIPPED.value, error=not_judged(client, entry["error"]), short_error="needs --key")
        return
    entry.update(outcome=Outcome.CHAIN_OK.value, short_error="chain accepted (no server key)")
    if name_after_handshake(client):
        entry["short_error"] = "chain accepted; name not judged (no server key)"
        entry["note"] = f"{client} checks the server name only after the handshake: this chain_ok says nothing of the name"


#: client stacks that check the server *name* only after the handshake (curl's OpenSSL backend):
#: their chain_ok says the chain was accepted; whether the name would have been is not judged
NAME_AFTER_HANDSHAKE = ("curl", "curl@*", "libcurl", "libcurl@*")


def name_after_handshake(client: str) -> bool:
    return _listed(client, NAME_AFTER_HANDSHAKE)


def signature_failure(family: str, outcome: str, error: str | None, detail: str | None) -> bool:
    """The stack refused the server's handshake signature (what a substitute key causes), not a certificate."""
    return outcome in _SIGNATURE_CLASSES and handshake_signature_failed(family, error or "", detail)


#: the classes a failed handshake signature falls in, per stack table (harness/classify.py)
_SIGNATURE_CLASSES = {Outcome.BAD_SIGNATURE.value, Outcome.HANDSHAKE_FAILURE.value}
