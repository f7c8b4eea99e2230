"""The pytest plugin (entry point ``pytest11``: installed with tlsmatrix, active in every pytest run).

Scenario cells as tests, so CI gets pytest's own JUnit XML, ``-k``, ``-x`` and xdist::

    pytest --tlsmatrix scenarios/rustls-p521.toml          # one test per cell, named by the cell id
    pytest --tlsmatrix rustls-p521 -k "rustls-ring and 1.3" --junitxml=cells.xml
    pytest --tlsmatrix rustls-p521 -n 4 --dist loadgroup   # xdist: each client stack's cells on one worker

A cell passes when its outcome is what the scenario expects (or it expects nothing), fails with the
stack's own error text when it contradicts the expectation, and is skipped when it did not run (a
stack that is not installed; with ``TLSMATRIX_REQUIRE_STACKS=1`` that fails instead). Cells run
when the first of them is reached, in batches of the selected cells only: a scenario's cells
together, under xdist a client stack's cells together. Without test paths on the command line,
``--tlsmatrix`` runs the cells alone; with them, both.

And endpoints for your own tests, as trustme gives you a CA::

    def test_my_client_accepts_p521(tls_endpoint):
        ep = tls_endpoint(server="go", root="P-521", leaf="P-256", tls="1.3")
        my_client.get(f"https://localhost:{ep.port}/", ca_file=ep.ca_file)  # ep.host is 127.0.0.1

This module imports nothing heavy until a cell or the fixture is used: pytest loads it in every
run of every project installed beside tlsmatrix.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

_STATE = pytest.StashKey["_Cells"]()
_CELLS_ONLY = "tlsmatrix_cells_only"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tlsmatrix", "tlsmatrix: TLS compatibility cells as tests")
    group.addoption("--tlsmatrix", action="append", default=[], metavar="SCENARIO",
                    help="run a tlsmatrix scenario's cells as tests (a file, or a shipped scenario's name, "
                         "e.g. scenarios/rustls-p521.toml); repeatable")
    group.addoption("--tlsmatrix-backend", default=os.environ.get("TLSMATRIX_BACKEND") or "process",
                    choices=("process", "docker"), help="where server endpoints run (default: local processes)")
    group.addoption("--tlsmatrix-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="per-handshake timeout of the cells (default 10)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tlsmatrix: a cell of a tlsmatrix scenario (pytest --tlsmatrix)")
    config.stash[_STATE] = _Cells(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: the workers learn whether the cells run alone (their own argument source is always ARGS)."""
    node.workerinput[_CELLS_ONLY] = _cells_only(node.config)


def _cells_only(config: pytest.Config) -> bool:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return bool(workerinput.get(_CELLS_ONLY))
    return bool(config.getoption("tlsmatrix")) and config.args_source != pytest.Config.ArgsSource.ARGS


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``pytest --tlsmatrix X`` without test paths: the cells only, not the project's tests too."""
    return True if _cells_only(config) else None


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: the cells are selectable like any test
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for given in config.getoption("tlsmatrix"):
        node = ScenarioFile.of(session, given)
        cells = node.collect()
        # reported like any collected file: the terminal's counts, --collect-only, other plugins
        session.ihook.pytest_collectreport(report=pytest.CollectReport(node.nodeid, "passed", None, cells))
        items.extend(cells)


class ScenarioFile(pytest.File):
    """A scenario file: one :class:`CellItem` per cell, in the scenario's order."""

    scenario: Any = None

    @classmethod
    def of(cls, session: pytest.Session, given: str) -> "ScenarioFile":
        from .api import load_scenarios
        from .model.errors import TlsmatrixError
        from .model.paths import resolve_scenario

        path = resolve_scenario(given).absolute()
        try:
            scenario = load_scenarios(path)[0]
        except TlsmatrixError as exc:
            raise pytest.UsageError(f"--tlsmatrix {given}: {exc}") from None
        try:
            path.relative_to(session.config.rootpath)
            node = cls.from_parent(session, path=path)
        except ValueError:  # outside the rootdir (a shipped scenario): named as the user named it
            node = cls.from_parent(session, path=path, nodeid=given.replace(os.sep, "/"))
        node.scenario = scenario
        return node

    def collect(self) -> list["CellItem"]:
        from .running.runner import expand_cells

        xdist = self.config.pluginmanager.hasplugin("xdist")
        items = []
        for cell in expand_cells([self.scenario]):
            item = CellItem.from_parent(self, name=cell.id, cell=cell, scenario=self.scenario)
            item.add_marker(pytest.mark.tlsmatrix)
            if xdist:  # --dist loadgroup keeps a client stack's cells (one probe, one batch) on one worker
                item.add_marker(pytest.mark.xdist_group(name=f"{self.scenario.name}:{cell.client}"))
            items.append(item)
        return items


class CellContradiction(Exception):
    """A cell whose outcome contradicts the scenario's expectation."""


class CellItem(pytest.Item):
    """One cell: a chain served by a server stack on a TLS version, tried by a client stack."""

    def __init__(self, *, cell: Any, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell, self.scenario = cell, scenario

    def runtest(self) -> None:
        record = self.config.stash[_STATE].record(self)
        self.user_properties += [("outcome", record.outcome), ("error", record.error or "")]
        if record.outcome == "skipped":
            message = f"not run: {record.error or 'skipped'}"
            if os.environ.get("TLSMATRIX_REQUIRE_STACKS") == "1":
                pytest.fail(message + " (TLSMATRIX_REQUIRE_STACKS=1)", pytrace=False)
            pytest.skip(message)
        if record.verdict == "mismatch":
            raise CellContradiction(_contradiction(record))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CellContradiction):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"tlsmatrix cell {self.name}"


def _contradiction(record: Any) -> str:
    expected = ", ".join(record.expected.outcomes) if record.expected else "?"
    why = f" ({record.expected.why})" if record.expected and record.expected.why else ""
    lines = [f"{record.client} ← {record.server} | {record.chain_label} | TLS {record.tls_label}: got {record.outcome}, "
             f"expected {expected}{why}", f"error: {record.error}"]
    if record.error_detail and record.error_detail != record.error:
        lines.append(f"detail: {record.error_detail}")
    if record.finding:
        lines.append(f"chain finding: {record.finding} (tlsmatrix diagnose)")
    return "\n".join(lines)


class _Cells:
    """The cells' results in this process, computed a batch at a time when a cell is first reached:
    the selected (not deselected) cells of its scenario, or under xdist of its scenario and client."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def _batch_key(self, item: CellItem) -> tuple[str, ...]:
        if getattr(self.config, "workerinput", None) is not None:
            return (item.scenario.name, item.cell.client)
        return (item.scenario.name,)

    def record(self, item: CellItem) -> Any:
        cell_id = item.cell.id
        if cell_id not in self.records and cell_id not in self.errors:
            key = self._batch_key(item)
            batch = [i for i in item.session.items if isinstance(i, CellItem) and self._batch_key(i) == key
                     and i.cell.id not in self.records and i.cell.id not in self.errors]
            self._run(item.scenario, [i.cell for i in batch])
        if cell_id in self.errors:
            pytest.fail(self.errors[cell_id], pytrace=False)
        return self.records[cell_id]

    def _run(self, scenario: Any, cells: list[Any]) -> None:
        from .model.errors import TlsmatrixError
        from .certs.pki import CertificateCache
        from .running.runner import RunOptions, run_cells
        from .model.paths import pki_cache_dir

        options = RunOptions(timeout_ms=int(self.config.getoption("tlsmatrix_timeout") * 1000),
                             backend=self.config.getoption("tlsmatrix_backend"))
        try:
            report = run_cells(cells, CertificateCache(pki_cache_dir()), options, scenarios=[scenario])
        except TlsmatrixError as exc:
            self.errors.update({c.id: f"tlsmatrix: {exc}" for c in cells})
            return
        self.records.update({r.id: r for r in report.document.cells})


# --- the fixture ---------------------------------------------------------------------------------


@pytest.fixture
def tls_endpoint(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory that starts a server stack serving one chain, stopped when the test ends::

        ep = tls_endpoint(server="go", root="P-521", leaf="P-256", tls="1.3")
        ep.host, ep.port, ep.ca_file              # and ep.client_cert_file / client_key_file with client_cert=

    Keys are tlsmatrix key types (``RSA-2048``, ``P-256``, ``P-384``, ``P-521``, ``Ed25519``);
    ``intermediates``, ``client_cert`` (mTLS: the server requires a certificate with this key),
    ``expired`` and ``defect`` say the same as in a scenario's ``[[chain]]``. ``tls``: "1.2", "1.3" or
    None (any). A server stack that is not installed skips the test (fails with
    ``TLSMATRIX_REQUIRE_STACKS=1``); one that cannot serve the chain raises the stack's error."""
    with contextlib.ExitStack() as stack:
        yield lambda **spec: _start_endpoint(stack, request, **spec)


def _start_endpoint(stack: contextlib.ExitStack, request: pytest.FixtureRequest, server: str = "openssl",
                    root: str = "P-256", leaf: str = "P-256", tls: str | None = None, intermediates: tuple = (),
                    client_cert: str | None = None, expired: bool = False, defect: str | None = None,
                    backend: str | None = None) -> Any:
    from . import api
    from .running.endpoints.base import EndpointError
    from .stacks.servers import SERVERS

    spec = api.chain(root=root, leaf=leaf, intermediates=intermediates, client_cert=client_cert, expired=expired,
                     defect=defect)
    backend = backend or request.config.getoption("tlsmatrix_backend")
    why = SERVERS[server].unavailable_reason() if backend == "process" and server in SERVERS else None
    if why:
        message = f"server stack {server} not available: {why}"
        if os.environ.get("TLSMATRIX_REQUIRE_STACKS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    serving = stack.enter_context(api.serve(chains=[spec], servers=[server], tls=[tls], backend=backend))
    endpoint = serving.endpoints[0]
    if endpoint.error:
        raise EndpointError(endpoint.error)
    return endpoint
