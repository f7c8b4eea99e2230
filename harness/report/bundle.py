"""A self-contained reproduction bundle (.tar.gz) for chosen cells of a results document.

For every cell, a directory ``cells/NNN-<client>-<chain>-<server>-tls<v>/`` holds:

- the chain's public parts from the certificate cache: ``ca.pem`` (the root, the only trust
  anchor), ``chain.pem`` (leaf + intermediates, what a server sends), ``leaf.pem``,
  ``intermediates.pem`` (only when the chain has intermediates) and ``spec.json``;
- ``TEST-ONLY-leaf-key.pem`` only when ``with_keys=True`` (a tlsmatrix test key);
- for mTLS chains (``client_cert``): ``client.pem`` and, only with keys,
  ``TEST-ONLY-client-key.pem``; the commands then require and present the client certificate;
- ``cell.json`` (the record as the run wrote it), ``job.json`` (the JSON job line a tlsmatrix
  probe reads), ``server-config.json`` (the configuration a tlsmatrix server program reads);
- ``regenerate.sh``: rebuilds an *equivalent* chain (same key types, hashes, structure,
  names and validity window; new keys, so not the identical certificates) with nothing but
  the ``openssl`` command line, into ``regenerated/``.

At the top: ``README.md`` (what is in here, the cells, the differential summary),
``REPRODUCE.md`` (copy-pasteable commands per cell that need no tlsmatrix: an ``openssl
s_server`` line, the cell's client line, the raw error the run recorded), ``versions.json``
(every client and server stack's exact versions), ``regenerate.sh`` (all cells) and
``scenarios/`` (the scenario files the cells come from, where readable).

Every path in the archive is relative, every member is a regular file with mode 0644, and
the archive is written to a temporary file and renamed into place.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import re
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..stacks.clients import CLIENTS
from ..stacks.clients.containers import VERSIONED
from ..model.errors import TlsmatrixError
from ..model.document import CellRecord, ChainInfo, DocumentError, ResultsDocument, StackEntry, load_results
from ..model.core import ACCEPTED, CertRecord, ChainRecord, Job, KeySpec, ListenerConfig, ServerConfig
from ..model.paths import atomic_file
from ..stacks.native import NativeCell, s_client_line
from ..stacks.native import is_ip as _is_ip
from ..certs.pki import EXPIRED_FROM, EXPIRED_UNTIL, ORGANIZATION, VALID_FROM, VALID_UNTIL
from ..stacks.servers import SERVERS

PORT = 8443
HOST = "127.0.0.1"
KEY_FILE = "TEST-ONLY-leaf-key.pem"
CLIENT_CERT_FILE = "client.pem"
CLIENT_KEY_FILE = "TEST-ONLY-client-key.pem"
PUBLIC_FILES = ("ca.pem", "chain.pem", "leaf.pem", "spec.json")
#: openssl ca -startdate/-enddate: the validity windows pki.py gives every certificate
VALIDITY = (VALID_FROM.strftime("%Y%m%d%H%M%SZ"), VALID_UNTIL.strftime("%Y%m%d%H%M%SZ"))
EXPIRED_VALIDITY = (EXPIRED_FROM.strftime("%Y%m%d%H%M%SZ"), EXPIRED_UNTIL.strftime("%Y%m%d%H%M%SZ"))


class BundleError(TlsmatrixError, ValueError):
    """The results document or the cell selection cannot make a bundle."""


# --- input ---------------------------------------------------------------------------------


def _load(results_path_or_dir: str | Path) -> tuple[ResultsDocument, Path]:
    path = Path(results_path_or_dir)
    if path.is_dir():
        for candidate in (path / "results.json", path / "latest" / "results.json"):
            if candidate.is_file():
                path = candidate
                break
        else:
            raise BundleError(f"no results.json in {path}")
    try:
        return load_results(path), path
    except DocumentError as exc:
        raise BundleError(str(exc)) from None


def default_cells(data: ResultsDocument) -> list[str]:
    """Ids of every cell whose outcome is not ok or whose verdict is mismatch."""
    return [r.id for r in data.cells if r.outcome not in ACCEPTED or r.verdict == "mismatch"]


def _select(data: ResultsDocument, cell_ids: list[str] | None) -> list[CellRecord]:
    by_id = {r.id: r for r in data.cells}
    wanted = default_cells(data) if cell_ids is None else list(dict.fromkeys(str(c) for c in cell_ids))
    unknown = [c for c in wanted if c not in by_id]
    if unknown:
        raise BundleError("no such cell in the results: " + ", ".join(unknown))
    if not wanted:
        raise BundleError("no cells to bundle (every cell is ok and matches its expectation; name cells explicitly)")
    chainless = [c for c in wanted if by_id[c].chain is None]
    if chainless:
        raise BundleError("the results record no chain for cell(s): " + ", ".join(chainless))
    return [by_id[c] for c in wanted]


def _find_scenario(path: str, results_file: Path) -> Path | None:
    p = Path(path)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, *(d / p for d in results_file.resolve().parents)]
    if not p.is_absolute():
        try:
            from ..model.paths import project_root, resolve_scenario

            candidates += [project_root() / p, resolve_scenario(p)]  # resolve_scenario: the shipped ones
        except Exception:  # pragma: no cover - bundling must not depend on the checkout
            pass
    for c in candidates:
        try:
            if c.is_file():
                return c
        except OSError:
            continue
    return None


# --- the cell's chain ----------------------------------------------------------------------


def _mtls(record: CellRecord) -> bool:
    return record.chain is not None and record.chain.client_cert is not None


def _pem_blocks(data: bytes) -> list[bytes]:
    return re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\r?\n?", data, re.S)


def _cert_sha256(pem: bytes) -> str | None:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
    except Exception:
        return None


@dataclass
class _Cell:
    record: CellRecord  # with a chain (_select)
    dirname: str
    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def spec(self) -> ChainRecord:
        assert self.record.chain is not None
        return self.record.chain

    @property
    def has_intermediates(self) -> bool:
        return bool(self.spec.intermediates)

    @property
    def mtls(self) -> bool:
        return _mtls(self.record)


def _slug(text: str) -> str:
    text = str(text).replace(" → ", "_to_").replace("→", "_to_")
    return re.sub(r"[^A-Za-z0-9.@+-]+", "_", text).strip("_") or "x"


def _chain_dir(recorded: str, pki_cache: Path | None) -> Path:
    """Where a chain's files are: results name them relative to the certificate cache (older
    documents: absolute), since results are attached to public reports."""
    path = Path(recorded)
    if path.is_absolute():
        return path
    if pki_cache is None:
        from ..model.paths import pki_cache_dir

        pki_cache = pki_cache_dir()
    return Path(pki_cache) / path


def _gather(cell: _Cell, chains: dict[str, ChainInfo], with_keys: bool, pki_cache: Path | None = None) -> None:
    label = cell.spec.label
    if cell.spec.given is not None:
        cell.warnings.append(f"this chain was {cell.spec.given.describe()}: tlsmatrix did not make it, so there is "
                             "no regenerate.sh; its public files are in this bundle as given, and `tlsmatrix replay "
                             "--chain chain.pem --ca ca.pem` serves them again (without the key: chain_ok)")
    if cell.spec.defect and not with_keys:
        cell.warnings.append(f"this chain has the defect {cell.spec.defect!r} (harness/model/defects.py), which "
                             "regenerate.sh does NOT rebuild (the openssl command line cannot write most of them): "
                             "bundle with --with-keys to replay the exact chain; `openssl verify -CAfile ca.pem "
                             "-untrusted chain.pem leaf.pem` and `tlsmatrix diagnose --ca ca.pem --chain chain.pem` "
                             "work on this bundle's exact public files")
    info = chains.get(label)
    directory = info.dir if info else None
    if not directory:
        cell.warnings.append(f"the results name no certificate directory for chain {label!r}: "
                             "use regenerate.sh (an equivalent chain)")
        return
    names = [*PUBLIC_FILES, *([KEY_FILE] if with_keys else [])]
    if cell.mtls:
        names += [CLIENT_CERT_FILE, *([CLIENT_KEY_FILE] if with_keys else [])]
    for name in names:
        try:
            cell.files[name] = (_chain_dir(directory, pki_cache) / name).read_bytes()
        except OSError as exc:
            cell.warnings.append(f"{name} not readable in {directory} of the certificate cache ({exc.strerror or exc}; "
                                 "--pki-cache names the cache the run used): "
                                 "use regenerate.sh (an equivalent chain)")
    chain_pem = cell.files.get("chain.pem")
    if chain_pem and cell.has_intermediates:
        blocks = _pem_blocks(chain_pem)
        if len(blocks) > 1:
            cell.files["intermediates.pem"] = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blocks[1:])
    assert info is not None
    for name, recorded in (("leaf.pem", info.leaf_sha256), ("ca.pem", info.root_sha256)):
        if recorded and name in cell.files:
            actual = _cert_sha256(cell.files[name])
            if actual and actual != recorded:
                cell.warnings.append(f"{name} in the certificate cache (sha256 {actual[:16]}…) is not the "
                                     f"certificate of the run (sha256 {recorded[:16]}…): the cache was rebuilt since")


# --- commands ------------------------------------------------------------------------------


def _tls_flag(tls: Any, flags: dict[str, str]) -> list[str]:
    return [flags[str(tls)]] if str(tls) in flags else []


def s_server_line(cell: _Cell, port: int = PORT, key_dir: str = "") -> str:
    argv = ["openssl", "s_server", "-accept", f"{HOST}:{port}", "-cert", f"{key_dir}chain.pem"]
    if cell.has_intermediates:
        argv += ["-cert_chain", f"{key_dir}intermediates.pem"]  # -cert reads only the first certificate
    argv += ["-key", f"{key_dir}{KEY_FILE}", *_tls_flag(cell.record.tls, {"1.2": "-tls1_2", "1.3": "-tls1_3"})]
    if cell.mtls:  # require a client certificate from the chain's root
        argv += ["-Verify", "1", "-CAfile", f"{key_dir}ca.pem", "-verify_return_error"]
    argv += ["-www"]
    return shlex.join(argv)


def _native_cell(record: CellRecord, port: int = PORT) -> NativeCell:
    """What a stack's native command line (harness/stacks/native.py) needs of this cell."""
    return NativeCell(servername=record.servername or "localhost",
                      tls=record.tls if record.tls in ("1.2", "1.3") else None, host=HOST, port=port,
                      client_cert=(CLIENT_CERT_FILE, CLIENT_KEY_FILE) if _mtls(record) else None)


#: client stack -> (probe source in the tlsmatrix repository, how to build, the command in a checkout):
#: the client descriptors' `reproduce` (harness/stacks/clients), in their order
PROBES: dict[str, tuple[str, str | None, str]] = {
    name: r for name, stack in CLIENTS.items() if (r := stack.reproduction()) is not None
}

#: server stack -> (program source, the command in a checkout; it takes --config server-config.json):
#: the server descriptors' `reproduce` (harness/stacks/servers)
SERVER_PROGRAMS: dict[str, tuple[str, str]] = {
    name: (r[0], r[2]) for name, stack in SERVERS.items() if (r := stack.reproduction()) is not None
}


def probe_job(record: CellRecord, port: int = PORT, ca: str = "ca.pem") -> dict:
    """The JSON job (docs/probe-contract.md) that replays this cell against 127.0.0.1:port."""
    mtls = _mtls(record)
    return Job(id="1", host=HOST, port=port, servername=record.servername or "localhost", ca_file=ca,
               tls_version=record.tls if record.tls in ("1.2", "1.3") else None, timeout_ms=10000,
               client_cert_file=CLIENT_CERT_FILE if mtls else None,
               client_key_file=CLIENT_KEY_FILE if mtls else None).to_json()


def probe_job_line(record: CellRecord, port: int = PORT) -> str:
    return json.dumps(probe_job(record, port), separators=(",", ":"))


def server_config(record: CellRecord, port: int = PORT) -> dict:
    """The configuration a tlsmatrix server program reads to serve this cell's chain on 127.0.0.1:port."""
    listener = ListenerConfig(id="L0", cert_file="chain.pem", key_file=KEY_FILE,
                              tls_version=record.tls if record.tls in ("1.2", "1.3") else None, port=port,
                              app=record.app, client_ca_file="ca.pem" if _mtls(record) else None)
    return ServerConfig(host=HOST, listeners=[listener]).to_json()


def container_line(record: CellRecord, image: str, port: int = PORT) -> str:
    """`docker run` of a versioned client's probe in ``image`` (the one that answered), fed this cell's
    job; the cell's files go in as environment variables (no mount: works with any Docker host)."""
    v = VERSIONED[record.client]
    names = ["ca.pem"] + ([CLIENT_CERT_FILE, CLIENT_KEY_FILE] if _mtls(record) else [])
    env = " ".join(f'-e F{i}="$(cat {name})"' for i, name in enumerate(names))
    setup = " && ".join(f'printf "%s\\n" "$F{i}" > /tmp/c/{name}' for i, name in enumerate(names))
    job = probe_job(record, port, ca="/tmp/c/ca.pem")
    for key in ("client_cert_file", "client_key_file"):
        if job.get(key):
            job[key] = f"/tmp/c/{job[key]}"
    script = f"mkdir -p /tmp/c && {setup} && exec {shlex.join(v.argv)}"
    return (f"echo {shlex.quote(json.dumps(job, separators=(',', ':')))} | docker run --rm -i --network host {env} "
            f"--entrypoint sh {image} -c {shlex.quote(script)}")


def client_commands(cell: _Cell, image: str | None = None) -> list[tuple[str, str]]:
    """(title, shell text) for the cell's own client stack, then OpenSSL's s_client for comparison;
    ``image``: the image a versioned client ran in (its `docker run` line comes first)."""
    r = cell.record
    client = r.client
    out: list[tuple[str, str]] = []
    stack = CLIENTS.get(client)
    native = stack.native if stack is not None else None  # the stack's own command line (its descriptor)
    if client in VERSIONED:
        out.append((f"the recorded client **{client}** in the image that answered (`tlsmatrix images "
                    f"clients-{VERSIONED[client].release}` builds it from the same Dockerfile)",
                    container_line(r, image or VERSIONED[client].image)))
    if native is not None:
        out.append((f"the recorded client **{client}**: {native.title}", native.line(_native_cell(r))))
    if client in PROBES:
        out.append((f"the recorded client **{client}** with tlsmatrix's own probe program (`{PROBES[client][0]}`, "
                    "see *Probe programs* above): one JSON job line on stdin; it answers with a hello line, "
                    "then the result, whose `error` is the stack's own text",
                    f"echo {shlex.quote(probe_job_line(r))} | " + _in_checkout(PROBES[client][2])))
    elif native is None and client not in VERSIONED:
        out.append((f"the recorded client **{client}**: its tlsmatrix probe (see harness/stacks/clients/__init__.py in the "
                    "tlsmatrix repository) reads this JSON job line",
                    f"echo {shlex.quote(probe_job_line(r))} | <the {client} probe>"))
    if native is None or native.line is not s_client_line:  # s_client already, as the client's own line
        out.append(("for comparison, OpenSSL's `s_client` on the same chain", s_client_line(_native_cell(r))))
    return out


def _in_checkout(command: str) -> str:
    """A checkout-relative command made runnable from the cell directory ($TLSMATRIX = the checkout)."""
    if command.startswith("python3 -m "):
        # the package is installed as `tlsmatrix` (make setup: the checkout's .venv), not importable from the folder
        return f'"$TLSMATRIX/.venv/bin/python" -m {command.removeprefix("python3 -m ")}'
    if command.startswith("java "):
        return 'java -cp "$TLSMATRIX/build/java" Probe'
    if command.startswith("node "):
        return f'node "$TLSMATRIX/{command.removeprefix("node ")}"'
    return f'"$TLSMATRIX"/{command}'


# --- regenerate.sh -------------------------------------------------------------------------


#: genpkey -algorithm for the keys that take no parameters (ML-DSA: OpenSSL 3.5's names)
_GENPKEY_ALGORITHM = {"Ed25519": "ED25519", "Ed448": "ED448", "ML-DSA-44": "ML-DSA-44", "ML-DSA-65": "ML-DSA-65",
                      "ML-DSA-87": "ML-DSA-87"}


def _genkey(key: str, out: str) -> str:
    if key.startswith("RSA-"):
        return f"run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{key.split('-')[1]} -out {out}"
    if key.startswith("P-"):
        return f"run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:{key} -pkeyopt ec_param_enc:named_curve -out {out}"
    if key in _GENPKEY_ALGORITHM:
        return f"run openssl genpkey -algorithm {_GENPKEY_ALGORITHM[key]} -out {out}"
    raise BundleError(f"regenerate.sh: unknown key type {key!r}")


def _pure(signer: CertRecord) -> bool:
    """EdDSA and ML-DSA sign the certificate itself: no digest to name."""
    return KeySpec(signer.key).pure


def _md(signer: CertRecord) -> str:
    """How the script's comments name a signer's signature: its digest, or "pure" (EdDSA, ML-DSA)."""
    if _pure(signer):
        return f"pure {signer.key}"
    return (signer.signing_hash or "SHA-256").replace("-", "").lower()


def _md_flag(signer: CertRecord) -> str:
    """``openssl ca``'s digest option; none for a pure signer (the configuration's default_md = default)."""
    return "" if _pure(signer) else f" -md {_md(signer)}"


def _openssl_needed(spec: ChainRecord) -> str:
    """The oldest openssl command line that makes every key of the chain."""
    keys = {c.key for c in (*spec.signers, spec.leaf, *([spec.client_cert] if spec.client_cert else []))}
    return "OpenSSL 3.5 or newer (ML-DSA)" if any(k.startswith("ML-DSA-") for k in keys) else "OpenSSL 1.1.1 or newer"


def _key_usage(key: str) -> str:
    return "digitalSignature,keyEncipherment" if key.startswith("RSA") else "digitalSignature"


def _script_head(spec: ChainRecord, names: list[str]) -> list[str]:
    """The script's comment, its shell setup and the `openssl ca` configuration."""
    san = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
    leaf_ku = _key_usage(spec.leaf.key)
    client_ku = _key_usage(spec.client_cert.key if spec.client_cert else "")
    return [
        "#!/bin/sh",
        "# Rebuilds an EQUIVALENT chain for this cell with the openssl command line only, into ./regenerated/:",
        f"#   {spec.describe()}; leaf names {', '.join(names)}",
        "# Same key types, signature hashes, structure, extensions and validity window as the run's chain,",
        "# but NEW keys: the certificates are not the identical ones (fingerprints differ).",
        "# TEST KEYS ONLY: never trust these certificates anywhere.",
        f"# Needs {_openssl_needed(spec)}. Usage: sh regenerate.sh",
        "set -eu",
        'cd "$(dirname "$0")"',
        "run() { out=$(\"$@\" 2>&1) || { printf '%s\\n' \"$out\" >&2; echo \"regenerate.sh: failed: $*\" >&2; exit 1; }; }",
        "rm -rf regenerated && mkdir -p regenerated/work/newcerts",
        "cd regenerated",
        ": > work/index.txt",
        "echo 1000 > work/serial",
        "cat > work/ca.cnf <<'EOF'",
        "[ ca ]", "default_ca = tm", "[ tm ]", "database = work/index.txt", "new_certs_dir = work/newcerts",
        "serial = work/serial", "policy = tm_policy", "unique_subject = no", "default_md = default",
        "[ tm_policy ]", "organizationName = supplied", "commonName = supplied",
        "[ req ]", "distinguished_name = dn", "prompt = no", "[ dn ]", "CN = unused",
        "[ v3_ca ]", "basicConstraints = critical,CA:TRUE", "keyUsage = critical,digitalSignature,keyCertSign,cRLSign",
        "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always",
        "[ v3_leaf ]", "basicConstraints = critical,CA:FALSE", f"keyUsage = critical,{leaf_ku}",
        "extendedKeyUsage = serverAuth", f"subjectAltName = {san}",
        "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid",
        "[ v3_client ]", "basicConstraints = critical,CA:FALSE", f"keyUsage = critical,{client_ku}",
        "extendedKeyUsage = clientAuth", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid",
        "EOF",
        "",
    ]


def regenerate_script(cell: _Cell) -> str:
    spec = cell.spec
    root, inters, leaf = spec.root, spec.intermediates, spec.leaf
    client = spec.client_cert
    ckey = client.key if client else ""
    start, end = VALIDITY
    lstart, lend = EXPIRED_VALIDITY if spec.expired else VALIDITY
    names = ["localhost", "127.0.0.1"]
    lines = _script_head(spec, names)

    def subj(role: str, key: str, depth: str) -> str:
        return shlex.quote(f"/O={ORGANIZATION}/CN=TEST-ONLY regenerated {role} {key} ({depth})")

    rkey = root.key
    lines += [
        f"# root: {root.label()}, self-signed",
        _genkey(rkey, "work/root.key"),
        f"run openssl req -new -config work/ca.cnf -key work/root.key -subj {subj('root CA', rkey, 'root')} -out work/root.csr",
        f"run openssl ca -batch -config work/ca.cnf -selfsign -keyfile work/root.key -in work/root.csr -out work/root.pem "
        f"-extensions v3_ca -startdate {start} -enddate {end} -notext{_md_flag(root)}",
        "",
    ]
    issuer, issuer_spec = "root", root
    for i, inter in enumerate(inters):
        ikey = inter.key
        name = f"inter{i}"
        lines += [
            f"# intermediate {i}: {inter.label()}, signed by the {issuer} ({_md(issuer_spec)})",
            _genkey(ikey, f"work/{name}.key"),
            f"run openssl req -new -config work/ca.cnf -key work/{name}.key "
            f"-subj {subj('intermediate CA', ikey, f'intermediate{i}')} -out work/{name}.csr",
            f"run openssl ca -batch -config work/ca.cnf -cert work/{issuer}.pem -keyfile work/{issuer}.key "
            f"-in work/{name}.csr -out work/{name}.pem -extensions v3_ca -startdate {start} -enddate {end} "
            f"-notext{_md_flag(issuer_spec)}",
            "",
        ]
        issuer, issuer_spec = name, inter
    lkey = leaf.key
    lines += [
        f"# leaf: {lkey}, signed by the {issuer} ({_md(issuer_spec)})" + (", EXPIRED validity window" if spec.expired else ""),
        _genkey(lkey, "work/leaf.key"),
        f"run openssl req -new -config work/ca.cnf -key work/leaf.key -subj {subj('server', lkey, 'leaf')} -out work/leaf.csr",
        f"run openssl ca -batch -config work/ca.cnf -cert work/{issuer}.pem -keyfile work/{issuer}.key "
        f"-in work/leaf.csr -out work/leaf.pem -extensions v3_leaf -startdate {lstart} -enddate {lend} "
        f"-notext{_md_flag(issuer_spec)}",
        "",
        "cp work/root.pem ca.pem",
        "cp work/leaf.pem leaf.pem",
        f"cp work/leaf.key {KEY_FILE}",
    ]
    if client:
        lines[-3:-3] = [
            f"# client certificate (mTLS): {ckey}, signed by the root ({_md(root)})",
            _genkey(ckey, "work/client.key"),
            f"run openssl req -new -config work/ca.cnf -key work/client.key -subj {subj('client', ckey, 'client')} "
            "-out work/client.csr",
            f"run openssl ca -batch -config work/ca.cnf -cert work/root.pem -keyfile work/root.key "
            f"-in work/client.csr -out work/client.pem -extensions v3_client -startdate {start} -enddate {end} "
            f"-notext{_md_flag(root)}",
            "",
        ]
        lines += [f"cp work/client.pem {CLIENT_CERT_FILE}", f"cp work/client.key {CLIENT_KEY_FILE}"]
    inter_files = " ".join(f"work/inter{i}.pem" for i in reversed(range(len(inters))))
    if inters:
        lines += [f"cat {inter_files} > intermediates.pem", f"cat work/leaf.pem {inter_files} > chain.pem"]
    else:
        lines += ["cp work/leaf.pem chain.pem"]
    lines += [
        "rm -rf work",
        'echo "regenerated/: ca.pem chain.pem leaf.pem ' + ("intermediates.pem " if inters else "")
        + f'{KEY_FILE} ' + (f"{CLIENT_CERT_FILE} {CLIENT_KEY_FILE} " if client else "")
        + '(an equivalent chain, not the identical one)"',
        "",
    ]
    return "\n".join(lines)


TOP_REGENERATE = """#!/bin/sh
# Rebuilds an EQUIVALENT chain (same key types, hashes, structure; NEW keys) for every cell,
# into cells/*/regenerated/, with the openssl command line only. Usage: sh regenerate.sh
set -eu
cd "$(dirname "$0")"
for d in cells/*/; do
  echo "== $d"
  if [ -f "$d/regenerate.sh" ]; then sh "$d/regenerate.sh"; else echo "given chain: its files are here as given"; fi
done
"""


# --- documents -----------------------------------------------------------------------------


def _fence(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text}\n```"


def _expected_text(record: CellRecord) -> str:
    exp = record.expected
    if exp is None:
        return "no expectation"
    return f"expected {', '.join(exp.outcomes)}" + (f" ({exp.why})" if exp.why else "")


def _client_image(entries: dict[str, StackEntry], name: str) -> str | None:
    """The image id a versioned client's hello named (``details.image``: "tag sha256:...")."""
    entry = entries.get(name)
    image = entry.info.details.get("image") if entry is not None and entry.info else None
    return image.split()[-1] if isinstance(image, str) and image else None


def _stack_version(entries: dict[str, StackEntry], name: str) -> str:
    entry = entries.get(name)
    if entry is None:
        return "?"
    return entry.info.describe() if entry.info else name


def _probe_table() -> list[str]:
    out = ["| client stack | probe source (tlsmatrix repository) | build, in a checkout | run, from a cell directory |",
           "|---|---|---|---|"]
    for client, (source, build, command) in PROBES.items():
        out.append(f"| {client} | `{source}` | `{build}` | `{_in_checkout(command)}` |")
    return out


def _cell_section(data: ResultsDocument, n: int, cell: _Cell, with_keys: bool) -> list[str]:
    r = cell.record
    spec = cell.spec
    server = r.server
    here = f"cells/{cell.dirname}"
    given = spec.given is not None
    files_dir = here if with_keys or given else f"{here}/regenerated"
    out = [
        f"## {n}. `{r.id}`",
        "",
        f"- directory: `{here}/`",
        f"- client **{r.client}** ({r.client_version or _stack_version(data.clients, r.client)}), "
        f"server **{server}** ({r.server_version or _stack_version(data.servers, server)}), "
        f"TLS {r.tls}, servername `{r.servername}`",
        f"- chain `{spec.label}`: {spec.describe()}",
        f"- recorded outcome: **{r.outcome}** ({_expected_text(r)}; verdict {r.verdict})",
    ]
    if r.error:
        out += ["- raw error (the stack's own text):", "", _fence(r.error), ""]
        if r.error_detail and r.error_detail != r.error:
            out += ["  structured detail:", "", _fence(r.error_detail), ""]
        if r.code:
            out += [f"- the stack's own code: `{r.code}` (the outcome is decided by it first)", ""]
    else:
        out += ["- no error: the handshake succeeded", ""]
    for w in cell.warnings:
        out += [f"> **warning:** {w}", ""]
    if given and not with_keys:
        server_block = (f"cd {here}\ntlsmatrix replay --chain chain.pem --ca ca.pem --servername "
                        f"{shlex.quote(r.servername)} --clients {r.client}")
    elif with_keys:
        server_block = f"cd {here}\n{s_server_line(cell)}"
    else:
        server_block = (f"cd {here}\nsh regenerate.sh     # no keys in this bundle: an EQUIVALENT chain, new keys\n"
                        f"cd regenerated\n{s_server_line(cell)}")
    out += ["Server (terminal 1):", "", _fence(server_block, "sh"), "", *_s_server_needs(spec, given)]
    if server != "openssl":
        src, cmd = SERVER_PROGRAMS.get(server, (None, None))
        if cmd:
            config = "server-config.json" if with_keys else "../server-config.json"
            out += [f"The run's server stack was **{server}**: `s_server` stands in for it and the result can "
                    f"differ. To run {server} itself, tlsmatrix's server program (`{src}`) with this cell's "
                    "`server-config.json` (127.0.0.1:8443; stop it with Ctrl-C):", "",
                    _fence(f"cd {files_dir}\n{_in_checkout(cmd)} --config {config}", "sh"), ""]
        else:
            out += [f"The run's server stack was **{server}**: `s_server` stands in for it and the result can "
                    "differ (harness/stacks/servers/__init__.py in the tlsmatrix repository names its program).", ""]
    for title, text in client_commands(cell, _client_image(data.clients, r.client)):
        out += [f"Client (terminal 2), {title}:", "", _fence(f"cd {files_dir}\n{text}", "sh"), ""]
    return out


def _s_server_needs(spec: ChainRecord, given: bool) -> list[str]:
    """What `openssl s_server` needs for the chain's leaf, when an older openssl cannot serve it."""
    if given or not spec.leaf.key.startswith("ML-DSA-"):
        return []
    return [f"`s_server` needs OpenSSL 3.5 or newer for the {spec.leaf.key} leaf (older ones cannot load the key), "
            "and it signs with ML-DSA on TLS 1.3 only.", ""]


def _reproduce_md(data: ResultsDocument, cells: list[_Cell], with_keys: bool) -> str:
    out = [
        "# Reproducing these cells without tlsmatrix",
        "",
        "Every cell below is one TLS handshake: a server on 127.0.0.1:8443 serving the cell's chain and",
        "one client verifying it against `ca.pem` alone. Run the server block in one terminal and a",
        "client block in another, both from the top of this bundle. Port 8443 is arbitrary: change it",
        "in both if it is taken. The raw error under each cell is what the run recorded.",
        "",
        "All keys and certificates are tlsmatrix **TEST** keys: never trust them anywhere.",
        "",
    ]
    if with_keys:
        out += [f"This bundle includes each chain's TEST-ONLY leaf key (`{KEY_FILE}`; mTLS chains also",
                f"`{CLIENT_KEY_FILE}`): the commands replay the run's identical certificates.", ""]
    else:
        out += [
            f"**This bundle has no private keys** (no `{KEY_FILE}`), and a server needs one. The server",
            "blocks therefore first run the cell's `regenerate.sh`, which rebuilds an **equivalent** chain in",
            "`regenerated/` with the `openssl` command line only: new keys of the same types, the same",
            "signature hashes, structure, extensions, names and validity window. It is *not identical*: the",
            "certificates' fingerprints differ from the run's (`cell.json`), which matters only for a failure",
            "that depends on the exact bytes. The client blocks then use `regenerated/ca.pem`. To replay the",
            "identical certificates, ask for a bundle made with keys (`with_keys`; they are TEST keys and",
            "safe to share), or use the chain files in the cell directory with your own server setup.",
            "",
        ]
    out += [
        "Where the run used a server stack other than OpenSSL, `openssl s_server` stands in for it; the",
        "cell also shows how to run that stack itself. Clients that have no command line of their own",
        "(rustls, Go, Java, Node, wolfSSL, BoringSSL) are run with tlsmatrix's probe programs, which read",
        "one JSON job per line on stdin (docs/probe-contract.md in the tlsmatrix repository). Commands",
        'that need a tlsmatrix checkout use `$TLSMATRIX`: `export TLSMATRIX=/path/to/tlsmatrix`.',
        "",
        "## Probe programs",
        "",
        "`tlsmatrix build` (or `make probes`) in a tlsmatrix checkout builds them all; one at a time:",
        "",
        *_probe_table(),
        "",
    ]
    for n, cell in enumerate(cells, 1):
        out += _cell_section(data, n, cell, with_keys)
    return "\n".join(out)


def _readme_md(data: ResultsDocument, cells: list[_Cell], with_keys: bool, results_file: Path,
               scenario_files: list[str]) -> str:
    out = [
        "# tlsmatrix reproduction bundle",
        "",
        f"{len(cells)} cell(s) of a tlsmatrix run (tlsmatrix {data.tool.version or '?'}, started "
        f"{data.run.started or '?'}, results `{results_file.name}`). Each cell is one TLS handshake: a",
        "certificate chain served by one server stack at one TLS version, verified by one client stack.",
        "",
        "**All certificates and keys are tlsmatrix TEST keys: never trust them anywhere.**",
        "",
        "- `REPRODUCE.md`: copy-pasteable commands per cell (openssl s_server, the cell's client, the raw",
        "  error the run recorded); no tlsmatrix needed.",
        "- `cells/NNN-…/`: `ca.pem` (root, the only trust anchor), `chain.pem` (leaf + intermediates),",
        "  `leaf.pem`, `intermediates.pem` (if any), `spec.json`, "
        + (f"`{KEY_FILE}` (the leaf's TEST key), " if with_keys else "")
        + "`cell.json` (the",
        "  record), `job.json` (a probe's JSON job), `server-config.json` (a tlsmatrix server program's",
        "  configuration), `regenerate.sh` (an equivalent chain with `openssl` only).",
        "- `versions.json`: exact versions of every client and server stack of the run.",
        "- `regenerate.sh`: runs every cell's `regenerate.sh`.",
    ]
    if scenario_files:
        out.append("- `scenarios/`: the scenario file(s): " + ", ".join(f"`{s}`" for s in scenario_files) + ".")
    if not with_keys:
        out += ["", f"No private keys are included (no `{KEY_FILE}`): see REPRODUCE.md."]
    out += ["", "| # | client | server | TLS | chain | outcome | verdict | directory |", "|---|---|---|---|---|---|---|---|"]
    for n, c in enumerate(cells, 1):
        r = c.record
        out.append(f"| {n} | {r.client} | {r.server} | {r.tls} | {c.spec.label} | {r.outcome} | {r.verdict} | "
                   f"`cells/{c.dirname}/` |")
    try:
        from .explain import explain, render_explain

        summary = render_explain(explain(data))
        out += ["", "## What differs (computed from the whole run)", "", summary]
    except Exception as exc:  # the summary is a bonus; the bundle must not depend on it
        out += ["", f"(differential summary unavailable: {exc})"]
    warnings = [(c, w) for c in cells for w in c.warnings]
    if warnings:
        out += ["", "## Warnings", ""] + [f"- `cells/{c.dirname}/`: {w}" for c, w in warnings]
    return "\n".join(out) + "\n"


# --- writing -------------------------------------------------------------------------------


def _mtime(data: ResultsDocument) -> int:
    try:
        return int(dt.datetime.fromisoformat(str(data.run.started)).timestamp())
    except (TypeError, ValueError):
        return 0


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def _out_path(out: Path, data: ResultsDocument) -> Path:
    out = Path(out)
    if out.is_dir():
        stamp = re.sub(r"[^0-9A-Za-z]+", "", str(data.run.started or ""))[:15] or "bundle"
        out = out / f"tlsmatrix-bundle-{stamp}.tar.gz"
    return out


def _redact_members(members: dict[str, bytes], pki_cache: Path | None) -> None:
    """Bundles are attached to public reports: this machine's directories become placeholders
    (results of older versions, or warnings, may name them). Scenario files stay as they are."""
    from ..model.redact import Redactor
    from ..model.paths import pki_cache_dir

    redactor = Redactor.for_run(None, pki_cache or pki_cache_dir())
    for name, content in members.items():
        if name.endswith((".json", ".md", ".sh")) and not name.startswith("scenarios/"):
            members[name] = redactor.text(content.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def _add_scenarios(members: dict[str, bytes], data: ResultsDocument, wanted: set[str], results_file: Path) -> list[str]:
    """The scenario files of the bundled cells, where they can still be found (their member names)."""
    added: list[str] = []
    for sc in data.scenarios:
        if sc.name not in wanted or not sc.path:
            continue
        found = _find_scenario(sc.path, results_file)
        if found is None:
            continue
        try:
            content = found.read_bytes()
        except OSError:
            continue
        name = f"scenarios/{_slug(found.name)}"
        if name in members and members[name] != content:
            name = f"scenarios/{_slug(sc.name)}-{_slug(found.name)}"
        members[name] = content
        added.append(name)
    return added


def write_bundle(results_path_or_dir: str | Path, cell_ids: list[str] | None, out: Path,
                 with_keys: bool = False, pki_cache: Path | None = None) -> Path:
    """Write a reproduction bundle for ``cell_ids`` (default: every cell that is not ok or is a
    mismatch) of the results at ``results_path_or_dir`` (a results.json, or a directory holding
    one) to ``out`` (a .tar.gz path, or an existing directory to put one in). Returns its path.

    Only the chains' public parts are included unless ``with_keys`` (the TEST-ONLY leaf and client keys).
    Raises :class:`BundleError` for unreadable results, unknown cell ids or an empty selection.
    """
    data, results_file = _load(results_path_or_dir)
    records = _select(data, cell_ids)
    many_scenarios = len({r.scenario for r in records}) > 1
    cells: list[_Cell] = []
    for n, r in enumerate(records, 1):
        parts = [f"{n:03d}", *([r.scenario] if many_scenarios else []), r.client, r.chain_label, r.server,
                 f"tls{r.tls}"]
        cell = _Cell(record=r, dirname="-".join(_slug(p) for p in parts))
        _gather(cell, data.chains, with_keys, pki_cache)
        cells.append(cell)

    members: dict[str, bytes] = {}
    for cell in cells:
        base = f"cells/{cell.dirname}"
        for name, content in cell.files.items():
            members[f"{base}/{name}"] = content
        members[f"{base}/cell.json"] = _json_bytes(cell.record.to_json())
        members[f"{base}/job.json"] = _json_bytes(probe_job(cell.record))
        members[f"{base}/server-config.json"] = _json_bytes(server_config(cell.record))
        if cell.spec.given is None:  # a given chain cannot be rebuilt: its public files are there as given
            members[f"{base}/regenerate.sh"] = regenerate_script(cell).encode()
    members["versions.json"] = _json_bytes({
        "tool": data.tool.to_json(), "started": data.run.started,
        "machine": data.run.machine.to_json() if data.run.machine else None,
        "clients": {k: v.to_json() for k, v in data.clients.items()},
        "servers": {k: v.to_json() for k, v in data.servers.items()},
    })
    scenario_files = _add_scenarios(members, data, {r.scenario for r in records}, results_file)
    members["regenerate.sh"] = TOP_REGENERATE.encode()
    members["REPRODUCE.md"] = _reproduce_md(data, cells, with_keys).encode()
    members["README.md"] = _readme_md(data, cells, with_keys, results_file, scenario_files).encode()
    _redact_members(members, pki_cache)
    if not with_keys:
        assert not any(KEY_FILE in m or b"PRIVATE KEY-----" in c for m, c in members.items()), "a key slipped in"

    target = _out_path(Path(out), data)
    mtime = _mtime(data)
    with atomic_file(target) as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(members):
                    content = members[name]
                    info = tarfile.TarInfo(name)
                    info.size = len(content)
                    info.mode = 0o644
                    info.mtime = mtime
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(content))
    return target


def bundle_digest(path: Path) -> str:
    """sha256 of a written bundle (for logs)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
