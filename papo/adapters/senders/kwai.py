"""Kwai custom channel, outbound: Papo POSTs each reply to the account's callback URL, signed like inbound.

`base_url` is the account's `connected_accounts.callback_url` and `token` its webhook secret (the same
secret that signs the inbound events); the format is documented in README.md next to this module.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from papo.adapters.kwai import SIGNATURE_HEADER, sign
from papo.adapters.senders.base import HttpAnswer, post_json
from papo.adapters.senders.errors import (
    InvalidRequest,
    InvalidToken,
    PermanentError,
    RateLimited,
    SendError,
    Transient,
)
from papo.adapters.senders.graph import check_text
from papo.adapters.senders.message import OutboundMessage, SendResult
from papo.enums import Platform

FORMAT_VERSION = 1
TEXT_LIMIT = 4096
IDEMPOTENCY_HEADER = "Idempotency-Key"


def build_body(request: OutboundMessage) -> dict[str, Any]:
    """The JSON body of one reply in Papo's Kwai outbound format (version 1)."""
    reply: dict[str, Any] = {
        "id": request.outbound_id,
        "type": str(request.kind),
        "timestamp": int(request.created_at.timestamp()),
        "user": {"id": request.recipient_id},
        "text": check_text(request.text, limit=TEXT_LIMIT, what="Kwai reply"),
    }
    for name in ("comment_id", "reply_to"):
        if getattr(request, name):
            reply[name] = getattr(request, name)
    if request.buttons:
        reply["buttons"] = [{"id": b.id, "title": b.title} for b in request.buttons]
    return {"version": FORMAT_VERSION, "account_id": request.platform_account_id, "replies": [reply]}


def callback_error(answer: HttpAnswer) -> SendError:
    """The SendError for a non-2xx answer of the connector."""
    err = answer.body.get("error")
    message = str(err if isinstance(err, str) else answer.body.get("detail") or f"HTTP {answer.status}")
    kwargs: dict[str, Any] = {"code": answer.status, "http_status": answer.status,
                              "retry_after": answer.retry_after(), "details": answer.text[:500]}
    if answer.status in (401, 403):
        return InvalidToken(f"the Kwai connector refused Papo's signature: {message}", **kwargs)
    if answer.status == 429:
        return RateLimited(message, **kwargs)
    if answer.status >= 500 or answer.status == 408:
        return Transient(message, **kwargs)
    if 400 <= answer.status < 500:
        return InvalidRequest(message, **kwargs)
    return PermanentError(message, **kwargs)


class KwaiSender:
    """Posts replies to the Kwai connector's callback URL."""

    platform = Platform.KWAI

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """Sign and POST; the connector may answer `{"message_id"}`, else the outbound id names the message."""
        if not base_url:
            raise PermanentError("this Kwai account has no callback URL (connected_accounts.callback_url)")
        if request.template is not None:
            raise InvalidRequest("the Kwai channel has no message templates")
        body = json.dumps(build_body(request), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {SIGNATURE_HEADER: sign(body, token, int(time.time())), IDEMPOTENCY_HEADER: request.outbound_id}
        answer = await post_json(session, base_url, body, headers=headers)
        if not answer.ok:
            raise callback_error(answer)
        # Status events from the connector name the message by Papo's outbound id (KWAI.md, `status`).
        return SendResult(platform_message_id=str(answer.body.get("message_id") or request.outbound_id),
                          raw=answer.body)
