"""Fast JSON for the hot paths (orjson), with the standard library as the lenient fallback.

orjson is several times faster than `json` but stricter: integers beyond 64 bits, NaN, lone surrogate
escapes and non-string keys are refused. Outside payloads and our own values can carry any of those,
so whatever orjson refuses goes through `json`, which gives the same data (or the error message the
caller reports). Output is compact UTF-8, like `json.dumps(..., separators=(",", ":"), ensure_ascii=False)`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError (json.JSONDecodeError or UnicodeDecodeError) on bad input."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(data)  # lenient where orjson is strict, else the standard error message
        except RecursionError:  # deeper than orjson's 1024 levels and than this interpreter's stack
            raise ValueError(f"JSON nested too deeply: {exc}") from None


def dumps(value: Any) -> str:
    """Compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: big ints, non-str keys, types orjson does not know
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumpb(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (for HTTP bodies and Redis fields)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
