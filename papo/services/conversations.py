"""Conversations as owners use them: recent ones, the last messages, replies typed by the owner, archive/mute.

A reply goes out through the outbound pipeline (`manual_reply` → `enqueue_outbound`), never straight to
a platform, so it gets the same window check, rate limits, ledger and records as automated replies.
Outside the 24-hour window a free-form reply is refused here, before queueing, with the approved
WhatsApp templates the owner may send instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from tortoise import Tortoise

from papo.adapters.senders.message import OutboundKind, TemplateMessage
from papo.engine.render import BUILTINS, builtin_values, render
from papo.enums import ConversationStatus, LeadQuality, Platform
from papo.models import Conversation, Message
from papo.services import NotFound, ServiceError, handoff
from papo.services.accounts import parse_platform
from papo.services.ids import ERASED_PREFIX, NOT_ERASED, resolve_id
from papo.services.leads import MessageLine, Page, message_line, parse_choice
from papo.services.owner_reply import manual_reply
from papo.services.queues import DEFAULT_PARTITIONS, enqueue_again, enqueue_outbound
from papo.services.send_ledger import RETRYABLE, SendLedger
from papo.services.templates import TemplateInfo, UserRef, list_templates, user_id
from papo.services.window import WindowChecker

MAX_REPLY = 4096
LANGUAGE_CODES = {"pt-BR": "pt_BR", "en": "en_US", "es": "es"}  # WhatsApp template codes per bot language


class AlreadyRetried(ServiceError):
    """The failed reply is on its way again (or went out meanwhile): another press sends nothing."""


class CannotRetry(ServiceError):
    """The failed reply is no longer kept as it was asked for (the send ledger keeps it 30 days)."""


class WindowClosed(ServiceError):
    """A free-form reply is not allowed now; `templates` are the approved ones that may be sent instead."""

    def __init__(self, message: str, templates: tuple[TemplateInfo, ...] = ()) -> None:
        super().__init__(message)
        self.templates = templates


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation in a list."""

    id: uuid.UUID
    name: str
    platform: str
    status: str
    last_message_at: Any
    last_text: str | None
    lead_quality: str | None
    paused_until: Any = None  # the bot's automated replies paused until then (human handoff); None: it answers


@dataclass(frozen=True, slots=True)
class ConversationView:
    """One conversation opened: its last messages and whether a free-form reply is allowed now."""

    summary: ConversationSummary
    remote_user_id: str
    messages: tuple[MessageLine, ...]
    window_open: bool | None  # None: the platform has no messaging window
    failed_reply: uuid.UUID | None = None  # the newest shown reply that failed (the owner may send it again)
    paused_until: Any = None  # automation paused until then (human handoff); None: the bot answers


@dataclass(frozen=True, slots=True)
class Queued:
    """A reply handed to the outbound pipeline."""

    outbound_id: str
    text: str


def parse_conversation_id(value: str | uuid.UUID) -> uuid.UUID:
    """A conversation id from input; NotFound when it is not a UUID."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no conversation {value!r}") from None


_LIST = """
    SELECT c.id, c.remote_user_id, c.remote_user_name, c.platform, c.status, c.last_message_at, c.lead_quality,
           CASE WHEN c.automation_paused_until > now() THEN c.automation_paused_until END AS paused_until,
           (SELECT coalesce(m.message_text, '[' || coalesce(m.kind, m.message_type) || ']') FROM messages m
             WHERE m.conversation_id = c.id AND m.deleted_at IS NULL
             ORDER BY m.created_at DESC LIMIT 1) AS last_text
    FROM conversations c WHERE {where}
    ORDER BY c.last_message_at DESC NULLS LAST, c.created_at DESC, c.id
    LIMIT {limit} OFFSET {offset}
"""


def _summary(row: dict[str, Any]) -> ConversationSummary:
    return ConversationSummary(
        id=row["id"], name=row["remote_user_name"] or row["remote_user_id"], platform=row["platform"],
        status=row["status"] or ConversationStatus.ACTIVE.value, last_message_at=row["last_message_at"],
        last_text=row["last_text"], lead_quality=row["lead_quality"], paused_until=row["paused_until"],
    )


async def recent_conversations(user: UserRef, *, archived: bool = False, page: int = 0,
                               per_page: int = 8) -> Page[ConversationSummary]:
    """The business's conversations, latest message first (archived ones only when asked)."""
    conn = Tortoise.get_connection("default")
    where = f"c.user_id = $1 AND c.{NOT_ERASED} AND " + ("c.status = 'archived'" if archived else
                                      "coalesce(c.status, 'active') <> 'archived'")
    params: list[Any] = [user_id(user)]
    total = (await conn.execute_query_dict(f"SELECT count(*) AS n FROM conversations c WHERE {where}",
                                           params))[0]["n"]
    pages = max(1, -(-total // per_page))
    page = min(max(0, page), pages - 1)
    rows = await conn.execute_query_dict(_LIST.format(where=where, limit=int(per_page), offset=page * per_page),
                                         params)
    return Page(tuple(_summary(r) for r in rows), page, pages, total)


async def list_conversations(user: UserRef, *, platform: str | None = None, quality: str | None = None,
                             status: str | None = None, limit: int = 50) -> list[ConversationSummary]:
    """The business's conversations (archived ones too), latest message first, filtered by platform, the
    customer's lead quality and the conversation's status (active, archived, muted)."""
    where, params = ["c.user_id = $1"], [user_id(user)]
    for column, value in (("c.platform", platform and parse_platform(platform).value),
                          ("c.lead_quality", quality and parse_choice(LeadQuality, quality, "quality").value),
                          (f"coalesce(c.status, '{ConversationStatus.ACTIVE}')",
                           status and parse_choice(ConversationStatus, status, "status").value)):
        if value:
            params.append(value)
            where.append(f"{column} = ${len(params)}")
    rows = await Tortoise.get_connection("default").execute_query_dict(
        _LIST.format(where=" AND ".join(where), limit=int(limit), offset=0), params)
    return [_summary(r) for r in rows]


async def _conversation(user: UserRef, conversation_id: str | uuid.UUID) -> Conversation:
    """One of the business's conversations by its id or a unique prefix of it (6+ characters)."""
    uid = user_id(user)
    found = await Conversation.get_or_none(
        id=await resolve_id("conversations", conversation_id, user_id=uid, what="conversation"), user_id=uid)
    if found is None or found.remote_user_id.startswith(ERASED_PREFIX):
        raise NotFound(f"no conversation {conversation_id}")
    return found


async def customer_name(user: UserRef, conversation_id: str | uuid.UUID) -> str | None:
    """The name the customer of one of the business's conversations goes by (None if it is not theirs)."""
    found = await Conversation.get_or_none(id=parse_conversation_id(conversation_id), user_id=user_id(user))
    return (found.remote_user_name or found.remote_user_id) if found else None


async def conversation_platform(user: UserRef, conversation_id: str | uuid.UUID) -> str:
    """The platform of one of the business's conversations."""
    return str((await _conversation(user, conversation_id)).platform)


async def get_conversation(redis: aioredis.Redis, user: UserRef, conversation_id: str | uuid.UUID, *,
                           messages: int = 8, window_hours: float = 24.0,
                           window_margin: float = 60.0) -> ConversationView:
    """The conversation with its last messages and its window state."""
    conv = await _conversation(user, conversation_id)
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT id, sender, message_text, message_type, kind, is_automated, delivery_status, delivery_error, "
        "outbound_id, coalesce(platform_timestamp, created_at) AS at FROM messages "
        "WHERE conversation_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT $2",
        [conv.id, messages],
    )
    checker = WindowChecker(redis, hours=window_hours, margin_seconds=window_margin)
    window = (await checker.state(str(conv.id))).open if checker.applies_to(Platform(conv.platform)) else None
    paused = conv.automation_paused_until
    summary = ConversationSummary(
        id=conv.id, name=conv.remote_user_name or conv.remote_user_id, platform=str(conv.platform),
        status=str(conv.status or ConversationStatus.ACTIVE), last_message_at=conv.last_message_at,
        last_text=rows[0]["message_text"] if rows else None,
        lead_quality=str(conv.lead_quality) if conv.lead_quality else None,
        paused_until=paused if paused and paused > datetime.now(UTC) else None,
    )
    failed = next((r["id"] for r in rows if r["sender"] == "user" and r["delivery_status"] == "failed"
                   and r["outbound_id"]), None)
    return ConversationView(summary=summary, remote_user_id=conv.remote_user_id,
                            messages=tuple(message_line(r) for r in reversed(rows)), window_open=window,
                            failed_reply=failed, paused_until=summary.paused_until)


async def approved_templates(user: UserRef, platform: str | Platform) -> tuple[TemplateInfo, ...]:
    """Templates that may be sent outside the window: approved WhatsApp templates with a Meta name."""
    if str(platform) != Platform.WHATSAPP.value:
        return ()
    return tuple(t for t in await list_templates(user, platform=Platform.WHATSAPP)
                 if t.is_approved and t.meta_template_name)


async def reply(redis: aioredis.Redis, user: UserRef, conversation_id: str | uuid.UUID, text: str, *,
                partitions: int = DEFAULT_PARTITIONS, window_hours: float = 24.0,
                window_margin: float = 60.0, handoff_hours: float = 12.0) -> Queued:
    """Queue the owner's reply; WindowClosed (with the approved templates) when the window is closed.

    The owner is now talking to the customer: automation pauses there for `handoff_hours`.
    """
    conv = await _conversation(user, conversation_id)
    body = text.strip()
    if not body:
        raise ServiceError("the reply is empty")
    if len(body) > MAX_REPLY:
        raise ServiceError(f"the reply has {len(body)} characters; the limit is {MAX_REPLY}")
    platform = Platform(conv.platform)
    checker = WindowChecker(redis, hours=window_hours, margin_seconds=window_margin)
    if checker.applies_to(platform) and not (await checker.state(str(conv.id))).open:
        templates = await approved_templates(user, platform)
        raise WindowClosed(f"the {window_hours:g}-hour window of this {platform} conversation is closed", templates)
    request = await manual_reply(conv.id, body, conversation=conv)
    await enqueue_outbound(redis, request, partitions=partitions)
    await _reopen(conv)
    await handoff.pause(user, conv.id, hours=handoff_hours, reason=handoff.OWNER_REPLY, conversation=conv)
    return Queued(request.outbound_id, body)


async def retry_reply(redis: aioredis.Redis, user: UserRef, conversation_id: str | uuid.UUID,
                      message_id: str | uuid.UUID, *, partitions: int = DEFAULT_PARTITIONS,
                      window_hours: float = 24.0, window_margin: float = 60.0) -> Queued:
    """Send one of the business's failed replies again, exactly as it was asked for, through the outbound
    pipeline (window, rate limits, ledger); its `messages` row then says how it went.

    Once per failure however often the owner presses: the ledger moves the reply from failed back to
    `retry` atomically, and a second press finds it on its way (AlreadyRetried). A free-form reply
    outside the 24-hour window raises WindowClosed with the templates that may go instead, like `reply`.
    """
    conv = await _conversation(user, conversation_id)
    try:
        wanted = message_id if isinstance(message_id, uuid.UUID) else uuid.UUID(str(message_id))
    except ValueError:
        raise NotFound(f"no message {message_id!r}") from None
    message = await Message.get_or_none(id=wanted, conversation_id=conv.id, sender="user")
    if message is None or not message.outbound_id:
        raise NotFound(f"no reply {message_id} in this conversation")
    if message.delivery_status != "failed":
        raise AlreadyRetried(f"this reply is {message.delivery_status or 'on its way'}, not failed")
    platform = Platform(conv.platform)
    checker = WindowChecker(redis, hours=window_hours, margin_seconds=window_margin)
    free_form = message.kind == OutboundKind.REPLY.value and not (message.metadata or {}).get("template")
    if free_form and checker.applies_to(platform) and not (await checker.state(str(conv.id))).open:
        raise WindowClosed(f"the {window_hours:g}-hour window of this {platform} conversation is closed",
                           await approved_templates(user, platform))
    ledger = SendLedger(redis)
    reopened = await ledger.reopen(message.outbound_id)
    if not reopened.ok or reopened.request is None:
        if reopened.state in (None, *RETRYABLE):  # failed, but the request itself is gone
            raise CannotRetry("this reply can no longer be sent again as it was; answer by hand")
        raise AlreadyRetried(f"this reply is already being sent again ({reopened.state})")
    # Its latency from the customer's message would measure the owner's delay, not Papo's: not counted.
    request = replace(reopened.request, received_at=None)
    try:
        await enqueue_again(redis, request, retry=reopened.number, partitions=partitions)
    except Exception:
        await ledger.undo_reopen(message.outbound_id, reopened.state_before)
        raise
    return Queued(message.outbound_id, message.message_text or "")


async def template_needs(template: TemplateInfo) -> tuple[str, ...]:
    """The template's variables the owner must type (built-ins such as {first_name} are filled in)."""
    return tuple(v for v in template.variables if v not in BUILTINS)


async def send_template(redis: aioredis.Redis, user: UserRef, conversation_id: str | uuid.UUID,
                        template_id: str | uuid.UUID, values: dict[str, str] | None = None, *,
                        language: str = "pt-BR", partitions: int = DEFAULT_PARTITIONS,
                        handoff_hours: float = 12.0) -> Queued:
    """Queue an approved WhatsApp template for a conversation (allowed outside the window); automation
    pauses there for `handoff_hours`, as after any reply by hand."""
    conv = await _conversation(user, conversation_id)
    templates = {str(t.id): t for t in await approved_templates(user, conv.platform)}
    template = templates.get(str(template_id))
    if template is None:
        raise NotFound("no approved WhatsApp template with that id for this conversation")
    await conv.fetch_related("account", "user")
    filled = builtin_values(name=conv.remote_user_name, platform=Platform(conv.platform),
                            business_name=getattr(conv.account, "business_name", None) or conv.user.name)
    filled.update(values or {})
    missing = [v for v in template.variables if not filled.get(v, "").strip()]
    if missing:
        raise ServiceError("template variables without a value: " + ", ".join("{" + v + "}" for v in missing))
    params = tuple(filled[v] for v in template.variables)
    preview = render(template.content, filled)
    request = await manual_reply(conv.id, preview, conversation=conv)  # its account is fetched above
    message = TemplateMessage(
        name=template.meta_template_name or template.name,
        language=template.language or LANGUAGE_CODES.get(language, "pt_BR"),
        body_params=params, expected_body_params=len(template.variables), preview=preview,
    )
    await enqueue_outbound(redis, replace(request, template=message), partitions=partitions)
    await _reopen(conv)
    await handoff.pause(user, conv.id, hours=handoff_hours, reason=handoff.OWNER_REPLY, conversation=conv)
    return Queued(request.outbound_id, preview)


async def _reopen(conv: Conversation) -> None:
    """Writing in an archived conversation brings it back to the list."""
    if conv.status == ConversationStatus.ARCHIVED:
        conv.status = ConversationStatus.ACTIVE
        await conv.save(update_fields=["status", "updated_at"])


async def set_status(user: UserRef, conversation_id: str | uuid.UUID, status: str) -> ConversationStatus:
    """Archive, mute or re-activate a conversation."""
    conv = await _conversation(user, conversation_id)
    try:
        value = ConversationStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in ConversationStatus)
        raise ServiceError(f"status {status!r} is not one of: {allowed}") from None
    conv.status = value
    await conv.save(update_fields=["status", "updated_at"])
    return value


async def is_muted(conversation_id: str | uuid.UUID | None) -> bool:
    """Whether the owner muted this conversation (its alerts are not delivered)."""
    if not conversation_id:
        return False
    try:
        cid = parse_conversation_id(conversation_id)
    except NotFound:
        return False
    return await Conversation.filter(id=cid, status=ConversationStatus.MUTED).exists()


async def conversation_for_lead(user: UserRef, platform: str, remote_user_id: str) -> uuid.UUID | None:
    """The most recent conversation of a customer, for alert buttons."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT id FROM conversations WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3 "
        "ORDER BY last_message_at DESC NULLS LAST LIMIT 1", [user_id(user), platform, remote_user_id])
    return rows[0]["id"] if rows else None
