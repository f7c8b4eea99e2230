"""JSON for the supervisor: the stdlib ``json`` when present, a small equivalent otherwise.

Debian's ``python3-minimal`` (what the server containers install) ships without the ``json``
package, so this module carries a compact encoder/decoder with the same output as
``json.dumps`` (default separators, ``ensure_ascii=True``) for the types the contract uses.
"""
from __future__ import annotations

import re

try:  # pragma: no branch - depends on the interpreter's installation
    import json as _json
except ImportError:  # python3-minimal
    _json = None

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _encode_str(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or 0x7F <= code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _encode(obj: object) -> str:
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _encode_str(obj)
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        if obj != obj:
            return "NaN"
        if obj in (float("inf"), float("-inf")):
            return "Infinity" if obj > 0 else "-Infinity"
        return float.__repr__(obj)
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_encode_str(str(k))}: {_encode(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(_encode(v) for v in obj) + "]"
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_STR_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Decoder:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{what}: line 1 column {self.i + 1} (char {self.i})")

    def ws(self) -> None:
        self.i = _WS.match(self.s, self.i).end()

    def value(self) -> object:
        self.ws()
        s, i = self.s, self.i
        if i >= len(s):
            raise self.fail("Expecting value")
        ch = s[i]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.arr()
        if ch == '"':
            self.i += 1
            return self.string()
        for word, val in (("null", None), ("true", True), ("false", False)):
            if s.startswith(word, i):
                self.i += len(word)
                return val
        m = _NUMBER.match(s, i)
        if m:
            self.i = m.end()
            return float(m.group()) if m.group(1) or m.group(2) else int(m.group())
        raise self.fail("Expecting value")

    def string(self) -> str:
        s, parts = self.s, []
        while True:
            m = _STR_CHUNK.match(s, self.i)
            parts.append(m.group())
            self.i = m.end()
            if self.i >= len(s):
                raise self.fail("Unterminated string")
            ch = s[self.i]
            self.i += 1
            if ch == '"':
                return "".join(parts)
            if ch != "\\":
                raise self.fail("Invalid control character")
            esc = s[self.i : self.i + 1]
            self.i += 1
            if esc in _SIMPLE:
                parts.append(_SIMPLE[esc])
            elif esc == "u":
                code = self.hex4()
                if 0xD800 <= code < 0xDC00 and s.startswith("\\u", self.i):
                    save = self.i
                    self.i += 2
                    low = self.hex4()
                    if 0xDC00 <= low < 0xE000:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    else:
                        self.i = save
                parts.append(chr(code))
            else:
                raise self.fail("Invalid \\escape")

    def hex4(self) -> int:
        digits = self.s[self.i : self.i + 4]
        if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("Invalid \\uXXXX escape")
        self.i += 4
        return int(digits, 16)

    def obj(self) -> dict:
        self.i += 1
        out: dict = {}
        self.ws()
        if self.s.startswith("}", self.i):
            self.i += 1
            return out
        while True:
            self.ws()
            if not self.s.startswith('"', self.i):
                raise self.fail("Expecting property name enclosed in double quotes")
            self.i += 1
            key = self.string()
            self.ws()
            if not self.s.startswith(":", self.i):
                raise self.fail("Expecting ':' delimiter")
            self.i += 1
            out[key] = self.value()
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("}", self.i):
                self.i += 1
                return out
            else:
                raise self.fail("Expecting ',' delimiter")

    def arr(self) -> list:
        self.i += 1
        out: list = []
        self.ws()
        if self.s.startswith("]", self.i):
            self.i += 1
            return out
        while True:
            out.append(self.value())
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("]", self.i):
                self.i += 1
                return out
            else:
                raise self.fail("Expecting ',' delimiter")


def mini_dumps(obj: object) -> str:
    return _encode(obj)


def mini_loads(text: str | bytes) -> object:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    dec = _Decoder(text)
    val = dec.value()
    dec.ws()
    if dec.i != len(text):
        raise dec.fail("Extra data")
    return val


def dumps(obj: object) -> str:
    return _json.dumps(obj) if _json is not None else mini_dumps(obj)


def loads(text: str | bytes) -> object:
    return _json.loads(text) if _json is not None else mini_loads(text)
