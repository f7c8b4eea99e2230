from __future__ import annotations

import os
from pathlib import Path

import pytest

from tlsmatrix.certs.pki import CertificateCache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pki_cache(tmp_path_factory) -> CertificateCache:
    """One certificate cache for the whole test session (keys are expensive; chains are shared)."""
    path = os.environ.get("TLSMATRIX_TEST_PKI_CACHE")
    return CertificateCache(Path(path) if path else tmp_path_factory.mktemp("pki"))


def require_stack(stack) -> None:
    """Skip when a stack is missing, unless CI demands every stack (TLSMATRIX_REQUIRE_STACKS=1)."""
    why = stack.unavailable_reason()
    if why is None:
        return
    if os.environ.get("TLSMATRIX_REQUIRE_STACKS") == "1":
        pytest.fail(f"stack {stack.name} is required here but not available: {why}")
    pytest.skip(f"stack {stack.name} not available: {why}")


def pytest_collection_modifyitems(config, items):
    """The soak test (five full matrices) runs only when asked for: `pytest -m soak`."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
