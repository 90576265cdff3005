"""Fast JSON for the hot paths (orjson), with the standard library as the lenient fallback.

orjson is several times faster than `json` but stricter: integers beyond 64 bits, NaN, lone surrogate
escapes and non-string keys are refused. Outside payloads and our own values can carry any of those,
so whatever orjson refuses goes through `json`, which gives the same data (or the error message the
caller reports). Output is compact UTF-8, like `json.dumps(..., separators=(",", ":"), ensure_ascii=False)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError (json.JSONDecodeError or UnicodeDecodeError) on bad input.

    Whatever this returns can be encoded again by `dumps`/`dumpb`: a lone surrogate escape ("\\ud83d",
    half an emoji) becomes U+FFFD, and bytes must be UTF-8 (json.loads alone would also take UTF-16 and
    UTF-8-encoded surrogates).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
            value = json.loads(text)  # lenient where orjson is strict, else the standard error message
            if "\\u" in text or _LONE_SURROGATE.search(text):
                value = map_strings(value, lambda s: _LONE_SURROGATE.sub("\ufffd", s))
        except RecursionError:  # deeper than orjson's 1024 levels and than this interpreter's stack
            raise ValueError(f"JSON nested too deeply: {exc}") from None
        return value


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A parsed JSON value with `fn` applied to every string in it, keys included (RecursionError when deep)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(item, fn) for item in value]
    if isinstance(value, dict):
        return {fn(k): map_strings(v, fn) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    """Compact JSON text; ValueError for nesting past the stack (a lone surrogate passes: see `dumpb`)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: big ints, non-str keys, depth > 255, types orjson does not know
        return _stdlib_dumps(value)


def dumpb(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (for HTTP bodies and Redis fields); ValueError as `dumps`."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _stdlib_dumps(value).encode()  # UnicodeEncodeError (a ValueError) for a lone surrogate


def _stdlib_dumps(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise ValueError("value nested too deeply to encode as JSON") from None
