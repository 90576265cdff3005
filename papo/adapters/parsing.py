"""Small, defensive readers for outside payloads, shared by every adapter.

Platform payloads change without notice, so nothing here raises on a missing or oddly typed field:
readers return empty values and the adapters decide what is required. Only the top level of a body
(not JSON, not an object) is an error, raised as PayloadError.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from papo import jsonfast
from papo.adapters.errors import PayloadError, SignatureError

EMPTY: Mapping[str, Any] = {}
# Epoch values above this are milliseconds: 1e11 s is the year 5138, 1e11 ms is March 1973.
_MS_THRESHOLD = 100_000_000_000


def load_json(body: bytes | str, *, what: str = "webhook body") -> Any:
    """Decode JSON from an outside payload, or raise PayloadError with a readable reason.

    A NUL character ("\\u0000", which PostgreSQL refuses in text and jsonb) is dropped from every string,
    so a message carrying one is stored instead of failing in the worker until it is dead-lettered.
    """
    try:
        data = jsonfast.loads(body)
        if (b"\\u0000" if isinstance(body, bytes) else "\\u0000") in body:  # memchr-fast; rare
            data = jsonfast.map_strings(data, _without_nul)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise PayloadError(f"{what} is not valid JSON: {exc}") from None
    return data


def _without_nul(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def load_json_object(body: bytes, *, what: str = "webhook body") -> dict[str, Any]:
    """Decode a JSON object from raw bytes, or raise PayloadError with a readable reason."""
    data = load_json(body, what=what)
    if not isinstance(data, dict):
        raise PayloadError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def as_dict(value: Any) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty mapping."""
    return value if isinstance(value, dict) else EMPTY


def as_list(value: Any) -> list[Any]:
    """The value if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_dicts(value: Any) -> list[Mapping[str, Any]]:
    """The JSON objects of an array, skipping anything else."""
    if type(value) is not list:
        return []
    return [item for item in value if isinstance(item, dict)]


def as_str(value: Any) -> str | None:
    """A non-empty string (numbers are ids too and become strings), else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: Any) -> int | None:
    """An integer from a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def to_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from epoch seconds or milliseconds (number or string) or ISO 8601."""
    if type(value) is str and value.isascii() and value.isdigit():  # epoch seconds as text: the usual form
        return _from_epoch(int(value))
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_epoch(value)
    if isinstance(value, str) and value:
        try:
            number = float(value)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return None
            try:
                return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except OverflowError:  # '0001-01-01T00:00:00+01:00': its UTC instant is before year 1
                return None
        return _from_epoch(number)
    return None


def _from_epoch(number: float) -> datetime | None:
    if not number >= 0:  # negative, or NaN
        return None
    try:
        return datetime.fromtimestamp(number / 1000 if number >= _MS_THRESHOLD else number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name (aiohttp's headers are; plain dicts in tests are not)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value.strip() if isinstance(value, str) else None


def parse_signature_header(value: str) -> dict[str, list[str]]:
    """Split `t=123,s=abc,v1=def` into {name: [values]} (a name may repeat during key rotation)."""
    parts: dict[str, list[str]] = {}
    for element in value.split(","):
        name, sep, item = element.strip().partition("=")
        if sep and item:
            parts.setdefault(name.strip(), []).append(item.strip())
    return parts


def hmac_hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    """Lowercase hex HMAC (RFC 2104) of the raw message bytes.

    The keyed inner and outer hash states are computed once per secret and copied per message: half
    the cost of `hmac.digest`, which sets up OpenSSL's HMAC context for every webhook.
    """
    inner, outer = _hmac_states(secret, algorithm)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


@functools.lru_cache(maxsize=256)
def _hmac_states(secret: str, algorithm: str) -> tuple[Any, Any]:
    """The hash states after absorbing key XOR ipad and key XOR opad (RFC 2104, section 2)."""
    key = secret.encode()
    block = hashlib.new(algorithm).block_size
    if len(key) > block:
        key = hashlib.new(algorithm, key).digest()
    key = key.ljust(block, b"\0")
    return hashlib.new(algorithm, key.translate(hmac.trans_36)), hashlib.new(algorithm, key.translate(hmac.trans_5C))


def require_secret(secret: str | None, what: str) -> str:
    """Fail closed: without a configured secret no request can be trusted."""
    if not secret:
        raise SignatureError(f"{what} is not configured; refusing unsigned webhooks")
    return secret


def check_fresh(timestamp: str, *, now: float, tolerance: float, header: str) -> None:
    """Reject a signed timestamp outside now ± tolerance (replays and clock-skewed forgeries)."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise SignatureError(f"{header} has a malformed timestamp") from None
    if abs(now - signed_at) > tolerance:
        raise SignatureError(
            f"{header} timestamp is {int(now - signed_at)} s off (tolerance {tolerance:g} s)"
        )


def matches_any(expected: str, candidates: list[str]) -> bool:
    """Constant-time comparison of a hex digest against each candidate."""
    found = False
    for candidate in candidates:
        # No short-circuit: every candidate is compared so timing says nothing about which matched.
        found |= hmac.compare_digest(expected.encode(), candidate.lower().encode())
    return found


def short_digest(*parts: Any) -> str:
    """A short, stable digest of some values, for dedupe keys of events that carry no id."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def first_time(*values: Any) -> datetime:
    """The first value that reads as a time; the receive time only if the platform sent none."""
    for value in values:
        parsed = to_datetime(value)
        if parsed is not None:
            return parsed
    return datetime.now(UTC)


def verify_timestamped(headers: Mapping[str, str], body: bytes, key: str, *, header: str, field: str,
                       now: float, tolerance: float) -> None:
    """Check a `t=<unix ts>,<field>=<hex>` header: HMAC-SHA256 of "{t}.{raw body}", then freshness.

    TikTok (`s`) and Papo's own custom-channel format (`v1`) sign the same way. Freshness is checked
    after the HMAC so an unsigned request learns nothing about the time window.
    """
    value = get_header(headers, header)
    if not value:
        raise SignatureError(f"missing {header} header")
    parts = parse_signature_header(value)
    if "t" not in parts or field not in parts:
        raise SignatureError(f"malformed {header} header (expected t=<ts>,{field}=<hex>)")
    timestamp = parts["t"][0]
    if not matches_any(hmac_hex(key, timestamp.encode() + b"." + body), parts[field]):
        raise SignatureError(f"{header} does not match the body")
    check_fresh(timestamp, now=now, tolerance=tolerance, header=header)
