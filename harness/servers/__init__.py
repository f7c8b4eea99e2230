"""Server stacks: each entry says how to start its multi-listener server program."""
from __future__ import annotations

import shutil

from ..build import output_path
from ..stacks import Stack, built_binary, python_module
from ..toolchain import CARGO_INSTALL_HINT, GO_INSTALL_HINT, find_cargo, find_go


def _tools(commands: list[str], package: str) -> str | None:
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return None
    return f"{', '.join(missing)} not found: install with `apt-get install {package}` (Debian)"


def _rustls_server(provider: str) -> Stack:
    return Stack(
        name=f"rustls-{provider}",
        family="rustls",
        description=f"rustls 0.23 server with the {provider} crypto provider",
        argv=lambda: [str(output_path(f"rustls-{provider}", 1))],
        missing=lambda: built_binary(
            lambda: output_path(f"rustls-{provider}", 1), "run `make probes`" if find_cargo() else CARGO_INSTALL_HINT
        )(),
        client_auth=True,
    )


SERVERS: dict[str, Stack] = {
    "openssl": Stack(
        name="openssl",
        family="openssl",
        description="OpenSSL through CPython's ssl module",
        argv=python_module("harness.probes.pyssl.server"),
        missing=lambda: None,
        client_auth=True,
    ),
    "go": Stack(
        name="go",
        family="go",
        description="Go crypto/tls server (the Kubernetes API server's TLS stack)",
        argv=lambda: [str(output_path("go", 1))],
        missing=lambda: built_binary(
            lambda: output_path("go", 1), "run `make probes`" if find_go() else GO_INSTALL_HINT
        )(),
        client_auth=True,
    ),
    "gnutls": Stack(
        name="gnutls",
        family="gnutls",
        description="GnuTLS gnutls-serv, one per listener, behind a loopback relay",
        argv=python_module("harness.probes.cliserver.gnutls"),
        missing=lambda: _tools(["gnutls-serv"], "gnutls-bin"),
    ),
    "nss": Stack(
        name="nss",
        family="nss",
        description="NSS selfserv, one per listener, behind a loopback relay",
        argv=python_module("harness.probes.cliserver.nss"),
        missing=lambda: _tools(["selfserv", "certutil", "pk12util"], "libnss3-tools"),
    ),
    "rustls-ring": _rustls_server("ring"),
    "rustls-aws-lc-rs": _rustls_server("aws-lc-rs"),
}
