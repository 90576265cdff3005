"""WhatsApp Cloud API: `POST {graph}/{phone_number_id}/messages` — text, template, interactive reply buttons.

Answer: `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid…"}]}`.
A 200 only means accepted: delivery (or a late 131047) comes later as a `statuses` webhook.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from papo.adapters.senders.errors import InvalidRequest, TemplateParamMismatch
from papo.adapters.senders.graph import check_text, graph_post
from papo.adapters.senders.message import OutboundKind, OutboundMessage, SendResult, TemplateMessage
from papo.enums import Platform

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256


def _recipient(request: OutboundMessage) -> dict[str, str]:
    """`to` = the wa_id as received; without a phone, the business-scoped user id (BSUID) as `recipient`."""
    if request.recipient_phone:
        return {"to": request.recipient_phone}
    # A BSUID ("BR.1502576394655843") is not a phone number: Meta takes it in `recipient` (usernames, 2026).
    if "." in request.recipient_id:
        return {"recipient": request.recipient_id}
    return {"to": request.recipient_id}


def _text_params(values: tuple[str, ...], where: str) -> list[dict[str, str]]:
    for index, value in enumerate(values, start=1):
        if not value.strip():
            raise InvalidRequest(f"template {where} parameter {index} is empty (WhatsApp refuses empty values)")
    return [{"type": "text", "text": value} for value in values]


def template_payload(template: TemplateMessage) -> dict[str, Any]:
    """The `template` object; the parameter counts are checked against the template's variables first."""
    for where, values, expected in (
        ("body", template.body_params, template.expected_body_params),
        ("header", template.header_params, template.expected_header_params),
    ):
        if expected is not None and len(values) != expected:
            raise TemplateParamMismatch(
                f"template {template.name!r} expects {expected} {where} parameter(s), got {len(values)}",
                code=132000,
            )
    components: list[dict[str, Any]] = []
    if template.header_params:
        components.append({"type": "header", "parameters": _text_params(template.header_params, "header")})
    if template.body_params:
        components.append({"type": "body", "parameters": _text_params(template.body_params, "body")})
    payload: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        payload["components"] = components
    return payload


def _interactive(request: OutboundMessage) -> dict[str, Any]:
    if len(request.buttons) > MAX_BUTTONS:
        raise InvalidRequest(f"WhatsApp reply buttons: {len(request.buttons)} given, at most {MAX_BUTTONS}")
    titles = [b.title for b in request.buttons]
    if len(set(titles)) != len(titles):
        raise InvalidRequest("WhatsApp reply buttons: titles must be unique")
    buttons = []
    for button in request.buttons:
        if not button.title.strip() or len(button.title) > BUTTON_TITLE_LIMIT:
            raise InvalidRequest(f"WhatsApp button title {button.title!r} must be 1-{BUTTON_TITLE_LIMIT} characters")
        if not button.id.strip() or len(button.id) > BUTTON_ID_LIMIT:
            raise InvalidRequest(f"WhatsApp button id must be 1-{BUTTON_ID_LIMIT} characters")
        buttons.append({"type": "reply", "reply": {"id": button.id, "title": button.title}})
    body = check_text(request.text, limit=INTERACTIVE_BODY_LIMIT, what="WhatsApp interactive body")
    return {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}}


def build_payload(request: OutboundMessage) -> dict[str, Any]:
    """The Cloud API request body for one message."""
    if request.kind is not OutboundKind.REPLY:
        raise InvalidRequest(f"WhatsApp has no {request.kind} (only direct messages)")
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", **_recipient(request)}
    if request.reply_to:
        payload["context"] = {"message_id": request.reply_to}
    if request.template is not None:
        payload.update(type="template", template=template_payload(request.template))
    elif request.buttons:
        payload.update(type="interactive", interactive=_interactive(request))
    else:
        body = check_text(request.text, limit=TEXT_LIMIT, what="WhatsApp text")
        payload.update(type="text", text={"preview_url": False, "body": body})
    return payload


class WhatsAppSender:
    """Sends through the WhatsApp Cloud API."""

    platform = Platform.WHATSAPP

    async def send(
        self, request: OutboundMessage, token: str, session: aiohttp.ClientSession, base_url: str
    ) -> SendResult:
        """POST /{phone_number_id}/messages."""
        payload = build_payload(request)
        body = await graph_post(session, base_url, f"{request.platform_account_id}/messages", payload, token)
        messages = body.get("messages") or [{}]
        contacts = body.get("contacts") or [{}]
        return SendResult(
            platform_message_id=messages[0].get("id"),
            recipient=contacts[0].get("wa_id"),
            raw=body,
        )
