"""JSON Schemas generated from the code (``tlsmatrix schema``): the results document and the
probe contract's lines.

``docs/results.schema.json`` and ``docs/probe-*.schema.json`` are these functions' output,
committed; a test fails when they drift apart, so the committed schemas always describe what
the code writes (and, for the probe lines, what the real probes write: tests check them against
real probe output).
"""
from __future__ import annotations

import json
from typing import Any

from .document import SCHEMA_VERSION, ResultsDocument
from .core import HandshakeResult, Hello, Job, ServerConfig

SCHEMA_ID = "https://tlsmatrix.invalid/schema/results-v1.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: docs/<file> → (title, the model the schema comes from)
PROBE_SCHEMAS: dict[str, tuple[str, Any]] = {
    "probe-hello.schema.json": ("tlsmatrix probe/server hello line", Hello),
    "probe-job.schema.json": ("tlsmatrix probe job line", Job),
    "probe-result.schema.json": ("tlsmatrix probe result line", HandshakeResult),
    "server-config.schema.json": ("tlsmatrix server program configuration", ServerConfig),
}


def results_schema() -> dict[str, Any]:
    body = ResultsDocument.json_schema()
    return {"$schema": DRAFT, "$id": SCHEMA_ID, "title": "tlsmatrix results", **body}


def probe_schema(file_name: str) -> dict[str, Any]:
    title, model = PROBE_SCHEMAS[file_name]
    return {"$schema": DRAFT, "$id": f"https://tlsmatrix.invalid/schema/{file_name}", "title": title,
            **model.json_schema()}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def render_schema() -> str:
    return render(results_schema())


__all__ = ["SCHEMA_VERSION", "results_schema", "probe_schema", "render_schema", "PROBE_SCHEMAS"]
