"""Conversations as owners use them: recent ones, the last messages, replies typed by the owner, archive/mute.

A reply goes out through the outbound pipeline (`manual_reply` → `enqueue_outbound`), never straight to
a platform, so it gets the same window check, rate limits, ledger and records as automated replies.
Outside the 24-hour window a free-form reply is refused here, before queueing, with the approved
WhatsApp templates the owner may send instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis
from tortoise import Tortoise

from papo.adapters.outbound.message import TemplateMessage
from papo.engine.render import BUILTINS, builtin_values, render
from papo.enums import ConversationStatus, Platform
from papo.models import Conversation
from papo.pipeline.outbound import DEFAULT_PARTITIONS, enqueue_outbound
from papo.pipeline.window import WindowChecker
from papo.services import NotFound, ServiceError
from papo.services.ids import ERASED_PREFIX, NOT_ERASED
from papo.services.leads import MessageLine, Page, message_line
from papo.services.outbound import manual_reply
from papo.services.templates import TemplateInfo, UserRef, list_templates, user_id

MAX_REPLY = 4096
LANGUAGE_CODES = {"pt-BR": "pt_BR", "en": "en_US", "es": "es"}  # WhatsApp template codes per bot language


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


@dataclass(frozen=True, slots=True)
class ConversationView:
    """One conversation opened: its last messages and whether a free-form reply is allowed now."""

    summary: ConversationSummary
    remote_user_id: str
    messages: tuple[MessageLine, ...]
    window_open: bool | None  # None: the platform has no messaging window


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
        last_text=row["last_text"], lead_quality=row["lead_quality"],
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


async def _conversation(user: UserRef, conversation_id: str | uuid.UUID) -> Conversation:
    found = await Conversation.get_or_none(id=parse_conversation_id(conversation_id), user_id=user_id(user))
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
        "SELECT sender, message_text, message_type, kind, is_automated, delivery_status, delivery_error, "
        "coalesce(platform_timestamp, created_at) AS at FROM messages "
        "WHERE conversation_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT $2",
        [conv.id, messages],
    )
    checker = WindowChecker(redis, hours=window_hours, margin_seconds=window_margin)
    window = (await checker.state(str(conv.id))).open if checker.applies_to(Platform(conv.platform)) else None
    summary = ConversationSummary(
        id=conv.id, name=conv.remote_user_name or conv.remote_user_id, platform=str(conv.platform),
        status=str(conv.status or ConversationStatus.ACTIVE), last_message_at=conv.last_message_at,
        last_text=rows[0]["message_text"] if rows else None,
        lead_quality=str(conv.lead_quality) if conv.lead_quality else None,
    )
    return ConversationView(summary=summary, remote_user_id=conv.remote_user_id,
                            messages=tuple(message_line(r) for r in reversed(rows)), window_open=window)


async def approved_templates(user: UserRef, platform: str | Platform) -> tuple[TemplateInfo, ...]:
    """Templates that may be sent outside the window: approved WhatsApp templates with a Meta name."""
    if str(platform) != Platform.WHATSAPP.value:
        return ()
    return tuple(t for t in await list_templates(user, platform=Platform.WHATSAPP)
                 if t.is_approved and t.meta_template_name)


async def reply(redis: aioredis.Redis, user: UserRef, conversation_id: str | uuid.UUID, text: str, *,
                partitions: int = DEFAULT_PARTITIONS, window_hours: float = 24.0,
                window_margin: float = 60.0) -> Queued:
    """Queue the owner's reply; WindowClosed (with the approved templates) when the window is closed."""
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
    request = await manual_reply(conv.id, body)
    await enqueue_outbound(redis, request, partitions=partitions)
    await _reopen(conv)
    return Queued(request.outbound_id, body)


async def template_needs(template: TemplateInfo) -> tuple[str, ...]:
    """The template's variables the owner must type (built-ins such as {first_name} are filled in)."""
    return tuple(v for v in template.variables if v not in BUILTINS)


async def send_template(redis: aioredis.Redis, user: UserRef, conversation_id: str | uuid.UUID,
                        template_id: str | uuid.UUID, values: dict[str, str] | None = None, *,
                        language: str = "pt-BR", partitions: int = DEFAULT_PARTITIONS) -> Queued:
    """Queue an approved WhatsApp template for a conversation (allowed outside the window)."""
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
    request = await manual_reply(conv.id, preview)
    message = TemplateMessage(
        name=template.meta_template_name or template.name,
        language=template.language or LANGUAGE_CODES.get(language, "pt_BR"),
        body_params=params, expected_body_params=len(template.variables), preview=preview,
    )
    await enqueue_outbound(redis, replace(request, template=message), partitions=partitions)
    await _reopen(conv)
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
