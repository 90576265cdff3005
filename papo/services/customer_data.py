"""Data requests (LGPD): everything Papo holds about one customer of one business, as one JSON document.

A customer is (business, platform, the platform's id of the person): the same platform id at another
business is another customer, never looked at. `papo.services.customer_erase` deletes or anonymises what
this module finds.

Where the customer's data lives:
- PostgreSQL: `conversations` (one per connected account), their `messages`, the `crm_leads` row (status,
  quality, score, tags, follow-up, metadata), `interactions` (likes, follows, story views);
- MongoDB: `ai_interactions` of those conversations (the classified text), `analytics_logs` events that
  name one of them, `raw_webhooks` bodies that name the customer and one of the business's accounts;
- Redis: the active-conversation cache (`papo:active:<conversation>`), rule cooldowns and reply caps,
  the WhatsApp phone → user id index, private-reply claims on the customer's comments, and the owner alerts
  about the customer still in the `papo:notify` stream (it keeps the last 100,000);
- files: Papo's own uploads (`<PAPO_DATA_DIR>/media/`) that the customer's messages point at.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from tortoise import Tortoise

from papo.analytics.store import BY_BUSINESS_AND_DATE
from papo.constants import ACTIVE_CONVERSATION, MONGO_AI_INTERACTIONS, MONGO_ANALYTICS, MONGO_RAW_WEBHOOKS
from papo.enums import Platform
from papo.models import Conversation, Lead
from papo.runtime import Stores
from papo.services import NotFound, ServiceError
from papo.services.accounts import parse_platform
from papo.services.ids import ERASED_PREFIX
from papo.services.media import find_media
from papo.services.notify import NOTIFY_STREAM
from papo.services.templates import UserRef, user_id
from papo.streams import codec

if TYPE_CHECKING:
    from papo.config import Settings

FORMAT_VERSION = 1
MAX_REMOTE_ID = 255


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer of one business: the business, the platform and the platform's id of the person."""

    user_id: uuid.UUID
    platform: Platform
    remote_user_id: str


def customer(user: UserRef, platform: str | Platform, remote_user_id: str) -> Customer:
    """A Customer from input; ServiceError for an unknown platform or an empty/erased id."""
    remote = (remote_user_id or "").strip()
    if not remote:
        raise ServiceError("the customer's platform id (--remote-id) must not be empty")
    if len(remote) > MAX_REMOTE_ID or remote.startswith(ERASED_PREFIX):
        raise ServiceError(f"{remote_user_id[:40]!r} is not a customer's platform id")
    kind = platform if isinstance(platform, Platform) else parse_platform(platform)
    return Customer(user_id(user), kind, remote)


async def customer_of_lead(user: UserRef, lead_id: uuid.UUID) -> tuple[Customer, str]:
    """The customer behind one of the business's leads, and the name they go by; NotFound otherwise."""
    lead = await Lead.get_or_none(id=lead_id, user_id=user_id(user))
    if lead is None or lead.remote_user_id.startswith(ERASED_PREFIX):
        raise NotFound(f"no lead {lead_id}")
    return customer(user, str(lead.platform), lead.remote_user_id), lead.remote_user_name or lead.remote_user_id


async def customer_of_conversation(user: UserRef, conversation_id: uuid.UUID) -> tuple[Customer, str]:
    """The customer of one of the business's conversations, and the name they go by; NotFound otherwise."""
    conv = await Conversation.get_or_none(id=conversation_id, user_id=user_id(user))
    if conv is None or conv.remote_user_id.startswith(ERASED_PREFIX):
        raise NotFound(f"no conversation {conversation_id}")
    return customer(user, str(conv.platform), conv.remote_user_id), conv.remote_user_name or conv.remote_user_id


def export_file_name(who: Customer) -> str:
    """`papo-customer-<platform>-<id>.json`, with only safe characters from the id."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", who.remote_user_id)[:60]
    return f"papo-customer-{who.platform.value}-{safe}.json"


# ------------------------------------------------------------------ finding the customer's rows


async def conversation_rows(who: Customer) -> list[dict[str, Any]]:
    """The customer's conversations (one per connected account of the business)."""
    return await Tortoise.get_connection("default").execute_query_dict(
        "SELECT c.*, a.platform_account_id FROM conversations c LEFT JOIN connected_accounts a ON a.id = c.account_id "
        "WHERE c.user_id = $1 AND c.platform = $2 AND c.remote_user_id = $3 ORDER BY c.created_at",
        [who.user_id, who.platform.value, who.remote_user_id])


async def message_rows(conversation_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Every message of these conversations, oldest first."""
    if not conversation_ids:
        return []
    return await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM messages WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, created_at",
        [conversation_ids])


async def lead_row(who: Customer) -> dict[str, Any] | None:
    """The customer's CRM lead, if there is one."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM crm_leads WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3",
        [who.user_id, who.platform.value, who.remote_user_id])
    return rows[0] if rows else None


async def interaction_rows(who: Customer) -> list[dict[str, Any]]:
    """Likes, follows and story views of the customer."""
    return await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM interactions WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3 ORDER BY occurred_at",
        [who.user_id, who.platform.value, who.remote_user_id])


async def account_ids(who: Customer) -> list[str]:
    """The platform ids of the business's accounts on the customer's platform."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT platform_account_id FROM connected_accounts WHERE user_id = $1 AND platform = $2",
        [who.user_id, who.platform.value])
    return [r["platform_account_id"] for r in rows]


def conversation_refs(conversation_ids: list[uuid.UUID]) -> list[Any]:
    """The ids as MongoDB documents hold them: a BSON UUID in some, its string in others."""
    return [*conversation_ids, *(str(c) for c in conversation_ids)]


def ai_filter(who: Customer, conversation_ids: list[uuid.UUID]) -> dict[str, Any]:
    """`ai_interactions` of the customer's conversations."""
    return {"user_id": who.user_id, "conversation_id": {"$in": conversation_refs(conversation_ids)}}


def analytics_filter(who: Customer, conversation_ids: list[uuid.UUID]) -> dict[str, Any]:
    """`analytics_logs` events that name one of the customer's conversations."""
    return {"user_id": who.user_id, "data.conversation_id": {"$in": conversation_refs(conversation_ids)}}


def raw_filter(who: Customer, accounts: list[str]) -> dict[str, Any] | None:
    """`raw_webhooks` bodies on the platform naming the customer's id and one of the business's accounts.

    Ids are JSON strings in every platform's payloads, so `"<id>"` with its quotes matches the id itself
    and not a longer id that contains it. None when the business has no account there (nothing to find).
    """
    if not accounts:
        return None
    return {"platform": who.platform.value, "$and": [
        {"body": {"$regex": re.escape(f'"{who.remote_user_id}"')}},
        {"body": {"$regex": "|".join(re.escape(f'"{a}"') for a in accounts)}},
    ]}


async def alert_entries(redis: aioredis.Redis, who: Customer, conversation_ids: list[uuid.UUID],
                        lead_ids: list[uuid.UUID], *, page: int = 1000) -> list[tuple[str, dict[str, Any]]]:
    """Owner alerts about the customer still in the notify stream: (entry id, decoded entry)."""
    convs, leads = {str(c) for c in conversation_ids}, {str(lead) for lead in lead_ids}
    found, start = [], "-"
    while True:
        batch = await redis.xrange(NOTIFY_STREAM, min=start, count=page)
        for entry_id, fields in batch:
            try:
                data = codec.decode(fields)
            except codec.CodecError:
                continue
            payload = data.get("payload") or {}
            if str(data.get("user_id")) != str(who.user_id) or not isinstance(payload, dict):
                continue
            named = payload.get("remote_user_id") == who.remote_user_id and \
                payload.get("platform", who.platform.value) == who.platform.value
            if named or str(payload.get("conversation_id")) in convs or str(payload.get("lead_id")) in leads:
                found.append((entry_id, data))
        if len(batch) < page:
            return found
        start = f"({batch[-1][0]}"  # exclusive: after the last entry read


def media_names(messages: list[dict[str, Any]]) -> list[str]:
    """Names of Papo's own uploads (`…/media/<name>`) the messages point at."""
    names = []
    for row in messages:
        url = row.get("media_url") or ""
        if "/media/" in url:
            name = url.rsplit("/", 1)[-1]
            if name not in names:
                names.append(name)
    return names


def media_files(settings: Settings, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored files behind the messages' media: name, path, size and the URL that served it."""
    files = []
    for name in media_names(messages):
        found = find_media(settings, name)
        if found is not None:
            path, content_type = found
            files.append({"name": name, "path": str(path), "content_type": content_type,
                          "size": path.stat().st_size})
    return files


# ------------------------------------------------------------------ export


def jsonable(value: Any) -> Any:
    """A database or MongoDB value as JSON (UUIDs and ObjectIds as strings, times as ISO-8601)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def _find(stores: Stores, collection: str, query: dict[str, Any] | None,
                order: str = "created_at", hint: Any = None) -> list[dict[str, Any]]:
    """The documents matching `query`, oldest first (none for no query)."""
    if query is None:
        return []
    return await stores.analytics.db[collection].find(query, hint=hint).sort(order, 1).to_list(length=None)


async def export_customer(stores: Stores, settings: Settings, who: Customer) -> dict[str, Any]:
    """Everything Papo holds about the customer, as a JSON-ready dict; NotFound when it holds nothing."""
    conversations = await conversation_rows(who)
    conv_ids = [c["id"] for c in conversations]
    messages = await message_rows(conv_ids)
    lead = await lead_row(who)
    interactions = await interaction_rows(who)
    ai, events = [], []
    if conv_ids:
        ai = await _find(stores, MONGO_AI_INTERACTIONS, ai_filter(who, conv_ids), hint=BY_BUSINESS_AND_DATE)
        events = await _find(stores, MONGO_ANALYTICS, analytics_filter(who, conv_ids), hint=BY_BUSINESS_AND_DATE)
    raw = await _find(stores, MONGO_RAW_WEBHOOKS, raw_filter(who, await account_ids(who)), "received_at")
    if not (conversations or lead or interactions or raw):
        raise NotFound(f"no customer {who.remote_user_id!r} on {who.platform.value} for this business")
    by_conv: dict[Any, list[dict[str, Any]]] = {c: [] for c in conv_ids}
    for row in messages:
        by_conv[row["conversation_id"]].append(row)
    cache = {}
    for conv_id in conv_ids:
        found = await stores.redis.hgetall(f"{ACTIVE_CONVERSATION}{conv_id}")
        if found:
            cache[str(conv_id)] = found
    return jsonable({
        "format": FORMAT_VERSION,
        "exported_at": datetime.now(UTC),
        "customer": {"business_id": who.user_id, "platform": who.platform.value,
                     "remote_user_id": who.remote_user_id},
        "conversations": [{**c, "messages": by_conv[c["id"]]} for c in conversations],
        "lead": lead,
        "interactions": interactions,
        "ai_interactions": ai,
        "analytics_events": events,
        "raw_webhooks": raw,
        "media_files": media_files(settings, messages),
        "caches": {"active_conversations": cache},
        "owner_alerts": [data for _, data in await alert_entries(
            stores.redis, who, conv_ids, [lead["id"]] if lead else [])],
    })
