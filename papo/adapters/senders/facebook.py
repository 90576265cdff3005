"""Facebook Pages: Messenger Send API (`POST {graph}/{page_id}/messages`) and comment replies.

- DM: `{"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text", "quick_replies"}}`
  (text at most 2000 characters); outside the 24 h window Meta answers 10/2018278.
- Private reply to a comment: `"recipient": {"comment_id": …}` on the same endpoint (one per comment).
- Public reply: `POST {graph}/{comment_id}/comments` with `message`; answer `{"id"}`.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from papo.adapters.senders.errors import InvalidRequest
from papo.adapters.senders.graph import check_text, quick_replies, send_messaging
from papo.adapters.senders.message import OutboundKind, OutboundMessage, SendResult
from papo.enums import Platform

TEXT_LIMIT = 2000
COMMENT_LIMIT = 8000


def build_message(request: OutboundMessage) -> dict[str, Any]:
    """The Send API body of a DM or private reply (always a RESPONSE to the customer)."""
    text = check_text(request.text, limit=TEXT_LIMIT, what="Messenger message")
    if request.kind is OutboundKind.PRIVATE_REPLY:
        if not request.comment_id:
            raise InvalidRequest("Facebook private reply without a comment_id")
        recipient: dict[str, str] = {"comment_id": request.comment_id}
    else:
        recipient = {"id": request.recipient_id}
    message: dict[str, Any] = {"text": text}
    if request.buttons and request.kind is OutboundKind.REPLY:
        message["quick_replies"] = quick_replies(request.buttons, what="Messenger")
    return {"recipient": recipient, "messaging_type": "RESPONSE", "message": message}


class FacebookSender:
    """Sends Messenger messages and Page comment replies."""

    platform = Platform.FACEBOOK

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """DM, private reply or public comment reply, by `request.kind`."""
        return await send_messaging(request, token, session, base_url, what="Facebook", comment_edge="comments",
                                    comment_limit=COMMENT_LIMIT, build_message=build_message)
