"""What every OAuth client shares: the token set, expiry arithmetic and one JSON HTTP call with error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from papo.adapters.oauth.errors import OAuthError

REQUEST_TIMEOUT = 20.0  # seconds for one OAuth/Graph/hub call
# Maps (HTTP status, parsed JSON body or None, raw text) to the error to raise.
ErrorMapper = Callable[[int, Any, str], OAuthError]


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSet:
    """Tokens a platform granted; never printed (repr hides the secrets)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None  # None: the platform says it does not expire
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    subject: str | None = None  # the platform's id of who granted it (TikTok open_id)


def expiry(seconds: Any, now: datetime | None = None) -> datetime | None:
    """`now + seconds` for an `expires_in`; None when absent or 0 (Meta's "never expires")."""
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    return (now or datetime.now(UTC)) + timedelta(seconds=value)


def scopes_of(value: Any) -> tuple[str, ...]:
    """Scopes from a comma- or space-separated string (TikTok uses commas, Google spaces)."""
    if not isinstance(value, str):
        return ()
    return tuple(s for s in value.replace(",", " ").split() if s)


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (platform payloads are validated at the edge)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list, skipping anything else."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """A non-empty string, or None (ids arrive as numbers sometimes)."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


async def call_json(
    session: aiohttp.ClientSession,
    platform: str,
    method: str,
    url: str,
    *,
    on_error: ErrorMapper,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Call an API and return its JSON object; network trouble and 5xx are transient OAuthErrors.

    `allow_empty`: a success without a body (revocations) is an empty object instead of an error.
    """
    try:
        async with session.request(method, url, params=params, data=data, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as resp:
            text = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OAuthError(platform, f"cannot reach {_host(url)}: {type(exc).__name__} {exc}".strip(),
                         transient=True) from None
    try:
        body: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        body = None
    if status >= 400:
        raise on_error(status, body, text)
    if body is None and allow_empty:
        return {}
    if not isinstance(body, dict):
        raise OAuthError(platform, f"{_host(url)} answered HTTP {status} without a JSON object",
                         http_status=status, transient=status >= 500)
    return body


def status_error(platform: str, status: int, text: str) -> OAuthError:
    """The error for an answer that carries no structured error: its HTTP status and a bit of its text."""
    snippet = " ".join(text.split())[:200] or "(empty body)"
    return OAuthError(platform, f"HTTP {status}: {snippet}", http_status=status,
                      revoked=status == 401, transient=status >= 500 or status == 429)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
