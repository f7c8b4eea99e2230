from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.stacks.classify import classify
from tlsmatrix.model.core import CertSpec, ChainSpec, Job, KeySpec
from tlsmatrix.certs.pki import ChainFiles
from tlsmatrix.stacks.servers import HOST_SERVERS, SERVERS

from ..conftest import require_stack


def spec(root: str, leaf: str, inters=(), expired=False) -> ChainSpec:
    return ChainSpec(root=CertSpec(KeySpec.parse(root)), leaf=CertSpec(KeySpec.parse(leaf)),
                     intermediates=tuple(CertSpec(KeySpec.parse(i)) for i in inters), expired=expired)


@dataclass
class TrustmeChain:
    """An independent control PKI made by trustme (RSA-2048 by default)."""

    ca_file: Path
    files: ChainFiles


@pytest.fixture(scope="session")
def trustme_chain(tmp_path_factory) -> TrustmeChain:
    d = tmp_path_factory.mktemp("trustme")
    ca = trustme.CA(organization_name="tlsmatrix TEST trustme control CA")
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "TEST-ONLY-key.pem"))
    with open(d / "chain.pem", "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    (d / "leaf.pem").write_bytes(cert.cert_chain_pems[0].bytes())
    files = ChainFiles(spec=spec("RSA-2048", "RSA-2048"), ca_file=d / "ca.pem", cert_file=d / "chain.pem",
                       key_file=d / "TEST-ONLY-key.pem", leaf_file=d / "leaf.pem", leaf_sha256="", root_sha256="")
    return TrustmeChain(d / "ca.pem", files)


#: listeners every server stack serves in the handshake tests
CHAINS = {
    "good": spec("P-256", "P-256"),
    "expired": spec("P-256", "P-256", expired=True),
    "ed25519": spec("Ed25519", "Ed25519"),
    "rsa": spec("RSA-4096", "RSA-2048", inters=("RSA-3072",)),
}


@dataclass
class Served:
    endpoint: ProcessEndpoint
    files: dict[str, ChainFiles]

    def port(self, name: str, tls: str | None = None) -> int:
        listener = self.endpoint.listeners[f"{name}@{tls}"]
        assert listener.error is None, listener.error
        return int(listener.port)


@pytest.fixture(scope="session")
def served(pki_cache, trustme_chain):
    """Every available server stack, started once, serving CHAINS × {1.2, 1.3, any} + trustme."""
    files = {name: pki_cache.chain(s) for name, s in CHAINS.items()}
    files["trustme"] = trustme_chain.files
    out: dict[str, Served] = {}
    with contextlib.ExitStack() as stack:
        for name in HOST_SERVERS:
            server = SERVERS[name]
            if server.unavailable_reason():
                continue
            specs = [ListenerSpec(f"{c}@{t}", f, t) for c, f in files.items() for t in (None, "1.2", "1.3")]
            out[name] = Served(stack.enter_context(ProcessEndpoint(server, specs)), files)
        yield out


def server_for(served: dict[str, Served], name: str) -> Served:
    require_stack(SERVERS[name])
    return served[name]


def client_stack(name: str):
    stack = CLIENTS[name]
    require_stack(stack)
    return stack


def run_text(directory: Path, text: str, pki_cache, **options) -> list:
    """The cells of a scenario written here as TOML text (scenario.toml in ``directory``: files it names,
    a given chain's, sit beside it), run for real through ``tlsmatrix.run``."""
    import tlsmatrix

    path = Path(directory) / "scenario.toml"
    path.write_text(text)
    return tlsmatrix.run(path, pki_cache=pki_cache.root, **options).cells


def run_scenario(pki_cache, file_name: str):
    """Every cell of a shipped scenario, run for real (skipped or failed when a stack is missing)."""
    from tlsmatrix.running.runner import RunOptions, run_cells
    from tlsmatrix.running.scenarios import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / file_name, CLIENTS, SERVERS)
    for name in [*scenario.clients, *scenario.servers]:
        require_stack(CLIENTS.get(name) or SERVERS[name])
    return run_cells(scenario.cells(), pki_cache, RunOptions(timeout_ms=10_000))


@contextlib.contextmanager
def probe_pool(stack_for):
    """One long-lived probe per client stack (the batch mode under test), started on first use as
    ``get(name)``, all closed at the end; ``stack_for(name)`` gives the descriptor (or skips)."""
    opened: dict[str, ProbeSession] = {}

    def get(name: str) -> ProbeSession:
        if name not in opened:
            session = ProbeSession(stack_for(name))
            session.start()
            opened[name] = session
        return opened[name]

    try:
        yield get
    finally:
        for session in opened.values():
            session.close()


def handshake(session: ProbeSession, port: int, ca_file, servername="localhost", tls=None, timeout_ms=10_000):
    """One job to a 127.0.0.1 listener through a running probe: (classification, raw answer)."""
    job = Job(id=str(time.monotonic_ns()), host="127.0.0.1", port=port, servername=servername,
              ca_file=str(ca_file), tls_version=tls, timeout_ms=timeout_ms)
    raw = session.run(job)
    return classify(session.stack.family, raw), raw
