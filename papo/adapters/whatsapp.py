"""WhatsApp Cloud API (object "whatsapp_business_account").

`entry[].changes[]` with `field: "messages"` carry `value.metadata.phone_number_id` (our
platform_account_id), `contacts[]`, `messages[]` and `statuses[]`; `field: "smb_message_echoes"`
carries messages the business sent from the WhatsApp Business app (coexistence). Other fields
(template status updates, quality, account updates…) are logged and skipped.

The customer is keyed on the business-scoped `user_id` when WhatsApp sends one (since 2026), else on
the phone number with Brazil's ninth digit normalized; never on the phone alone when a user_id exists.
A click-to-WhatsApp ad (`referral`) stays kind "message" with `referral` set: one event per message.
A `request_welcome` (the customer opened the chat for the first time, without writing) is kind
"referral": the customer entered the chat without a message.
Coexistence `history` and `smb_app_state_sync` are skipped: replaying months of old chats as new
messages would run automations on them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.meta import OBJECT_WHATSAPP, MetaAdapter, register_entry_parser
from papo.adapters.parsing import as_dict, as_dicts, as_int, as_str, first_time
from papo.adapters.phone import br_phone_variants, normalize_phone
from papo.enums import MessageType, Platform

__all__ = ["WhatsAppAdapter", "br_phone_variants", "normalize_phone", "parse_entry"]

log = logging.getLogger(__name__)

# detail["sent_from"] of an smb_message_echo: the Cloud API never echoes what it sends itself, so every such
# echo is a message the owner typed in the WhatsApp Business app (or a linked device).
SENT_FROM_BUSINESS_APP = "whatsapp_business_app"

Values = dict[str, Any]

_MEDIA = {
    "image": MessageType.IMAGE,
    "sticker": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "document": MessageType.FILE,
}


def _text(msg: Mapping[str, Any]) -> Values:
    return {"text": as_str(as_dict(msg.get("text")).get("body")), "detail_type": "text"}


def _media(msg: Mapping[str, Any]) -> Values:
    name = as_str(msg.get("type")) or ""
    media = as_dict(msg.get(name))
    extra = {k: media[k] for k in ("sha256", "filename", "animated") if k in media}
    return {
        "message_type": _MEDIA[name],
        "detail_type": "voice" if name == "audio" and media.get("voice") else name,
        "text": as_str(media.get("caption")),
        "media_id": as_str(media.get("id")),
        "media_mime": as_str(media.get("mime_type")),
        "media_url": as_str(media.get("url")),
        "detail": extra or None,
    }


def _location(msg: Mapping[str, Any]) -> Values:
    loc = as_dict(msg.get("location"))
    label = ", ".join(part for part in (as_str(loc.get("name")), as_str(loc.get("address"))) if part)
    return {"detail_type": "location", "text": label or None, "detail": dict(loc)}


def _contacts(msg: Mapping[str, Any]) -> Values:
    cards = as_dicts(msg.get("contacts"))
    names = [as_str(as_dict(card.get("name")).get("formatted_name")) for card in cards]
    return {
        "detail_type": "contacts",
        "text": ", ".join(name for name in names if name) or None,
        "detail": {"contacts": [dict(card) for card in cards]},
    }


def _interactive(msg: Mapping[str, Any]) -> Values:
    interactive = as_dict(msg.get("interactive"))
    kind = as_str(interactive.get("type")) or ""
    reply = as_dict(interactive.get(kind))
    detail: dict[str, Any] = {"interactive_type": kind}
    payload = None
    if kind in ("button_reply", "list_reply"):  # a tap on a button/row the business sent
        text, payload = as_str(reply.get("title")), as_str(reply.get("id"))
        if as_str(reply.get("description")):
            detail["description"] = reply["description"]
    elif kind == "nfm_reply":  # a Flow or address form's answer: `name` says which, JSON string of the fields
        detail.update((k, reply[k]) for k in ("name", "response_json") if k in reply)
        text = as_str(reply.get("body"))
    else:  # call_permission_reply and newer replies: kept as sent
        detail = {**reply, "interactive_type": kind}
        text = None
    return {"detail_type": "interactive", "text": text, "postback_payload": payload, "detail": detail}


def _button(msg: Mapping[str, Any]) -> Values:
    button = as_dict(msg.get("button"))
    return {
        "detail_type": "button",
        "text": as_str(button.get("text")),
        "postback_payload": as_str(button.get("payload")),
    }


def _reaction(msg: Mapping[str, Any]) -> Values:
    reaction = as_dict(msg.get("reaction"))
    emoji = as_str(reaction.get("emoji"))
    return {
        "kind": EventKind.REACTION,
        "detail_type": "reaction",
        "reply_to": as_str(reaction.get("message_id")),
        "reaction": emoji,
        "removed": emoji is None,  # an empty emoji withdraws the reaction
    }


def _order(msg: Mapping[str, Any]) -> Values:
    order = as_dict(msg.get("order"))
    return {"detail_type": "order", "text": as_str(order.get("text")), "detail": dict(order)}


def _system(msg: Mapping[str, Any]) -> Values:
    system = as_dict(msg.get("system"))
    return {
        "kind": EventKind.SYSTEM,
        "detail_type": as_str(system.get("type")) or "system",
        "text": as_str(system.get("body")),
        "detail": dict(system),
    }


def _unsupported(msg: Mapping[str, Any]) -> Values:
    errors = as_dicts(msg.get("errors"))
    first = errors[0] if errors else {}
    detail: dict[str, Any] = {"errors": [dict(e) for e in errors]} if errors else {}
    # What the customer actually sent (poll_creation, edit…), where WhatsApp says.
    if sent_type := as_str(as_dict(msg.get("unsupported")).get("type")):
        detail["unsupported_type"] = sent_type
    return {
        "detail_type": "unsupported",
        "error_code": as_int(first.get("code")),
        "error_title": as_str(first.get("title")) or as_str(first.get("message")),
        "detail": detail or None,
    }


def _request_welcome(msg: Mapping[str, Any]) -> Values:
    # The customer opened the chat for the first time and wrote nothing yet: an entry, like a referral.
    return {"kind": EventKind.REFERRAL, "detail_type": "request_welcome"}


def _edit(msg: Mapping[str, Any]) -> Values:
    edit = as_dict(msg.get("edit"))
    new = as_dict(edit.get("message"))
    kind = as_str(new.get("type")) or "text"
    body = as_dict(new.get(kind))
    return {
        "kind": EventKind.MESSAGE_EDIT,
        "detail_type": kind,
        "target": as_str(edit.get("original_message_id")),
        "text": as_str(body.get("body")) or as_str(body.get("caption")),
    }


def _revoke(msg: Mapping[str, Any]) -> Values:
    revoke = as_dict(msg.get("revoke"))
    return {"kind": EventKind.MESSAGE_DELETE, "target": as_str(revoke.get("original_message_id"))}


MESSAGE_TYPES: dict[str, Callable[[Mapping[str, Any]], Values]] = {
    "text": _text,
    **dict.fromkeys(_MEDIA, _media),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
    "unknown": _unsupported,  # the pre-2023 name of "unsupported"
    "request_welcome": _request_welcome,
    "edit": _edit,
    "revoke": _revoke,
}


def _contact_for(
    contacts: list[Mapping[str, Any]], user_id: str | None, phone: str | None
) -> Mapping[str, Any]:
    """The contacts[] entry describing this message's sender."""
    for contact in contacts:
        if (user_id and contact.get("user_id") == user_id) or (phone and contact.get("wa_id") == phone):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _system_subject(msg: Mapping[str, Any], phone: str | None) -> str | None:
    """The business-scoped id an identity notice is about (system messages carry no contacts[]).

    The conversation is keyed on the id the customer had before the change (`previous_user_id`); a
    `user_changed_user_id` notice may carry no phone at all, so the new `user_id` is the last resort.
    """
    system = as_dict(msg.get("system"))
    return as_str(system.get("previous_user_id")) or (None if phone else as_str(system.get("user_id")))


def _context(msg: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(replied-to wamid, forward/product details) from `context`."""
    context = msg.get("context")
    if not isinstance(context, dict):  # most messages: no context
        return None, {}
    detail = {
        k: context[k] for k in ("forwarded", "frequently_forwarded", "referred_product") if k in context
    }
    return as_str(context.get("id")), detail


def _message(
    account_id: str, contacts: list[Mapping[str, Any]], msg: Mapping[str, Any], *, echo: bool = False
) -> InboundEvent | None:
    wamid = as_str(msg.get("id"))
    msg_type = as_str(msg.get("type")) or ""
    handler = MESSAGE_TYPES.get(msg_type)
    if wamid is None or handler is None:
        log.info("whatsapp: skipping message %s of type %s", wamid, msg_type)
        return None
    if msg.get("group_id"):
        log.info("whatsapp: skipping group message %s (groups are not supported yet)", wamid)
        return None
    # Echoes are the business's own messages: the customer is the recipient ("to").
    phone_key, user_key = ("to", "to_user_id") if echo else ("from", "from_user_id")
    phone = as_str(msg.get(phone_key))
    user_id = as_str(msg.get(user_key))
    contact = {} if echo else _contact_for(contacts, user_id, phone)
    user_id = user_id or as_str(contact.get("user_id"))
    phone = phone or as_str(contact.get("wa_id"))
    if user_id is None and msg_type == "system":
        user_id = _system_subject(msg, phone)
    remote = user_id or (normalize_phone(phone) if phone else None)
    if not remote:  # a `from` with no digits in it names nobody
        log.info("whatsapp: skipping message %s without sender id", wamid)
        return None
    values = handler(msg)
    kind = values.pop("kind", EventKind.MESSAGE)
    target = values.pop("target", None)
    if echo and kind is EventKind.MESSAGE:
        kind = EventKind.ECHO
    reply_to, context_detail = _context(msg)
    detail = values.pop("detail", None)
    if context_detail:
        detail = {**(detail or {}), **context_detail}
    if echo:  # only the WhatsApp Business app's echoes exist: the owner wrote it (human handoff)
        detail = {**(detail or {}), "sent_from": SENT_FROM_BUSINESS_APP}
    values.setdefault("reply_to", reply_to)
    profile = as_dict(contact.get("profile"))
    referral = msg.get("referral")
    return InboundEvent(
        platform=Platform.WHATSAPP,
        kind=kind,
        account_id=account_id,
        timestamp=first_time(msg.get("timestamp")),
        remote_user_id=remote,
        remote_user_name=as_str(profile.get("name")),
        remote_user_username=as_str(contact.get("username")) or as_str(profile.get("username")),
        remote_user_phone=phone,
        # Edits and revokes point at the message they change; their own wamid only dedupes them.
        platform_message_id=target or wamid,
        is_echo=echo,
        referral=dict(referral) if referral and isinstance(referral, dict) else None,
        detail=detail or None,
        dedupe_key=f"whatsapp:{wamid}",
        raw=msg,
        **values,
    )


_STATUS_DETAIL: tuple[str, ...] = ("conversation", "pricing", "errors", "biz_opaque_callback_data")
_GROUP_STATUS_DETAIL: tuple[str, ...] = (*_STATUS_DETAIL, "recipient_type", "recipient_participant_id")


def _status(account_id: str, status: Mapping[str, Any]) -> InboundEvent | None:
    wamid = as_str(status.get("id"))
    state = as_str(status.get("status"))
    phone = as_str(status.get("recipient_id"))
    detail_keys = _STATUS_DETAIL
    if status.get("recipient_type") == "group":
        # recipient_id is then the group id: an opaque string, not a phone to normalize.
        remote, phone, detail_keys = phone, None, _GROUP_STATUS_DETAIL
    else:
        remote = as_str(status.get("recipient_user_id")) or (normalize_phone(phone) if phone else None)
    # A message sent to a parent BSUID may fail with neither recipient_id nor recipient_user_id.
    remote = remote or as_str(status.get("recipient_parent_user_id"))
    if wamid is None or state is None or remote is None:
        log.info("whatsapp: skipping incomplete status %s", wamid)
        return None
    errors = as_dicts(status.get("errors"))
    first = errors[0] if errors else {}
    detail = {k: status[k] for k in detail_keys if k in status}
    return InboundEvent(
        platform=Platform.WHATSAPP,
        kind=EventKind.STATUS,
        account_id=account_id,
        timestamp=first_time(status.get("timestamp")),
        remote_user_id=remote,
        remote_user_phone=phone,
        platform_message_id=wamid,
        status=state,
        error_code=as_int(first.get("code")),
        error_title=as_str(first.get("title")) or as_str(first.get("message")),
        detail=detail or None,
        dedupe_key=f"whatsapp:{wamid}:status:{state}",
        raw=status,
    )


def _messages_value(value: Mapping[str, Any], account_id: str) -> list[InboundEvent]:
    contacts = as_dicts(value.get("contacts"))
    if value.get("errors"):
        log.warning("whatsapp: %s reported errors %s", account_id, value.get("errors"))
    events = []
    for msg in as_dicts(value.get("messages")):
        if (event := _message(account_id, contacts, msg)) is not None:
            events.append(event)
    for status in as_dicts(value.get("statuses")):
        if (event := _status(account_id, status)) is not None:
            events.append(event)
    return events


def _echoes_value(value: Mapping[str, Any], account_id: str) -> list[InboundEvent]:
    events = []
    for msg in as_dicts(value.get("message_echoes")):
        if (event := _message(account_id, [], msg, echo=True)) is not None:
            events.append(event)
    return events


FIELD_HANDLERS: dict[str, Callable[[Mapping[str, Any], str], list[InboundEvent]]] = {
    "messages": _messages_value,
    "smb_message_echoes": _echoes_value,
}


def parse_entry(entry: Mapping[str, Any]) -> list[InboundEvent]:
    """Every message, echo and status of one WhatsApp Business Account entry."""
    events: list[InboundEvent] = []
    for change in as_dicts(entry.get("changes")):
        field = as_str(change.get("field")) or ""
        value = as_dict(change.get("value"))
        handler = FIELD_HANDLERS.get(field)
        account_id = as_str(as_dict(value.get("metadata")).get("phone_number_id"))
        if handler is None or account_id is None:
            log.info("whatsapp: skipping change field %s of WABA %s", field, entry.get("id"))
            continue
        events.extend(handler(value, account_id))
    return events


class WhatsAppAdapter(MetaAdapter):
    """WhatsApp Cloud API webhooks."""

    platform = Platform.WHATSAPP
    object_name = OBJECT_WHATSAPP


register_entry_parser(OBJECT_WHATSAPP, parse_entry)
