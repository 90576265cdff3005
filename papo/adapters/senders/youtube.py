"""YouTube Data API `comments.insert`: a public reply under a comment (YouTube has no direct messages).

`POST {youtube}/youtube/v3/comments?part=snippet` with `{"snippet": {"parentId", "textOriginal"}}`;
`parentId` must be a top-level comment. Costs 50 quota units (default quota 10,000 units/day, reset
at midnight Pacific). Errors: `{"error": {"code", "message", "errors": [{"domain", "reason"}]}}`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from papo.adapters.senders.base import HttpAnswer, bearer, post_json
from papo.adapters.senders.errors import (
    InvalidRequest,
    InvalidToken,
    PermanentError,
    PermissionDenied,
    RateLimited,
    SendError,
    Transient,
)
from papo.adapters.senders.graph import check_text
from papo.adapters.senders.message import OutboundKind, OutboundMessage, SendResult
from papo.enums import Platform

TEXT_LIMIT = 10_000
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
PERMISSION_REASONS = frozenset({"forbidden", "ineligibleAccount", "insufficientPermissions"})
PACIFIC = ZoneInfo("America/Los_Angeles")


def seconds_to_quota_reset(now: datetime | None = None) -> float:
    """Seconds until the daily quota resets (midnight Pacific time)."""
    local = (now or datetime.now(UTC)).astimezone(PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - local).total_seconds()


def youtube_error(answer: HttpAnswer) -> SendError:
    """The SendError for a non-2xx Data API answer, by `errors[].reason` first."""
    found = answer.body.get("error")
    err: dict[str, Any] = found if isinstance(found, dict) else {}
    reasons = {str(e.get("reason")) for e in err.get("errors") or [] if isinstance(e, dict)}
    reason = next(iter(sorted(reasons)), None)
    message = str(err.get("message") or f"HTTP {answer.status}")
    kwargs: dict[str, Any] = {"code": reason or answer.status, "http_status": answer.status,
                              "retry_after": answer.retry_after(), "details": err or answer.text[:500]}
    if reasons & QUOTA_REASONS:
        kwargs["retry_after"] = seconds_to_quota_reset()
        return RateLimited(f"YouTube daily quota exhausted: {message}", **kwargs)
    if reasons & RATE_REASONS or answer.status == 429:
        return RateLimited(message, **kwargs)
    if answer.status == 401 or "authError" in reasons:
        return InvalidToken(message, **kwargs)
    if reasons & PERMISSION_REASONS or answer.status == 403:
        return PermissionDenied(message, **kwargs)
    if answer.status >= 500 or "backendError" in reasons:
        return Transient(message, **kwargs)
    if answer.status in (400, 404):
        return InvalidRequest(message, **kwargs)
    return PermanentError(message, **kwargs)


class YouTubeSender:
    """Replies to YouTube comments."""

    platform = Platform.YOUTUBE

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """comments.insert under the comment's thread."""
        if request.kind is not OutboundKind.COMMENT_REPLY:
            raise InvalidRequest("YouTube has no direct messages: only replies to comments")
        parent = request.parent_comment_id or request.comment_id
        if not parent:
            raise InvalidRequest("YouTube comment reply without a comment_id")
        text = check_text(request.text, limit=TEXT_LIMIT, what="YouTube comment reply")
        payload = {"snippet": {"parentId": parent, "textOriginal": text}}
        url = f"{base_url.rstrip('/')}/youtube/v3/comments"
        answer = await post_json(session, url, payload, headers=bearer(token), params={"part": "snippet"})
        if not answer.ok:
            raise youtube_error(answer)
        return SendResult(platform_message_id=answer.body.get("id"), raw=answer.body)
