"""tlsmatrix: reproducible TLS compatibility matrices."""
from __future__ import annotations

__version__ = "0.1.0"
