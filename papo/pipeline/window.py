"""The customer-service window: free-form messages only within 24 h of the customer's last message.

Measured from the platform's own timestamp of the customer's newest message (`messages.platform_timestamp`
of the newest sender='remote' row that opens the window), not from when Papo received it. The inbound
worker's Redis cache (`papo:active:<conversation>` field `last_inbound_at`) is read first; it is only
trusted when it says "open", because an out-of-order batch can leave an older time there, never a newer
one. Comments and mentions do not open a DM window (a comment allows one private reply instead).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from tortoise import Tortoise

from papo.constants import ACTIVE_CONVERSATION
from papo.enums import Platform

WINDOW_PLATFORMS = frozenset({Platform.WHATSAPP, Platform.INSTAGRAM, Platform.FACEBOOK})
# Kinds that do not open the messaging window (issue 3's message kinds; echoes are the business's own).
NOT_OPENING = ("comment", "mention", "echo")

_LAST_INBOUND_SQL = """
    SELECT max(platform_timestamp) AS last FROM messages
    WHERE conversation_id = $1 AND sender = 'remote' AND platform_timestamp IS NOT NULL
      AND (kind IS NULL OR kind <> ALL($2::text[]))
"""


@dataclass(frozen=True, slots=True)
class WindowState:
    """Whether free-form messages may be sent now, and why."""

    open: bool
    last_inbound_at: datetime | None
    source: str  # "cache", "database" or "none"

    def reason(self, hours: float) -> str:
        """A sentence for `messages.delivery_error` when the window is closed."""
        if self.last_inbound_at is None:
            return "outside the customer-service window: the customer has not written in this conversation"
        return (f"outside the {hours:g}-hour customer-service window: the customer last wrote at "
                f"{self.last_inbound_at.isoformat()}")


class WindowChecker:
    """Answers "is the 24 h window open for this conversation now?"."""

    def __init__(self, redis: aioredis.Redis, *, hours: float = 24.0, margin_seconds: float = 60.0) -> None:
        self.redis = redis
        self.hours = hours
        # Close a little early: a send that reaches Meta a second late fails asynchronously (131047).
        self.length = timedelta(hours=hours) - timedelta(seconds=margin_seconds)

    def applies_to(self, platform: Platform) -> bool:
        """Whether the platform has a customer-service window."""
        return platform in WINDOW_PLATFORMS

    async def state(self, conversation_id: str, *, now: datetime | None = None) -> WindowState:
        """The window's state; the database decides whenever the cache does not say "open"."""
        now = now or datetime.now(UTC)
        cached = await self.redis.hget(f"{ACTIVE_CONVERSATION}{conversation_id}", "last_inbound_at")
        if cached:
            try:
                at = datetime.fromisoformat(cached)
            except ValueError:
                at = None
            if at is not None and at.tzinfo is not None and now - at < self.length:
                return WindowState(True, at, "cache")
        at = await last_inbound_at(conversation_id)
        if at is None:
            return WindowState(False, None, "none")
        return WindowState(now - at < self.length, at, "database")


async def last_inbound_at(conversation_id: str) -> datetime | None:
    """The platform time of the customer's newest window-opening message in a conversation."""
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict(_LAST_INBOUND_SQL, [uuid.UUID(conversation_id), list(NOT_OPENING)])
    last = rows[0]["last"] if rows else None
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return last
