"""TikTok: no public send API Papo can call.

Direct messages need TikTok's Business Messaging API, which is gated (approved partners only; the
customer starts the chat; 48 h window, 10 messages per window; not offered in the US, EEA,
Switzerland or UK) and whose send endpoint is not in TikTok's public documentation. Comment replies
exist only in the same gated API for Business, which Papo does not call. Every TikTok reply therefore
ends as NotSupported, which the pipeline records as "skipped" with this reason instead of retrying.
"""

from __future__ import annotations

import aiohttp

from papo.adapters.senders.errors import NotSupported
from papo.adapters.senders.message import OutboundKind, OutboundMessage, SendResult
from papo.enums import Platform

DM_REASON = (
    "TikTok direct messages need the gated Business Messaging API, whose send endpoint is not publicly "
    "documented; Papo cannot send TikTok DMs"
)
COMMENT_REASON = "TikTok comment replies need the gated API for Business, which Papo does not call"


class TikTokSender:
    """Refuses clearly: TikTok offers no public send API."""

    platform = Platform.TIKTOK

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """Always NotSupported (see the module docstring)."""
        reason = DM_REASON if request.kind is OutboundKind.REPLY else COMMENT_REASON
        raise NotSupported(reason, code="not_supported")
