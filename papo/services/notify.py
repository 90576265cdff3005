"""Owner notifications: anyone appends to the `papo:notify` stream; the admin bot's alert consumer delivers them.

Call `notify_owner(redis, user_id, kind, payload)` from any process (pipeline, publisher, token checker).
The entry is JSON (`{"v": "1", "data": ...}`, like every Papo stream). Pass `dedupe_key` when the same
fact may be reported twice (a retried worker, a daily token check): the marker and the append happen
in one Lua script, so a notification is never marked sent without being queued.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from papo.constants import NOTIFY_SEEN, NOTIFY_STREAM
from papo.streams import codec

NOTIFY_GROUP = "bot"
NOTIFY_MAXLEN = 100_000
NOTIFY_DEDUPE_TTL = 8 * 24 * 3600

# The kinds the bot knows how to render; unknown kinds are still delivered as a generic alert.
HOT_LEAD = "hot_lead"
COMPLAINT = "complaint"
FOLLOW_UP_DUE = "follow_up_due"
POST_FAILED = "post_failed"
TOKEN_EXPIRING = "token_expiring"
ACCOUNT_DISCONNECTED = "account_disconnected"
ACCOUNT_CLAIMED = "account_claimed"  # another business tried to connect an account this one holds
REPLY_FAILED = "reply_failed"  # a reply to a customer gave up or was refused: it never reached them
RULE = "rule"  # a notify_owner automation rule fired
HANDOFF = "handoff"  # a handoff rule paused automation in a conversation: the owner takes it from here
BROADCAST_FINISHED = "broadcast_finished"  # a campaign went to everyone it could: its results
QUOTA_REACHED = "quota_reached"  # an automatic extra (AI) stopped at the plan's monthly limit (papo.services.plans)
KINDS = (HOT_LEAD, COMPLAINT, FOLLOW_UP_DUE, POST_FAILED, TOKEN_EXPIRING, ACCOUNT_DISCONNECTED, ACCOUNT_CLAIMED,
         REPLY_FAILED, RULE, BROADCAST_FINISHED, QUOTA_REACHED)

_APPEND = """
if KEYS[1] ~= '' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    return false
  end
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'v', ARGV[3], 'data', ARGV[4])
"""


async def notify_owner(
    redis: aioredis.Redis,
    user_id: uuid.UUID | str,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> str | None:
    """Queue one notification for a business's linked Telegram accounts; the entry id, None if a duplicate.

    Payload fields the bot uses (all optional, all JSON values): `lead_id`, `conversation_id`,
    `remote_user_id` (finds the lead when `lead_id` is missing), `name`/`customer`, `platform`, `text`,
    `message`, `rule`, `score`, `post_id`, `title`, `error`, `account_id`, `expires_at`, `due_at`.
    """
    if not kind:
        raise ValueError("notification kind is empty")
    data = {
        "user_id": str(user_id),
        "kind": kind,
        "payload": json.loads(json.dumps(payload, default=str)),  # UUIDs/datetimes become strings
        "at": datetime.now(UTC).isoformat(),
    }
    fields = codec.encode(data)
    seen = NOTIFY_SEEN + dedupe_key if dedupe_key else ""
    entry = await redis.eval(
        _APPEND, 2, seen, NOTIFY_STREAM, NOTIFY_DEDUPE_TTL, NOTIFY_MAXLEN, fields["v"], fields["data"]
    )
    if entry is None:
        return None
    return entry.decode() if isinstance(entry, bytes) else str(entry)
