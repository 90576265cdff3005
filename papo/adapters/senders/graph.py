"""Shared Graph API code for WhatsApp, Instagram and Messenger: the POST and the error-code mapping.

Graph errors look like `{"error": {"message", "type", "code", "error_subcode", "error_data":
{"details"}, "is_transient", "fbtrace_id"}}` (developers.facebook.com/docs/graph-api/guides/
error-handling, WhatsApp …/whatsapp/support/error-codes, Messenger …/messenger-platform/error-codes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from papo.adapters.senders.base import HttpAnswer, bearer, post_json
from papo.adapters.senders.errors import (
    InvalidRequest,
    InvalidToken,
    OutsideWindow,
    PairRateLimited,
    PermanentError,
    PermissionDenied,
    RateLimited,
    RecipientUnavailable,
    SendError,
    TemplateError,
    TemplateParamMismatch,
    Transient,
)
from papo.adapters.senders.message import Button, OutboundKind, OutboundMessage, SendResult

# WhatsApp 131047: re-engagement message (more than 24 h since the customer last wrote).
WINDOW_CODES = frozenset({131047})
# Code 10 with these subcodes: Messenger 2018278 / Instagram 2534022 "outside of allowed window".
WINDOW_SUBCODES = frozenset({2018278, 2534022})
# 4 app, 17 user, 32 page, 613 custom rate limits; 130429 Cloud API throughput; 131048 spam rate limit.
RATE_CODES = frozenset({4, 17, 32, 613, 130429, 131048})
PAIR_RATE_CODES = frozenset({131056})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({3, 10})
RECIPIENT_CODES = frozenset({551, 131021, 131026, 131030, 131049, 131050, 2018001, 2018108})
INVALID_CODES = frozenset({100, 131008, 131009, 131051, 131052, 131053})


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def graph_error(answer: HttpAnswer) -> SendError:
    """The SendError for a non-2xx Graph answer, chosen by code first and HTTP status second."""
    found = answer.body.get("error")
    err: Mapping[str, Any] = found if isinstance(found, dict) else {}
    code = _int(err.get("code"))
    sub = _int(err.get("error_subcode"))
    message = str(err.get("error_user_msg") or err.get("message") or f"HTTP {answer.status}")
    details = err.get("error_data", {}).get("details") if isinstance(err.get("error_data"), dict) else None
    if details and details not in message:
        message = f"{message} ({details})"
    kwargs: dict[str, Any] = {
        "code": code if code is not None else answer.status,
        "subcode": sub,
        "http_status": answer.status,
        "retry_after": answer.retry_after(),
        "details": dict(err) or answer.text[:500],
    }
    status = answer.status
    if code in WINDOW_CODES or (sub in WINDOW_SUBCODES and code in (None, 10, 100)):
        return OutsideWindow(message, **kwargs)
    if code in PAIR_RATE_CODES:
        return PairRateLimited(message, **kwargs)
    if code in RATE_CODES or (code is not None and 80001 <= code <= 80014) or status == 429:
        return RateLimited(message, **kwargs)
    if code == 132000:
        return TemplateParamMismatch(message, **kwargs)
    if code is not None and 132000 < code < 133000:
        return TemplateError(message, **kwargs)
    if code in TOKEN_CODES or status == 401:
        return InvalidToken(message, **kwargs)
    if code in PERMISSION_CODES or (code is not None and 200 <= code <= 299):
        return PermissionDenied(message, **kwargs)
    if code in TRANSIENT_CODES or err.get("is_transient") is True or status >= 500:
        return Transient(message, **kwargs)
    if code in RECIPIENT_CODES:
        return RecipientUnavailable(message, **kwargs)
    if code in INVALID_CODES:
        return InvalidRequest(message, **kwargs)
    return PermanentError(message, **kwargs)


async def graph_post(
    session: aiohttp.ClientSession, base_url: str, path: str, payload: Mapping[str, Any], token: str
) -> dict[str, Any]:
    """POST `payload` to `{base_url}/{path}` with the Bearer token; the JSON answer, or a SendError."""
    answer = await post_json(session, f"{base_url.rstrip('/')}/{path.lstrip('/')}", payload, headers=bearer(token))
    if not answer.ok:
        raise graph_error(answer)
    return answer.body


def check_text(text: str | None, *, limit: int, what: str, unit: str = "characters") -> str:
    """The text, or InvalidRequest when it is empty or over the platform's limit (never cut silently)."""
    if text is None or not text.strip():
        raise InvalidRequest(f"{what}: the message text is empty")
    size = len(text.encode("utf-8")) if unit == "bytes" else len(text)
    if size > limit:
        raise InvalidRequest(f"{what}: the text is {size} {unit}, over the limit of {limit}")
    return text


MAX_QUICK_REPLIES = 13
QUICK_REPLY_TITLE_LIMIT = 20


def quick_replies(buttons: tuple[Button, ...], *, what: str) -> list[dict[str, str]]:
    """Messenger/Instagram `quick_replies` (at most 13, titles up to 20 characters)."""
    if len(buttons) > MAX_QUICK_REPLIES:
        raise InvalidRequest(f"{what}: {len(buttons)} quick replies given, at most {MAX_QUICK_REPLIES}")
    out = []
    for button in buttons:
        if not button.title.strip() or len(button.title) > QUICK_REPLY_TITLE_LIMIT:
            raise InvalidRequest(f"{what}: quick reply title {button.title!r} must be 1-20 characters")
        out.append({"content_type": "text", "title": button.title, "payload": button.id})
    return out


def send_api_result(body: Mapping[str, Any]) -> SendResult:
    """The Send API answer `{"recipient_id", "message_id"}` (or `{"id"}` for comment replies)."""
    return SendResult(
        platform_message_id=body.get("message_id") or body.get("id"),
        recipient=body.get("recipient_id"),
        raw=dict(body),
    )


async def send_messaging(
    request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str, *, what: str,
    comment_edge: str, comment_limit: int, build_message: Callable[[OutboundMessage], dict[str, Any]],
) -> SendResult:
    """Instagram and Messenger alike: a public reply on the comment's edge, else the Send API.

    `comment_edge` is "replies" (Instagram) or "comments" (Facebook); `build_message` builds the
    `/{id}/messages` body (DM or private reply) for the platform.
    """
    if request.template is not None:
        raise InvalidRequest(f"{what} message templates are not supported by Papo")
    if request.kind is OutboundKind.COMMENT_REPLY:
        if not request.comment_id:
            raise InvalidRequest(f"{what} comment reply without a comment_id")
        text = check_text(request.text, limit=comment_limit, what=f"{what} comment reply")
        body = await graph_post(session, base_url, f"{request.comment_id}/{comment_edge}", {"message": text}, token)
    else:
        body = await graph_post(session, base_url, f"{request.platform_account_id}/messages",
                                build_message(request), token)
    return send_api_result(body)
