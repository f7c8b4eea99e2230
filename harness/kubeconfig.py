"""Kubeconfig files for an API endpoint: what a Kubernetes user has on disk.

One file per (endpoint, chain): the cluster's ``server`` URL, ``certificate-authority-data``
(the chain's root, the only trust anchor), ``tls-server-name`` and, for mTLS chains, the
client certificate and its TEST-ONLY key as ``client-certificate-data`` / ``client-key-data``.
The kube-rs and Python client probes read these very files (job field ``kubeconfig``), so a
file handed to a user is the file the matrix tested. ``kubectl --kubeconfig FILE get pods``
reads them too.
"""
from __future__ import annotations

import base64
import os
import re
import tempfile
from pathlib import Path

import yaml

from .errors import TlsmatrixError

#: the first lines of every file: these credentials are test keys
HEADER = ("# tlsmatrix TEST-ONLY kubeconfig: the CA and client key below are test keys, never trust them.\n"
          "{note}")


class KubeconfigError(TlsmatrixError):
    """A kubeconfig could not be written (the message names the file)."""


def _b64(path: str | Path, what: str) -> str:
    try:
        return base64.b64encode(Path(path).read_bytes()).decode("ascii")
    except OSError as exc:
        raise KubeconfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def server_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def kubeconfig_document(host: str, port: int, ca_file: str | Path, servername: str | None = None,
                        client_cert_file: str | Path | None = None, client_key_file: str | Path | None = None,
                        name: str = "tlsmatrix") -> dict:
    """The kubeconfig as a mapping (apiVersion v1, kind Config, one cluster/user/context)."""
    if (client_cert_file is None) != (client_key_file is None):
        raise KubeconfigError("a client certificate needs its key and a key its certificate")
    cluster: dict = {"server": server_url(host, port), "certificate-authority-data": _b64(ca_file, "CA file")}
    if servername:
        cluster["tls-server-name"] = servername
    user: dict = {}
    if client_cert_file is not None:
        user["client-certificate-data"] = _b64(client_cert_file, "client certificate file")
        user["client-key-data"] = _b64(client_key_file, "client key file")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(path: str | Path, document: dict, note: str = "") -> Path:
    """Write ``document`` as YAML, atomically (never half-written); 0600 like kubectl's files."""
    path = Path(path)
    note_lines = "".join(f"# {line}\n" for line in note.splitlines() if line.strip())
    text = HEADER.format(note=note_lines) + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise KubeconfigError(f"cannot write kubeconfig {path}: {exc.strerror or exc}") from None
    return path


def file_name(chain_label: str, tls: str | None, server: str, servername: str | None = None) -> str:
    """``P-521-P-256.tls1.3.go.yaml``: readable, unique per listener and server name."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", chain_label.replace("→", "to")).strip("-") or "chain"
    parts = [slug, f"tls{tls}" if tls else "tls-any", server]
    if servername and servername != "localhost":
        parts.append(re.sub(r"[^A-Za-z0-9.]+", "-", servername))
    return ".".join(parts) + ".yaml"


def write_endpoint_kubeconfig(directory: str | Path, cell, host: str, port: int, files, note: str,
                              taken: set[str] | None = None) -> Path:
    """The kubeconfig of one endpoint of a cell (``cell``: a Cell, ``files``: its ChainFiles) in
    ``directory``, named after chain, TLS version, server and server name; ``taken`` (paths already
    written) makes the name unique when two chains share a label."""
    path = Path(directory) / file_name(cell.chain.label, cell.tls, cell.server, cell.servername)
    if taken is not None and str(path) in taken:
        path = path.with_suffix(f".{len(taken)}.yaml")
    doc = kubeconfig_document(host, port, files.ca_file, cell.servername, files.client_cert_file,
                              files.client_key_file)
    return write_kubeconfig(path, doc, note)


def remove_kubeconfigs(directory: str | Path) -> int:
    """Delete the kubeconfig files tlsmatrix wrote in ``directory`` (recognised by their header;
    anything else is left alone), then the directory if that left it empty. Returns how many."""
    directory = Path(directory)
    removed = 0
    try:
        candidates = list(directory.glob("*.yaml"))
    except OSError:
        return 0
    for path in candidates:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                ours = f.readline().startswith(HEADER.splitlines()[0][:40])
            if ours:
                path.unlink()
                removed += 1
        except OSError:
            continue
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty (someone else's files) or gone already
    return removed
