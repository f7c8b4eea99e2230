"""Shared shape of a stack entry in the client and server registries."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Stack:
    """How to run one TLS stack's program, and whether this machine can."""

    name: str
    family: str  # classification table (harness.classify.TABLES)
    description: str
    argv: Callable[[], list[str]]
    missing: Callable[[], str | None]  # None when runnable, else why not + how to install
    needs_app: str | None = None  # a client that speaks an application protocol (e.g. "kubernetes")
    #: mTLS: a client presents the job's client certificate; a server requires one (listener client_ca_file)
    client_auth: bool = False

    def unavailable_reason(self) -> str | None:
        return self.missing()


def python_module(module: str) -> Callable[[], list[str]]:
    return lambda: [sys.executable, "-u", "-m", module]


def built_binary(path: Callable[[], Path], hint: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        p = path()
        if p.exists() and os.access(p, os.X_OK):
            return None
        return f"probe not built ({p} missing): {hint}"
    return missing
