"""Client stacks: each entry says how to start its long-lived probe (docs/probe-contract.md).

Column names are the stack names; pinned library versions carry the version
(``rustls-ring@0.23.12``). Several TLS libraries appear once each: a wrapper over the same
library (python-requests = openssl) would test nothing new.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys

from ..build import KUBE_REPORT_PROGRAMS, find_wolfssl_gcc, output_path
from ..stacks import Stack, built_binary, python_module
from ..toolchain import (
    CARGO_INSTALL_HINT,
    GO_INSTALL_HINT,
    JAVA_INSTALL_HINT,
    WOLFSSL_INSTALL_HINT,
    find_cargo,
    find_go,
)


def _hint(find, install_hint: str) -> str:
    return "run `make probes`" if find() else install_hint


def _built(target: str, index: int, find, install_hint: str):
    return lambda: built_binary(lambda: output_path(target, index), _hint(find, install_hint))()


def _commands(names: list[str], package: str):
    def missing() -> str | None:
        absent = [n for n in names if shutil.which(n) is None]
        return f"{', '.join(absent)} not found: install with `apt-get install {package}` (Debian)" if absent else None
    return missing


def _java_missing() -> str | None:
    if shutil.which("java") is None:
        return f"java not found: {JAVA_INSTALL_HINT}"
    if output_path("java").exists():  # a class file, not an executable: built_binary does not fit
        return None
    return f"probe not built ({output_path('java')} missing): {_hint(lambda: shutil.which('javac'), JAVA_INSTALL_HINT)}"


def _module_missing(module: str, install: str):
    def missing() -> str | None:
        return None if importlib.util.find_spec(module) else f"Python package {module} not installed: {install}"
    return missing


_KUBE_REPORT_DESCRIPTIONS = {
    "install-aws-lc-rs": "kube 0.93.1 + rustls 0.23.12 (ring and aws-lc-rs), main() installs aws-lc-rs: the reporter's own fix",
    "two-providers": "the report's program and Cargo.toml without installing a provider (ring and aws-lc-rs compiled in)",
}


CLIENTS: dict[str, Stack] = {
    "openssl": Stack(
        name="openssl",
        family="openssl",
        description="OpenSSL through CPython's ssl module",
        argv=python_module("harness.probes.pyssl.client"),
        missing=lambda: None,
        client_auth=True,
    ),
    "rustls-ring": Stack(
        name="rustls-ring",
        family="rustls",
        description="rustls 0.23 (newest) with the ring crypto provider (kube-rs default)",
        argv=lambda: [str(output_path("rustls-ring"))],
        missing=_built("rustls-ring", 0, find_cargo, CARGO_INSTALL_HINT),
        client_auth=True,
    ),
    "rustls-aws-lc-rs": Stack(
        name="rustls-aws-lc-rs",
        family="rustls",
        description="rustls 0.23 (newest) with the aws-lc-rs crypto provider (kube feature aws-lc-rs)",
        argv=lambda: [str(output_path("rustls-aws-lc-rs"))],
        missing=_built("rustls-aws-lc-rs", 0, find_cargo, CARGO_INSTALL_HINT),
        client_auth=True,
    ),
    "rustls-ring@0.23.12": Stack(
        name="rustls-ring@0.23.12",
        family="rustls",
        description="rustls 0.23.12 + webpki 0.102.6 with ring (the original kube-rs report's pin)",
        argv=lambda: [str(output_path("rustls-0.23.12"))],
        missing=_built("rustls-0.23.12", 0, find_cargo, CARGO_INSTALL_HINT),
    ),
    "rustls-ring@0.21.12": Stack(
        name="rustls-ring@0.21.12",
        family="rustls",
        description="rustls 0.21.12 + webpki 0.101.7 (ring; the last 0.21.x)",
        argv=lambda: [str(output_path("rustls-0.21"))],
        missing=_built("rustls-0.21", 0, find_cargo, CARGO_INSTALL_HINT),
    ),
    "rustls-ring@0.21.0": Stack(
        name="rustls-ring@0.21.0",
        family="rustls",
        description="rustls 0.21.0 + webpki 0.100.3 (ring 0.16.20; webpki before error ranking: UnknownIssuer)",
        argv=lambda: [str(output_path("rustls-0.21.0"))],
        missing=_built("rustls-0.21.0", 0, find_cargo, CARGO_INSTALL_HINT),
    ),
    "go": Stack(
        name="go",
        family="go",
        description="Go crypto/tls client (kubectl, client-go)",
        argv=lambda: [str(output_path("go", 0))],
        missing=_built("go", 0, find_go, GO_INSTALL_HINT),
        client_auth=True,
    ),
    "java": Stack(
        name="java",
        family="java",
        description="Java 17 JSSE (SunJSSE), one JVM per batch",
        argv=lambda: ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", str(output_path("java").parent),
                      "Probe"],
        missing=_java_missing,
        client_auth=True,
    ),
    "node": Stack(
        name="node",
        family="node",
        description="Node.js tls (its bundled OpenSSL)",
        argv=lambda: ["node", str(_probe_path("node", "probe.mjs"))],
        missing=lambda: None if shutil.which("node") else "node not found: install Node.js 20 (Debian: apt-get install nodejs)",
        client_auth=True,
    ),
    "gnutls": Stack(
        name="gnutls",
        family="gnutls",
        description="GnuTLS gnutls-cli, one process per handshake",
        argv=python_module("harness.probes.cliclient.gnutls"),
        missing=_commands(["gnutls-cli"], "gnutls-bin"),
    ),
    "nss": Stack(
        name="nss",
        family="nss",
        description="NSS tstclnt with a throwaway certificate DB per CA",
        argv=python_module("harness.probes.cliclient.nss"),
        missing=_commands(["tstclnt", "certutil"], "libnss3-tools"),
    ),
    "boringssl": Stack(
        name="boringssl",
        family="boringssl",
        description="BoringSSL through curl_cffi (curl-impersonate), library defaults, handshake only",
        argv=lambda: [sys.executable, "-u", "-m", "harness.probes.boringssl.client"],
        missing=_module_missing("curl_cffi", "`make setup` (pip install curl_cffi)"),
    ),
    "curl": Stack(
        name="curl",
        family="curl",
        description="the system curl (Debian's, on OpenSSL)",
        argv=python_module("harness.probes.cliclient.curl"),
        missing=_commands(["curl"], "curl"),
    ),
    "openssl-cli": Stack(
        name="openssl-cli",
        family="openssl",
        description="openssl s_client -verify_return_error",
        argv=python_module("harness.probes.cliclient.openssl_cli"),
        missing=_commands(["openssl"], "openssl"),
    ),
    "wolfssl": Stack(
        name="wolfssl",
        family="wolfssl",
        description="wolfSSL (Debian's libwolfssl) through a small C probe",
        argv=lambda: [str(output_path("wolfssl"))],
        missing=_built("wolfssl", 0, find_wolfssl_gcc, WOLFSSL_INSTALL_HINT),
    ),
    "kubernetes-python": Stack(
        name="kubernetes-python",
        family="openssl",
        description="the official Python Kubernetes client (urllib3 on OpenSSL) listing pods: the control",
        argv=python_module("harness.probes.kubepy.client"),
        missing=_module_missing("kubernetes", "`make setup` (pip install kubernetes)"),
        needs_app="kubernetes",
        client_auth=True,
    ),
    **{
        f"kube-{variant}": Stack(
            name=f"kube-{variant}",
            family="kube",
            description=desc,
            argv=(lambda v=variant: [str(output_path(f"kube-{v}"))]),
            missing=_built(f"kube-{variant}", 0, find_cargo, CARGO_INSTALL_HINT),
            needs_app="kubernetes",
            client_auth=True,
        )
        for variant, desc in (
            ("0.93-rustls", "kube 0.93.1, rustls-tls (ring), crates resolved today: the reported configuration"),
            ("0.93-rustls-2024-08", "kube 0.93.1, rustls-tls (ring) with the rustls 0.23.12 / webpki 0.102.6 of Aug 2024"),
            ("0.93-openssl", "kube 0.93.1, openssl-tls: the reported workaround"),
            ("0.94-aws-lc-rs", "kube 0.94.2 with the aws-lc-rs feature: the reported fix"),
            ("latest-rustls", "the newest kube, default features (ring)"),
            ("latest-aws-lc-rs", "the newest kube with the aws-lc-rs feature"),
        )
    },
    # kube-rs issue 1562's fix program as the reporter wrote it (harness/probes/kube-report): one-shot
    # programs reading KUBECONFIG, run once per job by a Python adapter that speaks the probe contract
    **{
        f"kube-0.93-{program}": Stack(
            name=f"kube-0.93-{program}",
            family="kube",
            description=_KUBE_REPORT_DESCRIPTIONS[program],
            argv=(lambda p=program: [*python_module("harness.probes.cliclient.kube_report")(), p]),
            missing=_built("kube-report", index, find_cargo, CARGO_INSTALL_HINT),
            needs_app="kubernetes",
            client_auth=True,
        )
        for index, program in enumerate(KUBE_REPORT_PROGRAMS)
    },
}

#: client stacks that speak plain TLS (every server can answer them)
TLS_CLIENTS = [name for name, stack in CLIENTS.items() if stack.needs_app is None]


def _probe_path(*parts: str):
    from ..toolchain import PROBES_DIR

    return PROBES_DIR.joinpath(*parts)
