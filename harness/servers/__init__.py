"""Server stacks: each entry says how to start its multi-listener server program."""
from __future__ import annotations

from ..build import output_path
from ..stacks import Stack, built_binary, python_module
from ..toolchain import CARGO_INSTALL_HINT, GO_INSTALL_HINT, find_cargo, find_go


def _rustls_server(provider: str) -> Stack:
    return Stack(
        name=f"rustls-{provider}",
        family="rustls",
        description=f"rustls 0.23 server with the {provider} crypto provider",
        argv=lambda: [str(output_path(f"rustls-{provider}", 1))],
        missing=lambda: built_binary(
            lambda: output_path(f"rustls-{provider}", 1), "run `make probes`" if find_cargo() else CARGO_INSTALL_HINT
        )(),
    )


SERVERS: dict[str, Stack] = {
    "openssl": Stack(
        name="openssl",
        family="openssl",
        description="OpenSSL through CPython's ssl module",
        argv=python_module("harness.probes.pyssl.server"),
        missing=lambda: None,
    ),
    "go": Stack(
        name="go",
        family="go",
        description="Go crypto/tls server (the Kubernetes API server's TLS stack)",
        argv=lambda: [str(output_path("go", 1))],
        missing=lambda: built_binary(
            lambda: output_path("go", 1), "run `make probes`" if find_go() else GO_INSTALL_HINT
        )(),
    ),
    "rustls-ring": _rustls_server("ring"),
    "rustls-aws-lc-rs": _rustls_server("aws-lc-rs"),
}
