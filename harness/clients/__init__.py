"""Client stacks: each entry says how to start its long-lived probe (docs/probe-contract.md)."""
from __future__ import annotations

from ..build import output_path
from ..stacks import Stack, built_binary, python_module
from ..toolchain import CARGO_INSTALL_HINT, GO_INSTALL_HINT, find_cargo, find_go


def _hint(find, install_hint: str) -> str:
    return "run `make probes`" if find() else install_hint


CLIENTS: dict[str, Stack] = {
    "openssl": Stack(
        name="openssl",
        family="openssl",
        description="OpenSSL through CPython's ssl module",
        argv=python_module("harness.probes.pyssl.client"),
        missing=lambda: None,
    ),
    "rustls-ring": Stack(
        name="rustls-ring",
        family="rustls",
        description="rustls 0.23 with the ring crypto provider (kube-rs default)",
        argv=lambda: [str(output_path("rustls-ring"))],
        missing=lambda: built_binary(lambda: output_path("rustls-ring"), _hint(find_cargo, CARGO_INSTALL_HINT))(),
    ),
    "rustls-aws-lc-rs": Stack(
        name="rustls-aws-lc-rs",
        family="rustls",
        description="rustls 0.23 with the aws-lc-rs crypto provider (kube feature aws-lc-rs)",
        argv=lambda: [str(output_path("rustls-aws-lc-rs"))],
        missing=lambda: built_binary(lambda: output_path("rustls-aws-lc-rs"), _hint(find_cargo, CARGO_INSTALL_HINT))(),
    ),
    "go": Stack(
        name="go",
        family="go",
        description="Go crypto/tls client (kubectl, client-go)",
        argv=lambda: [str(output_path("go", 0))],
        missing=lambda: built_binary(lambda: output_path("go", 0), _hint(find_go, GO_INSTALL_HINT))(),
    ),
}
