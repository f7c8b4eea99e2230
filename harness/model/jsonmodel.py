"""One serializer for tlsmatrix's JSON: frozen dataclasses → JSON, JSON → dataclasses, → JSON Schema.

Why dataclasses and not pydantic: a results document needs a *lenient* reader (documents written
by older versions, and by newer ones with an outcome class this version does not know, must still
render) and a *strict* schema (what this version writes). Both follow from one declaration per
field, in about 150 lines and without a dependency.

Per field, ``attr(...)`` says:

- ``doc``: the schema's description;
- ``enum``: the values the schema allows (the reader keeps any value: a newer outcome still renders);
- ``omit``: left out of the JSON when None (absent rather than null);
- ``required``: required by the schema (default: unless ``omit``); a field without a default is
  also required when *reading*;
- ``key``: the JSON name, when it differs from the attribute;
- ``flatten``: a nested model whose keys sit in this object (a stack's hello inside its entry);
- ``schema``: more schema keywords, merged over what the type gives (``minimum``, ``format``, …).

A field named ``extra`` keeps the keys this version does not know: they are written back as they
were (a newer document survives a merge) and are not part of the schema.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from typing import Any, ClassVar, Union

from .errors import TlsmatrixError

_NONE = type(None)


class DocumentError(TlsmatrixError, ValueError):
    """A JSON document that does not have the shape tlsmatrix reads (names the place)."""


def attr(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, doc: str | None = None,
         enum: Any = None, omit: bool = False, required: bool | None = None, key: str | None = None,
         flatten: bool = False, schema: dict | None = None) -> Any:
    meta = {"doc": doc, "enum": list(enum) if enum is not None else None, "omit": omit,
            "required": (not omit) if required is None else required, "key": key, "flatten": flatten,
            "schema": schema or {}}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


#: a plain field's metadata: the defaults
_PLAIN = attr().metadata


def _meta(f: dataclasses.Field) -> dict:
    return f.metadata if "omit" in f.metadata else _PLAIN


def _key(f: dataclasses.Field) -> str:
    return _meta(f)["key"] or f.name


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, str, dict, Any, bool], ...]:
    """Per field, once per class: (name, JSON key, metadata, type hint, required). A results document
    has ~8 models per cell; looking fields, hints and metadata up per value was most of a run's CPU."""
    return tuple((f.name, _key(f), _meta(f), _hints(cls)[f.name],
                  f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(cls) if f.name != "extra")


@functools.cache
def _has_extra(cls: type) -> bool:
    return any(f.name == "extra" for f in dataclasses.fields(cls))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


@functools.cache
def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def encode(value: Any) -> Any:
    """A JSON value: models through their ``to_json``, enums as their values, tuples as lists."""
    if hasattr(value, "to_json") and not isinstance(value, type):
        return value.to_json()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(tp: Any, value: Any, where: str) -> Any:
    """``value`` read as type ``tp``; plain values are kept as written (lenient), shapes are checked."""
    tp, nullable = _optional(tp)
    if value is None:
        return None
    if isinstance(tp, type) and hasattr(tp, "from_json"):
        return tp.from_json(value, where)
    origin = _origin(tp)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise DocumentError(f"{where}: expected a list, got {type(value).__name__}")
        item = typing.get_args(tp)[0]
        items = [decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise DocumentError(f"{where}: expected an object, got {type(value).__name__}")
        vt = typing.get_args(tp)[1]
        return {str(k): decode(vt, v, f"{where}.{k}") for k, v in value.items()}
    return value


def schema_of(tp: Any, meta: dict | None = None) -> dict[str, Any]:
    """The JSON Schema of one field (or of a bare type when ``meta`` is None)."""
    meta = meta or attr().metadata
    tp, nullable = _optional(tp)
    nullable = nullable and not meta["omit"]  # an omitted None is absent, never null
    origin = typing.get_origin(tp)
    if meta["enum"] is not None:
        out: dict[str, Any] = {"enum": [*meta["enum"], *([None] if nullable else [])]}
        nullable = False
    elif isinstance(tp, type) and hasattr(tp, "json_schema"):
        out = tp.json_schema()
    elif origin in (list, tuple):
        out = {"type": "array", "items": schema_of(typing.get_args(tp)[0])}
    elif origin is dict:
        vt = typing.get_args(tp)[1]
        out = {"type": "object"} if vt is Any else {"type": "object", "additionalProperties": schema_of(vt)}
    else:
        out = {t: {"type": name} for t, name in ((str, "string"), (bool, "boolean"), (int, "integer"),
                                                (float, "number"))}.get(tp, {})
    if nullable:
        out = {**out, "type": [out["type"], "null"]} if isinstance(out.get("type"), str) else \
            {"anyOf": [out, {"type": "null"}]}
    out.update(meta["schema"])
    if meta["doc"]:
        out["description"] = meta["doc"]
    return out


class JsonModel:
    """Base of the dataclasses that are JSON documents or parts of one."""

    #: the schema allows keys this version does not write (e.g. what a probe adds)
    OPEN: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key, meta, _, _ in _plan(type(self)):
            value = getattr(self, name)
            if meta["flatten"]:
                out.update(value.to_json() if value is not None else {})
            elif not (meta["omit"] and value is None):
                out[key] = encode(value)
        out.update(getattr(self, "extra", None) or {})
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "document") -> Any:
        if not isinstance(data, dict):
            raise DocumentError(f"{where}: expected an object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        known: set[str] = set()
        for name, key, meta, tp, required in _plan(cls):
            if meta["flatten"]:
                part, _ = _optional(tp)
                keys = {_key(g) for g in dataclasses.fields(part)}
                known |= keys
                if keys & set(data):
                    kwargs[name] = part.from_json({k: v for k, v in data.items() if k in keys}, where)
                continue
            known.add(key)
            if key in data:
                kwargs[name] = decode(tp, data[key], f"{where}.{key}")
            elif required:
                raise DocumentError(f"{where}: no {key!r}")
        if _has_extra(cls):
            kwargs["extra"] = {k: v for k, v in data.items() if k not in known}
        return cls(**kwargs)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            meta = _meta(f)
            if f.name == "extra":
                continue
            if meta["flatten"]:  # present only when the part is: its keys are not required here
                props.update(_optional(_hints(cls)[f.name])[0].json_schema()["properties"])
                continue
            props[_key(f)] = schema_of(_hints(cls)[f.name], meta)
            if meta["required"]:
                required.append(_key(f))
        out: dict[str, Any] = {"type": "object"}
        if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):  # not dataclass' generated one
            out["description"] = " ".join(cls.__doc__.split())
        out.update({"required": required, "properties": props})
        if not cls.OPEN:
            out["additionalProperties"] = False
        return out
