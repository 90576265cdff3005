"""OutboundMessage: one reply Papo is asked to send, as it travels on the outbound stream (JSON, versioned).

Fields are only ever added, with defaults, so workers of different versions can share the stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from papo.adapters.errors import PayloadError
from papo.adapters.events import json_value
from papo.enums import Platform

OUTBOUND_VERSION = 1
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


class OutboundKind(StrEnum):
    """What is sent; stored in `messages.kind`."""

    REPLY = "reply"  # a direct message in the conversation (WhatsApp, Instagram/Messenger DM, Kwai)
    PRIVATE_REPLY = "private_reply"  # a DM answering a public comment (Instagram, Facebook): one per comment
    COMMENT_REPLY = "comment_reply"  # a public reply under a comment (Facebook, Instagram, YouTube, Kwai)


@dataclass(frozen=True, slots=True)
class Button:
    """A quick reply / reply button: `id` comes back as the postback payload, `title` is shown."""

    id: str
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateMessage:
    """A WhatsApp approved template and its parameter values.

    `expected_body_params` / `expected_header_params` are the template's own variable counts (from
    `message_templates.variables` or its `{{n}}` placeholders, see `count_placeholders`); when given,
    the sender refuses a mismatch before calling the API (Meta would answer 132000).
    """

    name: str
    language: str
    body_params: tuple[str, ...] = ()
    header_params: tuple[str, ...] = ()
    expected_body_params: int | None = None
    expected_header_params: int | None = None
    preview: str | None = None  # the rendered text, stored as the message text (the API does not echo it)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "language": self.language,
            "body_params": list(self.body_params),
            "header_params": list(self.header_params),
            "expected_body_params": self.expected_body_params,
            "expected_header_params": self.expected_header_params,
            "preview": self.preview,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemplateMessage:
        """Rebuild from to_dict() output."""
        return cls(
            name=str(data["name"]),
            language=str(data["language"]),
            body_params=tuple(str(p) for p in data.get("body_params") or ()),
            header_params=tuple(str(p) for p in data.get("header_params") or ()),
            expected_body_params=data.get("expected_body_params"),
            expected_header_params=data.get("expected_header_params"),
            preview=data.get("preview"),
        )


def count_placeholders(content: str) -> int:
    """How many distinct `{{1}}` / `{{name}}` variables a template text declares."""
    return len(set(_PLACEHOLDER.findall(content)))


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """One reply to send. `outbound_id` is deterministic (inbound dedupe key + rule id, or a UUID for manual
    replies): the pipeline sends each id at most once."""

    outbound_id: str
    platform: Platform
    user_id: str  # users.id of the business
    account_id: str  # connected_accounts.id
    platform_account_id: str  # phone_number_id / IG id / Page id / channel id / Kwai account id
    conversation_id: str  # conversations.id: the window is measured and the reply stored there
    recipient_id: str  # the customer as the platform names them (IGSID, PSID, BSUID or wa_id…)
    recipient_phone: str | None = None  # WhatsApp: wa_id as received (preferred over a BSUID as `to`)
    kind: OutboundKind = OutboundKind.REPLY
    text: str | None = None
    buttons: tuple[Button, ...] = ()
    template: TemplateMessage | None = None  # send this template instead of free text (WhatsApp)
    fallback: TemplateMessage | None = None  # sent instead of `text` when the 24 h window is closed
    comment_id: str | None = None  # the comment answered (private/comment replies)
    parent_comment_id: str | None = None  # YouTube: the thread's top-level comment, if `comment_id` is a reply
    comment_created_at: datetime | None = None  # private replies are allowed within 7 days of this
    reply_to: str | None = None  # a platform message id to quote (WhatsApp `context`)
    automation_rule_id: str | None = None  # set when a rule produced it (then the message is automated)
    automated: bool = True  # False for replies an owner typed in the admin bot
    campaign_id: str | None = None  # broadcasts.id when a broadcast sends it (its own rate limit and backoff)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_at: datetime | None = None  # when Papo took in the message answered (reply latency starts there)

    def __post_init__(self) -> None:
        if not self.outbound_id:
            raise ValueError("OutboundMessage.outbound_id must not be empty")
        if self.text is None and self.template is None:
            raise ValueError("OutboundMessage needs a text or a template")
        for name in ("comment_created_at", "created_at", "received_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"OutboundMessage.{name} must be timezone-aware")

    @property
    def routing_key(self) -> str:
        """Outbound stream partition key: per conversation, so one customer's replies keep their order."""
        return self.conversation_id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with `v`."""
        out: dict[str, Any] = {"v": OUTBOUND_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, TemplateMessage):
                value = value.to_dict()
            elif f.name == "buttons":
                value = [{"id": b.id, "title": b.title} for b in value]
            out[f.name] = json_value(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutboundMessage:
        """Rebuild from to_dict() output; unknown keys (newer producers) are ignored."""
        version = data.get("v", OUTBOUND_VERSION)
        if version != OUTBOUND_VERSION:
            raise PayloadError(f"OutboundMessage version {version!r} is not supported (expected {OUTBOUND_VERSION})")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            kwargs["platform"] = Platform(kwargs["platform"])
            if "kind" in kwargs:
                kwargs["kind"] = OutboundKind(kwargs["kind"])
            kwargs["buttons"] = tuple(Button(str(b["id"]), str(b["title"])) for b in kwargs.get("buttons") or ())
            for name in ("template", "fallback"):
                if kwargs.get(name) is not None:
                    kwargs[name] = TemplateMessage.from_dict(kwargs[name])
            for name in ("comment_created_at", "created_at", "received_at"):
                if kwargs.get(name) is not None:
                    kwargs[name] = datetime.fromisoformat(kwargs[name])
            return cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"not an OutboundMessage dict: {exc!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What the platform answered to a successful send."""

    platform_message_id: str | None  # wamid / mid / comment id…: statuses and echoes refer to it
    recipient: str | None = None  # the canonical recipient the platform reports (WhatsApp contacts[].wa_id)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
