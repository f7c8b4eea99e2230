"""tlsmatrix: reproducible TLS compatibility matrices.

The library (docs/library.md)::

    import tlsmatrix

    doc = tlsmatrix.run("scenarios/rustls-p521.toml", clients=["openssl", "rustls-ring"])
    with tlsmatrix.serve(chains=[tlsmatrix.chain(root="P-521", leaf="P-256")], servers=["go"], tls=["1.3"]) as s:
        ep = s.endpoints[0]          # ep.host, ep.port, ep.ca_file
    report = tlsmatrix.probe("127.0.0.1", 6443, "ca.pem", clients=["openssl", "go"])
    doc = tlsmatrix.load_results("results/latest")

Every error tlsmatrix raises on purpose is a :class:`TlsmatrixError`.
"""
from __future__ import annotations

import importlib
from typing import Any

from .model import __version__  # noqa: E402,F401 - light: the model package itself imports nothing

from .model.errors import HarnessError, TlsmatrixError, TlsmatrixWarning, UsageError  # noqa: E402 - light, no imports

#: name -> module; imported on first use, so `import harness` (which every probe program does, as
#: ``python -m tlsmatrix.probes...``) stays as cheap as it was
_LAZY = {
    "run": ".api", "probe": ".api", "replay": ".api", "serve": ".api", "diagnose_chain": ".api", "load_results": ".api",
    "load_scenarios": ".api", "chain": ".api", "default_scenarios": ".api", "Serving": ".api",
    "ServedEndpoint": ".api", "DEFAULT_TIMEOUT": ".api", "ResultsDocument": ".model.document", "CellRecord": ".model.document",
}

__all__ = ["__version__", "TlsmatrixError", "UsageError", "HarnessError", "TlsmatrixWarning", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
