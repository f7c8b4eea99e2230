"""The results document: what a run writes (results.json) and what every reader reads.

``run_cells`` fills one :class:`ResultsDocument`; :func:`load_results` reads one back, including
what older versions wrote; reports, explain, bundle, regress and merge read it; its JSON Schema
(docs/results.schema.json, ``tlsmatrix schema``) is generated from these classes.

Reading is lenient on purpose: a document from another version may name an outcome class or a
key type this one does not know, or lack fields added since, and it must still render. Keys this
version does not know are kept (``extra``) and written back.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jsonmodel import DocumentError, JsonModel, attr
from . import groups
from .core import APPS, NEGOTIATED_SCHEMA, TLS_VERSIONS, ChainRecord, Outcome, Result, StackInfo
from .paths import read_json

SCHEMA_VERSION = 1
BACKENDS = ("process", "docker")
OUTCOMES = tuple(o.value for o in Outcome)
VERDICTS = ("match", "mismatch", "unexpected", "not-run")
TEST_KEYS_NOTE = "All certificates and keys in this run are tlsmatrix TEST keys; never trust them."

__all__ = ["DocumentError", "ResultsDocument", "CellRecord", "load_results"]


@dataclass(frozen=True, kw_only=True)
class StackEntry(JsonModel):
    """A client or server stack of the run: what its program said in its hello, or why it did not run."""

    available: bool | None = attr(doc="null: no job reached this client")
    reason: str | None = attr(None, omit=True, doc="why the stack did not run")
    info: StackInfo | None = attr(None, flatten=True)
    restarts: int | None = attr(None, omit=True, schema={"minimum": 0}, doc="client probes restarted after a hang")
    backend: str | None = attr(None, omit=True, enum=BACKENDS)
    listener_errors: int | None = attr(None, omit=True, schema={"minimum": 0})
    image: str | None = attr(None, omit=True)
    image_id: str | None = attr(None, omit=True)
    cpu_s: float | None = attr(None, omit=True, schema={"minimum": 0},
                               doc="CPU seconds its program used in this run, with the programs it started "
                                   "(a command-line tool per handshake); absent where it cannot be measured "
                                   "(containers, platforms without /proc)")

    def describe(self) -> str:
        """``rustls 0.23.46 (ring)``, or ``not available: <why>``."""
        if not self.available:
            return f"not available: {self.reason}"
        return self.info.describe() if self.info else "?"


@dataclass(frozen=True)
class Finding(JsonModel):
    """A property of the chain that breaks some TLS stacks (`tlsmatrix diagnose`)."""

    id: str
    detail: str
    certificates: tuple[str, ...]
    affects: tuple[str, ...] = attr(doc="client stacks (globs) that reject such a chain")

    def affects_client(self, client: str) -> bool:
        return any(fnmatch.fnmatchcase(client, pattern) for pattern in self.affects)


@dataclass(frozen=True, kw_only=True)
class ChainInfo(JsonModel):
    """A chain's certificates as the run made them (TEST keys), and the chain's diagnosis."""

    fingerprint: str
    leaf_sha256: str
    root_sha256: str
    dir: str | None = attr(None, omit=True, doc="the chain's files, relative to the certificate cache "
                                                "(chains/<id>; absolute in older documents)")
    client_sha256: str | None = attr(None, omit=True)
    diagnosis: list[Finding] = attr(default_factory=list, doc="tlsmatrix.certs.diagnose findings (as `tlsmatrix diagnose` "
                                                              "says them for these files)")


@dataclass(frozen=True, kw_only=True)
class Expected(JsonModel):
    """What the scenario expects of the cell, and why."""

    outcomes: list[str] = attr(schema={"items": {"enum": list(OUTCOMES)}})
    why: str | None = None


@dataclass(frozen=True, kw_only=True)
class CellRecord(JsonModel):
    """One cell: a chain served by a server stack at a TLS version, tried by a client stack."""

    id: str = attr(doc="scenario|chain|tls|server|client")
    index: int = attr(0, schema={"minimum": 0}, doc="position in the unsharded expansion")
    scenario: str
    chain: ChainRecord | None = attr(None, omit=True, required=True)
    server: str = ""
    tls: str | None = attr(None, enum=TLS_VERSIONS)
    client: str = ""
    servername: str = "localhost"
    outcome: str = attr(enum=OUTCOMES)
    error: str | None = attr(None, doc="the stack's own error text")
    short_error: str | None = None
    error_detail: str | None = None
    code: str | None = attr(None, omit=True, doc="the stack's own code for the error: X509_V_ERR_* (OpenSSL, "
                                                  "Node, curl), webpki's CertificateError variant, Go's error type, "
                                                  "Java's CertPathValidatorException reason, GnuTLS' status bits, "
                                                  "NSS' PRErrorCode name, wolfSSL's error name")
    negotiated: dict[str, Any] | None = attr(None, schema=NEGOTIATED_SCHEMA)
    elapsed_ms: float | None = None
    client_version: str | None = None
    server_version: str | None = None
    expected: Expected | None = None
    verdict: str = attr("unexpected", enum=VERDICTS)
    attempts: int = attr(1, schema={"minimum": 1}, doc="2 when a timeout was retried")
    app: str | None = attr(None, omit=True, enum=APPS, doc="what the server spoke after the handshake "
                                                           "(absent: nothing, a bare handshake)")
    finding: str | None = attr(None, omit=True, doc="the chain diagnosis finding (id) that explains this "
                                                    "failing cell: it breaks this client stack")
    server_groups: list[str] | None = attr(None, omit=True, doc="the key-exchange groups the server accepted, in "
                                                                "its preference order (absent: its own list)")
    client_groups: list[str] | None = attr(None, omit=True, doc="the key-exchange groups the client offered "
                                                                "(absent: its own list)")
    extra: dict[str, Any] = attr(default_factory=dict)

    @classmethod
    def of(cls, result: Result) -> CellRecord:
        c = result.cell
        expected = Expected(outcomes=sorted(o.value for o in c.expect.outcomes), why=c.expect.why) if c.expect else None
        return cls(id=c.id, index=c.index, scenario=c.scenario, chain=ChainRecord.of(c.chain), server=c.server,
                   tls=c.tls, client=c.client, servername=c.servername, outcome=result.outcome.value,
                   error=result.error, short_error=result.short_error, error_detail=result.error_detail,
                   code=result.code,
                   negotiated=result.negotiated, elapsed_ms=result.elapsed_ms, client_version=result.client_version,
                   server_version=result.server_version, expected=expected, verdict=result.verdict,
                   attempts=result.attempts, app=c.app or None, finding=result.finding or None,
                   server_groups=list(c.server_groups) if c.server_groups else None,
                   client_groups=list(c.client_groups) if c.client_groups else None)

    @property
    def chain_label(self) -> str:
        return self.chain.label if self.chain else self.id.split("|")[1] if self.id.count("|") == 4 else "?"

    @property
    def tls_label(self) -> str:
        return self.tls or "any"

    @property
    def row_key(self) -> tuple[str, str, str, str]:
        """A row of the matrix: scenario, chain, TLS, server (the columns are clients)."""
        return (self.scenario, self.chain_label, self.tls_label,
                groups.row_server(self.server, tuple(self.server_groups or ()), tuple(self.client_groups or ())))

    @property
    def root_key(self) -> str:
        return self.chain.root.key if self.chain else "?"

    @property
    def leaf_key(self) -> str:
        return self.chain.leaf.key if self.chain else "?"


@dataclass(frozen=True, kw_only=True)
class ScenarioInfo(JsonModel):
    """A scenario file of the run, as it was when the run started."""

    name: str
    title: str | None = attr(None, omit=True)
    notes: str | None = attr(None, omit=True)
    path: str | None = attr(None, doc="relative to the checkout, else the file's name")
    sha256: str | None = None

    @classmethod
    def of(cls, scenario: Any) -> ScenarioInfo:
        """From a loaded :class:`tlsmatrix.running.scenarios.Scenario` (its file read now)."""
        path = Path(scenario.path) if scenario.path else None
        return cls(name=scenario.name, title=scenario.title, notes=scenario.notes,
                   path=_portable_path(path) if path else None,
                   sha256=hashlib.sha256(path.read_bytes()).hexdigest() if path else None)

    @property
    def heading(self) -> str:
        """``name: title`` (just the name when the title says nothing more)."""
        return f"{self.name}: {self.title}" if self.title and self.title != self.name else self.name


def _portable_path(path: Path) -> str:
    """A scenario's path for the results: ``scenarios/<file>`` or relative to the checkout, else only its
    name (results are attached to public reports; bundles also look in the working directory and next
    to the results)."""
    from .paths import portable_scenario_path

    return portable_scenario_path(path)


@dataclass(frozen=True, kw_only=True)
class Machine(JsonModel):
    """Where the run ran (no hostname: results are attached to public bug reports)."""

    OPEN = True

    platform: str | None = attr(None, schema={"type": "string"})
    python: str | None = attr(None, schema={"type": "string"})
    cpus: int | None = None
    hostname: str | None = attr(None, omit=True, doc="older documents only: no longer written")
    extra: dict[str, Any] = attr(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunInfo(JsonModel):
    """The run's metadata."""

    started: str | None = attr(None, schema={"type": "string", "format": "date-time"})
    duration_s: float | None = attr(None, schema={"type": "number", "minimum": 0})
    backend: str | None = attr(None, schema={"enum": list(BACKENDS)})
    timeout_ms: int | None = attr(None, schema={"type": "integer", "minimum": 1})
    git_commit: str | None = None
    git_dirty: bool | None = None
    shard: str | None = attr(None, schema={"pattern": "^[0-9]+/[0-9]+$"})
    certificates_generated: int | None = attr(None, schema={"type": "integer", "minimum": 0})
    machine: Machine | None = attr(None, schema={"type": "object"})
    merged_from: list[str] | None = attr(None, omit=True, doc="the shard documents `tlsmatrix merge` joined")
    cpu_s: float | None = attr(None, omit=True, schema={"minimum": 0},
                               doc="CPU seconds of the tlsmatrix process itself from the start of the run to "
                                   "its document (readiness handshakes, driving the probes, classifying); the "
                                   "stacks' own are in clients/servers")
    extra: dict[str, Any] = attr(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Tool(JsonModel):
    name: str = attr("tlsmatrix", schema={"const": "tlsmatrix"})
    version: str | None = attr(None, schema={"type": "string"})


#: top-level keys of documents from before schema version 1 (now in ``run``)
_LEGACY_RUN_KEYS = ("started", "duration_s", "certificates_generated")


@dataclass(frozen=True, kw_only=True)
class ResultsDocument(JsonModel):
    """One tlsmatrix run: metadata, stack versions, chains and one record per cell.
    All certificates and keys are tlsmatrix TEST keys."""

    schema_version: int | None = attr(None, schema={"const": SCHEMA_VERSION})
    tool: Tool = attr(default_factory=Tool)
    run: RunInfo = attr(default_factory=RunInfo)
    note: str | None = attr(None, omit=True)
    clients: dict[str, StackEntry] = attr(default_factory=dict)
    servers: dict[str, StackEntry] = attr(default_factory=dict)
    chains: dict[str, ChainInfo] = attr(default_factory=dict, doc="chain label → its files and diagnosis")
    cells: list[CellRecord] = attr(default_factory=list, key="results")
    scenarios: list[ScenarioInfo] = attr(default_factory=list)
    extra: dict[str, Any] = attr(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str = "results document") -> ResultsDocument:
        if isinstance(data, dict) and not isinstance(data.get("run"), dict):
            data = _upgrade_legacy(data)
        return super().from_json(data, where)

    @classmethod
    def coerce(cls, data: ResultsDocument | dict[str, Any]) -> ResultsDocument:
        """The typed document (a dict, e.g. from a test or a caller's own JSON, is read first)."""
        return data if isinstance(data, ResultsDocument) else cls.from_json(data)

    def dumps(self) -> str:
        """results.json's text. A frozen document: computed once (a run writes it and may print it;
        indented JSON is CPython's pure-Python encoder, ~0.3 s for 3,528 cells)."""
        text = self.__dict__.get("_text")
        if text is None:
            text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
            object.__setattr__(self, "_text", text)
        return text

    def redacted(self, redactor: Any) -> ResultsDocument:
        """The same document with every string passed through ``redactor`` (tlsmatrix.model.redact)."""
        return redactor.document(self)

    def with_cells(self, cells: list[CellRecord]) -> ResultsDocument:
        return dataclasses.replace(self, cells=list(cells))

    @property
    def test_keys_note(self) -> str:
        return self.note or TEST_KEYS_NOTE

    def scenario(self, name: str) -> ScenarioInfo:
        return next((s for s in self.scenarios if s.name == name), ScenarioInfo(name=name))

    def per_scenario(self) -> list[tuple[ScenarioInfo, ResultsDocument]]:
        """(scenario, this document restricted to its cells), in run order."""
        names = list(dict.fromkeys(r.scenario for r in self.cells))
        return [(self.scenario(n), self.with_cells([r for r in self.cells if r.scenario == n])) for n in names]

    def verdicts(self) -> Counter:
        return Counter(r.verdict for r in self.cells)


def _upgrade_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """Documents from before schema version 1 kept the run's metadata at the top level
    (``started``, ``duration_s``, ``certificates_generated``, ``host``)."""
    data = dict(data)
    run = {k: data.pop(k) for k in _LEGACY_RUN_KEYS if k in data}
    if isinstance(data.get("host"), dict):
        run["machine"] = data.pop("host")
    data["run"] = run
    return data


def load_results(path: str | Path) -> ResultsDocument:
    """The results document at ``path`` (a results.json, or a directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    data = read_json(path, "results file", DocumentError)
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise DocumentError(f"{path} is not a tlsmatrix results document")
    return ResultsDocument.from_json(data, str(path))
