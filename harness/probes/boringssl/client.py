"""BoringSSL client probe via curl_cffi (curl-impersonate built on BoringSSL), docs/probe-contract.md.

Run as ``python -m tlsmatrix.probes.boringssl.client [--impersonate TARGET]``.

Each job is one fresh libcurl easy handle doing CURLOPT_CONNECT_ONLY on https://SERVERNAME:PORT/:
TCP connect + TLS handshake with peer and host verification, no HTTP request.

Trust: CAINFO is the job's CA file and CAPATH is set to NULL. Both matter: this libcurl build
has compiled-in defaults CAINFO=/etc/ssl/certs/ca-certificates.crt and CAPATH=/etc/ssl/certs,
and curl_cffi itself would set CAINFO to certifi / Python's bundle if we did not. Proxies from
the environment are disabled (CURLOPT_PROXY "" and NOPROXY "*").

By default no browser impersonation: BoringSSL as curl configures it (groups X25519, P-256,
P-384; no secp521r1, no ecdsa_secp521r1_sha512, no ed25519 signature algorithm offered).
``--impersonate chrome152`` (any curl_cffi target) instead sends that browser's ClientHello.

The JSON-lines loop and the job's field types are ../jsonlines.py's; this file is the handshake.
"""
from __future__ import annotations

import ipaddress
import re
import sys
import time

from curl_cffi import Curl, CurlError, CurlOpt
from curl_cffi import __version__ as CURL_CFFI_VERSION
from curl_cffi._wrapper import ffi, lib

from ..jsonlines import curl_trace_hrr, run
from ..pyssl.kx import openssl_list

try:  # the enum name gives error_detail a readable CURLE_* name; the number is what matters
    from curl_cffi.const import CurlECode
except ImportError:  # pragma: no cover
    CurlECode = None

# CURL_SSLVERSION_* (min) | CURL_SSLVERSION_MAX_* (max)
_SSLVERSION_TLSv1_2 = 6
_SSLVERSION_TLSv1_3 = 7
_VERSIONS = {
    "1.2": _SSLVERSION_TLSv1_2 | (_SSLVERSION_TLSv1_2 << 16),
    "1.3": _SSLVERSION_TLSv1_3 | (_SSLVERSION_TLSv1_3 << 16),
}
_CURLE_OPERATION_TIMEDOUT = 28
_CURLE_SSL_CIPHER = 59  # "failed setting curves list": BoringSSL does not know a group of the job
_CURLE_PEER_FAILED_VERIFICATION = 60
_CURLINFO_SSL_VERIFYRESULT = 0x200000 + 13
# curl_cffi appends this fixed pointer to every CurlError message; it is not curl's text.
_CFFI_SUFFIX = re.compile(r"\.? See https://curl\.se/libcurl/c/libcurl-errors\.html first for more details\.$")
# curl's own info line once the handshake is done (lib/vtls/openssl.c):
#   "SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256 / <group> / <key type>"
_CONN_LINE = re.compile(r"SSL connection using (\S+) / (\S+)")
_PEM_CERT = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----")

CURLINFO_TEXT = 0  # curl_infotype CURLINFO_TEXT


def _libcurl_version() -> str:
    return ffi.string(lib.curl_version()).decode()


def hello(impersonate: str | None) -> dict:
    full = _libcurl_version()
    parts = full.split()
    # e.g. "libcurl/8.23.0-IMPERSONATE BoringSSL": BoringSSL has no version number of its own
    # (curl_version_info ssl_version is just "BoringSSL", ssl_version_num 0).
    version = " ".join(parts[:2]) if len(parts) >= 2 else full
    return {
        "hello": {
            "stack": "BoringSSL (curl-impersonate)",
            "version": version,
            "provider": None,
            "details": {"curl_cffi": CURL_CFFI_VERSION, "libcurl": full, "impersonate": impersonate},
        }
    }


def _curl_error_text(exc: CurlError) -> str:
    return _CFFI_SUFFIX.sub("", str(exc))


def _error_detail(code: int, verify_result: int | None) -> str:
    name = None
    if CurlECode is not None:
        try:
            name = "CURLE_" + CurlECode(code).name
        except ValueError:
            name = None
    detail = f"{name} ({code})" if name else f"CURLcode {code}"
    if code == _CURLE_PEER_FAILED_VERIFICATION and verify_result not in (None, 0, 1):
        # X509_V_ERR_* from BoringSSL's chain verification (1 = "unspecified": chain not judged, e.g. host-name mismatch)
        detail += f" ssl_verifyresult={verify_result}"
    return detail


def _url_host(name: str) -> str:
    """The host as written in a URL / RESOLVE entry (IPv6 literals in brackets)."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return name
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


#: curl-impersonate is built with HTTPS-RR support (c-ares): for an https:// URL that offers ALPN it
#: asks DNS for the HTTPS record of _PORT._https.SERVERNAME even when CURLOPT_RESOLVE pins the
#: address, and a failed handshake waits for that answer (2 s per lost UDP query, c-ares' retry
#: timeout). Pointing c-ares at a closed loopback port makes the query fail at once (ICMP port
#: unreachable) without touching the network; A/AAAA lookups never happen (RESOLVE), and the
#: ClientHello is unchanged (ALPN stays on, no HTTPS record can alter it).
_NO_DNS = "127.0.0.1:1"


def _configure(c: Curl, job: dict, impersonate: str | None, on_debug) -> str | None:
    """Every option of one job's easy handle; returns a probe error text, or None."""
    if impersonate:
        rc = c.impersonate(impersonate, default_headers=False)
        if rc != 0:
            return f"probe: curl_easy_impersonate({impersonate!r}) returned {rc}"
    port, servername, ca_file = job["port"], job["servername"], job["ca_file"]
    url_host = _url_host(servername)
    timeout_ms = max(int(job.get("timeout_ms") or 10000), 1)
    version = job.get("tls_version")
    try:
        c.setopt(CurlOpt.URL, f"https://{url_host}:{port}/")
        # RESOLVE also applies to an IP-literal URL host (curl looks in its DNS cache first), so the
        # TCP connection goes to the job's host while the certificate is checked against the
        # servername (DNS name -> SNI + DNS SAN; IP literal -> no SNI, IP SAN).
        c.setopt(CurlOpt.RESOLVE, [f"{url_host}:{port}:{_url_host(job['host'])}"])
        c.setopt(CurlOpt.DNS_SERVERS, _NO_DNS)
        c.setopt(CurlOpt.CONNECT_ONLY, 1)
        c.setopt(CurlOpt.FRESH_CONNECT, 1)
        c.setopt(CurlOpt.FORBID_REUSE, 1)
        # each job has its own easy handle (its own session cache); this says so once more
        c.setopt(CurlOpt.SSL_SESSIONID_CACHE, 0)
        c.setopt(CurlOpt.PROXY, "")
        c.setopt(CurlOpt.NOPROXY, "*")
        c.setopt(CurlOpt.CAINFO, ca_file)
        c.setopt(CurlOpt.CAPATH, ffi.NULL)  # drop the compiled-in /etc/ssl/certs
        c.setopt(CurlOpt.CA_CACHE_TIMEOUT, 0)
        c.setopt(CurlOpt.SSL_VERIFYPEER, 1)
        c.setopt(CurlOpt.SSL_VERIFYHOST, 2)
        c.setopt(CurlOpt.SSLVERSION, _VERSIONS[version] if version else _SSLVERSION_TLSv1_2)
        c.setopt(CurlOpt.CONNECTTIMEOUT_MS, timeout_ms)
        c.setopt(CurlOpt.TIMEOUT_MS, timeout_ms)
        c.setopt(CurlOpt.NOSIGNAL, 1)
        c.setopt(CurlOpt.VERBOSE, 1)
        c.setopt(CurlOpt.DEBUGFUNCTION, on_debug)
        if job.get("groups"):  # BoringSSL takes OpenSSL's spelling (P-256, X25519MLKEM768)
            c.setopt(CurlOpt.SSL_EC_CURVES, openssl_list(job["groups"]))
    except CurlError as exc:
        return f"probe: cannot configure curl: {_curl_error_text(exc)}"
    return None


def _perform(c: Curl, out: dict, info_lines: list[str]) -> None:
    """The handshake itself; fills ``out`` (ok, error, error_detail, negotiated)."""
    try:
        c.perform()
    except CurlError as exc:
        code = int(getattr(exc, "code", 0) or 0)
        try:
            verify_result = int(c.getinfo(_CURLINFO_SSL_VERIFYRESULT))
        except CurlError:
            verify_result = None
        text = _curl_error_text(exc)
        out["error"] = f"timeout: {text}" if code == _CURLE_OPERATION_TIMEDOUT else text
        if code == _CURLE_SSL_CIPHER and "curves" in text:
            out["error"] = f"unsupported group: {text}"
        out["error_detail"] = _error_detail(code, verify_result)
        return
    out["ok"] = True
    # CURLINFO has no version/cipher getter; curl reports them in its own info line (its group field
    # is "[blank]" with BoringSSL: the group stays unknown).
    neg = {"version": None, "cipher": None, "group": None, "sigalg": None}
    for line in info_lines:
        m = _CONN_LINE.search(line)
        if m:
            neg["version"], neg["cipher"] = m.group(1), m.group(2)
    out["negotiated"] = {**neg, "hrr": curl_trace_hrr(info_lines, neg["version"])}


def handshake(job: dict, impersonate: str | None) -> dict:
    """One job (its fields checked by jsonlines.check_job) -> its result line."""
    start = time.monotonic()
    out = {"id": job.get("id"), "ok": False, "error": None, "negotiated": None, "elapsed_ms": None}

    def done() -> dict:
        out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 3)
        return out

    try:
        ca_file = job["ca_file"]
        # Read it ourselves first: an unreadable / certificate-less CA file is a job we cannot attempt.
        with open(ca_file, "rb") as fh:
            if not _PEM_CERT.search(fh.read()):
                raise ValueError("no PEM CERTIFICATE block")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        out["error"] = f"probe: cannot load CA file {job.get('ca_file')!r}: {exc}"
        return done()
    info_lines: list[str] = []

    def on_debug(kind: int, data: bytes) -> None:
        if kind == CURLINFO_TEXT:
            info_lines.append(data.decode("utf-8", "replace"))

    # A fresh easy handle per job: no connection, session or DNS cache carries over to the next job.
    c = Curl(cacert=ca_file)
    try:
        error = _configure(c, job, impersonate, on_debug)
        if error:
            out["error"] = error
            return done()
        _perform(c, out, info_lines)
    finally:
        c.close()
    return done()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    impersonate = None
    if argv[:1] == ["--impersonate"] and len(argv) == 2:
        impersonate = argv[1]
    elif argv:
        print("usage: python -m tlsmatrix.probes.boringssl.client [--impersonate TARGET]", file=sys.stderr)
        return 2
    return run(hello(impersonate), lambda job: handshake(job, impersonate))


if __name__ == "__main__":
    sys.exit(main())
