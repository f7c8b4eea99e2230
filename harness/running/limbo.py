"""x509-limbo's path-validation corpus through real handshakes (``tlsmatrix limbo CORPUS.json``).

x509-limbo (C2SP) gives each testcase a chain, its trust anchors, a peer name and the result a
correct validator reaches; its own harnesses call path-validation APIs. Here every SERVER testcase
a handshake can express becomes a chain tlsmatrix did not make (harness/certs/given.py): the go
server presents the peer certificate and the untrusted intermediates as given, signing with the
corpus's leaf key (else a substitute: ``chain_ok``), and each client stack trusts only the
testcase's trusted certificates and checks its peer name. A cell *agrees* with limbo when SUCCESS
⇔ ok/chain_ok; its expectation says so, so a disagreement is a ``mismatch`` like any other.

Testcases a handshake cannot express are listed with the reason, never dropped: client-side
validation, CRLs, a chain-depth limit, a caller's key-usage / EKU / signature-algorithm policy, a
fixed validation time today's clock contradicts, an email peer name, a leaf key no TLS stack signs
a handshake with. The corpus is untrusted input: what does not fit is a clear error or a skip.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..certs.certread import read_certificates, safe
from ..certs.diagnose import leaf_name
from ..certs.given import given_chain
from ..model.core import ACCEPTED, NOT_MEASURED, Cell, ChainSpec, Expectation, Outcome
from ..model.errors import InputError
from ..model.paths import read_json

SUCCESS, FAILURE = "SUCCESS", "FAILURE"
#: what a FAILURE testcase expects of a cell: a verdict on the chain (a timeout decides nothing)
REJECTED = frozenset(o for o in Outcome if o not in ACCEPTED and o not in NOT_MEASURED and o is not Outcome.TIMEOUT)
#: the key types the replay server (Go crypto/tls) signs a handshake with
_SIGNABLE_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class LimboCase:
    """One testcase, as much of it as tlsmatrix reads (the corpus's own words kept in ``raw``)."""

    id: str
    expected: str  # SUCCESS or FAILURE
    features: tuple[str, ...]
    description: str
    raw: dict[str, Any]

    @property
    def namespace(self) -> str:
        return self.id.split("::", 1)[0]


@dataclass(frozen=True)
class NotExpressed:
    """A testcase left out, and why (a report lists every one)."""

    id: str
    reason: str


def read_corpus(path: str | Path) -> tuple[list[LimboCase], str]:
    """The testcases of a limbo corpus (limbo's ``limbo.json`` or its generator's output), and the
    corpus's version line. Raises InputError naming the file, the testcase and the key."""
    path = Path(path)
    data = read_json(path, "limbo corpus", InputError)
    if not isinstance(data, dict) or not isinstance(data.get("testcases"), list):
        raise InputError(f"limbo corpus {path}: expected {{\"version\": 1, \"testcases\": [...]}}")
    cases = [_case(path, i, raw) for i, raw in enumerate(data["testcases"])]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InputError(f"limbo corpus {path}: testcase id {case.id!r} appears twice")
        seen.add(case.id)
    return cases, f"x509-limbo corpus version {data.get('version')!r}, {len(cases)} testcases"


def _case(path: Path, index: int, raw: Any) -> LimboCase:
    where = f"limbo corpus {path}: testcases[{index}]"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: must be an object")
    for key, kind in (("id", str), ("validation_kind", str), ("expected_result", str), ("peer_certificate", str),
                      ("trusted_certs", list), ("untrusted_intermediates", list)):
        if not isinstance(raw.get(key), kind):
            raise InputError(f"{where}.{key}: missing or not a {kind.__name__}")
    if raw["expected_result"] not in (SUCCESS, FAILURE):
        raise InputError(f"{where}.expected_result: {raw['expected_result']!r} (known: SUCCESS, FAILURE)")
    features = raw.get("features") or []
    return LimboCase(raw["id"], raw["expected_result"], tuple(str(f) for f in features),
                     str(raw.get("description") or ""), raw)


def select(cases: list[LimboCase], ids: list[str] | None) -> list[LimboCase]:
    """The testcases whose id matches one of the globs (all without globs)."""
    import fnmatch

    if not ids:
        return cases
    return [c for c in cases if any(fnmatch.fnmatchcase(c.id, g) for g in ids)]


def not_expressed(case: LimboCase, now: dt.datetime) -> str | None:
    """Why a handshake cannot put this testcase's question (None: it can)."""
    raw = case.raw
    policy = [k for k in ("key_usage", "signature_algorithms", "crls") if raw.get(k)]
    reasons = [
        (raw["validation_kind"] != "SERVER", "client-side validation: a TLS client judges a server's chain"),
        ("crls" in policy, "CRLs: no TLS client here is given CRLs beside its trust anchors"),
        (raw.get("max_chain_depth") is not None, "a chain-depth limit of the caller's (a TLS client has its own)"),
        ("key_usage" in policy, "a key-usage requirement of the caller's (a TLS client checks its own)"),
        ("signature_algorithms" in policy, "an allowed-signature-algorithm list of the caller's"),
        (_eku(raw) is not None, _eku(raw) or ""),
        (_peer_kind(raw) == "RFC822", "an email peer name: not a TLS server name"),
    ]
    for hit, reason in reasons:
        if hit:
            return reason
    return _time_problem(raw, now) or _leaf_problem(raw)


def _eku(raw: dict) -> str | None:
    ekus = raw.get("extended_key_usage") or []
    if ekus in ([], ["serverAuth"]):
        return None
    return f"an extended key usage other than serverAuth ({', '.join(map(str, ekus))}): a TLS client asks for serverAuth"


def _peer_kind(raw: dict) -> str | None:
    peer = raw.get("expected_peer_name")
    return peer.get("kind") if isinstance(peer, dict) else None


def _certs(raw: dict) -> list:
    pems = [raw["peer_certificate"], *raw["untrusted_intermediates"], *raw["trusted_certs"]]
    return [c for pem in pems if isinstance(pem, str) for c in _read(pem.encode())]


def _read(data: bytes) -> list:
    try:
        return read_certificates(data, "limbo certificate")
    except Exception:  # noqa: BLE001 - no certificate block at all: the testcase is served as it is
        return []


def _time_problem(raw: dict, now: dt.datetime) -> str | None:
    """A fixed validation time is expressible only if every certificate is as valid now as then."""
    when = raw.get("validation_time")
    if not when:
        return None
    try:
        then = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return f"a validation time tlsmatrix cannot read ({when!r})"
    then = then if then.tzinfo else then.replace(tzinfo=dt.timezone.utc)
    for cert in _certs(raw):
        start = safe(lambda: cert.cert.not_valid_before_utc) if cert.cert is not None else None
        end = safe(lambda: cert.cert.not_valid_after_utc) if cert.cert is not None else None
        if start is None or end is None:
            continue
        if (start <= then <= end) != (start <= now <= end):
            return f"a fixed validation time ({then:%Y-%m-%d}) that today's clock contradicts"
    return None


def _leaf_problem(raw: dict) -> str | None:
    leaf = _read(raw["peer_certificate"].encode())
    key = safe(leaf[0].cert.public_key) if leaf and leaf[0].cert is not None else None
    if key is None or isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        return None  # an unreadable leaf is served as given: the clients judge it
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _SIGNABLE_CURVES:
        return None
    kind = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__.removeprefix("_")
    return f"a leaf key ({kind}) no TLS 1.2/1.3 stack signs a handshake with"


def servername(case: LimboCase) -> str | None:
    """The name the clients check: the testcase's peer name, else the leaf's own first name."""
    peer = case.raw.get("expected_peer_name")
    if isinstance(peer, dict) and isinstance(peer.get("value"), str) and peer["value"]:
        return peer["value"]
    leaf = _read(case.raw["peer_certificate"].encode())
    return leaf_name(leaf[0]) if leaf else None


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def write_case(case: LimboCase, directory: Path, corpus_name: str) -> ChainSpec:
    """The testcase's files (chain as given, trust anchors, the leaf key when the corpus has one) and
    its chain spec, named by its id; results name the chain ``<corpus>#<id>``."""
    where = directory / _SLUG.sub("_", case.id)
    where.mkdir(parents=True, exist_ok=True)
    raw = case.raw
    (where / "chain.pem").write_text(_pem_text([raw["peer_certificate"], *raw["untrusted_intermediates"]]))
    (where / "ca.pem").write_text(_pem_text(raw["trusted_certs"]))
    key = raw.get("peer_certificate_key")
    if isinstance(key, str) and key.strip():
        (where / "TEST-ONLY-key.pem").write_text(key)
    shown = f"{corpus_name}#{case.id}"
    return given_chain(where / "chain.pem", where / "ca.pem", where / "TEST-ONLY-key.pem" if key else None,
                       written=(shown, f"{shown} trusted_certs", f"{shown} peer_certificate_key" if key else None),
                       name=case.id, key_flag="peer_certificate_key")


def _pem_text(pems: list) -> str:
    return "".join(p if p.endswith("\n") else p + "\n" for p in pems if isinstance(p, str))


def expectation(case: LimboCase) -> Expectation:
    outcomes = ACCEPTED if case.expected == SUCCESS else REJECTED
    return Expectation(frozenset(outcomes), limbo_says(case))


def limbo_says(case: LimboCase) -> str:
    """How a cell's expectation names limbo's verdict (the report reads it back: harness/report/limbo.py)."""
    features = f" (features: {', '.join(case.features)})" if case.features else ""
    return f"x509-limbo: {case.expected}{features}"


def cells_of(specs: list[tuple[LimboCase, ChainSpec, str]], servers: list[str], tls: list[str | None],
             clients: list[str], expect) -> list[Cell]:
    """One cell per (testcase, server, TLS version, client); ``expect(case, client)`` gives its expectation."""
    return [Cell(scenario="limbo", chain=spec, server=server, tls=version, client=client,
                 expect=expect(case, client), servername=name)
            for case, spec, name in specs for server in servers for version in tls for client in clients]


# --- expected divergences: what a stack is known to do instead ------------------------------


@dataclass(frozen=True)
class Divergence:
    """A testcase (id or glob) where client stacks (globs) are known to disagree with limbo, and why."""

    ids: str
    clients: tuple[str, ...]
    why: str
    source: str  # the file (and entry) it comes from

    def covers(self, case_id: str, client: str) -> bool:
        import fnmatch

        return fnmatch.fnmatchcase(case_id, self.ids) and any(fnmatch.fnmatchcase(client, c) for c in self.clients)


def load_divergences(path: str | Path) -> list[Divergence]:
    """A TOML file of ``[[divergence]]`` tables (``id``, ``clients``, ``why``; ``instead`` =
    "accepts"/"rejects" optional) and ``[[import]]`` tables (``file``: a stack's published list in
    rustls-webpki's ``exceptions.json`` format, ``{id: {expected, actual, reason}}``; ``clients``)."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read divergence file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"divergence file {path}: invalid TOML ({exc})") from None
    unknown = set(data) - {"divergence", "import"}
    if unknown:
        raise InputError(f"divergence file {path}: unknown table {sorted(unknown)[0]!r} (known: divergence, import)")
    out = [_divergence(path, i, t) for i, t in enumerate(_tables(path, data, "divergence"))]
    for i, table in enumerate(_tables(path, data, "import")):
        out += _imported(path, i, table)
    return out


def _tables(path: Path, data: dict, key: str) -> list[dict]:
    tables = data.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(f"divergence file {path}: {key} must be [[{key}]] tables")
    return tables


def _clients(path: Path, where: str, table: dict) -> tuple[str, ...]:
    clients = table.get("clients")
    clients = [clients] if isinstance(clients, str) else clients
    if not isinstance(clients, list) or not clients or not all(isinstance(c, str) and c for c in clients):
        raise InputError(f"divergence file {path}: {where}.clients: give client stacks (names or globs)")
    return tuple(clients)


def _divergence(path: Path, index: int, table: dict) -> Divergence:
    where = f"divergence[{index}]"
    unknown = set(table) - {"id", "clients", "why", "instead"}
    if unknown:
        raise InputError(f"divergence file {path}: {where}.{sorted(unknown)[0]}: unknown key (known: id, clients, "
                         "instead, why)")
    for key in ("id", "why"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise InputError(f"divergence file {path}: {where}.{key}: missing or not a string")
    if table.get("instead", "accepts") not in ("accepts", "rejects"):
        raise InputError(f"divergence file {path}: {where}.instead: {table['instead']!r} (known: accepts, rejects)")
    return Divergence(table["id"], _clients(path, where, table), table["why"], f"{path.name} {where}")


def _imported(path: Path, index: int, table: dict) -> list[Divergence]:
    where = f"import[{index}]"
    if not isinstance(table.get("file"), str):
        raise InputError(f"divergence file {path}: {where}.file: missing or not a string")
    listed = path.parent / table["file"]
    data = read_json(listed, f"divergence file {path}: {where}.file", InputError)
    if not isinstance(data, dict):
        raise InputError(f"{listed}: expected {{testcase id: {{expected, actual, reason}}}}")
    clients = _clients(path, where, table)
    return [Divergence(case_id, clients, str(entry.get("reason") or "listed") if isinstance(entry, dict) else "listed",
                       f"{listed.name}") for case_id, entry in data.items()]


#: what marks a cell's expectation as a listed divergence (harness/report/limbo.py counts them)
KNOWN = "known divergence"


def expectations(divergences: list[Divergence]):
    """``expect(case, client)``: limbo's expectation; where a divergence is listed, limbo's verdict or
    the other one (a nightly job fails on a new divergence only, not on a stack that stopped diverging)."""
    def expect(case: LimboCase, client: str) -> Expectation:
        known = next((d for d in divergences if d.covers(case.id, client)), None)
        if known is None:
            return expectation(case)
        return Expectation(ACCEPTED | REJECTED, f"{limbo_says(case)}; {KNOWN} ({known.source}): {known.why}")

    return expect
