"""Meta's Messenger-platform `entry[].messaging[]` items, shared by Instagram DMs and Messenger.

One item carries exactly one of: message, message_edit, reaction, postback, referral, read, delivery,
optin. Timestamps are epoch milliseconds (the reference's `field`/`value` samples use string seconds;
parsing.to_datetime reads both). The business is whoever has the entry's id: a message whose sender is
the business (or `is_echo`) is an echo, and the customer is then the recipient. People who reach the
Page through the chat plugin have no PSID: their `sender.user_ref` names them instead.

Also here, because Instagram and Pages share them: `entry_changes`/`field_changes` (the entry's `changes[]`, or the
flat `field`/`value` of Business Login for Instagram) and the messaging fields a change may carry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from papo.adapters.events import DeliveryStatus, EventKind, InboundEvent
from papo.adapters.parsing import as_dict, as_dicts, as_int, as_list, as_str, first_time, short_digest
from papo.enums import MessageType, Platform

log = logging.getLogger(__name__)

# attachment type -> (seed message_type, detail_type)
ATTACHMENT_TYPES: dict[str, tuple[MessageType, str]] = {
    "image": (MessageType.IMAGE, "image"),
    "video": (MessageType.VIDEO, "video"),
    "audio": (MessageType.AUDIO, "audio"),
    "file": (MessageType.FILE, "file"),
    "share": (MessageType.TEXT, "share"),
    "sticker": (MessageType.IMAGE, "sticker"),  # Messenger's own type since 2026 (was image + sticker_id)
    "ig_post": (MessageType.IMAGE, "ig_post"),
    "ig_reel": (MessageType.VIDEO, "ig_reel"),
    "reel": (MessageType.VIDEO, "ig_reel"),
    "story_mention": (MessageType.IMAGE, "story_mention"),
    "location": (MessageType.TEXT, "location"),
    "fallback": (MessageType.TEXT, "fallback"),
    "template": (MessageType.TEXT, "template"),
    "post": (MessageType.TEXT, "post"),  # a Facebook post shared into the chat
    "appointment_booking": (MessageType.TEXT, "appointment_booking"),
}
# Attachments whose payload is structured data rather than a media link: kept whole in detail["payload"].
STRUCTURED_ATTACHMENTS = frozenset({"template", "appointment_booking", "location", "product"})
# Webhook fields whose `changes[].value` is one messaging item (the reference pages and the dashboard's
# "Test" button show them so; deliveries use `messaging[]`).
MESSAGING_FIELDS = frozenset({
    "messages", "message_echoes", "message_edits", "message_reactions", "message_reads",
    "message_deliveries", "messaging_postbacks", "messaging_referrals", "messaging_referral",
    "messaging_optins", "messaging_seen",
})
_ENVELOPE_KEYS = frozenset({"sender", "recipient", "timestamp"})


@dataclass(frozen=True, slots=True)
class Item:
    """One messaging item with its envelope read."""

    platform: Platform
    account_id: str
    sender_id: str
    recipient_id: str
    timestamp: datetime
    stamp: str  # the platform's timestamp as sent, for dedupe keys
    raw: Mapping[str, Any]

    @property
    def from_business(self) -> bool:
        """The business itself sent it."""
        return bool(self.sender_id) and self.sender_id == self.account_id

    @property
    def customer(self) -> str:
        """The customer's scoped id (IGSID / PSID)."""
        return self.recipient_id if self.from_business else self.sender_id

    def event(self, kind: EventKind, **values: Any) -> InboundEvent:
        """An event with this item's platform, account, time, customer and raw data."""
        values.setdefault("remote_user_id", self.customer)
        values.setdefault("is_echo", self.from_business)
        return InboundEvent(
            platform=self.platform,
            kind=kind,
            account_id=self.account_id,
            timestamp=self.timestamp,
            raw=self.raw,
            **values,
        )


def _attachment_fields(attachments: list[Mapping[str, Any]], msg: Mapping[str, Any]) -> dict[str, Any]:
    """Media fields from the first attachment; the rest are listed in detail."""
    first = attachments[0]
    kind = as_str(first.get("type")) or "unknown"
    payload = as_dict(first.get("payload"))
    message_type, detail_type = ATTACHMENT_TYPES.get(kind, (MessageType.TEXT, kind))
    if _is_sticker(attachments, msg):
        message_type, detail_type = ATTACHMENT_TYPES["sticker"]
    detail: dict[str, Any] = {}
    # A fallback (a shared link) carries no payload: its title and URL sit beside the type.
    title = as_str(payload.get("title")) or as_str(first.get("title"))
    if title:
        detail["title"] = title
    if kind in STRUCTURED_ATTACHMENTS and payload:
        detail["payload"] = dict(payload)
    if len(attachments) > 1:
        detail["attachments"] = [{"type": a.get("type"), "url": _attachment_url(a)} for a in attachments]
    media_id = next(
        (
            as_str(payload.get(name))
            for name in ("ig_post_media_id", "reel_video_id", "attachment_id", "id", "sticker_id")
            if as_str(payload.get(name))
        ),
        None,
    )
    return {
        "message_type": message_type,
        "detail_type": detail_type,
        "media_url": _attachment_url(first),
        "media_id": media_id,
        "detail": detail,
        "_story_mention": kind == "story_mention",
    }


def _attachment_url(attachment: Mapping[str, Any]) -> str | None:
    """The media link: in the payload, or (fallback, template echoes) beside it as `url`/`URL`."""
    return (
        as_str(as_dict(attachment.get("payload")).get("url"))
        or as_str(attachment.get("url"))
        or as_str(attachment.get("URL"))
    )


def _is_sticker(attachments: list[Mapping[str, Any]], msg: Mapping[str, Any]) -> bool:
    """A sticker: the `sticker` type, or (before it, and beside it until Aug 2026) an image + sticker_id."""
    if msg.get("sticker_id") is not None:
        return True
    return any(
        a.get("type") == "sticker" or as_dict(a.get("payload")).get("sticker_id") is not None
        for a in attachments
    )


def _message(item: Item, msg: Mapping[str, Any]) -> list[InboundEvent]:
    mid = as_str(msg.get("mid"))
    if mid is None:
        log.info("%s: skipping message without mid", item.platform)
        return []
    p = item.platform
    if msg.get("is_deleted"):
        return [item.event(EventKind.MESSAGE_DELETE, platform_message_id=mid, dedupe_key=f"{p}:{mid}:delete")]
    is_echo = bool(msg.get("is_echo")) or item.from_business
    text = as_str(msg.get("text"))
    values: dict[str, Any] = {"message_type": MessageType.TEXT, "detail_type": "text" if text else None}
    detail: dict[str, Any] = {}
    kind = EventKind.ECHO if is_echo else EventKind.MESSAGE
    attachments = as_dicts(msg.get("attachments"))
    if attachments:
        found = _attachment_fields(attachments, msg)
        detail.update(found.pop("detail"))
        if found.pop("_story_mention") and not is_echo:
            kind = EventKind.STORY_MENTION
            values["story_url"] = found["media_url"]
            values["story_id"] = found["media_id"]
        values.update(found)
    reply = as_dict(msg.get("reply_to"))
    story = as_dict(reply.get("story"))
    if story and not is_echo:
        kind = EventKind.STORY_REPLY
        values["story_id"] = as_str(story.get("id"))
        values["story_url"] = as_str(story.get("url"))
    quick_reply = as_str(as_dict(msg.get("quick_reply")).get("payload"))
    if quick_reply:
        values["detail_type"] = "quick_reply"
    if msg.get("is_unsupported"):
        values["detail_type"] = "unsupported"
    for name in ("app_id", "metadata"):  # echoes: which app sent it (Papo or the Page inbox)
        if msg.get(name) is not None:
            detail[name] = msg[name]
    return [
        item.event(
            kind,
            remote_user_id=item.recipient_id if is_echo else item.sender_id,
            is_echo=is_echo,
            platform_message_id=mid,
            text=text,
            reply_to=as_str(reply.get("mid")),
            postback_payload=quick_reply,
            referral=dict(as_dict(msg.get("referral"))) or None,
            detail=detail or None,
            dedupe_key=f"{p}:{mid}",
            **values,
        )
    ]


def _message_edit(item: Item, edit: Mapping[str, Any]) -> list[InboundEvent]:
    mid = as_str(edit.get("mid"))
    if mid is None:
        return []
    count = as_int(edit.get("num_edit"))
    return [
        item.event(
            EventKind.MESSAGE_EDIT,
            platform_message_id=mid,
            text=as_str(edit.get("text")),
            detail={"num_edit": count},
            dedupe_key=f"{item.platform}:{mid}:edit:{count if count is not None else item.stamp}",
        )
    ]


def _reaction(item: Item, reaction: Mapping[str, Any]) -> list[InboundEvent]:
    mid = as_str(reaction.get("mid"))
    action = as_str(reaction.get("action")) or "react"
    name = as_str(reaction.get("reaction"))
    return [
        item.event(
            EventKind.REACTION,
            reply_to=mid,
            reaction=as_str(reaction.get("emoji")) or name,
            removed=action == "unreact",
            detail={"reaction": name, "action": action} if name else {"action": action},
            dedupe_key=f"{item.platform}:{mid}:reaction:{item.sender_id}:{action}:{item.stamp}",
        )
    ]


def _postback(item: Item, postback: Mapping[str, Any]) -> list[InboundEvent]:
    mid = as_str(postback.get("mid"))
    payload = as_str(postback.get("payload"))
    key = (
        f"{item.platform}:{mid}:postback"
        if mid
        else (f"{item.platform}:postback:{item.sender_id}:{item.stamp}:{short_digest(payload)}")
    )
    return [
        item.event(
            EventKind.POSTBACK,
            platform_message_id=mid,
            text=as_str(postback.get("title")),
            postback_payload=payload,
            referral=dict(as_dict(postback.get("referral"))) or None,
            dedupe_key=key,
        )
    ]


def _referral(item: Item, referral: Mapping[str, Any]) -> list[InboundEvent]:
    return [
        item.event(
            EventKind.REFERRAL,
            referral=dict(referral),
            postback_payload=as_str(referral.get("ref")),
            dedupe_key=f"{item.platform}:referral:{item.sender_id}:{item.stamp}",
        )
    ]


def _read(item: Item, read: Mapping[str, Any]) -> list[InboundEvent]:
    # Instagram names the last read message (mid); Messenger gives a watermark (all sent before it).
    mid = as_str(read.get("mid"))
    watermark = as_str(read.get("watermark"))
    return [
        item.event(
            EventKind.STATUS,
            status=DeliveryStatus.READ,
            platform_message_id=mid,
            detail={"watermark": watermark} if watermark else None,
            dedupe_key=f"{item.platform}:read:{item.sender_id}:{mid or watermark or item.stamp}",
        )
    ]


def _delivery(item: Item, delivery: Mapping[str, Any]) -> list[InboundEvent]:
    watermark = as_str(delivery.get("watermark"))
    detail = {"watermark": watermark} if watermark else None
    mids = [mid for mid in (as_str(m) for m in as_list(delivery.get("mids"))) if mid]
    if not mids:
        key = f"{item.platform}:delivery:{item.sender_id}:{watermark or item.stamp}"
        return [item.event(EventKind.STATUS, status=DeliveryStatus.DELIVERED, detail=detail, dedupe_key=key)]
    return [
        item.event(
            EventKind.STATUS,
            status=DeliveryStatus.DELIVERED,
            platform_message_id=mid,
            detail=detail,
            dedupe_key=f"{item.platform}:{mid}:status:delivered",
        )
        for mid in mids
    ]


def _optin(item: Item, optin: Mapping[str, Any]) -> list[InboundEvent]:
    # The checkbox plugin opts in before there is a PSID: then only `user_ref` names the person.
    customer = item.sender_id or as_str(optin.get("user_ref")) or ""
    kind_of = as_str(optin.get("type")) or "optin"
    # Marketing-message opt-ins report "STOP NOTIFICATIONS" / "RESUME NOTIFICATIONS" here: a stop is an
    # opt-out, recorded as the opt-in withdrawn.
    status = (as_str(optin.get("notification_messages_status")) or "").upper()
    return [
        item.event(
            EventKind.OPTIN,
            remote_user_id=customer,
            postback_payload=as_str(optin.get("payload")) or as_str(optin.get("ref")),
            detail_type=kind_of,
            removed=status.startswith("STOP"),
            detail=dict(optin),
            dedupe_key=f"{item.platform}:optin:{customer}:{kind_of}:{item.stamp}",
        )
    ]


HANDLERS: dict[str, Callable[[Item, Mapping[str, Any]], list[InboundEvent]]] = {
    "message": _message,
    "message_edit": _message_edit,
    "reaction": _reaction,
    "postback": _postback,
    "referral": _referral,
    "read": _read,
    "delivery": _delivery,
    "optin": _optin,
}


def entry_changes(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The entry's `changes[]`; Business Login for Instagram documents one change flat on the entry."""
    changes = as_dicts(entry.get("changes"))
    if not changes and isinstance(entry.get("field"), str) and isinstance(entry.get("value"), dict):
        return [{"field": entry["field"], "value": entry["value"]}]
    return changes


def is_messaging_change(change: Mapping[str, Any]) -> bool:
    """A change that is one messaging item (parsed with `messaging[]`, not by the platform's fields)."""
    field = change.get("field")
    return type(field) is str and field in MESSAGING_FIELDS  # an array or object would be unhashable


def field_changes(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The entry's changes left for the platform's own fields (messaging ones go to parse_messaging)."""
    return [change for change in entry_changes(entry) if not is_messaging_change(change)]


def parse_messaging(platform: Platform, entry: Mapping[str, Any]) -> list[InboundEvent]:
    """Every event of an entry's `messaging[]` array and of its messaging-field changes."""
    account_id = as_str(entry.get("id"))
    items = as_dicts(entry.get("messaging"))
    items += [as_dict(c.get("value")) for c in entry_changes(entry) if is_messaging_change(c)]
    if account_id is None:
        if items:
            log.warning("%s: skipping %d messaging items of an entry without id", platform, len(items))
        return []
    events: list[InboundEvent] = []
    for raw in items:
        handler = next(((name, fn) for name, fn in HANDLERS.items() if isinstance(raw.get(name), dict)), None)
        if handler is None:
            log.info(
                "%s: skipping messaging item of unknown type %s", platform, sorted(set(raw) - _ENVELOPE_KEYS)
            )
            continue
        events.extend(handler[1](_item(platform, account_id, entry, raw), raw[handler[0]]))
    return events


def _item(platform: Platform, account_id: str, entry: Mapping[str, Any], raw: Mapping[str, Any]) -> Item:
    sender = as_dict(raw.get("sender"))
    return Item(
        platform=platform,
        account_id=account_id,
        # The chat plugin names its visitors by user_ref only (no PSID until they log in).
        sender_id=as_str(sender.get("id")) or as_str(sender.get("user_ref")) or "",
        recipient_id=as_str(as_dict(raw.get("recipient")).get("id")) or "",
        timestamp=first_time(raw.get("timestamp"), entry.get("time")),
        stamp=as_str(raw.get("timestamp")) or as_str(entry.get("time")) or "",
        raw=raw,
    )
