"""The Sender contract, and the one HTTP call every sender makes (with network errors classified)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import aiohttp

from papo.adapters.senders.errors import InDoubt, Transient
from papo.adapters.senders.message import OutboundMessage, SendResult
from papo.enums import Platform

# Connect and read are timed separately on purpose: a connect timeout means the request never left
# (safe to retry), a read timeout means it left and may have been delivered (in doubt, not retried).
SEND_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=20)


@runtime_checkable
class Sender(Protocol):
    """Sends one OutboundMessage through one platform's API. Protocol work only: no business rules."""

    platform: Platform

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """Send, or raise a SendError subclass chosen from the platform's answer."""
        ...


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A platform's HTTP answer: status, headers and the JSON body (`{}` when there is none)."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]
    text: str

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @classmethod
    async def read(cls, resp: aiohttp.ClientResponse) -> HttpAnswer:
        """The answer of a response: its JSON object body, `{}` for an empty or non-object body."""
        text = (await resp.read()).decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            parsed = {}
        return cls(resp.status, parsed if isinstance(parsed, dict) else {}, resp.headers, text[:2000])

    def retry_after(self) -> float | None:
        """The Retry-After header in seconds, when it is a number."""
        value = self.headers.get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any] | bytes,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
) -> HttpAnswer:
    """POST a JSON body; connection failures become Transient, lost answers InDoubt."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    all_headers = {"Content-Type": "application/json", **headers}
    try:
        async with session.post(url, data=body, headers=all_headers, params=params, timeout=SEND_TIMEOUT) as resp:
            return await HttpAnswer.read(resp)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise Transient(f"cannot connect to {_host(url)}: {type(exc).__name__}") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise InDoubt(f"no answer from {_host(url)} after sending ({type(exc).__name__})") from None


def _host(url: str) -> str:
    """The host of a URL, for error messages (never the query, which could hold a token)."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def bearer(token: str) -> dict[str, str]:
    """The Authorization header (tokens go in headers, never in URLs that could be logged)."""
    return {"Authorization": f"Bearer {token}"}
