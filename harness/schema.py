"""The results document's JSON Schema, generated from the code (``tlsmatrix schema``).

``docs/results.schema.json`` is this function's output, committed; a test fails when the two
drift apart, so the committed schema always describes what a run writes.
"""
from __future__ import annotations

import json
from typing import Any

from .defects import DEFECTS
from .model import HASH_NAMES, KEY_NAMES, Outcome

SCHEMA_VERSION = 1
SCHEMA_ID = "https://tlsmatrix.invalid/schema/results-v1.json"

_STR_OR_NULL = {"type": ["string", "null"]}


def _stack_info() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["available"],
        "properties": {
            "available": {"type": ["boolean", "null"]},
            "reason": {"type": "string"},
            "stack": {"type": "string"},
            "version": {"type": "string"},
            "provider": _STR_OR_NULL,
            "details": {"type": "object", "additionalProperties": {"type": "string"}},
            "restarts": {"type": "integer", "minimum": 0},
            "backend": {"enum": ["process", "docker"]},
            "image": {"type": "string"},
            "image_id": {"type": "string"},
            "listener_errors": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": False,
    }


def _cert() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["key"],
        "properties": {"key": {"enum": list(KEY_NAMES)}, "hash": {"enum": [*HASH_NAMES, None]}},
        "additionalProperties": False,
    }


def _finding() -> dict[str, Any]:
    """A harness.diagnose finding (also the `diagnosis` items of `tlsmatrix probe --format json`)."""
    return {
        "type": "object",
        "required": ["id", "detail", "certificates", "affects"],
        "properties": {"id": {"type": "string"}, "detail": {"type": "string"},
                       "certificates": {"type": "array", "items": {"type": "string"}},
                       "affects": {"type": "array", "items": {"type": "string"},
                                   "description": "client stacks (globs) that reject such a chain"}},
        "additionalProperties": False,
    }


def results_schema() -> dict[str, Any]:
    outcome = {"enum": [o.value for o in Outcome]}
    record = {
        "type": "object",
        "required": ["id", "index", "scenario", "chain", "server", "tls", "client", "servername", "outcome", "error",
                     "verdict", "attempts"],
        "properties": {
            "id": {"type": "string", "description": "scenario|chain|tls|server|client"},
            "index": {"type": "integer", "minimum": 0, "description": "position in the unsharded expansion"},
            "scenario": {"type": "string"},
            "chain": {
                "type": "object",
                "required": ["label", "root", "intermediates", "leaf", "expired"],
                "properties": {
                    "label": {"type": "string"},
                    "root": _cert(),
                    "intermediates": {"type": "array", "items": _cert()},
                    "leaf": _cert(),
                    "expired": {"type": "boolean"},
                    "client_cert": {**_cert(), "description": "mTLS: the client certificate's key, issued by the "
                                    "root (absent: the server asks for no client certificate)"},
                    "defect": {"enum": list(DEFECTS), "description": "a chain defect (harness/defects.py; "
                                                                     "absent: a well-formed chain)"},
                },
                "additionalProperties": False,
            },
            "server": {"type": "string"},
            "tls": {"enum": ["1.2", "1.3", None]},
            "client": {"type": "string"},
            "servername": {"type": "string"},
            "app": {"enum": ["kubernetes"], "description": "what the server spoke after the handshake "
                                                         "(absent: nothing, a bare handshake)"},
            "outcome": outcome,
            "error": _STR_OR_NULL,
            "short_error": _STR_OR_NULL,
            "error_detail": _STR_OR_NULL,
            "negotiated": {
                "type": ["object", "null"],
                "properties": {k: _STR_OR_NULL for k in ("version", "cipher", "group", "sigalg")},
            },
            "elapsed_ms": {"type": ["number", "null"]},
            "client_version": _STR_OR_NULL,
            "server_version": _STR_OR_NULL,
            "expected": {
                "type": ["object", "null"],
                "required": ["outcomes"],
                "properties": {"outcomes": {"type": "array", "items": outcome}, "why": _STR_OR_NULL},
                "additionalProperties": False,
            },
            "verdict": {"enum": ["match", "mismatch", "unexpected", "not-run"]},
            "attempts": {"type": "integer", "minimum": 1, "description": "2 when a timeout was retried"},
            "finding": {"type": "string", "description": "the chain diagnosis finding (id) that explains this "
                                                         "failing cell: it breaks this client stack"},
        },
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tlsmatrix results",
        "description": "One tlsmatrix run: metadata, stack versions, chains and one record per cell. "
                       "All certificates and keys are tlsmatrix TEST keys.",
        "type": "object",
        "required": ["schema_version", "tool", "run", "clients", "servers", "chains", "results", "scenarios"],
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "tool": {
                "type": "object",
                "required": ["name", "version"],
                "properties": {"name": {"const": "tlsmatrix"}, "version": {"type": "string"}},
            },
            "run": {
                "type": "object",
                "required": ["started", "duration_s", "backend", "timeout_ms", "machine"],
                "properties": {
                    "started": {"type": "string", "format": "date-time"},
                    "duration_s": {"type": "number", "minimum": 0},
                    "backend": {"enum": ["process", "docker"]},
                    "timeout_ms": {"type": "integer", "minimum": 1},
                    "git_commit": _STR_OR_NULL,
                    "git_dirty": {"type": ["boolean", "null"]},
                    "shard": {"type": ["string", "null"], "pattern": "^[0-9]+/[0-9]+$"},
                    "certificates_generated": {"type": "integer", "minimum": 0},
                    "machine": {
                        "type": "object",
                        "properties": {"platform": {"type": "string"}, "python": {"type": "string"},
                                       "cpus": {"type": ["integer", "null"]},
                                       "hostname": {"type": "string", "description": "older documents only: "
                                                    "results are attached to public reports, so no longer written"}},
                    },
                    "merged_from": {"type": "array", "items": {"type": "string"}},
                },
            },
            "note": {"type": "string"},
            "clients": {"type": "object", "additionalProperties": _stack_info()},
            "servers": {"type": "object", "additionalProperties": _stack_info()},
            "chains": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["fingerprint", "leaf_sha256", "root_sha256"],
                    "properties": {"fingerprint": {"type": "string"}, "leaf_sha256": {"type": "string"},
                                   "root_sha256": {"type": "string"},
                                   "dir": {"type": "string", "description": "the chain's files, relative to the "
                                           "certificate cache (chains/<id>; absolute in older documents)"},
                                   "client_sha256": {"type": "string"},
                                   "diagnosis": {"type": "array", "items": _finding()}},
                },
            },
            "scenarios": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "sha256"],
                    "properties": {"name": {"type": "string"}, "title": {"type": "string"}, "notes": {"type": "string"},
                                   "path": _STR_OR_NULL, "sha256": _STR_OR_NULL},
                },
            },
            "results": {"type": "array", "items": record},
        },
        "additionalProperties": False,
    }


def render_schema() -> str:
    return json.dumps(results_schema(), indent=2, ensure_ascii=False) + "\n"
