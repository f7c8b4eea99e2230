"""What `tlsmatrix probe`, `serve` and `list` print as tables (the matrix's tables: table.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from ..stacks import Stack


def probe_table(doc: dict[str, Any]) -> str:
    """A probe document (``tlsmatrix.probe``) as the table `tlsmatrix probe` prints, then its diagnosis."""
    from ..model.document import Finding
    from ..certs.diagnose import render_findings

    rows = [[r["client"], r["version"] or "", r["outcome"] if r["outcome"] in ("ok", "chain_ok") else f"✗ {r['outcome']}",
             (r.get("note") or r["error"] or "")[:90] + (f" [{r['finding']}]" if r["finding"] else "")]
            for r in doc["results"]]
    where = doc.get("target") or f"replay of {doc['chain_file']} ({doc['replay']['server']} server, signed with " \
                                   f"{doc['replay']['signed_with']})"
    head = f"{where} (servername {doc['servername']}, CA {doc['ca_file']}, TLS {doc['tls'] or 'any'})\n\n"
    table = tabulate(rows, headers=["client", "version", "outcome", "error"], disable_numparse=True) + "\n\n"
    findings = doc["diagnosis"]
    diagnosis = (render_findings([Finding.from_json(f) for f in findings]) if findings is not None else
                 "diagnosis: the server's chain could not be fetched\n")
    return head + table + diagnosis


def serve_table(serving: Any, duration: float | None) -> str:
    """The endpoints of ``tlsmatrix.serve`` and how long they stay (`tlsmatrix serve`)."""
    endpoints = serving.endpoints
    kube = any(e.app == "kubernetes" for e in endpoints)
    rows = [[e.chain, e.tls or "any", e.server, e.error or e.address, e.kubeconfig or e.ca_file] for e in endpoints]
    table = tabulate(rows, headers=["chain", "TLS", "server", "address", "kubeconfig" if kube else "CA file"],
                     disable_numparse=True)
    return (f"{table}\n\n{serving.directory / 'endpoints.json'} lists them (TEST-ONLY keys). "
            + ("Try: kubectl --kubeconfig FILE get pods. " if kube else "")
            + ("Serving until Ctrl-C." if duration is None else f"Serving for {duration:g}s.") + "\n")


def stacks_table(clients: dict, servers: dict, scenarios: list[Path], root: Path) -> str:
    """`tlsmatrix list`: every stack, available or why not (and how to install it), then the scenarios."""
    from ..running.scenarios import ScenarioError, load_scenario

    rows = []
    for kind, registry in (("client", clients), ("server", servers)):
        for name, stack in registry.items():
            why = stack.unavailable_reason()
            rows.append([kind, name, "yes" if why is None else "no", "yes" if stack.client_auth else "",
                         stack.description if why is None else why])
    srows = []
    for path in scenarios:
        try:
            s = load_scenario(path, clients, servers)
            srows.append([_shown(path, root), s.title, s.cell_count()])
        except ScenarioError as exc:
            srows.append([str(path), f"INVALID: {exc}", 0])
    return (tabulate(rows, headers=["kind", "stack", "available", "mTLS", "description / how to install"]) + "\n\n"
            + tabulate(srows, headers=["scenario", "title", "cells"]) + "\n")


def _shown(path: Path, root: Path) -> str:
    """``scenarios/<file>``: relative to the checkout or home, as a user types it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return f"scenarios/{path.name}"


def describe(name: str, stack: Stack) -> dict[str, object]:
    """One stack for `tlsmatrix list --format json`."""
    from ..stacks.clients.containers import VERSIONED

    v = VERSIONED.get(name)
    why = stack.unavailable_reason()
    return {"name": name, "available": why is None, "why": why, "version": v.version if v else None,
            "runs_in": f"docker ({v.release})" if v else "host", "image": v.image if v else None,
            "description": stack.description}


def list_json(clients: dict[str, Stack], servers: dict[str, Stack], scenarios: list[Path],
              hellos: dict[str, dict] | None = None) -> dict[str, object]:
    """`tlsmatrix list --format json`: every stack (where it runs, its image), each available client's
    default ClientHello as measured (``hellos``: groups, key shares, key types, versions) and the
    scenario files."""
    from ..model.paths import project_root
    from ..stacks.images import IMAGES

    server_rows = []
    for name, stack in servers.items():
        why = stack.unavailable_reason()
        server_rows.append({"name": name, "available": why is None, "why": why, "version": None, "runs_in": "host",
                            "image": IMAGES[name].tag if name in IMAGES else None, "description": stack.description})
    root = project_root()
    hellos = hellos or {}
    return {"clients": [{**describe(n, s), "hello": hellos.get(n)} for n, s in clients.items()], "servers": server_rows,
            "scenarios": [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in scenarios]}
