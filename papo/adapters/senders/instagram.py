"""Instagram: DMs and private replies through `POST {graph}/{ig_id}/messages`, public replies to comments.

- DM: `{"recipient": {"id": IGSID}, "message": {"text", "quick_replies"}}`, text at most 1000 bytes.
- Private reply: `{"recipient": {"comment_id": …}, "message": {"text"}}` — one per comment, within 7 days
  (developers.facebook.com/docs/instagram-platform/private-replies); the pipeline enforces both.
- Public reply: `POST {graph}/{comment_id}/replies` with `message`.
Answer: `{"recipient_id", "message_id"}` (messages) or `{"id"}` (replies).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from papo.adapters.senders.errors import InvalidRequest
from papo.adapters.senders.graph import check_text, quick_replies, send_messaging
from papo.adapters.senders.message import OutboundKind, OutboundMessage, SendResult
from papo.enums import Platform

TEXT_LIMIT_BYTES = 1000
COMMENT_LIMIT = 2200


def build_message(request: OutboundMessage) -> dict[str, Any]:
    """The body of a DM or private reply."""
    text = check_text(request.text, limit=TEXT_LIMIT_BYTES, what="Instagram message", unit="bytes")
    if request.kind is OutboundKind.PRIVATE_REPLY:
        if not request.comment_id:
            raise InvalidRequest("Instagram private reply without a comment_id")
        return {"recipient": {"comment_id": request.comment_id}, "message": {"text": text}}
    message: dict[str, Any] = {"text": text}
    if request.buttons:
        message["quick_replies"] = quick_replies(request.buttons, what="Instagram")
    return {"recipient": {"id": request.recipient_id}, "message": message}


class InstagramSender:
    """Sends through the Instagram messaging API and the comment replies edge."""

    platform = Platform.INSTAGRAM

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """DM, private reply or public comment reply, by `request.kind`."""
        return await send_messaging(request, token, session, base_url, what="Instagram", comment_edge="replies",
                                    comment_limit=COMMENT_LIMIT, build_message=build_message)
