"""Command-line input checked before any work starts: numbers, lists, paths, key files.

Each check raises with one line naming the option, the value or file, and what would work,
so a typo costs an instant exit 2 instead of a half-run matrix or a traceback.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from .model.errors import UsageError
from .model.errors import InputError


# --- argparse types: argparse turns ArgumentTypeError into "argument --x: ..." and exit 2 ---


def seconds(low: float, high: float):
    """An argparse type: a finite number of seconds in [low, high]."""
    return _bounded("seconds", float, "a number of seconds", "a number of seconds", low, high)


def count(low: int, high: int):
    """An argparse type: a whole number in [low, high]."""
    return _bounded("count", int, "a whole number", "a number", low, high)


def _bounded(name: str, convert, what: str, range_what: str, low: float, high: float):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: give {range_what} from {_num(low)} to {_num(high)}")
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 and value == int(value) else f"{value:g}"


def name_list(text: str) -> list[str]:
    """An argparse type: comma-separated names; an empty list is an error, not "everything"."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing: give one or more names separated by commas")
    return names


#: where Debian-like systems keep the operating system's trust store as one PEM file (then Fedora, Alpine)
SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def ca_file(text: str) -> str:
    """An argparse type for --ca: a PEM file, or ``system`` for the operating system's trust store
    (one bundle file every stack loads: public endpoints, the roots a browser would trust)."""
    if text != "system":
        return text
    import ssl

    for candidate in (ssl.get_default_verify_paths().cafile, *SYSTEM_CA_FILES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise argparse.ArgumentTypeError("--ca system: no system trust store file found (looked at "
                                     f"{', '.join(SYSTEM_CA_FILES)}); install ca-certificates or give a PEM file")


def shard(text: str) -> str:
    """An argparse type: K/N, checked before the scenarios are read."""
    from .report.merge import ShardError, parse_shard

    try:
        parse_shard(text)
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--shard ")) from None
    return text


# --- paths ----------------------------------------------------------------------------------


def writable_dir(path: str | Path, flag: str) -> Path:
    """Check that ``path`` is (or can become) a directory we can write, creating nothing.

    Tried for real (a temporary entry made and removed), since permission bits say nothing
    for root and nothing about read-only file systems.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path}: exists and is not a directory; give a directory (new or existing)")
    probe_in = path
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise InputError(f"{flag} {path}: {probe_in} is not a directory, so {path} cannot be created")
    try:
        tempfile.TemporaryDirectory(prefix=".tlsmatrix-check-", dir=probe_in).cleanup()
    except OSError as exc:
        where = "" if probe_in == path else f" (in {probe_in})"
        raise InputError(f"{flag} {path}: cannot write there{where}: {exc.strerror or exc}") from None
    return path


def writable_file(path: str | Path, flag: str) -> Path:
    """Check that the file ``path`` can be written: not a directory, its directory writable."""
    path = Path(path)
    if path.is_dir():
        return path  # callers that accept a directory put a file into it
    writable_dir(path.parent, flag + " (its directory)")
    return path


# --- key files (tlsmatrix probe) --------------------------------------------------------------


def ca_file_without_key(path: Path) -> None:
    """A CA file is public; one that holds a private key was assembled by mistake."""
    try:
        data = path.read_bytes()
    except OSError:
        return  # load_ca_file reports unreadable files, naming them
    if b"PRIVATE KEY-----" in data:
        raise InputError(f"--ca {path}: holds a private key besides the certificate(s); a CA file must be "
                         "public: give a file with only the CA certificate(s)")


def client_key_pair(cert_path: Path, key_path: Path) -> None:
    """``--client-key`` must be an unencrypted PEM private key for ``--client-cert``'s certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except TypeError:
        raise InputError(f"--client-key {key_path}: the key is encrypted; give an unencrypted PEM key "
                         "(e.g. `openssl pkey -in KEY -out plain.pem`)") from None
    except (ValueError, OSError) as exc:
        raise InputError(f"--client-key {key_path}: not a PEM private key ({_first_line(exc)})") from None
    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    except (ValueError, OSError, IndexError) as exc:
        raise InputError(f"--client-cert {cert_path}: no PEM certificate ({_first_line(exc)})") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise InputError(f"--client-key {key_path}: does not belong to the certificate in --client-cert "
                         f"{cert_path} (their public keys differ)")


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError that escaped: what failed and on which file."""
    what = exc.strerror or str(exc) or type(exc).__name__
    files = [f for f in (exc.filename, exc.filename2) if f is not None]
    return f"{what}: {' → '.join(os.fsdecode(f) for f in files)}" if files else what


# --- selections and targets (the library's arguments as much as the command line's) -----------------

#: more cells than this are refused before any certificate is made (--max-cells)
DEFAULT_MAX_CELLS = 20_000


#: stack groups for --clients/--servers: ``@host`` (runs on this machine), ``@versioned`` (a Debian
#: release's stack, in its image), ``@kube`` (the Kubernetes clients), ``@tls`` (the bare TLS clients)
def _versioned(name: str, stack: object) -> bool:
    from .stacks.clients.containers import VERSIONED
    from .stacks.servers import VERSIONED_SERVERS

    return name in VERSIONED or name in VERSIONED_SERVERS


STACK_GROUPS = {
    "@host": lambda name, stack: not _versioned(name, stack),
    "@versioned": _versioned,
    "@kube": lambda name, stack: getattr(stack, "needs_app", None) == "kubernetes",
    "@tls": lambda name, stack: getattr(stack, "needs_app", None) is None,
}


def check_names(names: list[str] | str | None, known: dict, what: str) -> list[str] | None:
    """Stack names (None: every stack); a string is a comma-separated list. A name may be a glob
    (``rustls*``) or a group (STACK_GROUPS); each must name at least one known stack."""
    if names is None:
        return None
    names = name_list(names) if isinstance(names, str) else list(names)
    chosen: dict[str, None] = {}
    for n in names:
        matched = _matching(n, known)
        if not matched:
            raise UsageError(f"unknown {what} {n!r} (known: {', '.join(known)}; globs such as rustls*; groups "
                             f"{', '.join(STACK_GROUPS)})")
        chosen.update(dict.fromkeys(matched))
    return list(chosen)


def _matching(pattern: str, known: dict) -> list[str]:
    import fnmatch

    if pattern in known:
        return [pattern]
    if pattern in STACK_GROUPS:
        return [name for name, stack in known.items() if STACK_GROUPS[pattern](name, stack)]
    return [name for name in known if fnmatch.fnmatchcase(name, pattern)] if any(c in pattern for c in "*?[") else []


def check_cell_count(scenarios: list, clients, servers, tls, shard: str | None, limit: int) -> None:
    """--max-cells, counted before any cell is expanded or certificate generated."""
    from .report.merge import parse_shard

    counts = {s.name: s.cell_count(clients, servers, tls) for s in scenarios}
    total = sum(counts.values())
    if shard:
        k, n = parse_shard(shard)
        total = len(range(k - 1, total, n))  # cell i goes to shard (i mod n) + 1
    if total > limit:
        per = ", ".join(f"{name}: {n:,}" for name, n in counts.items())
        raise UsageError(f"{total:,} cells to run ({per}) exceed --max-cells {limit:,}: narrow the run with "
                         "--clients/--servers/--tls or --shard K/N, shrink the scenario's axes, or raise --max-cells")


def timeout_ms(seconds_: float) -> int:
    """A per-handshake timeout in seconds as the milliseconds a job carries; positive and finite."""
    if not isinstance(seconds_, (int, float)) or not math.isfinite(seconds_) or int(seconds_ * 1000) <= 0:
        raise UsageError(f"--timeout {seconds_}: must be positive")
    return int(seconds_ * 1000)


def parse_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"target {text!r}: expected HOST:PORT")
    host = host.strip("[]")
    try:
        port_n = int(port)
    except ValueError:
        raise UsageError(f"target {text!r}: port {port!r} is not a number") from None
    check_port(port_n, text)
    return host, port_n


def check_port(port: int, target: str) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"target {target!r}: port {port} out of range")


def client_files(client_cert: str | Path | None, client_key: str | Path | None) -> tuple[Path | None, Path | None]:
    """The client certificate and key to present (both or neither), readable, a certificate and the
    unencrypted key that belongs to it; resolved, since probes run in other directories."""
    from .certs.pki import load_ca_file

    if bool(client_cert) != bool(client_key):
        raise UsageError("--client-cert and --client-key go together")
    if not client_cert:
        return None, None
    cert, key = Path(client_cert).resolve(), Path(client_key).resolve()
    for flag, path in (("--client-cert", cert), ("--client-key", key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    load_ca_file(cert)  # a PEM certificate, or an error naming the file
    client_key_pair(cert, key)  # a key that cannot sign for it is an input error, not a cell
    return cert, key
