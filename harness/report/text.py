"""Text helpers every report shares: cutting long errors, and characters a report cannot carry."""
from __future__ import annotations

import re
from typing import Any

#: C0 controls (but tab, newline, CR), DEL, lone surrogates and non-characters: neither HTML nor a
#: GitHub comment can carry them, and a stack's error text may contain them
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(value: Any) -> str:
    """Text with the characters a report cannot carry removed (None: empty)."""
    return _CONTROL.sub("", "" if value is None else str(value))


def clip(text: Any, width: int) -> str:
    """At most ``width`` characters, ending in "…" when cut; line breaks are kept (for <pre>, fences)."""
    text = str(text)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def shorten(text: Any, width: int) -> str:
    """One line of at most ``width`` characters: whitespace runs become one space, then ``clip``."""
    return clip(" ".join(str(text).split()), width)


def join_names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def negotiated(values: dict | None) -> str:
    """What a completed handshake negotiated, for a report line (``version=TLSv1.3 … group=x25519
    hrr=no``); a group or HelloRetryRequest the probe cannot tell is ``unknown`` (null in results.json),
    never left out, so a reader does not take silence for "none". Empty for a cell without a handshake."""
    if not values:
        return ""
    parts = [f"{key}={value}" for key, value in values.items() if key not in ("group", "hrr") and value]
    parts.append(f"group={values.get('group') or 'unknown'}")
    hrr = values.get("hrr")
    parts.append(f"hrr={'unknown' if hrr is None else 'yes' if hrr else 'no'}")
    return " ".join(parts)
