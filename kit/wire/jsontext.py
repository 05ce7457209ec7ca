"""JSON the way the JavaScript side writes and reads it, and long values shown in one line.

engine.io and socket.io packets carry JSON written by ``JSON.stringify`` and read by
``JSON.parse``. Python's ``json`` module is more lenient: it reads ``NaN`` and
``Infinity`` and turns ``1e400`` into ``inf``, none of which a JavaScript peer can read or
write. :data:`STRICT_JSON` refuses them, so the kit's codecs accept what the reference
parsers accept::

    >>> STRICT_JSON.decode('[1, 2.5, "x"]')
    [1, 2.5, 'x']
    >>> STRICT_JSON.decode("NaN")
    Traceback (most recent call last):
    ValueError: NaN is not JSON
"""

from __future__ import annotations

import json

__all__ = ["STRICT_JSON", "elide", "json_kind"]


def _reject_constant(name: str) -> object:
    # Python's json reads NaN and Infinity; JavaScript's JSON.parse does not.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    # JSON.parse reads 1e400 as Infinity, which JSON.stringify then writes as null:
    # refuse it rather than change the data.
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is too large for a double")
    return value


STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
"""A decoder that reads exactly what ``JSON.parse`` reads (no NaN, no Infinity)."""


def json_kind(value: object) -> str:
    """What a decoded value is, in JSON's words, for error messages: ``"an array"``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def elide(text: str, limit: int = 75) -> str:
    """``text`` if it fits in ``limit`` characters, else its two ends around ``...``."""
    if len(text) <= limit:
        return text
    cut = limit // 3
    return f"{text[: 2 * cut - 3]}...{text[-cut:]}"
