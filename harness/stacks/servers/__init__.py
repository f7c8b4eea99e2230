"""Server stacks: one descriptor (harness/stacks/__init__.py) per stack, in matrix row order.

Each entry says how to start its multi-listener server program, what it needs, its image for
the docker backend (harness/images builds it), the apps it can speak after the handshake
(scenario ``app``) and how a bundle runs it. Adding one: docs/adding-a-stack.md.
"""
from __future__ import annotations

from .. import ImageSpec, Reproduce, Stack, registry
from ..toolchain import Debian

#: shared by the probes outside their own directories, so part of the images' sources: the
#: JSON-lines module of the Python programs, the loop crate of the Rust ones (a `path`
#: dependency, not vendored by `cargo vendor`)
_JSONLINES = "harness/probes/jsonlines.py"
_PROBE_LOOP = "harness/probes/probe-loop"


def _python_server(stack: str, packages: str, program: str, **options) -> ImageSpec:
    """The image of a server stack a small Python program supervises (harness/images/python-server):
    its Debian packages, and ``program`` (``pyssl.server``, ``cliserver.nss``) as the entrypoint. Inside
    the image the program is a copy of harness/probes/, run as ``harness.probes...`` (no install)."""
    directory = program.split(".")[0]
    return ImageSpec(stack, "harness/images/python-server/Dockerfile", (f"harness/probes/{directory}", _JSONLINES),
                     {"PACKAGES": packages, "PROBE": directory, "PROGRAM": program}, **options)


def _rustls(provider: str) -> Stack:
    """The rustls 0.23 server: the client probe's Cargo project, a build target per crypto provider."""
    name = f"rustls-{provider}"
    return Stack(name, "rustls", f"rustls 0.23 server with the {provider} crypto provider", role="server",
                 build=name, output=1, client_auth=True, groups=True,
                 reproduce=Reproduce("harness/probes/rustls/src/bin/tlsmatrix-rustls-server.rs"),
                 image=ImageSpec(name, "harness/images/rustls/Dockerfile", ("harness/probes/rustls", _PROBE_LOOP),
                                 {"PROVIDER": provider}, vendor_cargo="harness/probes/rustls"))


SERVERS: dict[str, Stack] = registry(
    Stack("openssl", "openssl", "OpenSSL through CPython's ssl module", role="server",
          module="tlsmatrix.probes.pyssl.server", client_auth=True, groups=True,
          reproduce=Reproduce("harness/probes/pyssl/server.py"),
          image=_python_server("openssl", "libssl3", "pyssl.server")),
    Stack("go", "go", "Go crypto/tls server (the Kubernetes API server's TLS stack)", role="server",
          build="go", output=1, client_auth=True, groups=True, apps=("kubernetes",),
          reproduce=Reproduce("harness/probes/go/server"),
          image=ImageSpec("go", "harness/images/go/Dockerfile", ("harness/probes/go",))),
    Stack("gnutls", "gnutls", "GnuTLS gnutls-serv, one per listener, behind a loopback relay", role="server",
          module="tlsmatrix.probes.cliserver.gnutls", groups=True, requires=(Debian("gnutls-bin", ("gnutls-serv",)),),
          reproduce=Reproduce("harness/probes/cliserver/gnutls.py"),
          image=_python_server("gnutls", "gnutls-bin", "cliserver.gnutls")),
    Stack("nss", "nss", "NSS selfserv, one per listener, behind a loopback relay", role="server",
          module="tlsmatrix.probes.cliserver.nss", groups=True,
          requires=(Debian("libnss3-tools", ("selfserv", "certutil", "pk12util")), Debian("openssl", ("openssl",))),
          reproduce=Reproduce("harness/probes/cliserver/nss.py"),
          # selfserv binds through NSPR's loopback lookup, which needs IPv6 up inside the container
          image=_python_server("nss", "libnss3-tools openssl", "cliserver.nss",
                               run_options={"sysctls": {"net.ipv6.conf.all.disable_ipv6": "0"}})),
    _rustls("ring"),
    _rustls("aws-lc-rs"),
)

# Versioned server stacks (issue 12): openssl, go, gnutls and nss of each Debian release
# (openssl@1.1.1, go@1.24, ...), in the release's image: docker backend only.
from ..clients.containers import versioned_servers  # noqa: E402

VERSIONED_SERVERS = versioned_servers()
SERVERS.update(VERSIONED_SERVERS)
#: the server stacks the process backend can run (the versioned ones run in their release's image)
HOST_SERVERS = [name for name in SERVERS if name not in VERSIONED_SERVERS]
