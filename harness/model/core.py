"""The nouns of tlsmatrix: key specs, chains, cells, jobs, outcomes, results.

Everything here is a frozen value object: scenarios expand into cells, cells become jobs,
jobs become results. No I/O happens in this module.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import groups
from .defects import DEFECTS
from .errors import TlsmatrixError
from .jsonmodel import JsonModel, attr


class SpecError(TlsmatrixError, ValueError):
    """A key, hash or TLS version name that tlsmatrix does not know."""


# --- keys and hashes ---------------------------------------------------------------------

#: canonical key names, in the order reports list them: by family (RSA, ECDSA, EdDSA, ML-DSA), then by strength
#: RSA-1024 is there to ask which stacks still accept a weak key (OpenSSL security levels, Go, Java policies).
#: ML-DSA (FIPS 204, RFC 9881) and the EdDSA keys sign pure (no separate hash). SLH-DSA is not here:
#: cryptography (51) cannot sign it.
KEY_NAMES: tuple[str, ...] = ("RSA-1024", "RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519",
                              "Ed448", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87")

#: how records name a key of a chain tlsmatrix did not make when it is none of KEY_NAMES (P-192, RSA-1536, SLH-DSA…)
OTHER_KEY = "other"
RECORD_KEY_NAMES = (*KEY_NAMES, OTHER_KEY)

_KEY_ALIASES: dict[str, str] = {}
for _bits in (1024, 2048, 3072, 4096):
    for _alias in (f"RSA-{_bits}", f"RSA{_bits}", f"RSA_{_bits}"):
        _KEY_ALIASES[_alias.lower()] = f"RSA-{_bits}"
for _size, _names in {
    256: ("P-256", "P256", "secp256r1", "prime256v1", "ECDSA-P256", "ECDSA-P-256"),
    384: ("P-384", "P384", "secp384r1", "ECDSA-P384", "ECDSA-P-384"),
    521: ("P-521", "P521", "secp521r1", "ECDSA-P521", "ECDSA-P-521"),
}.items():
    for _alias in _names:
        _KEY_ALIASES[_alias.lower()] = f"P-{_size}"
_KEY_ALIASES["ed25519"] = "Ed25519"
_KEY_ALIASES["ed448"] = "Ed448"
for _level in (44, 65, 87):
    # FIPS 204's name, OpenSSL's (ML-DSA-65, mldsa65), the OID's (id-ml-dsa-65) and the usual misspellings
    for _alias in (f"ML-DSA-{_level}", f"ML-DSA{_level}", f"MLDSA-{_level}", f"MLDSA{_level}", f"ML_DSA_{_level}",
                   f"id-ml-dsa-{_level}"):
        _KEY_ALIASES[_alias.lower()] = f"ML-DSA-{_level}"

#: SHA-1 is there to ask which stacks still accept SHA-1 signatures (Go >= 1.18 and OpenSSL 3 at level 1+ refuse)
HASH_NAMES: tuple[str, ...] = ("SHA-1", "SHA-256", "SHA-384", "SHA-512")
_HASH_ALIASES = {h.lower(): h for h in HASH_NAMES} | {h.replace("-", "").lower(): h for h in HASH_NAMES}


@dataclass(frozen=True, order=True)
class KeySpec:
    """A key type: ``RSA-1024`` … ``RSA-4096``, ``P-256``/``P-384``/``P-521``, ``Ed25519``/``Ed448`` or
    ``ML-DSA-44``/``ML-DSA-65``/``ML-DSA-87``."""

    name: str

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        if not isinstance(text, str):
            raise SpecError(f"key type must be a string, got {text!r}")
        canonical = _KEY_ALIASES.get(text.strip().lower())
        if canonical is None:
            raise SpecError(f"unknown key type {text!r} (known: {', '.join(KEY_NAMES)})")
        return cls(canonical)

    @property
    def family(self) -> str:
        if self.name.startswith("RSA"):
            return "rsa"
        if self.name.startswith("P-"):
            return "ecdsa"
        if self.name.startswith("ML-DSA-"):
            return "mldsa"
        return "eddsa" if self.name in ("Ed25519", "Ed448") else OTHER_KEY

    @property
    def rsa_bits(self) -> int:
        return int(self.name.split("-")[1])

    @property
    def default_hash(self) -> str | None:
        """The hash a signer of this key type uses unless told otherwise (None: EdDSA and ML-DSA sign pure)."""
        if self.pure:
            return None
        return {"P-384": "SHA-384", "P-521": "SHA-512", OTHER_KEY: None}.get(self.name, "SHA-256")

    @property
    def pure(self) -> bool:
        """Signs the message itself, with no separate hash to choose (EdDSA, ML-DSA): a scenario names no hash."""
        return self.family in ("eddsa", "mldsa")

    def __str__(self) -> str:
        return self.name


def parse_hash(text: str) -> str:
    canonical = _HASH_ALIASES.get(str(text).strip().lower())
    if canonical is None:
        raise SpecError(f"unknown signature hash {text!r} (known: {', '.join(HASH_NAMES)})")
    return canonical


TLS_VERSIONS: tuple[str, ...] = ("1.2", "1.3")

#: what a server may speak after the handshake (a server descriptor's ``apps`` names some of these;
#: harness/running/scenarios.py says which servers can)
APPS: tuple[str, ...] = ("kubernetes",)


def parse_tls_version(text: Any) -> str:
    value = str(text).strip().lower().removeprefix("tlsv").removeprefix("tls").strip()
    if value not in TLS_VERSIONS:
        raise SpecError(f"unknown TLS version {text!r} (known: {', '.join(TLS_VERSIONS)})")
    return value


@dataclass(frozen=True)
class CertSpec:
    """One certificate in a chain: its key and, for signers, the hash it signs with."""

    key: KeySpec
    hash: str | None = None  # None: the key's default hash

    @property
    def signing_hash(self) -> str | None:
        return self.hash if self.hash is not None else self.key.default_hash

    def label(self) -> str:
        if self.hash is None or self.hash == self.key.default_hash:
            return self.key.name
        return f"{self.key.name}/{self.hash}"


@dataclass(frozen=True)
class GivenChain:
    """A chain from files tlsmatrix did not make (a bug report's ``chain.pem`` + ``ca.pem``): served as
    given, byte for byte; without ``key_file`` a substitute key signs (harness/stacks/replay.py, ``chain_ok``).
    Its identity is the files' contents, not their paths."""

    chain_file: str  # as the scenario wrote it (relative to the scenario file) ...
    ca_file: str
    key_file: str | None
    chain_sha256: str  # ... and what it held
    ca_sha256: str
    #: where the files are on this machine (not part of the chain's identity or of any record)
    paths: tuple[str, str, str | None] = dataclasses.field(compare=False, repr=False, default=("", "", None))


@dataclass(frozen=True)
class ChainSpec:
    """A root, optional intermediates and a leaf. The root is the trust anchor."""

    root: CertSpec
    leaf: CertSpec
    intermediates: tuple[CertSpec, ...] = ()
    expired: bool = False  # the leaf's validity window lies in the past
    name: str | None = None
    #: key of a client certificate (mTLS) issued by the root; None: the server asks for none
    client_cert: KeySpec | None = None
    #: a named chain defect (harness/model/defects.py), None for a well-formed chain
    defect: str | None = None
    #: a chain from files (root/intermediates/leaf then describe what the files hold), None: pki makes it
    given: GivenChain | None = None

    @property
    def signers(self) -> tuple[CertSpec, ...]:
        return (self.root, *self.intermediates)

    @property
    def certs(self) -> tuple[CertSpec, ...]:
        return (self.root, *self.intermediates, self.leaf)

    @functools.cached_property  # a frozen value: computed once (a run asks per cell, many times)
    def label(self) -> str:
        if self.name:
            return self.name
        if self.given is not None:
            return f"given {self.given.chain_file}"
        parts = [self.root.label(), *(i.label() for i in self.intermediates), self.leaf.key.name]
        text = " → ".join(parts)
        if self.client_cert is not None:
            text += f" + client {self.client_cert.name}"
        if self.defect is not None:
            text += f" [{self.defect}]"
        return text + " (expired)" if self.expired else text

    def to_json(self) -> dict[str, Any]:
        return ChainRecord.of(self).to_json()

    @functools.cached_property
    def fingerprint(self) -> str:
        """Stable id of what the chain is (not what it is called)."""
        body = json.dumps({k: v for k, v in self.to_json().items() if k != "label"}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


# --- a chain as results, spec.json and bundles record it ---------------------------------
# Key names stay strings here: a document written by another version may name a key this one
# does not know, and it must still render.


@dataclass(frozen=True, kw_only=True)
class CertRecord(JsonModel):
    """A signer of the chain: its key type and the hash it signs with (null: EdDSA and ML-DSA sign pure)."""

    key: str = attr(enum=RECORD_KEY_NAMES)
    hash: str | None = attr(None, enum=HASH_NAMES)

    @property
    def signing_hash(self) -> str | None:
        return self.hash or KeySpec(self.key).default_hash

    def label(self) -> str:
        return f"{self.key}/{self.hash}" if self.hash else self.key


@dataclass(frozen=True, kw_only=True)
class KeyRecord(JsonModel):
    """A certificate that signs nothing in the chain (the leaf, the mTLS client certificate): its key type."""

    key: str = attr(enum=RECORD_KEY_NAMES)


@dataclass(frozen=True, kw_only=True)
class GivenRecord(JsonModel):
    """Where a chain tlsmatrix did not make comes from: the files as the scenario names them, their contents' digests."""

    chain_file: str = attr(doc="the certificates the server presents, as given (relative to the scenario file)")
    ca_file: str = attr(doc="the trust anchor(s) the clients get")
    key_file: str | None = attr(None, doc="the server's key (null: a TEST-ONLY substitute key signs, and a "
                                          "client that accepts the chain answers chain_ok)")
    chain_sha256: str
    ca_sha256: str

    @classmethod
    def of(cls, given: GivenChain) -> GivenRecord:
        return cls(chain_file=given.chain_file, ca_file=given.ca_file, key_file=given.key_file,
                   chain_sha256=given.chain_sha256, ca_sha256=given.ca_sha256)

    def describe(self) -> str:
        key = f"key {self.key_file}" if self.key_file else "no server key (a substitute signs: chain_ok)"
        return f"given as {self.chain_file} + CA {self.ca_file}, {key}"


@dataclass(frozen=True, kw_only=True)
class ChainRecord(JsonModel):
    """A chain as a results document records it (what it is; the files are in ``chains``)."""

    label: str
    root: CertRecord
    intermediates: list[CertRecord] = attr(default_factory=list)
    leaf: KeyRecord
    expired: bool = False
    #: absent unless set: the fingerprints of chains from before mTLS and defects stay as they were
    client_cert: KeyRecord | None = attr(None, omit=True, doc="mTLS: the client certificate's key, issued by the "
                                         "root (absent: the server asks for no client certificate)")
    defect: str | None = attr(None, omit=True, enum=DEFECTS,
                              doc="a chain defect (harness/model/defects.py; absent: a well-formed chain)")
    given: GivenRecord | None = attr(None, omit=True, doc="a chain from files tlsmatrix did not make (absent: "
                                     "tlsmatrix made it); root, intermediates and leaf describe what the files hold")

    @classmethod
    def of(cls, spec: ChainSpec) -> ChainRecord:
        return cls(label=spec.label,
                   root=CertRecord(key=spec.root.key.name, hash=spec.root.signing_hash),
                   intermediates=[CertRecord(key=i.key.name, hash=i.signing_hash) for i in spec.intermediates],
                   leaf=KeyRecord(key=spec.leaf.key.name), expired=spec.expired,
                   client_cert=KeyRecord(key=spec.client_cert.name) if spec.client_cert else None,
                   defect=spec.defect, given=GivenRecord.of(spec.given) if spec.given else None)

    @property
    def signers(self) -> list[CertRecord]:
        return [self.root, *self.intermediates]

    def describe(self) -> str:
        """``root P-521, intermediate P-256/SHA-512, leaf P-256`` (+ client certificate, defect, expired)."""
        parts = [f"root {self.root.label()}", *(f"intermediate {i.label()}" for i in self.intermediates),
                 f"leaf {self.leaf.key}"]
        if self.client_cert:
            parts.append(f"client certificate {self.client_cert.key} (mTLS, issued by the root)")
        if self.defect:
            parts.append(f"defect {self.defect}")
        if self.given:
            parts.append(self.given.describe())
        return ", ".join(parts) + (" (expired)" if self.expired else "")


# --- outcomes ----------------------------------------------------------------------------


class Outcome(str, enum.Enum):
    """Normalized handshake outcome; the stack's raw error is kept beside it."""

    OK = "ok"
    #: replay without the server's key: the client accepted the chain, then (rightly) refused the
    #: substitute key's handshake signature (harness/stacks/replay.py). Never ``ok``: no handshake completed.
    CHAIN_OK = "chain_ok"
    UNTRUSTED = "untrusted"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    BAD_SIGNATURE = "bad_signature"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    EXPIRED = "expired"
    #: RFC 5280 keyUsage / extendedKeyUsage: the certificate may not be used for TLS server authentication
    #: (a CA whose keyUsage lacks keyCertSign breaks the path: ``untrusted``, as the stacks say)
    KEY_USAGE = "key_usage"
    #: RFC 5280 nameConstraints: a name outside what a CA may issue for, or a constraint the stack refuses
    NAME_CONSTRAINTS = "name_constraints"
    #: RFC 5280 basicConstraints beyond "is a CA": pathLenConstraint exceeded, a CA certificate as the leaf
    BASIC_CONSTRAINTS = "basic_constraints"
    #: a critical extension the stack does not process (RFC 5280 4.2: it must then reject the certificate)
    CRITICAL_EXTENSION = "critical_extension"
    #: the certificate does not parse (DER, a field, an extension's value) or breaks RFC 5280's structure
    MALFORMED_CERTIFICATE = "malformed_certificate"
    #: the stack refuses a certificate of the CA file itself (a trust anchor it cannot load)
    CA_FILE_REJECTED = "ca_file_rejected"
    HANDSHAKE_FAILURE = "handshake_failure"
    PROTOCOL_VERSION = "protocol_version"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    #: the peer answered, but not in TLS (a plain HTTP server, another protocol on the port)
    NOT_TLS = "not_tls"
    #: the client program under test aborted (panic, signal): its own words are the cell's error.
    #: A result about the client, unlike PROBE_ERROR (our probe broke).
    CRASH = "crash"
    PROBE_ERROR = "probe_error"
    SERVER_ERROR = "server_error"
    SKIPPED = "skipped"

    @classmethod
    def parse(cls, text: str) -> Outcome:
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            raise SpecError(
                f"unknown outcome {text!r} (known: {', '.join(o.value for o in cls)})"
            ) from None

    def __str__(self) -> str:
        return self.value


#: outcomes where the client accepted the chain (chain_ok: replayed without the server's key)
ACCEPTED = frozenset({Outcome.OK, Outcome.CHAIN_OK})

#: outcomes that say nothing about the client's TLS behaviour
NOT_MEASURED = frozenset({Outcome.SKIPPED, Outcome.SERVER_ERROR, Outcome.PROBE_ERROR})


# --- cells, jobs, results ----------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What a scenario expects for a cell, and why."""

    outcomes: frozenset[Outcome]
    why: str | None = None


@dataclass(frozen=True)
class Cell:
    """One handshake to make: a chain served by a server stack, tried by a client stack."""

    scenario: str
    chain: ChainSpec
    server: str
    tls: str | None
    client: str
    expect: Expectation | None = None
    servername: str = "localhost"
    index: int = 0  # position in the unsharded expansion (merge restores this order)
    app: str | None = None  # what the server speaks after the handshake: None, or "kubernetes"
    #: key-exchange groups (harness/model/groups.py): what the server accepts, what the client offers
    #: (None: the stack's own list)
    server_groups: tuple[str, ...] | None = None
    client_groups: tuple[str, ...] | None = None

    @property
    def row_key(self) -> tuple[str, str, str, str]:
        return (self.scenario, self.chain.label, self.tls or "any",
                groups.row_server(self.server, self.server_groups, self.client_groups))

    @property
    def id(self) -> str:
        return "|".join((*self.row_key, self.client))


@dataclass(frozen=True)
class Job(JsonModel):
    """The job line a client probe reads (docs/probe-contract.md, "Client probes")."""

    id: str = attr(doc="the probe echoes it in its result line")
    host: str
    port: int = attr(schema={"minimum": 1, "maximum": 65535})
    servername: str = attr(doc="SNI (for a DNS name) and the name the certificate is verified against")
    ca_file: str = attr(doc="PEM file whose certificates are the only trust anchors")
    tls_version: str | None = attr(enum=TLS_VERSIONS, doc="pins the version; null: the client's defaults")
    timeout_ms: int = attr(schema={"minimum": 1}, doc="bound for connect + handshake together")
    #: mTLS: the client certificate (PEM) and its TEST-ONLY key; only stacks with client_auth get them
    client_cert_file: str | None = attr(None, omit=True)
    client_key_file: str | None = attr(None, omit=True)
    #: Kubernetes clients: the kubeconfig file (same server, CA, name and client certificate) to load
    kubeconfig: str | None = attr(None, omit=True)
    #: the key-exchange groups to offer, in preference order (canonical names: harness/model/groups.py),
    #: with their code points; absent: the stack's own list
    groups: list[str] | None = attr(None, omit=True)
    group_codes: list[int] | None = attr(None, omit=True)
    #: the groups among them to send a key share for (absent: the stack chooses), with their code points
    key_shares: list[str] | None = attr(None, omit=True)
    key_share_codes: list[int] | None = attr(None, omit=True)


@dataclass(frozen=True)
class StackInfo(JsonModel):
    """What a probe or server says about itself in its hello line."""

    stack: str = attr(doc="the TLS library")
    version: str = attr(doc="its exact version")
    provider: str | None = attr(None, required=False, doc="the crypto provider, or null")
    details: dict[str, str] = attr(default_factory=dict, required=False, doc="other versions (libraries, builds)")

    @classmethod
    def from_hello(cls, hello: dict[str, Any]) -> StackInfo:
        return cls(
            stack=str(hello.get("stack") or "?"),
            version=str(hello.get("version") or "?"),
            provider=hello.get("provider"),
            details={str(k): str(v) for k, v in (hello.get("details") or {}).items()},
        )

    def describe(self) -> str:
        text = f"{self.stack} {self.version}"
        if self.provider:
            text += f" ({self.provider})"
        return text


@dataclass(frozen=True)
class Hello(JsonModel):
    """The first line a probe or server program writes (docs/probe-contract.md)."""

    hello: StackInfo


#: what a probe may report of the negotiated parameters (each null when the stack cannot say)
NEGOTIATED_SCHEMA = {"properties": {**{k: {"type": ["string", "null"]} for k in ("version", "cipher", "group", "sigalg")},
                                     # a HelloRetryRequest happened (null: the stack cannot tell)
                                     "hrr": {"type": ["boolean", "null"]}}}


@dataclass(frozen=True, kw_only=True)
class HandshakeResult(JsonModel):
    """A probe's raw answer for one job, before classification: its result line."""

    id: str | None = attr(None, schema={"type": "string"}, doc="the job's id")
    ok: bool
    error: str | None = attr(None, doc="the stack's own error text, unedited (prefixes timeout:, probe:, crash:)")
    error_detail: str | None = attr(None, required=False, doc="a more structured rendering (Rust {:?}, Go error chain)")
    negotiated: dict[str, Any] | None = attr(None, schema=NEGOTIATED_SCHEMA)
    elapsed_ms: float | None = None


@dataclass(frozen=True, kw_only=True)
class ListenerConfig(JsonModel):
    """One listener of a server program's configuration (docs/probe-contract.md, "Server programs")."""

    id: str
    cert_file: str = attr(doc="the leaf followed by any intermediates (not the root)")
    key_file: str
    tls_version: str | None = attr(enum=TLS_VERSIONS)
    port: int | None = attr(None, omit=True, doc="a fixed port (containers); absent: the OS chooses")
    app: str | None = attr(None, omit=True, doc="what the server speaks after the handshake")
    client_ca_file: str | None = attr(None, omit=True, doc="mTLS: require a client certificate from these CAs")
    replay: bool | None = attr(None, omit=True, doc="present cert_file's blocks byte for byte, unparsed, and sign with "
                                              "key_file even when it belongs to none of them (tlsmatrix replay)")
    groups: list[str] | None = attr(None, omit=True, doc="the key-exchange groups to accept, in preference order "
                                                      "(absent: the stack's own list)")
    group_codes: list[int] | None = attr(None, omit=True, doc="the same groups' code points")


@dataclass(frozen=True, kw_only=True)
class ServerConfig(JsonModel):
    """The first line (or --config file) a server program reads."""

    host: str
    container: bool | None = attr(None, omit=True, doc="inside a container: 0.0.0.0 is allowed")
    listeners: list[ListenerConfig]


@dataclass(frozen=True)
class Result:
    """A classified cell."""

    cell: Cell
    outcome: Outcome
    error: str | None = None
    short_error: str | None = None
    error_detail: str | None = None
    code: str | None = None  # the stack's own code for the error (X509_V_ERR_…, webpki's variant, …)
    negotiated: dict[str, Any] | None = None
    elapsed_ms: float | None = None
    client_version: str | None = None
    server_version: str | None = None
    attempts: int = 1
    #: the chain diagnosis finding (harness/certs/diagnose.py) that explains this failing cell
    finding: str | None = None

    @property
    def verdict(self) -> str:
        """``match``, ``mismatch`` or ``unexpected`` (no expectation) / ``not-run``."""
        if self.cell.expect is None:
            return "unexpected"
        if self.outcome in self.cell.expect.outcomes:
            return "match"
        if self.outcome is Outcome.SKIPPED:
            return "not-run"
        return "mismatch"
