"""One private reply per comment: the first outbound id to claim a comment owns it, and gives it back when
its send certainly failed (Redis SET NX on `papo:private-reply:<account>:<comment>`).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from papo.adapters.senders.message import OutboundMessage
from papo.constants import private_reply_key


async def claim_comment(redis: aioredis.Redis, request: OutboundMessage, *, days: float) -> bool:
    """One private reply per comment: the first outbound id to claim the comment owns it (for `days` + 1)."""
    key = private_reply_key(request.account_id, request.comment_id)
    if await redis.set(key, request.outbound_id, nx=True, ex=int((days + 1) * 86400)):
        return True
    return await redis.get(key) == request.outbound_id


async def release_comment(redis: aioredis.Redis, request: OutboundMessage) -> None:
    """Give the comment back after a send that certainly failed (another reply may try)."""
    key = private_reply_key(request.account_id, request.comment_id)
    if await redis.get(key) == request.outbound_id:
        await redis.delete(key)
