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


class InputError(Exception):
    """Bad command-line input (exit status 2)."""


# --- argparse types: argparse turns ArgumentTypeError into "argument --x: ..." and exit 2 ---


def seconds(low: float, high: float):
    """An argparse type: a finite number of seconds in [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds from {_num(low)} to {_num(high)}")
        return value

    parse.__name__ = "seconds"
    return parse


def count(low: int, high: int):
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: give a number from {_num(low)} to {_num(high)}")
        return value

    parse.__name__ = "count"
    return parse


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 and value == int(value) else f"{value:g}"


def name_list(text: str) -> list[str]:
    """An argparse type: comma-separated names; an empty list is an error, not "everything"."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing: give one or more names separated by commas")
    return names


def shard(text: str) -> str:
    """An argparse type: K/N, checked before the scenarios are read."""
    from .merge import ShardError, parse_shard

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
