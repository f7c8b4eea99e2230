"""The nouns of tlsmatrix: key specs, chains, cells, jobs, outcomes, results.

Everything here is a frozen value object: scenarios expand into cells, cells become jobs,
jobs become results. No I/O happens in this module.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


class SpecError(ValueError):
    """A key, hash or TLS version name that tlsmatrix does not know."""


# --- keys and hashes ---------------------------------------------------------------------

#: canonical key names, in the order reports list them
KEY_NAMES: tuple[str, ...] = ("RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519")

_KEY_ALIASES: dict[str, str] = {}
for _bits in (2048, 3072, 4096):
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

HASH_NAMES: tuple[str, ...] = ("SHA-256", "SHA-384", "SHA-512")
_HASH_ALIASES = {h.lower(): h for h in HASH_NAMES} | {h.replace("-", "").lower(): h for h in HASH_NAMES}


@dataclass(frozen=True, order=True)
class KeySpec:
    """A key type: ``RSA-2048`` … ``RSA-4096``, ``P-256``/``P-384``/``P-521`` or ``Ed25519``."""

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
        return "eddsa"

    @property
    def rsa_bits(self) -> int:
        return int(self.name.split("-")[1])

    @property
    def default_hash(self) -> str | None:
        """The hash a signer of this key type uses unless told otherwise (None: Ed25519 is pure)."""
        return {"P-384": "SHA-384", "P-521": "SHA-512", "Ed25519": None}.get(self.name, "SHA-256")

    def __str__(self) -> str:
        return self.name


def parse_hash(text: str) -> str:
    canonical = _HASH_ALIASES.get(str(text).strip().lower())
    if canonical is None:
        raise SpecError(f"unknown signature hash {text!r} (known: {', '.join(HASH_NAMES)})")
    return canonical


TLS_VERSIONS: tuple[str, ...] = ("1.2", "1.3")


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

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key.name, "hash": self.signing_hash}


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
    #: a named chain defect (harness/defects.py), None for a well-formed chain
    defect: str | None = None

    @property
    def signers(self) -> tuple[CertSpec, ...]:
        return (self.root, *self.intermediates)

    @property
    def certs(self) -> tuple[CertSpec, ...]:
        return (self.root, *self.intermediates, self.leaf)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        parts = [self.root.label(), *(i.label() for i in self.intermediates), self.leaf.key.name]
        text = " → ".join(parts)
        if self.client_cert is not None:
            text += f" + client {self.client_cert.name}"
        if self.defect is not None:
            text += f" [{self.defect}]"
        return text + " (expired)" if self.expired else text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "root": self.root.to_json(),
            "intermediates": [i.to_json() for i in self.intermediates],
            "leaf": {"key": self.leaf.key.name},
            "expired": self.expired,
        }
        if self.client_cert is not None:  # absent otherwise: fingerprints of server-only chains stay as they were
            out["client_cert"] = {"key": self.client_cert.name}
        if self.defect is not None:  # likewise: clean chains keep their fingerprints
            out["defect"] = self.defect
        return out

    @property
    def fingerprint(self) -> str:
        """Stable id of what the chain is (not what it is called)."""
        body = json.dumps({k: v for k, v in self.to_json().items() if k != "label"}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


# --- outcomes ----------------------------------------------------------------------------


class Outcome(str, enum.Enum):
    """Normalized handshake outcome; the stack's raw error is kept beside it."""

    OK = "ok"
    UNTRUSTED = "untrusted"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    BAD_SIGNATURE = "bad_signature"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    EXPIRED = "expired"
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


#: outcomes that say nothing about the client's TLS behaviour
NOT_MEASURED = frozenset({Outcome.SKIPPED, Outcome.SERVER_ERROR, Outcome.PROBE_ERROR})


# --- cells, jobs, results ----------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What a scenario expects for a cell, and why."""

    outcomes: frozenset[Outcome]
    why: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"outcomes": sorted(o.value for o in self.outcomes), "why": self.why}


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

    @property
    def row_key(self) -> tuple[str, str, str, str]:
        return (self.scenario, self.chain.label, self.tls or "any", self.server)

    @property
    def id(self) -> str:
        return "|".join((*self.row_key, self.client))


@dataclass(frozen=True)
class Job:
    """What a client probe receives (docs/probe-contract.md)."""

    id: str
    host: str
    port: int
    servername: str
    ca_file: str
    tls_version: str | None
    timeout_ms: int
    #: mTLS: the client certificate (PEM) and its TEST-ONLY key; only stacks with client_auth get them
    client_cert_file: str | None = None
    client_key_file: str | None = None
    #: Kubernetes clients: the kubeconfig file (same server, CA, name and client certificate) to load
    kubeconfig: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "host": self.host,
            "port": self.port,
            "servername": self.servername,
            "ca_file": self.ca_file,
            "tls_version": self.tls_version,
            "timeout_ms": self.timeout_ms,
        }
        if self.client_cert_file is not None:
            out["client_cert_file"] = self.client_cert_file
            out["client_key_file"] = self.client_key_file
        if self.kubeconfig is not None:
            out["kubeconfig"] = self.kubeconfig
        return out


@dataclass(frozen=True)
class StackInfo:
    """What a probe or server says about itself in its hello line."""

    stack: str
    version: str
    provider: str | None = None
    details: dict[str, str] = field(default_factory=dict)

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

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "version": self.version, "provider": self.provider, "details": self.details}


@dataclass(frozen=True)
class HandshakeResult:
    """A probe's raw answer for one job, before classification."""

    ok: bool
    error: str | None = None
    error_detail: str | None = None
    negotiated: dict[str, Any] | None = None
    elapsed_ms: float | None = None


@dataclass(frozen=True)
class Result:
    """A classified cell."""

    cell: Cell
    outcome: Outcome
    error: str | None = None
    short_error: str | None = None
    error_detail: str | None = None
    negotiated: dict[str, Any] | None = None
    elapsed_ms: float | None = None
    client_version: str | None = None
    server_version: str | None = None
    attempts: int = 1
    #: the chain diagnosis finding (harness/diagnose.py) that explains this failing cell
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

    def to_json(self) -> dict[str, Any]:
        cell = self.cell
        return {
            "id": cell.id,
            "index": cell.index,
            "scenario": cell.scenario,
            "chain": cell.chain.to_json(),
            "server": cell.server,
            "tls": cell.tls,
            "client": cell.client,
            "servername": cell.servername,
            "outcome": self.outcome.value,
            "error": self.error,
            "short_error": self.short_error,
            "error_detail": self.error_detail,
            "negotiated": self.negotiated,
            "elapsed_ms": self.elapsed_ms,
            "client_version": self.client_version,
            "server_version": self.server_version,
            "expected": cell.expect.to_json() if cell.expect else None,
            "verdict": self.verdict,
            "attempts": self.attempts,
            **({"app": cell.app} if cell.app else {}),
            **({"finding": self.finding} if self.finding else {}),
        }
