"""Client stacks: one descriptor (harness/stacks/__init__.py) per stack, in matrix column order.

Each entry says how to start its long-lived probe (docs/probe-contract.md), what it needs,
how its errors are classified (``family``) and how a bundle replays it without tlsmatrix.
Column names are the stack names; pinned library versions carry the version
(``rustls-ring@0.23.12``). Several TLS libraries appear once each: a wrapper over the same
library (python-requests = openssl) would test nothing new. Adding one: docs/adding-a-stack.md.
"""
from __future__ import annotations

from ..build import KUBE_REPORT_PROGRAMS, KUBE_VARIANTS, TARGETS, c_probe_build_line, cargo_build_line, output_path
from ..native import curl_line, gnutls_line, nss_lines, python_line, s_client_line
from .. import Native, Reproduce, Stack, python_module, registry
from ..toolchain import JAVA_INSTALL_HINT, JDK, Debian, PythonPackage
from ...model.paths import PROBES_DIR


def _rustls(name: str, target: str, description: str, client_auth: bool = False) -> Stack:
    """A rustls probe: the newest rustls (one Cargo project, a target per crypto provider) or a pinned
    version (a Cargo project of its own, built with ring). Every one sets the job's groups."""
    project = TARGETS[target].sources.relative_to(PROBES_DIR).as_posix()
    return Stack(name, "rustls", description, build=target, client_auth=client_auth, groups=True,
                 reproduce=Reproduce(f"harness/probes/{project}", cargo_build_line(target)))


_KUBE_DESCRIPTIONS = {
    "0.93-rustls": "kube 0.93.1, rustls-tls (ring), crates resolved today: the reported configuration",
    "0.93-rustls-2024-08": "kube 0.93.1, rustls-tls (ring) with the rustls 0.23.12 / webpki 0.102.6 of Aug 2024",
    "0.93-openssl": "kube 0.93.1, openssl-tls: the reported workaround",
    "0.94-aws-lc-rs": "kube 0.94.2 with the aws-lc-rs feature: the reported fix",
    "latest-rustls": "the newest kube, default features (ring)",
    "latest-aws-lc-rs": "the newest kube with the aws-lc-rs feature",
}


def _c_probe(name: str, family: str, description: str, client_auth: bool = False, groups: bool = False,
             key_shares: bool = False) -> Stack:
    """A batch C probe on a TLS library (harness/probes/<name>/probe.c with the shared loop)."""
    return Stack(name, family, description, build=name, client_auth=client_auth, groups=groups, key_shares=key_shares,
                 reproduce=Reproduce(f"harness/probes/{name}/probe.c", c_probe_build_line(name)))


def _kube(variant: str) -> Stack:
    """A build of the kube crate listing pods (harness/probes/kube/<variant>, one shared source)."""
    return Stack(f"kube-{variant}", "kube", _KUBE_DESCRIPTIONS[variant], build=f"kube-{variant}",
                 needs_app="kubernetes", client_auth=True)


_KUBE_REPORT_ADAPTER = "tlsmatrix.probes.cliclient.kube_report"
_KUBE_REPORT_DESCRIPTIONS = {
    "install-aws-lc-rs": "kube 0.93.1 + rustls 0.23.12 (ring and aws-lc-rs), main() installs aws-lc-rs: the reporter's own fix",
    "two-providers": "the report's program and Cargo.toml without installing a provider (ring and aws-lc-rs compiled in)",
}


def _kube_report(index: int, program: str) -> Stack:
    """kube-rs issue 1562's fix program as the reporter wrote it (harness/probes/kube-report): a
    one-shot program reading KUBECONFIG, run once per job by a Python adapter that speaks the probe
    contract; the target builds both programs (output ``index``)."""
    return Stack(f"kube-0.93-{program}", "kube", _KUBE_REPORT_DESCRIPTIONS[program],
                 argv=(lambda: [*python_module(_KUBE_REPORT_ADAPTER)(), program]), build="kube-report", output=index,
                 needs_app="kubernetes", client_auth=True,
                 reproduce=Reproduce("harness/probes/kube-report", "tlsmatrix build kube-report",
                                     f"python3 -m {_KUBE_REPORT_ADAPTER} {program}"))


_NOTHING_TO_BUILD = "(nothing to build)"

CLIENTS: dict[str, Stack] = registry(
    Stack("openssl", "openssl", "OpenSSL through CPython's ssl module",
          module="tlsmatrix.probes.pyssl.client", client_auth=True, groups=True, key_shares=True,
          reproduce=Reproduce("harness/probes/pyssl/client.py", _NOTHING_TO_BUILD),
          native=Native("Python's `ssl` module (OpenSSL), the library calls the probe makes", python_line)),
    _rustls("rustls-ring", "rustls-ring",
            "rustls 0.23 (newest) with the ring crypto provider (kube-rs default)", client_auth=True),
    _rustls("rustls-aws-lc-rs", "rustls-aws-lc-rs",
            "rustls 0.23 (newest) with the aws-lc-rs crypto provider (kube feature aws-lc-rs)",
            client_auth=True),
    _rustls("rustls-ring@0.23.12", "rustls-0.23.12",
            "rustls 0.23.12 + webpki 0.102.6 with ring (the original kube-rs report's pin)"),
    _rustls("rustls-ring@0.21.12", "rustls-0.21", "rustls 0.21.12 + webpki 0.101.7 (ring; the last 0.21.x)"),
    _rustls("rustls-ring@0.21.0", "rustls-0.21.0",
            "rustls 0.21.0 + webpki 0.100.3 (ring 0.16.20; webpki before error ranking: UnknownIssuer)"),
    Stack("go", "go", "Go crypto/tls client (kubectl, client-go)", build="go", output=0, client_auth=True, groups=True,
          reproduce=Reproduce("harness/probes/go/client",
                              "(cd harness/probes/go && go build -o ../../../build/go/tlsmatrix-go-client ./client)")),
    Stack("java", "java", "Java 17 JSSE (SunJSSE), one JVM per batch",
          # the target's output is a class file: `java` runs it from its directory
          argv=lambda: ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", str(output_path("java").parent),
                        "Probe"],
          requires=(Debian(JDK.package, ("java",), hint=JAVA_INSTALL_HINT),), build="java", client_auth=True,
          groups=True,  # Java 20+ (SSLParameters.setNamedGroups); Java 17 says it cannot
          reproduce=Reproduce("harness/probes/java/Probe.java",
                              "(cd harness/probes/java && javac -d ../../../build/java Probe.java)",
                              "java -cp build/java Probe")),
    Stack("node", "node", "Node.js tls (its bundled OpenSSL)",
          argv=lambda: ["node", str(PROBES_DIR / "node" / "probe.mjs")],
          requires=(Debian("nodejs", ("node",), hint="install Node.js 20 (Debian: apt-get install {package})"),),
          client_auth=True, groups=True, key_shares=True,
          reproduce=Reproduce("harness/probes/node/probe.mjs", _NOTHING_TO_BUILD, "node harness/probes/node/probe.mjs")),
    _c_probe("gnutls", "gnutls", "GnuTLS (libgnutls) through a small C probe", client_auth=True, groups=True),
    Stack("gnutls-cli", "gnutls", "GnuTLS gnutls-cli, one process per handshake",
          module="tlsmatrix.probes.cliclient.gnutls", requires=(Debian("gnutls-bin", ("gnutls-cli",)),), groups=True,
          native=Native("`gnutls-cli`, as the probe ran it", gnutls_line)),
    _c_probe("nss", "nss", "NSS (libnss3/libssl3) through a small C probe, no database, the CA file as the only anchor",
             groups=True, key_shares=True),
    Stack("tstclnt", "nss", "NSS tstclnt with a throwaway certificate DB per CA, one process per handshake",
          module="tlsmatrix.probes.cliclient.nss", requires=(Debian("libnss3-tools", ("tstclnt", "certutil")),),
          groups=True,
          native=Native("NSS `tstclnt` with a throwaway certificate database in ./nssdb, as the probe ran it",
                        nss_lines)),
    Stack("boringssl", "boringssl", "BoringSSL through curl_cffi (curl-impersonate), library defaults, handshake only",
          module="tlsmatrix.probes.boringssl.client", groups=True,
          requires=(PythonPackage("curl_cffi", "pip install 'tlsmatrix[boringssl]' (a checkout: `make setup`)"),),
          reproduce=Reproduce("harness/probes/boringssl/client.py", "pip install curl_cffi")),
    _c_probe("libcurl", "curl", "libcurl (Debian's, on OpenSSL) through a small C probe, handshake only", groups=True),
    Stack("curl", "curl", "the system curl command (Debian's, on OpenSSL), one process per handshake",
          module="tlsmatrix.probes.cliclient.curl", requires=(Debian("curl", ("curl",)),), groups=True, key_shares=True,
          native=Native("the system `curl`, as the probe ran it", curl_line)),
    Stack("openssl-cli", "openssl", "openssl s_client -verify_return_error",
          module="tlsmatrix.probes.cliclient.openssl_cli", requires=(Debian("openssl", ("openssl",)),), groups=True,
          key_shares=True,
          native=Native("`openssl s_client`, as the probe ran it", s_client_line)),
    _c_probe("wolfssl", "wolfssl", "wolfSSL (Debian's libwolfssl) through a small C probe", groups=True,
             key_shares=True),
    Stack("kubernetes-python", "openssl",
          "the official Python Kubernetes client (urllib3 on OpenSSL) listing pods: the control",
          module="tlsmatrix.probes.kubepy.client",
          requires=(PythonPackage("kubernetes", "pip install 'tlsmatrix[kube]' (a checkout: `make setup`)"),),
          needs_app="kubernetes", client_auth=True),
    *(_kube(variant) for variant in KUBE_VARIANTS),
    *(_kube_report(index, program) for index, program in enumerate(KUBE_REPORT_PROGRAMS)),
)

# Versioned client stacks in containers (issue 12; harness/stacks/clients/containers.py): one column per
# stack per Debian release (openssl@1.1.1, go@1.24, ...), after the host's columns, available once
# `make images` built the release's image.
from .containers import versioned_clients  # noqa: E402

VERSIONED_CLIENTS = versioned_clients()
CLIENTS.update(VERSIONED_CLIENTS)

#: client stacks that speak plain TLS (every server can answer them)
TLS_CLIENTS = [name for name, stack in CLIENTS.items() if stack.needs_app is None]
#: those that run on this host (the versioned ones run in their release's image)
HOST_TLS_CLIENTS = [name for name in TLS_CLIENTS if name not in VERSIONED_CLIENTS]


def family_of(client: str) -> str:
    """A client column's stack family (rustls-ring@0.21.0 → rustls); a name this version does not
    know (a results document from another one): its base name."""
    stack = CLIENTS.get(client)
    return stack.family if stack is not None else client.split("@", 1)[0]
