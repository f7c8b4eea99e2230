"""Scenario files (TOML) → validated :class:`Scenario` objects → cells.

A scenario file looks like this (see ``scenarios/`` for real ones)::

    name = "rustls-p521"
    title = "…"
    notes = "…"                       # printed under the matrix

    [axes]
    tls = ["1.2", "1.3"]
    servers = ["openssl", "go"]
    clients = ["openssl", "rustls-ring", "rustls-aws-lc-rs", "go"]
    server_groups = ["default", "X25519MLKEM768"]  # key-exchange groups a server accepts (":" list,
    client_groups = ["default"]                     # preference order); what the clients offer

    [[chain]]                          # each list-valued field is a product axis
    root = ["P-256", "P-521"]          # "KEY" or {key = "KEY", hash = "SHA-…"}
    intermediates = []                 # signers between root and leaf, root side first
    leaf = ["P-256", "P-521"]
    client_cert = "P-521"              # optional: mTLS with a client certificate of this key,
                                       # issued by the root; the server requires it
    defect = ["none", "missing-intermediate"]  # optional: chain defects (harness/model/defects.py)

    [[chain]]                          # or a chain tlsmatrix did not make (a bug report's files),
    name = "reporter"                  # relative to this file; served as given, byte for byte;
    chain_file = "reporter/chain.pem"  # without key_file a TEST-ONLY substitute key signs and a
    ca_file = "reporter/ca.pem"        # client that accepts the chain answers chain_ok

    [[expect]]                         # last matching rule wins
    client = "rustls-ring"
    signer = "P-521"                   # matchers: client server tls server_groups client_groups chain
                                       #           root leaf signer key hash client_cert defect
    outcome = ["bad_signature", "unsupported_algorithm"]
    why = "ring implements no P-521 verification"

Every error names the file, the key and the bad value.
"""
from __future__ import annotations

import fnmatch
import functools
import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..model.defects import parse_defect
from ..model.groups import GroupError, label as groups_label, parse_groups
from ..model.errors import TlsmatrixError
from ..model.core import (Cell, CertSpec, ChainSpec, Expectation, KeySpec, Outcome, SpecError, parse_hash,
    parse_tls_version)
from ..stacks.servers import SERVERS
from ..stacks import served_apps

#: a group setting: names in preference order, or None for the stack's own list
Groups = tuple[str, ...] | None


class ScenarioError(TlsmatrixError):
    """A scenario file that cannot be used; the message names file, key and value."""


DEFAULT_SERVERS = ("openssl", "go")
DEFAULT_CLIENTS = ("openssl", "rustls-ring", "rustls-aws-lc-rs", "go")
MATCH_KEYS = ("client", "server", "tls", "server_groups", "client_groups", "chain", "root", "leaf", "signer", "key", "hash", "client_cert", "defect")
_TOP_KEYS = {"name", "title", "description", "notes", "axes", "chain", "expect", "servername", "app"}
#: what a server may speak after the handshake, and which server stacks can (their descriptors' `apps`)
APP_SERVERS = served_apps(SERVERS)
_AXES_KEYS = {"tls", "servers", "clients", "server_groups", "client_groups"}
_CHAIN_KEYS = {"name", "root", "intermediates", "leaf", "expired", "client_cert", "defect"}
#: a chain tlsmatrix did not make (harness/certs/given.py): served as given; without key_file, chain_ok
_GIVEN_CHAIN_KEYS = {"name", "chain_file", "ca_file", "key_file"}
_EXPECT_KEYS = set(MATCH_KEYS) | {"outcome", "why"}
#: matchers that look at the chain (the others each look at one axis: client, server, tls)
CHAIN_MATCH_KEYS = tuple(k for k in MATCH_KEYS if k not in ("client", "server", "tls", "server_groups", "client_groups"))
#: a scenario name becomes a file name (baselines, serve output): no separators, no "..", no NUL
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: what --allow-unmatched-expect does: an [[expect]] rule that matches no cell is a warning, not an error
UNMATCHED_EXPECT_FLAG = "--allow-unmatched-expect"


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a scenario name (None: it can)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        return ("must be an identifier: letters, digits, '-', '_', '.' (starting with a letter or digit, "
                f"no '..', at most 100 characters), got {name!r}")
    return None


def servername_problem(name: object) -> str | None:
    """Why ``name`` cannot be sent as SNI and checked against the certificate (None: it can)."""
    if not isinstance(name, str) or not name or len(name) > 253 or any(c.isspace() or ord(c) < 32 or c in "/\\"
                                                                       for c in name):
        return f"must be a non-empty host name or IP address (no spaces, no '/'), got {name!r}"
    return None


@dataclass(frozen=True)
class Rule:
    """One ``[[expect]]`` table."""

    match: dict[str, tuple[str, ...]]
    outcomes: frozenset[Outcome]
    why: str | None

    def matches_facts(self, facts: dict[str, set[str]]) -> bool:
        """Whether every matcher whose key is in ``facts`` matches (keys not in ``facts`` are not judged)."""
        for key, patterns in self.match.items():
            if key in facts and not any(fnmatch.fnmatchcase(v, p) for v in facts[key] for p in patterns):
                return False
        return True


def cell_facts(chain: ChainSpec, server: str, tls: str | None, client: str,
               kx: tuple[Groups, Groups] = (None, None)) -> dict[str, set[str]]:
    """What every matcher of ``[[expect]]`` compares with, for one cell."""
    return {**chain_facts(chain), "client": {client}, "server": {server}, "tls": {tls or "any"},
            "server_groups": {groups_label(kx[0])}, "client_groups": {groups_label(kx[1])}}


@functools.lru_cache(maxsize=4096)
def chain_facts(chain: ChainSpec) -> dict[str, set[str]]:
    """What the chain matchers of ``[[expect]]`` compare with (once per chain: every rule asks, per cell;
    callers only read it)."""
    return {
        "chain": {chain.label},
        "root": {chain.root.key.name},
        "leaf": {chain.leaf.key.name},
        "signer": {c.key.name for c in chain.signers},
        "key": {c.key.name for c in chain.certs},
        "hash": {c.signing_hash for c in chain.signers if c.signing_hash},
        "client_cert": {chain.client_cert.name if chain.client_cert else "none"},
        "defect": {chain.defect or "none"},
    }


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path | None
    title: str
    notes: str
    chains: tuple[ChainSpec, ...]
    tls_versions: tuple[str | None, ...]
    servers: tuple[str, ...]
    clients: tuple[str, ...]
    rules: tuple[Rule, ...]
    servername: str = "localhost"
    #: the key-exchange group axis: (what the server accepts, what the clients offer); None: the stack's own
    groups: tuple[tuple[Groups, Groups], ...] = ((None, None),)
    app: str | None = None
    #: problems that do not stop the run (unmatched [[expect]] rules with --allow-unmatched-expect)
    warnings: tuple[str, ...] = ()

    def cell_count(
        self,
        clients: Iterable[str] | None = None,
        servers: Iterable[str] | None = None,
        tls_versions: Iterable[str | None] | None = None,
    ) -> int:
        """How many cells :meth:`cells` would give, without building them (for --max-cells)."""
        n_clients = sum(1 for c in self.clients if clients is None or c in set(clients))
        n_servers = sum(1 for s in self.servers if servers is None or s in set(servers))
        n_tls = sum(1 for t in self.tls_versions if tls_versions is None or t in set(tls_versions))
        return len(self.chains) * n_servers * n_tls * len(self.groups) * n_clients

    def expectation(self, chain: ChainSpec, server: str, tls: str | None, client: str,
                    kx: tuple[Groups, Groups] = (None, None)) -> Expectation | None:
        facts = cell_facts(chain, server, tls, client, kx)  # once per cell, not once per rule
        found: Expectation | None = None
        for rule in self.rules:
            if rule.matches_facts(facts):
                found = Expectation(rule.outcomes, rule.why)
        return found

    def cells(
        self,
        clients: Iterable[str] | None = None,
        servers: Iterable[str] | None = None,
        tls_versions: Iterable[str | None] | None = None,
    ) -> list[Cell]:
        """Expand into cells, optionally narrowed to the given stacks / versions."""
        use_clients = [c for c in self.clients if clients is None or c in set(clients)]
        use_servers = [s for s in self.servers if servers is None or s in set(servers)]
        use_tls = [t for t in self.tls_versions if tls_versions is None or t in set(tls_versions)]
        out = []
        for chain, server, tls, kx, client in itertools.product(self.chains, use_servers, use_tls, self.groups,
                                                                use_clients):
            out.append(
                Cell(
                    scenario=self.name,
                    chain=chain,
                    server=server,
                    tls=tls,
                    client=client,
                    expect=self.expectation(chain, server, tls, client, kx),
                    servername=self.servername,
                    app=self.app,
                    server_groups=kx[0],
                    client_groups=kx[1],
                )
            )
        return out


# --- loading -----------------------------------------------------------------------------


def load_scenario(
    path: str | Path,
    known_clients: Iterable[str] | None = None,
    known_servers: Iterable[str] | None = None,
    allow_unmatched_expect: bool = False,
) -> Scenario:
    """Read and validate one scenario file (``allow_unmatched_expect``: see :func:`parse_scenario`)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from None
    return parse_scenario(data, path, known_clients, known_servers, allow_unmatched_expect)


def parse_scenario(
    data: dict[str, Any],
    path: Path | None = None,
    known_clients: Iterable[str] | None = None,
    known_servers: Iterable[str] | None = None,
    allow_unmatched_expect: bool = False,
) -> Scenario:
    """Validate a parsed scenario. An ``[[expect]]`` rule that matches no cell of the full expansion
    is an error (a typo there silently expects nothing), or with ``allow_unmatched_expect`` a warning
    in :attr:`Scenario.warnings`."""
    where = str(path) if path else "<scenario>"

    def fail(key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{where}: {key}: {message}")

    name = _header(data, path, fail)
    axes = data.get("axes", {})
    if not isinstance(axes, dict):
        raise fail("axes", f"must be a table, got {axes!r}")
    _reject_unknown(axes, _AXES_KEYS, "axes.", fail)

    tls_raw = axes.get("tls", ["1.2", "1.3"])
    tls_versions = tuple(
        _convert(parse_tls_version, v, f"axes.tls[{i}]", fail) for i, v in enumerate(_as_list(tls_raw, "axes.tls", fail))
    )
    servers = _names(axes.get("servers", list(DEFAULT_SERVERS)), "axes.servers", known_servers, "server stack", fail)
    clients = _names(axes.get("clients", list(DEFAULT_CLIENTS)), "axes.clients", known_clients, "client stack", fail)
    chains = _chains(data, fail, path.parent if path else Path("."))
    app = data.get("app")
    _check_stacks(chains, servers, clients, app, known_clients, known_servers, fail)
    kx = tuple(itertools.product(_groups_axis(axes, "server_groups", fail), _groups_axis(axes, "client_groups", fail)))
    rules, warnings = _rules(data, (chains, servers, tls_versions, clients, kx), known_clients, known_servers,
                             allow_unmatched_expect, fail)
    return Scenario(
        name=name,
        path=path,
        title=data.get("title", name),
        notes=(data.get("notes") or data.get("description") or "").strip(),
        chains=tuple(chains),
        tls_versions=tls_versions,
        servers=servers,
        clients=clients,
        rules=tuple(rules),
        servername=data.get("servername", "localhost"),
        app=app,
        groups=kx,
        warnings=tuple(warnings),
    )


def _header(data: dict[str, Any], path: Path | None, fail) -> str:
    """The top-level keys: a name that is an identifier (it names baseline files), strings, a host name."""
    _reject_unknown(data, _TOP_KEYS, "", fail)
    name = data.get("name", path.stem if path else None)
    if not isinstance(name, str) or not name.strip():
        raise fail("name", f"must be a non-empty string, got {name!r}")
    if name_problem(name.strip()):
        hint = "" if "name" in data else " (taken from the file name: set name = \"...\")"
        raise fail("name", name_problem(name.strip()) + hint)
    for key in ("title", "description", "notes", "servername"):
        if key in data and not isinstance(data[key], str):
            raise fail(key, f"must be a string, got {data[key]!r}")
    if "servername" in data and servername_problem(data["servername"]):
        raise fail("servername", servername_problem(data["servername"]))
    return name.strip()


def _chains(data: dict[str, Any], fail, base: Path) -> list[ChainSpec]:
    chain_tables = data.get("chain")
    if chain_tables is None:
        raise fail("chain", "missing: a scenario needs at least one [[chain]] table")
    if not isinstance(chain_tables, list) or not chain_tables:
        raise fail("chain", "must be one or more [[chain]] tables")
    chains: list[ChainSpec] = []
    for i, table in enumerate(chain_tables):
        chains.extend(_parse_chain(table, f"chain[{i}]", fail, base))
    seen: dict[str, str] = {}
    for chain in chains:
        if chain.label in seen:
            raise fail("chain", f"chain {chain.label!r} is listed twice")
        seen[chain.label] = chain.fingerprint
    return chains


def _check_stacks(chains: list[ChainSpec], servers: tuple[str, ...], clients: tuple[str, ...], app: Any,
                  known_clients: Iterable[str] | None, known_servers: Iterable[str] | None, fail) -> None:
    """Servers that can require the chains' client certificates and speak the app; clients whose app it is."""
    if known_servers is not None and isinstance(known_servers, dict):
        mtls = [c for c in chains if c.client_cert is not None]
        for server in servers if mtls else ():
            if not getattr(known_servers.get(server), "client_auth", False):
                able = [n for n, s in known_servers.items() if getattr(s, "client_auth", False)]
                raise fail("axes.servers", f"server stack {server!r} cannot require a client certificate, which "
                                           f"chain {mtls[0].label!r} asks for (client_cert); servers that can: "
                                           f"{', '.join(able)}")
    if known_clients is not None and isinstance(known_clients, dict):
        for client in clients:
            needs = getattr(known_clients.get(client), "needs_app", None)
            if needs and needs != app:
                raise fail("axes.clients", f"client stack {client!r} needs app = {needs!r} in the scenario")
    if app is not None:
        if not isinstance(app, str) or app not in APP_SERVERS:
            raise fail("app", f"unknown app {app!r} (known: {', '.join(APP_SERVERS)})")
        for server in servers:
            if server not in APP_SERVERS[app]:
                raise fail("axes.servers", f"server stack {server!r} cannot serve app {app!r} "
                                           f"(it can: {', '.join(APP_SERVERS[app])})")


def _rules(data: dict[str, Any], expansion: tuple, known_clients: Iterable[str] | None,
           known_servers: Iterable[str] | None, allow_unmatched_expect: bool, fail) -> tuple[list[Rule], list[str]]:
    """The [[expect]] rules, each matching some cell of the full ``expansion`` (chains, servers, TLS
    versions, clients), and the warnings for those that do not when that is allowed."""
    rules = []
    expect_tables = data.get("expect", [])
    if not isinstance(expect_tables, list):
        raise fail("expect", "must be [[expect]] tables")
    for i, table in enumerate(expect_tables):
        rules.append(_parse_rule(table, f"expect[{i}]", fail, known_clients, known_servers))
    warnings = []
    for i, rule in enumerate(rules):
        problem = _unmatched(rule, *expansion)
        if problem:
            message = str(fail(f"expect[{i}]", f"matches no cell of the scenario: {problem}"))
            if not allow_unmatched_expect:
                raise ScenarioError(f"{message} (fix the rule, or pass {UNMATCHED_EXPECT_FLAG} to only warn)")
            warnings.append(message)
    return rules, warnings


def _unmatched(rule: Rule, chains: list[ChainSpec], servers: Iterable[str], tls_versions: Iterable[str | None],
               clients: Iterable[str], kx: Iterable[tuple[Groups, Groups]] = ((None, None),)) -> str | None:
    """Why ``rule`` matches no cell of the full expansion (None: it matches one).

    The matchers of each axis only look at that axis, so a rule matches some cell iff each axis
    has a value it matches: no need to expand the product.
    """
    axes = (("client", "client", clients), ("server", "server", servers),
            ("tls", "TLS version", [t or "any" for t in tls_versions]),
            ("server_groups", "server group setting", sorted({groups_label(k[0]) for k in kx})),
            ("client_groups", "client group setting", sorted({groups_label(k[1]) for k in kx})))
    for key, what, values in axes:
        if key in rule.match and not any(rule.matches_facts({key: {v}}) for v in values):
            return f"{key} = {_shown(rule.match[key])} matches no {what} of the scenario ({', '.join(values)})"
    keys = [k for k in CHAIN_MATCH_KEYS if k in rule.match]
    facts = [chain_facts(c) for c in chains]
    if not keys or any(rule.matches_facts(f) for f in facts):
        return None
    for key in keys:
        if not any(rule.matches_facts({key: f[key]}) for f in facts):
            seen = sorted({v for f in facts for v in f[key]})
            return f"{key} = {_shown(rule.match[key])} matches no chain (values: {', '.join(seen)})"
    together = ", ".join(f"{k} = {_shown(rule.match[k])}" for k in keys)
    return f"no chain has {together} together"


def _shown(patterns: tuple[str, ...]) -> str:
    return repr(patterns[0]) if len(patterns) == 1 else repr(list(patterns))


def _parse_chain(table: Any, key: str, fail, base: Path) -> list[ChainSpec]:
    if not isinstance(table, dict):
        raise fail(key, f"must be a table, got {table!r}")
    if "chain_file" in table:
        return [_given_chain(table, key, fail, base)]
    _reject_unknown(table, _CHAIN_KEYS, key + ".", fail)
    for required in ("root", "leaf"):
        if required not in table:
            raise fail(f"{key}.{required}", "missing")
    roots = [_cert(v, f"{key}.root", fail, signer=True) for v in _axis(table["root"], f"{key}.root", fail)]
    leaves = [_cert(v, f"{key}.leaf", fail, signer=False) for v in _axis(table["leaf"], f"{key}.leaf", fail)]
    inter_raw = table.get("intermediates", [])
    if not isinstance(inter_raw, list):
        raise fail(f"{key}.intermediates", f"must be a list, got {inter_raw!r}")
    intermediates = tuple(
        _cert(v, f"{key}.intermediates[{j}]", fail, signer=True) for j, v in enumerate(inter_raw)
    )
    expired = table.get("expired", False)
    if not isinstance(expired, bool):
        raise fail(f"{key}.expired", f"must be true or false, got {expired!r}")
    clients: list[KeySpec | None] = [None]
    if "client_cert" in table:
        clients = [_cert(v, f"{key}.client_cert", fail, signer=False).key
                   for v in _axis(table["client_cert"], f"{key}.client_cert", fail)]
    defects = [_defect(v, f"{key}.defect", len(intermediates), fail)
               for v in _axis(table.get("defect", "none"), f"{key}.defect", fail)]
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise fail(f"{key}.name", f"must be a string, got {name!r}")
    if name is not None and (len(roots) > 1 or len(leaves) > 1 or len(clients) > 1 or len(defects) > 1):
        raise fail(f"{key}.name", "a name can only be given to a single chain, not to a product of key types")
    return [
        ChainSpec(root=r, leaf=l, intermediates=intermediates, expired=expired, name=name, client_cert=c, defect=d)
        for r, l, c, d in itertools.product(roots, leaves, clients, defects)
    ]


def _given_chain(table: dict[str, Any], key: str, fail, base: Path) -> ChainSpec:
    """A chain from files (``chain_file``, ``ca_file``, optional ``key_file``; relative to the scenario file)."""
    from ..certs.certread import CertificateFileError
    from ..certs.given import given_chain
    from ..model.errors import InputError

    _reject_unknown(table, _GIVEN_CHAIN_KEYS, key + ".", fail)
    if "ca_file" not in table:
        raise fail(f"{key}.ca_file", "missing: a chain from files needs the CA file its clients trust")
    written = [table.get(k) for k in ("chain_file", "ca_file", "key_file")]
    for k, value in zip(("chain_file", "ca_file", "key_file"), written):
        if value is not None and (not isinstance(value, str) or not value):
            raise fail(f"{key}.{k}", f"must be a file name (relative to the scenario file), got {value!r}")
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise fail(f"{key}.name", f"must be a string, got {name!r}")
    paths = [base / v if v else None for v in written]
    try:
        return given_chain(paths[0], paths[1], paths[2], written=tuple(written), name=name,
                           key_flag="key_file")
    except (CertificateFileError, InputError) as exc:
        field = "key_file" if isinstance(exc, InputError) else "ca_file" if exc.path == paths[1] else "chain_file"
        raise fail(f"{key}.{field}", str(exc)) from None


def _defect(value: Any, key: str, intermediates: int, fail) -> str | None:
    try:
        defect = parse_defect(value)
    except ValueError as exc:
        raise fail(key, str(exc)) from None
    if defect is not None and intermediates < defect.min_intermediates:
        raise fail(key, f"defect {defect.id!r} needs at least {defect.min_intermediates} intermediate(s); "
                        f"the chain has {intermediates}")
    return defect.id if defect else None


def _cert(value: Any, key: str, fail, signer: bool) -> CertSpec:
    if isinstance(value, str):
        return CertSpec(_convert(KeySpec.parse, value, key, fail))
    if isinstance(value, dict):
        allowed = {"key", "hash"} if signer else {"key"}
        _reject_unknown(value, allowed, key + ".", fail)
        if "key" not in value:
            raise fail(f"{key}.key", "missing")
        spec = _convert(KeySpec.parse, value["key"], f"{key}.key", fail)
        hash_ = None
        if "hash" in value:
            hash_ = _convert(parse_hash, value["hash"], f"{key}.hash", fail)
            if spec.pure:
                raise fail(f"{key}.hash", f"{spec.name} signs without a separate hash; remove hash = {value['hash']!r}")
        return CertSpec(spec, hash_)
    raise fail(key, f"must be a key type string or {{key = ..., hash = ...}}, got {value!r}")


def _parse_rule(table: Any, key: str, fail, known_clients, known_servers) -> Rule:
    if not isinstance(table, dict):
        raise fail(key, f"must be a table, got {table!r}")
    _reject_unknown(table, _EXPECT_KEYS, key + ".", fail)
    if "outcome" not in table:
        raise fail(f"{key}.outcome", "missing")
    outcomes = frozenset(
        _convert(Outcome.parse, v, f"{key}.outcome", fail) for v in _as_list(table["outcome"], f"{key}.outcome", fail)
    )
    match: dict[str, tuple[str, ...]] = {}
    for mkey in MATCH_KEYS:
        if mkey not in table:
            continue
        values = _as_list(table[mkey], f"{key}.{mkey}", fail)
        if not all(isinstance(v, str) for v in values):
            raise fail(f"{key}.{mkey}", f"must be strings, got {table[mkey]!r}")
        if mkey == "defect":
            for v in values:
                if not _is_glob(v):
                    try:
                        parse_defect(v)
                    except ValueError as exc:
                        raise fail(f"{key}.defect", str(exc)) from None
        elif mkey == "client_cert":
            values = [v if _is_glob(v) or v == "none" else _convert(KeySpec.parse, v, f"{key}.{mkey}", fail).name
                      for v in values]
        elif mkey in ("root", "leaf", "signer", "key"):
            values = [v if _is_glob(v) else _convert(KeySpec.parse, v, f"{key}.{mkey}", fail).name for v in values]
        elif mkey == "hash":
            values = [v if _is_glob(v) else _convert(parse_hash, v, f"{key}.{mkey}", fail) for v in values]
        elif mkey == "tls":
            values = [v if _is_glob(v) or v == "any" else _convert(parse_tls_version, v, f"{key}.tls", fail) for v in values]
        elif mkey in ("server_groups", "client_groups"):
            parse = functools.partial(parse_groups, key_shares=mkey == "client_groups")
            values = [v if _is_glob(v) else groups_label(_convert(parse, v, f"{key}.{mkey}", fail)) for v in values]
        elif mkey == "client" and known_clients is not None:
            _check_known(values, known_clients, f"{key}.client", "client stack", fail)
        elif mkey == "server" and known_servers is not None:
            _check_known(values, known_servers, f"{key}.server", "server stack", fail)
        match[mkey] = tuple(values)
    why = table.get("why")
    if why is not None and not isinstance(why, str):
        raise fail(f"{key}.why", f"must be a string, got {why!r}")
    return Rule(match=match, outcomes=outcomes, why=why)


# --- small validators ----------------------------------------------------------------------


def _reject_unknown(table: dict, allowed: set[str], prefix: str, fail) -> None:
    for k in table:
        if k not in allowed:
            raise fail(prefix + k, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _as_list(value: Any, key: str, fail) -> list[Any]:
    if isinstance(value, list):
        if not value:
            raise fail(key, "must not be empty, got []")
        return value
    if isinstance(value, (str, int, float)):
        return [value]
    raise fail(key, f"must be a value or a list, got {value!r}")


def _axis(value: Any, key: str, fail) -> list[Any]:
    """A product axis: one value or a non-empty list (an empty one would silently remove the chain)."""
    if value == []:
        raise fail(key, "must not be an empty list, got []: give one value or a list of values")
    return value if isinstance(value, list) else [value]


def _groups_axis(axes: dict[str, Any], key: str, fail) -> list[Groups]:
    """``axes.server_groups`` / ``axes.client_groups``: group settings ("default", "X25519MLKEM768:x25519")."""
    values = _as_list(axes.get(key, ["default"]), f"axes.{key}", fail)
    parse = functools.partial(parse_groups, key_shares=key == "client_groups")  # a server sends no key share
    settings = [_convert(parse, v, f"axes.{key}[{i}]", fail) for i, v in enumerate(values)]
    if len(set(settings)) != len(settings):
        raise fail(f"axes.{key}", f"a group setting is given twice in {values!r}")
    return settings


def _convert(func, value: Any, key: str, fail):
    try:
        return func(value)
    except (SpecError, GroupError) as exc:
        raise fail(key, str(exc)) from None


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _names(value: Any, key: str, known: Iterable[str] | None, what: str, fail) -> tuple[str, ...]:
    values = _as_list(value, key, fail)
    if not all(isinstance(v, str) for v in values):
        raise fail(key, f"must be a list of strings, got {value!r}")
    if known is not None:
        _check_known(values, known, key, what, fail)
    if len(set(values)) != len(values):
        raise fail(key, f"lists a {what} twice: {values!r}")
    return tuple(values)


def _check_known(values: Iterable[str], known: Iterable[str], key: str, what: str, fail) -> None:
    known = list(known)
    for v in values:
        if _is_glob(v):
            continue
        if v not in known:
            raise fail(key, f"unknown {what} {v!r} (known: {', '.join(known)})")


def chain_specs(table: dict[str, Any], where: str = "chain") -> list[ChainSpec]:
    """The chains of one ``[[chain]]`` table given as a mapping (``{"root": "P-521", "leaf": "P-256"}``;
    list values are product axes), checked as a scenario file's are (``tlsmatrix.chain`` uses it)."""
    return _parse_chain(table, where, lambda key, message: ScenarioError(f"{key}: {message}"), Path("."))
