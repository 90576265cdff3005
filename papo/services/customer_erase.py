"""Data requests (LGPD): erase one customer of one business everywhere, keeping the business's totals.

What counts in the stats stays, anonymised; what only describes the person goes:
- PostgreSQL: the conversations and the lead keep their rows with the person taken out (the id becomes
  `erased:<row id>`, name, avatar, email, phone, tags, follow-up and notes are cleared; the lead keeps its
  quality, status, score and dates), so message counts, response times and leads by quality stay right.
  Messages keep sender, type, kind, times and delivery status; their text, media, platform ids and
  metadata are cleared. Likes, follows and story views (`interactions`) are deleted.
- MongoDB: `ai_interactions` keep intent, sentiment and score (the stats' top intents) without the text or
  the conversation; `analytics_logs` events keep their type, platform, time and figures without the ids that
  lead back to the person; archived raw webhook bodies naming the customer are deleted.
- Redis: the active-conversation cache, rule cooldowns and reply caps, the WhatsApp phone index entries,
  private-reply claims of the customer's comments and owner alerts about the customer (`papo:notify`; the
  alert consumer acknowledges an entry that is gone) are deleted.
- Files: Papo's uploads the customer's messages point at, unless a post or another message uses them.

Idempotent: erased rows no longer carry the customer's id, so erasing again finds nothing. A message of
the customer arriving during or after the erasure files under a fresh conversation and lead (the unique
keys no longer match the erased rows); the rows are locked lead first, then conversations, the order
the pipeline's CRM stage takes them, so the two never deadlock.

Deliberately kept: the webhook dedupe markers (event ids, value "1", gone within 8 days: deleting them would
let a platform's retry bring an erased message back) and the outbound ledger (`papo:sent:<id>`, so a reply
in flight is never sent twice).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.analytics.store import BY_BUSINESS_AND_DATE
from papo.constants import (
    ACTIVE_BY_USER,
    ACTIVE_CONVERSATION,
    MONGO_AI_INTERACTIONS,
    MONGO_ANALYTICS,
    MONGO_RAW_WEBHOOKS,
    private_reply_key,
    rule_state_keys,
)
from papo.enums import Platform
from papo.runtime import Stores
from papo.services.customer_data import (
    Customer,
    account_ids,
    ai_filter,
    alert_entries,
    analytics_filter,
    media_names,
    raw_filter,
)
from papo.services.ids import ERASED_PREFIX
from papo.services.media import find_media
from papo.services.notify import NOTIFY_STREAM
from papo.services.whatsapp_ids import PHONE_INDEX

if TYPE_CHECKING:
    from papo.config import Settings

# analytics_logs `data` keys that point back at the person or their conversation.
PERSONAL_EVENT_KEYS = frozenset({"conversation_id", "message_id", "platform_message_id", "outbound_id",
                                 "remote_user_id", "customer", "text", "recipient_id", "recipient_phone"})


@dataclass(slots=True)
class Erasure:
    """What one erasure changed, per store."""

    conversations: int = 0
    messages: int = 0
    leads: int = 0
    interactions: int = 0
    ai_interactions: int = 0
    analytics_events: int = 0
    raw_webhooks: int = 0
    redis_keys: int = 0
    media_files: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        """Whether there was nothing left to erase (an earlier erasure did it, or the customer is unknown)."""
        return not any(getattr(self, f.name) for f in fields(self))


@dataclass(slots=True)
class _Found:
    """What the PostgreSQL part saw before clearing it, for the other stores."""

    conversations: list[uuid.UUID] = field(default_factory=list)
    comments: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (connected account, comment id)
    accounts: list[str] = field(default_factory=list)  # platform ids of the conversations' accounts
    phones: set[str] = field(default_factory=set)
    media: list[str] = field(default_factory=list)
    leads: list[uuid.UUID] = field(default_factory=list)


async def erase_customer(stores: Stores, settings: Settings, who: Customer) -> Erasure:
    """Erase the customer (see the module docstring); what was changed."""
    report = Erasure()
    # MongoDB and Redis first, found through the rows as they are: if either cannot be reached, nothing is
    # erased yet and the erasure simply runs again (once PostgreSQL is done, the rows no longer lead to the
    # customer). Then once more after PostgreSQL, for what the pipeline wrote meanwhile.
    async with in_transaction() as conn:
        before, _ = await _look(conn, who, lock=False)
    await _erase_elsewhere(stores, who, before, report)
    found = await _erase_rows(who, report)
    await _erase_elsewhere(stores, who, found, report)
    report.media_files = await _erase_media(settings, found.media)
    return report


async def _erase_elsewhere(stores: Stores, who: Customer, found: _Found, report: Erasure) -> None:
    """MongoDB documents and Redis keys (both idempotent: a second pass changes only what is new)."""
    await _erase_documents(stores, who, found, report)
    await _erase_keys(stores, who, found, report)


async def _look(conn: Any, who: Customer, *, lock: bool) -> tuple[_Found, list[uuid.UUID]]:
    """The customer's conversations and what the other stores need from them, and the lead ids.

    With `lock`, the lead row is locked first, then the conversations: the order the CRM stage takes them.
    """
    key = [who.user_id, who.platform.value, who.remote_user_id]
    leads = await conn.execute_query_dict(
        "SELECT id, phone FROM crm_leads WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3"
        + (" FOR UPDATE" if lock else ""), key)
    convs = await conn.execute_query_dict(
        "SELECT c.id, a.platform_account_id FROM conversations c LEFT JOIN connected_accounts a "
        "ON a.id = c.account_id WHERE c.user_id = $1 AND c.platform = $2 AND c.remote_user_id = $3"
        + (" FOR UPDATE OF c" if lock else ""), key)
    found = _Found(conversations=[c["id"] for c in convs],
                   accounts=sorted({c["platform_account_id"] for c in convs if c["platform_account_id"]}),
                   phones={lead["phone"] for lead in leads if lead["phone"]})
    if found.conversations:
        rows = await conn.execute_query_dict(
            "SELECT m.media_url, m.kind, m.platform_message_id, m.metadata ->> 'remote_user_phone' AS phone, "
            "c.account_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.conversation_id = ANY($1::uuid[])", [found.conversations])
        found.media = media_names(rows)
        found.phones |= {r["phone"] for r in rows if r["phone"]}
        found.comments = [(r["account_id"], r["platform_message_id"]) for r in rows
                          if r["kind"] == "comment" and r["platform_message_id"] and r["account_id"]]
    found.leads = [lead["id"] for lead in leads]
    return found, found.leads


async def _erase_rows(who: Customer, report: Erasure) -> _Found:
    """The PostgreSQL part, in one transaction."""
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        found, lead_ids = await _look(conn, who, lock=True)
        if found.conversations:
            count, _ = await conn.execute_query(
                "UPDATE messages SET message_text = NULL, media_url = NULL, media_id = NULL, media_mime = NULL, "
                "platform_message_id = NULL, reply_to_id = NULL, post_id = NULL, metadata = NULL, "
                "delivery_error = NULL WHERE conversation_id = ANY($1::uuid[])", [found.conversations])
            report.messages = int(count)
            count, _ = await conn.execute_query(
                "UPDATE conversations SET platform_conversation_id = $2 || id::text, remote_user_id = $2 || id::text, "
                "remote_user_name = NULL, remote_user_avatar = NULL, tags = '{}', status = 'archived' "
                "WHERE id = ANY($1::uuid[])", [found.conversations, ERASED_PREFIX])
            report.conversations = int(count)
        if lead_ids:
            count, _ = await conn.execute_query(
                "UPDATE crm_leads SET remote_user_id = $2 || id::text, remote_user_name = NULL, email = NULL, "
                "phone = NULL, tags = '{}', next_followup = NULL, "
                "metadata = jsonb_strip_nulls(jsonb_build_object('score', metadata -> 'score', 'erased_at', $3::text)) "
                "WHERE id = ANY($1::uuid[])", [lead_ids, ERASED_PREFIX, now.isoformat()])
            report.leads = int(count)
        count, _ = await conn.execute_query(
            "DELETE FROM interactions WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3",
            [who.user_id, who.platform.value, who.remote_user_id])
        report.interactions = int(count)
    return found


async def _erase_documents(stores: Stores, who: Customer, found: _Found, report: Erasure) -> None:
    """MongoDB: anonymise AI interactions and analytics events, delete raw bodies that name the customer."""
    db = stores.analytics.db
    if found.conversations:
        result = await db[MONGO_AI_INTERACTIONS].update_many(
            ai_filter(who, found.conversations),
            {"$set": {"user_message": None, "ai_response": None, "conversation_id": None, "erased": True}},
            hint=BY_BUSINESS_AND_DATE)
        report.ai_interactions += result.modified_count
        cursor = db[MONGO_ANALYTICS].find(analytics_filter(who, found.conversations), hint=BY_BUSINESS_AND_DATE)
        for doc in await cursor.to_list(length=None):
            data = {k: v for k, v in (doc.get("data") or {}).items() if k not in PERSONAL_EVENT_KEYS}
            await db[MONGO_ANALYTICS].update_one({"_id": doc["_id"]}, {"$set": {"data": {**data, "erased": True}}})
            report.analytics_events += 1
    accounts = sorted(set(found.accounts) | set(await account_ids(who)))
    query = raw_filter(who, accounts)
    if query is not None:
        report.raw_webhooks += (await db[MONGO_RAW_WEBHOOKS].delete_many(query)).deleted_count


async def _erase_keys(stores: Stores, who: Customer, found: _Found, report: Erasure) -> None:
    """Redis: the caches and claims keyed by the customer's conversations, comments and phone."""
    redis = stores.redis
    keys = [f"{ACTIVE_CONVERSATION}{c}" for c in found.conversations]
    keys += [k for c in found.conversations for k in rule_state_keys(str(c))]
    keys += [private_reply_key(account, comment) for account, comment in found.comments]
    if keys:
        report.redis_keys += int(await redis.delete(*keys))
    alerts = [entry_id for entry_id, _ in await alert_entries(redis, who, found.conversations, found.leads)]
    if alerts:
        report.redis_keys += int(await redis.xdel(NOTIFY_STREAM, *alerts))
    if found.conversations:
        report.redis_keys += int(await redis.zrem(f"{ACTIVE_BY_USER}{who.user_id}",
                                                  *(str(c) for c in found.conversations)))
    if who.platform is Platform.WHATSAPP:
        report.redis_keys += await _forget_phones(stores, who, found)


async def _forget_phones(stores: Stores, who: Customer, found: _Found) -> int:
    """Remove the customer from the phone → user id index of the business's WhatsApp numbers.

    Another business that connected the same number shares its index: a phone another business still
    talks to under that user id stays.
    """
    removed = 0
    for account in sorted(set(found.accounts) | set(await account_ids(who))):
        if await _shared(who, account):
            continue
        index = PHONE_INDEX + account
        phones = {p for p in found.phones if p}
        async for phone, owner in stores.redis.hscan_iter(index):  # one pass over the number's customers
            if owner == who.remote_user_id:
                phones.add(phone)
        phones.add(who.remote_user_id)  # a phone-keyed customer (no user id) is its own entry
        removed += int(await stores.redis.hdel(index, *phones))
    return removed


async def _shared(who: Customer, platform_account_id: str) -> bool:
    """Whether another business has a conversation with this customer on the same number."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT 1 FROM conversations c JOIN connected_accounts a ON a.id = c.account_id "
        "WHERE a.platform_account_id = $1 AND c.platform = $2 AND c.remote_user_id = $3 AND c.user_id <> $4 LIMIT 1",
        [platform_account_id, who.platform.value, who.remote_user_id, who.user_id])
    return bool(rows)


async def _erase_media(settings: Settings, names: list[str]) -> list[str]:
    """Delete the uploads only the erased messages used; the names deleted."""
    if not names:
        return []
    conn = Tortoise.get_connection("default")
    used_rows = await conn.execute_query_dict(
        "SELECT url FROM (SELECT unnest(media_urls) AS url FROM posts UNION ALL "
        "SELECT media_url FROM messages WHERE media_url IS NOT NULL) u "
        "WHERE split_part(url, '/media/', 2) = ANY($1::text[])", [names])
    used = {str(r["url"]).rsplit("/", 1)[-1] for r in used_rows}
    deleted = []
    for name in names:
        found = find_media(settings, name)
        if found is not None and name not in used:
            await asyncio.to_thread(found[0].unlink, True)
            deleted.append(name)
    return deleted
