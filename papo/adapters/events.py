"""InboundEvent: the one normalized, immutable shape every adapter's parse() produces.

Events travel on Redis Streams as JSON (`to_dict` / `from_dict`, `v` = EVENT_VERSION) and are read by
workers written against this module, so fields are only ever added, with defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from papo.adapters.errors import PayloadError
from papo.adapters.parsing import short_digest
from papo.enums import MessageType, Platform, Sender

EVENT_VERSION = 1


class EventKind(StrEnum):
    """What happened. A platform that never reports a kind simply never emits it (README-kinds.md)."""

    MESSAGE = "message"  # a customer's direct message (any content type)
    COMMENT = "comment"  # a public comment on the business's post/video (or a visitor post on a Page)
    MENTION = "mention"  # the business was @mentioned in someone's caption or comment (Instagram)
    REACTION = "reaction"  # an emoji reaction to a message, or a non-"like" reaction to a post
    LIKE = "like"  # a like on a post/video/comment
    FOLLOW = "follow"  # a new follower
    STORY_REPLY = "story_reply"  # a DM answering the business's story
    STORY_MENTION = "story_mention"  # the customer mentioned the business in their story
    STORY_VIEW = "story_view"  # a customer viewed a story (no platform reports this today)
    POSTBACK = "postback"  # a tap on a button/menu item the business sent
    REFERRAL = "referral"  # the customer entered the chat from an ad, link or QR code without a message
    OPTIN = "optin"  # the customer opted in (e.g. Messenger recurring notifications)
    STATUS = "status"  # sent/delivered/read/failed for a message the business sent
    ECHO = "echo"  # a message the business itself sent (from Papo or from the platform's app)
    MESSAGE_EDIT = "message_edit"  # a message was edited: platform_message_id + new text
    MESSAGE_DELETE = "message_delete"  # a message was unsent/deleted: platform_message_id
    COMMENT_EDIT = "comment_edit"  # a comment was edited: platform_message_id + new text
    COMMENT_DELETE = "comment_delete"  # a comment was removed: platform_message_id
    VIDEO_PUBLISHED = "video_published"  # the account published a video (YouTube push)
    PUBLISH_STATUS = "publish_status"  # outcome of a post Papo published (TikTok Content Posting)
    SYSTEM = "system"  # account/customer notices: number changed, app deauthorized… (detail_type says)


# Kinds the worker stores as messages in the customer's conversation (issue 3, point 4).
MESSAGE_KINDS = frozenset(
    {
        EventKind.MESSAGE,
        EventKind.COMMENT,
        EventKind.MENTION,
        EventKind.REACTION,
        EventKind.STORY_REPLY,
        EventKind.STORY_MENTION,
        EventKind.POSTBACK,
        EventKind.REFERRAL,
        EventKind.ECHO,
    }
)
# Kinds recorded as interactions (lead activity, analytics), not messages.
INTERACTION_KINDS = frozenset({EventKind.LIKE, EventKind.FOLLOW, EventKind.STORY_VIEW, EventKind.OPTIN})
# Kinds that change an already stored message.
UPDATE_KINDS = frozenset(
    {EventKind.MESSAGE_EDIT, EventKind.MESSAGE_DELETE, EventKind.COMMENT_EDIT, EventKind.COMMENT_DELETE}
)
# Kinds about the account rather than one customer (remote_user_id is "").
ACCOUNT_KINDS = frozenset({EventKind.VIDEO_PUBLISHED, EventKind.PUBLISH_STATUS})


class DeliveryStatus(StrEnum):
    """`status` values of kind STATUS."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"  # WhatsApp: the customer played a voice message (implies read)
    FAILED = "failed"


class PublishState(StrEnum):
    """`status` values of kind PUBLISH_STATUS."""

    PUBLISHED = "published"  # the platform finished publishing (TikTok PUBLISH_COMPLETE)
    PUBLICLY_AVAILABLE = "publicly_available"  # moderation passed; post_id is known
    INBOX_DELIVERED = "inbox_delivered"  # sent to the creator's inbox as a draft
    REMOVED = "removed"  # no longer publicly available
    FAILED = "failed"  # error_title says why


def json_value(value: Any) -> Any:
    """A field value as JSON takes it: datetimes as ISO 8601, enums as their value, mappings as dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclass(frozen=True, kw_only=True, init=False)
class InboundEvent:
    """One real-world event from one platform, normalized. Mapping fields are read-only by contract.

    Built with keyword arguments only (the fields below). The constructor is written by hand: adapters
    build one per event inside the webhook request, and the generated frozen `__init__` (a guarded
    `object.__setattr__` per field, 33 fields) cost more than the rest of the parse.
    """

    platform: Platform
    kind: EventKind
    account_id: str  # = connected_accounts.platform_account_id of the business
    timestamp: datetime  # aware UTC, from the platform's own clock
    remote_user_id: str = ""  # the customer; for echo/status the recipient; "" for account-level kinds
    remote_user_name: str | None = None
    remote_user_username: str | None = None  # a handle (@name) where the platform gives one
    remote_user_avatar: str | None = None
    remote_user_phone: str | None = None  # WhatsApp: wa_id exactly as received (reply to this)
    platform_message_id: str | None = None  # wamid / mid / comment id / video id / share id
    text: str | None = None
    message_type: MessageType = MessageType.TEXT  # the seed's five types
    detail_type: str | None = None  # the richer type: location, sticker, interactive, order…
    media_id: str | None = None
    media_url: str | None = None
    media_mime: str | None = None
    reply_to: str | None = None  # id of the message replied/reacted to
    post_id: str | None = None  # post/media/video a comment, like, reaction or mention belongs to
    parent_comment_id: str | None = None  # for replies to a comment
    story_id: str | None = None
    story_url: str | None = None  # Instagram CDN URL, expires ~24 h
    referral: Mapping[str, Any] | None = field(default=None, hash=False)  # ad/link/QR context
    postback_payload: str | None = None  # postback, quick reply, button or list reply id
    reaction: str | None = None  # emoji (or the platform's reaction name)
    removed: bool = False  # a reaction/like/follow that was withdrawn
    status: str | None = None  # DeliveryStatus for STATUS, PublishState for PUBLISH_STATUS
    error_code: int | None = None
    error_title: str | None = None
    is_echo: bool = False  # sent by the business: store it, never run automations on it
    detail: Mapping[str, Any] | None = field(default=None, hash=False)  # type-specific extras
    dedupe_key: str = ""  # unique per real-world event; stable across redeliveries
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    def __init__(self, **values: Any) -> None:
        if not _FIELD_SET.issuperset(values):
            raise TypeError(f"InboundEvent got unknown fields {sorted(set(values) - _FIELD_SET)}")
        for name in _REQUIRED:
            if name not in values:
                raise TypeError(f"InboundEvent needs {name!r}")
        timestamp = values["timestamp"]
        if timestamp.tzinfo is not UTC:
            if timestamp.tzinfo is None:
                raise ValueError("InboundEvent.timestamp must be timezone-aware")
            values["timestamp"] = timestamp.astimezone(UTC)
        if values["kind"] is EventKind.ECHO:
            values["is_echo"] = True
        if "raw" not in values:
            values["raw"] = {}
        if not values.get("dedupe_key"):
            key = values.get("platform_message_id") or short_digest(dict(values["raw"]))
            values["dedupe_key"] = f"{values['platform']}:{values['account_id']}:{values['kind']}:{key}"
        # Frozen: attribute assignment is refused, so the instance dict is filled directly; fields not
        # given read their default from the class.
        self.__dict__.update(values)

    @property
    def conversation_key(self) -> str:
        """Stable per (platform, account, customer): a DM and a comment by one customer share it."""
        return f"{self.platform}:{self.account_id}:{self.remote_user_id}"

    @property
    def sender(self) -> Sender:
        """Who wrote it, in the seed's terms: the business ('user') for echoes, else the customer."""
        return Sender.USER if self.is_echo else Sender.REMOTE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 timestamp, enum values), with `v` and the derived conversation_key.

        Fields that are None are left out (`from_dict` restores them): most fields are None for any one
        event, and this dict is what each queued event costs in Redis.
        """
        # On the webhook hot path: plain values are taken as they are (enums are str), only the few fields
        # that need it are converted.
        out = _BASE.copy()
        for name, value in self.__dict__.items():
            if value is not None:
                out[name] = value
        out["timestamp"] = self.timestamp.isoformat()
        for name in _ENUM_FIELDS:
            out[name] = str(out[name])
        for name in _MAPPING_FIELDS:
            value = out.get(name)
            if value is not None and type(value) is not dict:
                out[name] = dict(value)
        out["conversation_key"] = self.conversation_key
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InboundEvent:
        """Rebuild an event from to_dict() output; unknown keys (newer producers) are ignored."""
        version = data.get("v", EVENT_VERSION)
        if version != EVENT_VERSION:
            raise PayloadError(
                f"InboundEvent version {version!r} is not supported (expected {EVENT_VERSION})"
            )
        kwargs = {name: value for name, value in data.items() if name in _FIELD_SET}
        try:
            kwargs["platform"] = Platform(kwargs["platform"])
            kwargs["kind"] = EventKind(kwargs["kind"])
            if "message_type" in kwargs:
                kwargs["message_type"] = MessageType(kwargs["message_type"])
            kwargs["timestamp"] = datetime.fromisoformat(kwargs["timestamp"])
            return cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"not an InboundEvent dict: {exc!r}") from None


_FIELD_NAMES = tuple(f.name for f in fields(InboundEvent))
_FIELD_SET = frozenset(_FIELD_NAMES)
_REQUIRED = tuple(f.name for f in fields(InboundEvent) if f.default is MISSING and f.default_factory is MISSING)
# to_dict's starting point: the version and the defaults that are not None.
_BASE: dict[str, Any] = {"v": EVENT_VERSION, **{
    f.name: json_value(f.default) for f in fields(InboundEvent) if f.default not in (MISSING, None)}}
_ENUM_FIELDS = ("platform", "kind", "message_type")
_MAPPING_FIELDS = ("referral", "detail", "raw")
