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
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..model.errors import TlsmatrixError

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


# --- a user's kubeconfig (`--kubeconfig FILE [--context NAME]`), read as kubectl reads it ---------------


@dataclass(frozen=True)
class KubeTarget:
    """The API server a kubeconfig context points at, and the files the client stacks need. The
    credentials (client key, token) live only in ``private_dir`` files, removed with it; nothing
    here is meant for output but ``describe()``."""

    source: Path
    context: str
    host: str
    port: int
    servername: str
    ca_file: Path
    client_cert_file: Path | None
    client_key_file: Path | None
    kubeconfig: Path  # the chosen context alone, CA and certificates inline: what the Kubernetes clients load

    def describe(self) -> dict:
        return {"kubeconfig": str(self.source), "context": self.context}


def read_kubeconfig(path: str | Path, context: str | None, private_dir: str | Path) -> KubeTarget:
    """The context ``context`` (default: current-context) of the kubeconfig at ``path``. Relative file
    names are relative to the kubeconfig's directory, as for kubectl. Errors name the file and key."""
    path, private_dir = Path(path), Path(private_dir)
    doc = _load_yaml(path)
    name = context or doc.get("current-context")
    if not name:
        raise KubeconfigError(f"kubeconfig {path}: no current-context; choose one with --context")
    ctx = _named(doc, "contexts", name, path).get("context") or {}
    cluster = _named(doc, "clusters", ctx.get("cluster"), path).get("cluster") or {}
    user = (_named(doc, "users", ctx["user"], path).get("user") or {}) if ctx.get("user") else {}
    host, port = _server(cluster.get("server"), path, name)
    ca = _material(cluster, "certificate-authority", path, private_dir / "ca.pem")
    if ca is None:
        raise KubeconfigError(f"kubeconfig {path}: context {name!r}: its cluster has no certificate-authority(-data); "
                              "tlsmatrix trusts only the CA it is given (add --ca CA.pem)")
    cert = _material(user, "client-certificate", path, private_dir / "client.pem")
    key = _material(user, "client-key", path, private_dir / "client-key.pem")
    if (cert is None) != (key is None):
        raise KubeconfigError(f"kubeconfig {path}: user {ctx.get('user')!r}: client-certificate and client-key go together")
    servername = cluster.get("tls-server-name") or host
    derived = {"apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
               "clusters": [{"name": name, "cluster": {**_inline(cluster, "certificate-authority", ca), "server":
                                                       server_url(host, port)}}],
               "users": [{"name": name, "user": _inline(_inline(user, "client-certificate", cert), "client-key", key)}],
               "contexts": [{"name": name, "context": {**ctx, "cluster": name, "user": name}}]}
    kube = write_kubeconfig(private_dir / "kubeconfig.yaml", derived, note=f"context {name} of {path.name}")
    return KubeTarget(path, name, host, port, servername, ca, cert, key, kube)


def _load_yaml(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KubeconfigError(f"kubeconfig {path} is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping with clusters, users, contexts)")
    return doc


def _named(doc: dict, key: str, name: object, path: Path) -> dict:
    entries = doc.get(key) or []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    known = ", ".join(str(e.get("name")) for e in entries if isinstance(e, dict)) or "none"
    raise KubeconfigError(f"kubeconfig {path}: {key} has no entry named {name!r} (known: {known})")


def _server(url: object, path: Path, context: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(str(url or ""))
    try:
        port = parts.port or 443
    except ValueError:
        port = -1
    if parts.scheme != "https" or not parts.hostname or not 0 < port < 65536:
        raise KubeconfigError(f"kubeconfig {path}: context {context!r}: cluster server {url!r} is not an https://HOST[:PORT] URL")
    return parts.hostname, port


def _material(section: dict, key: str, path: Path, target: Path) -> Path | None:
    """``key-data`` (base64) written to ``target`` (0600), or the file ``key`` names; None when neither."""
    data = section.get(f"{key}-data")
    if data:
        try:
            raw = base64.b64decode(str(data), validate=True)
        except (ValueError, TypeError):
            raise KubeconfigError(f"kubeconfig {path}: {key}-data is not base64") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        return target
    named = section.get(key)
    if not named:
        return None
    file = Path(str(named)).expanduser()
    file = file if file.is_absolute() else path.parent / file
    if not file.is_file():
        raise KubeconfigError(f"kubeconfig {path}: {key} {named!r}: no such file ({file})")
    return file.resolve()


def _inline(section: dict, key: str, file: Path | None) -> dict:
    """``section`` with ``key`` as ``key-data`` from ``file`` (the derived kubeconfig names no local path)."""
    out = {k: v for k, v in section.items() if k not in (key, f"{key}-data")}
    if file is not None:
        out[f"{key}-data"] = base64.b64encode(file.read_bytes()).decode("ascii")
    return out
