"""The JSON-lines side of docs/probe-contract.md, shared by every Python probe and server program.

Client probes (pyssl, boringssl, kubepy, cliclient/*) call ``run(hello, handle)``: one hello line;
then, per non-blank stdin line, exactly one result line, in order, stdout flushed after every line;
EOF on stdin -> exit status 0. A line that breaks the contract (invalid JSON, not an object, a job
field of the wrong type) is answered ``probe: ...`` without calling ``handle``; ``handle`` may raise
``JobError`` for a job it cannot attempt, and whatever else it raises is answered too (``timeout:``
for a TimeoutError, ``probe:`` otherwise) instead of ending the probe.

Server programs (pyssl/server.py, cliserver/) share ``read_config`` and ``write_line`` only: the
rest of their contract (listeners, ready, serving) differs per program.

Standard library only: the server images copy this file next to their program.
"""
from __future__ import annotations

import json
import re
import sys
import time
import traceback
from typing import Callable, Iterable, TextIO

#: the contract's bound for connect + handshake when a job names none
DEFAULT_TIMEOUT_MS = 10000
TLS_VERSIONS = ("1.2", "1.3", None)
#: optional job fields that are file paths (mTLS, Kubernetes clients)
OPTIONAL_FILES = ("kubeconfig", "client_cert_file", "client_key_file")


class JobError(Exception):
    """A job the probe cannot attempt: answered with ``probe: <message>``."""


def write_line(obj: dict, out: TextIO | None = None) -> None:
    """One JSON object per line, flushed at once: the harness reads line by line."""
    out = sys.stdout if out is None else out
    out.write(json.dumps(obj) + "\n")
    out.flush()


def nss_version(library: str) -> str | None:
    """The NSS release a libnss3.so states in its own bytes ("Version: NSS 3.87.1"): what a hello
    reports, the command-line tools having no --version (None: unreadable or not stated)."""
    try:
        with open(library, "rb") as f:
            m = re.search(rb"Version: NSS ([0-9][0-9.]*)", f.read())
    except OSError:
        return None
    return m.group(1).decode() if m else None


#: a job's or listener's groups (IANA names, harness/model/groups.py) as NSS' tools spell them
#: (tstclnt and selfserv -I; the C probe passes code points instead)
NSS_GROUPS = {"secp256r1": "P256", "secp384r1": "P384", "secp521r1": "P521", "x25519": "x25519",
              "ffdhe2048": "FF2048", "ffdhe3072": "FF3072", "ffdhe4096": "FF4096", "ffdhe6144": "FF6144",
              "ffdhe8192": "FF8192", "X25519MLKEM768": "mlkem768x25519", "X25519Kyber768Draft00": "xyber768d00"}
#: the same as GnuTLS' priority strings name them (GROUP-<name>: gnutls-cli, gnutls-serv, the C probe's table)
GNUTLS_GROUPS = {"secp256r1": "SECP256R1", "secp384r1": "SECP384R1", "secp521r1": "SECP521R1", "x25519": "X25519",
                 "x448": "X448", "ffdhe2048": "FFDHE2048", "ffdhe3072": "FFDHE3072", "ffdhe4096": "FFDHE4096",
                 "ffdhe6144": "FFDHE6144", "ffdhe8192": "FFDHE8192", "X25519MLKEM768": "X25519-MLKEM768",
                 "SecP256r1MLKEM768": "SECP256R1-MLKEM768", "SecP384r1MLKEM1024": "SECP384R1-MLKEM1024"}


def nss_tool_groups(usage: str) -> list[str]:
    """The ``-I`` values an NSS tool's usage text lists (tstclnt, selfserv: NSS 3.87 P256 … FF8192,
    3.110 the ML-KEM hybrid too); they refuse any other with 'Bad group specified.' only."""
    listed = re.search(r"^\s*-I .*?valid:\s*\n(.*?)\n\s*-", usage, re.S | re.M)
    return re.findall(r"\w+", listed.group(1)) if listed else []


def nss_group_option(groups: list, known: list[str], tool: str) -> list[str]:
    """``-I P256,x25519`` for a list of groups; ValueError 'unsupported group: …' for one the tool lacks."""
    names = [NSS_GROUPS.get(str(g)) for g in groups]
    lacking = [str(g) for g, n in zip(groups, names) if n is None or (known and n not in known)]
    if lacking:
        raise ValueError(f"unsupported group: {tool} -I has no {', '.join(lacking)} "
                         f"(its valid values: {', '.join(known) or 'unknown'})")
    return ["-I", ",".join(n for n in names if n)]


def gnutls_priority(priority: str, groups: list) -> str:
    """A GnuTLS priority string restricted to these groups (ValueError 'unsupported group: …' for a
    group GnuTLS has no name for; whether this GnuTLS knows the name is for gnutls_priority_init)."""
    unnamed = [str(g) for g in groups if str(g) not in GNUTLS_GROUPS]
    if unnamed:
        raise ValueError(f"unsupported group: GnuTLS has no name for {', '.join(unnamed)}")
    return priority + ":-GROUP-ALL" + "".join(f":+GROUP-{GNUTLS_GROUPS[str(g)]}" for g in groups)


def hrr_from_server_hellos(count: int, version: str | None) -> bool | None:
    """Whether a HelloRetryRequest came, from how many ServerHello-type messages a tool's trace shows
    (s_client -msg, curl -v): RFC 8446 sends a HelloRetryRequest as a ServerHello, at most once, so two
    mean a retry; None when the trace showed none (it cannot tell)."""
    if count == 0:
        return None
    return count > 1 and version in ("TLSv1.3", "1.3")


def curl_trace_hrr(lines: list[str], version: str | None) -> bool | None:
    """:func:`hrr_from_server_hellos` over curl's verbose lines ("TLSv1.3 (IN), TLS handshake, Server hello (2):")."""
    return hrr_from_server_hellos(sum("(IN), TLS handshake, Server hello (2)" in line for line in lines), version)


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a time.monotonic() value), as every result reports them."""
    return round((time.monotonic() - start) * 1000, 3)


# --- client probes ------------------------------------------------------------------------------


def _need_str(raw: dict, key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise JobError(f"job field {key!r} must be a non-empty string, got {value!r}")
    return value


def _optional_str(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise JobError(f"job field {key!r} must be a non-empty string or null, got {value!r}")
    return value


def check_job(raw: dict) -> None:
    """The contract's job fields have the contract's types; JobError names the first that does not.

    What a field means to a stack (a host name it accepts, a CA file it can read) is the probe's
    to check: only the probe knows what its stack says about it.
    """
    for key in ("host", "servername", "ca_file"):
        _need_str(raw, key)
    port = raw.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise JobError(f"job field 'port' must be an integer 1..65535, got {port!r}")
    if raw.get("tls_version") not in TLS_VERSIONS:
        raise JobError(f"unknown tls_version {raw.get('tls_version')!r}")
    timeout_ms = raw.get("timeout_ms")
    if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float))
                                   or timeout_ms <= 0):
        raise JobError(f"job field 'timeout_ms' must be a positive number, got {timeout_ms!r}")
    files = {key: _optional_str(raw, key) for key in OPTIONAL_FILES}
    if (files["client_cert_file"] is None) != (files["client_key_file"] is None):
        raise JobError("job fields 'client_cert_file' and 'client_key_file' go together")
    groups = raw.get("groups")
    if groups is not None and (not isinstance(groups, list) or not groups
                               or not all(isinstance(g, str) and g for g in groups)):
        raise JobError(f"job field 'groups' must be a non-empty list of group names or absent, got {groups!r}")


def failure(job_id: object, error: str, start: float) -> dict:
    """The result line of a job that was not attempted or broke the probe."""
    return {"id": job_id, "ok": False, "error": error, "negotiated": None, "elapsed_ms": elapsed_ms(start)}


def _parse_line(line: str) -> dict:
    job = json.loads(line)
    if not isinstance(job, dict):
        raise ValueError("a job must be a JSON object")
    return job


def answer(line: str, handle: Callable[[dict], dict]) -> dict:
    """The result line for one job line; never raises for what the line or ``handle`` does."""
    start = time.monotonic()
    try:
        job = _parse_line(line)
    except ValueError as exc:  # no id to answer with: the line is not a job at all
        return {"id": None, "ok": False, "error": f"probe: invalid job line: {exc}", "negotiated": None,
                "elapsed_ms": 0}
    try:
        check_job(job)
        return handle(job)
    except JobError as exc:
        return failure(job.get("id"), f"probe: {exc}", start)
    except TimeoutError as exc:  # the deadline passed somewhere the probe did not expect it
        return failure(job.get("id"), f"timeout: {exc}", start)
    except Exception as exc:  # a bug in the probe: say so for this job, keep serving the others
        traceback.print_exc(file=sys.stderr)
        return failure(job.get("id"), f"probe: internal error: {type(exc).__name__}: {exc}", start)


def run(hello: dict, handle: Callable[[dict], dict], lines: Iterable[str] | None = None,
        out: TextIO | None = None) -> int:
    """The client contract until EOF: ``hello``, then one ``handle(job)`` result per job line.

    Returns the exit status (0: EOF is the normal end). ``lines``/``out`` default to stdin/stdout.
    """
    write_line(hello, out)
    for line in sys.stdin if lines is None else lines:
        if line.strip():
            write_line(answer(line, handle), out)
    return 0


# --- server programs ----------------------------------------------------------------------------


def read_config(config_path: str | None) -> dict:
    """A server program's configuration: the ``--config`` file, else the first stdin line.

    Raises OSError or ValueError (not JSON, not an object with a ``listeners`` list).
    """
    if config_path is not None:
        with open(config_path, "rb") as f:
            text = f.read()
    else:
        text = sys.stdin.buffer.readline()  # bytes: json.loads decodes UTF-8 itself
    config = json.loads(text)
    if not isinstance(config, dict) or not isinstance(config.get("listeners"), list):
        raise ValueError("configuration must be an object with a 'listeners' list")
    return config
