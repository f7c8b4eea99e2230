"""The official Python Kubernetes client (PyPI `kubernetes`, urllib3 on OpenSSL) as a probe.

Each job lists the pods in namespace "default" of https://HOST:PORT, trusting only the
job's CA file and checking the job's server name (tls_server_name): the control for the
kube-rs clients. The TLS version is the server's to pin (the client cannot pin it).
docs/probe-contract.md describes the JSON lines; the loop and the job's field types are
../jsonlines.py's, this file is the request.
"""
from __future__ import annotations

import ssl
import sys
import time

from ..jsonlines import failure, run

STACK = "kubernetes (Python client)"


def hello() -> dict:
    import kubernetes
    import urllib3

    return {"hello": {"stack": STACK, "version": kubernetes.__version__, "provider": None,
                      "details": {"urllib3": urllib3.__version__, "openssl": ssl.OPENSSL_VERSION.split()[1]}}}


def chain_text(exc: BaseException) -> str:
    """The exception and its causes, outermost first (urllib3 wraps the ssl error twice)."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).strip()
        if text and text not in parts:
            parts.append(text)
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)
    return " <- ".join(parts)


def handshake(job: dict) -> dict:
    """One job (its fields checked by jsonlines.check_job) -> its result line."""
    from kubernetes import client as k8s
    from urllib3.exceptions import MaxRetryError

    start = time.monotonic()
    out = {"id": job.get("id"), "ok": False, "error": None, "negotiated": None, "elapsed_ms": None}
    try:
        with open(job["ca_file"], "rb") as f:
            if b"BEGIN CERTIFICATE" not in f.read():
                raise ValueError("no PEM certificate")
    except (OSError, KeyError, ValueError) as exc:
        out["error"] = f"probe: cannot load CA file {job.get('ca_file')!r}: {exc}"
        return out
    cfg = k8s.Configuration()
    if job.get("kubeconfig"):
        # what `KUBECONFIG=path` does: the file's server, CA, tls-server-name and client certificate
        from kubernetes import config as k8s_config

        try:
            k8s_config.load_kube_config(config_file=job["kubeconfig"], client_configuration=cfg)
        except Exception as exc:  # ConfigException, OSError, yaml errors: the client's own words
            out["error"] = f"kubeconfig: {chain_text(exc)}"
            out["error_detail"] = type(exc).__name__
            out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 3)
            return out
    else:
        host = f"[{job['host']}]" if ":" in job["host"] else job["host"]
        cfg.host = f"https://{host}:{int(job['port'])}"
        cfg.ssl_ca_cert = job["ca_file"]
        cfg.tls_server_name = job["servername"]
        if job.get("client_cert_file") or job.get("client_key_file"):  # mTLS, as a kubeconfig's client-certificate
            cfg.cert_file = job.get("client_cert_file")
            cfg.key_file = job.get("client_key_file")
    cfg.verify_ssl = True
    cfg.retries = 0
    timeout = max(int(job.get("timeout_ms") or 10000), 1) / 1000.0
    try:
        with k8s.ApiClient(cfg) as api:
            pods = k8s.CoreV1Api(api).list_namespaced_pod("default", _request_timeout=(timeout, timeout))
        out["ok"] = True
        out["negotiated"] = {"version": None, "cipher": None, "group": None, "sigalg": None, "pods": len(pods.items)}
    except MaxRetryError as exc:
        text = chain_text(exc.reason or exc)
        timed_out = "timed out" in text.lower()
        out["error"] = ("timeout: " if timed_out else "") + text
        out["error_detail"] = type(exc.reason).__name__ if exc.reason else type(exc).__name__
    except Exception as exc:  # ApiException (HTTP status), urllib3/ssl errors
        out["error"] = chain_text(exc)
        out["error_detail"] = type(exc).__name__
    out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 3)
    return out


def main() -> int:
    try:
        greeting = hello()
    except ImportError as exc:  # still a probe: every job says what to install
        missing = f"probe: the kubernetes package is not installed ({exc}): pip install kubernetes"
        return run({"hello": {"stack": STACK, "version": None}},
                   lambda job: failure(job.get("id"), missing, time.monotonic()))
    return run(greeting, handshake)


if __name__ == "__main__":
    sys.exit(main())
