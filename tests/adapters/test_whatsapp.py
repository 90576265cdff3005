"""WhatsApp Cloud API payloads -> InboundEvents."""

from __future__ import annotations

import json
import logging

import pytest

from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.whatsapp import WhatsAppAdapter
from papo.enums import MessageType, Platform
from tests.adapters.helpers import parse, utc

PHONE_ID = "106540352242922"
ANA = "BR.1502576394655843"
TARGET = "wamid.HBgNNTU1MTE5NDAwMjg5MjIVAgARGBI3QkQxQTg0RTBCRTg3RDhEMUYA"


def test_text_message_prefers_business_scoped_user_id() -> None:
    [event] = parse("whatsapp", "text_bsuid.json")
    assert event.platform is Platform.WHATSAPP
    assert event.kind is EventKind.MESSAGE
    assert event.account_id == PHONE_ID
    assert event.remote_user_id == ANA
    assert event.remote_user_name == "Ana Souza"
    assert event.remote_user_username == "@ana.souza"
    assert event.remote_user_phone == "554891234567"  # as received: replies go to this wa_id
    assert event.platform_message_id == "wamid.HBgMNTU0ODkxMjM0NTY3FQIAEhgUM0FBMDFCQjY2RDE0NUI4Qjc3RDUA"
    assert event.text == "Oi! Vocês têm o bolo de cenoura hoje?"
    assert event.message_type is MessageType.TEXT
    assert event.detail_type == "text"
    assert event.timestamp == utc("2026-01-01T12:00:00")
    assert event.conversation_key == f"whatsapp:{PHONE_ID}:{ANA}"
    assert event.dedupe_key == f"whatsapp:{event.platform_message_id}"
    assert not event.is_echo
    assert event.raw["type"] == "text"


def test_brazil_ninth_digit_maps_both_forms_to_one_conversation() -> None:
    old_form, new_form = parse("whatsapp", "text_phone_only.json")
    assert old_form.remote_user_phone == "554891234567"
    assert new_form.remote_user_phone == "5548991234567"
    assert old_form.remote_user_id == new_form.remote_user_id == "5548991234567"
    assert old_form.conversation_key == new_form.conversation_key
    assert old_form.remote_user_name == new_form.remote_user_name == "Carlos Lima"
    assert [old_form.text, new_form.text] == ["Quero encomendar 2 bolos", "Para sábado, por favor"]


def test_media_messages() -> None:
    image, audio, video, document, sticker = parse("whatsapp", "media.json")
    assert (image.message_type, image.detail_type) == (MessageType.IMAGE, "image")
    assert image.text == "Esse modelo aqui"
    assert image.media_id == "1479537139650973"
    assert image.media_mime == "image/jpeg"
    assert image.detail == {"sha256": "r0ZBvDSgyGLF8eHQJXzRjpqHzdB5ww9IB3cKfhOZl3o="}

    assert (audio.message_type, audio.detail_type) == (MessageType.AUDIO, "voice")
    assert audio.media_mime == "audio/ogg; codecs=opus"
    assert audio.text is None

    assert (video.message_type, video.detail_type, video.text) == (
        MessageType.VIDEO,
        "video",
        "Olha como ficou",
    )
    assert video.media_id == "1180392736702938"

    assert (document.message_type, document.detail_type) == (MessageType.FILE, "document")
    assert document.text == "Comprovante"
    assert document.media_mime == "application/pdf"
    assert document.detail is not None and document.detail["filename"] == "comprovante-pix.pdf"

    assert (sticker.message_type, sticker.detail_type) == (MessageType.IMAGE, "sticker")
    assert sticker.media_mime == "image/webp"
    assert sticker.detail is not None and sticker.detail["animated"] is False
    assert {e.remote_user_id for e in (image, audio, video, document, sticker)} == {ANA}


def test_location_contacts_interactive_button_order() -> None:
    location, contacts, button_reply, list_reply, button, order = parse("whatsapp", "rich.json")
    assert location.detail_type == "location"
    assert location.text == "Mercado Público, R. Jerônimo Coelho, 60 - Centro, Florianópolis - SC"
    assert location.detail is not None
    assert (location.detail["latitude"], location.detail["longitude"]) == (-27.5954, -48.548)

    assert contacts.detail_type == "contacts"
    assert contacts.text == "Bruno Alves"
    assert (
        contacts.detail is not None
        and contacts.detail["contacts"][0]["phones"][0]["wa_id"] == "5548998765432"
    )

    assert button_reply.detail_type == "interactive"
    assert button_reply.text == "Confirmar pedido"
    assert button_reply.postback_payload == "confirm_order_771"
    assert button_reply.reply_to == TARGET
    assert button_reply.detail == {"interactive_type": "button_reply"}

    assert list_reply.postback_payload == "slot_sat_10"
    assert list_reply.text == "Sábado 10h"
    assert list_reply.detail == {"interactive_type": "list_reply", "description": "Retirada na loja"}

    assert (button.detail_type, button.text, button.postback_payload) == (
        "button",
        "Quero a promoção",
        "PROMO_NATAL_SIM",
    )
    assert button.reply_to == "wamid.HBgNNTU1MTE5NDAwMjg5MjIVAgARGBJGMjQ0OEI5QjdCMzM4QjlBMEUA"

    assert order.detail_type == "order"
    assert order.text == "Pode mandar hoje?"
    assert (
        order.detail is not None
        and order.detail["product_items"][0]["product_retailer_id"] == "bolo-cenoura-g"
    )
    assert all(e.kind is EventKind.MESSAGE and e.message_type is MessageType.TEXT for e in (location, order))


def test_reaction_and_its_removal() -> None:
    added, removed = parse("whatsapp", "reaction.json")
    assert added.kind is removed.kind is EventKind.REACTION
    assert added.reply_to == removed.reply_to == TARGET
    assert (added.reaction, added.removed) == ("❤️", False)
    assert (removed.reaction, removed.removed) == (None, True)
    assert added.dedupe_key != removed.dedupe_key


def test_unsupported_keeps_error_131051() -> None:
    [event] = parse("whatsapp", "unsupported.json")
    assert event.kind is EventKind.MESSAGE
    assert event.detail_type == "unsupported"
    assert (event.error_code, event.error_title) == (131051, "Message type unknown")
    assert event.text is None


def test_system_message() -> None:
    [event] = parse("whatsapp", "system.json")
    assert event.kind is EventKind.SYSTEM
    assert event.detail_type == "user_changed_number"
    assert event.detail is not None and event.detail["wa_id"] == "5548996543210"
    assert event.remote_user_id == "5548991234567"


def test_referral_reply_context_and_forward() -> None:
    ad, reply, forwarded = parse("whatsapp", "context_referral.json")
    assert ad.kind is EventKind.MESSAGE  # a click-to-WhatsApp ad stays a message, with referral data
    assert ad.referral is not None
    assert ad.referral["source_type"] == "ad"
    assert ad.referral["source_id"] == "120211384718020487"
    assert ad.referral["ctwa_clid"].startswith("ARAkLkA8")
    assert reply.reply_to == "wamid.HBgNNTU1MTE5NDAwMjg5MjIVAgARGBJBQkNERUYwMTIzNDU2Nzg5AA=="
    assert reply.referral is None
    assert forwarded.detail == {"forwarded": True}
    assert forwarded.reply_to is None
    assert {e.remote_user_id for e in (ad, reply, forwarded)} == {"BR.2874436019981276"}


def test_statuses() -> None:
    sent, delivered, read, failed = parse("whatsapp", "statuses.json")
    assert [e.kind for e in (sent, delivered, read, failed)] == [EventKind.STATUS] * 4
    assert [e.status for e in (sent, delivered, read, failed)] == ["sent", "delivered", "read", "failed"]
    assert sent.platform_message_id == delivered.platform_message_id == read.platform_message_id
    assert sent.remote_user_id == ANA
    assert sent.detail is not None and sent.detail["pricing"]["category"] == "service"
    assert len({sent.dedupe_key, delivered.dedupe_key, read.dedupe_key}) == 3
    assert (failed.error_code, failed.error_title) == (131047, "Re-engagement message")
    assert failed.remote_user_id == "5548991234567"  # old 12-digit recipient_id, normalized
    assert failed.remote_user_phone == "554891234567"
    assert failed.timestamp == utc("2026-01-01T12:16:40")


def test_batch_with_several_entries_changes_and_messages() -> None:
    events = parse("whatsapp", "batch.json")
    assert [(e.account_id, e.kind, e.remote_user_id) for e in events] == [
        (PHONE_ID, EventKind.MESSAGE, ANA),
        (PHONE_ID, EventKind.MESSAGE, "BR.3390451187220964"),
        (PHONE_ID, EventKind.STATUS, "BR.3390451187220964"),
        ("117483920564481", EventKind.MESSAGE, "BR.7730912246018835"),
    ]
    assert events[1].remote_user_name == "Pedro Rocha"  # contact matched by user_id, not position
    assert events[3].text == "Oi, loja do centro?"


def test_template_status_and_other_fields_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="papo.adapters.whatsapp"):
        assert parse("whatsapp", "template_status.json") == []
    assert "message_template_status_update" in caplog.text
    assert "phone_number_quality_update" in caplog.text


def test_unknown_message_type_and_field_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="papo.adapters.whatsapp"):
        [event] = parse("whatsapp", "unknown_type.json")
    assert event.text == "Ainda funciona?"
    assert "hologram" in caplog.text
    assert "brand_new_field" in caplog.text


def test_business_app_echo() -> None:
    [echo] = parse("whatsapp", "smb_echoes.json")
    assert echo.kind is EventKind.ECHO
    assert echo.is_echo
    assert echo.remote_user_id == "5548991234567"  # the recipient, not the business number
    assert echo.text == "Temos sim! Separo um para você?"
    assert echo.sender.value == "user"


def test_edit_and_revoke_point_at_the_original_message() -> None:
    edit, revoke = parse("whatsapp", "edit_revoke.json")
    assert edit.kind is EventKind.MESSAGE_EDIT
    assert edit.platform_message_id == "wamid.HBgMNTU0ODkxMjM0NTY3FQIAEhgUM0FBMDFCQjY2RDE0NUI4Qjc3RDUA"
    assert edit.text == "Oi! Vocês têm o bolo de chocolate hoje?"
    assert edit.dedupe_key == "whatsapp:wamid.HBgNNTU0ODk5MTIzNDU2NxUCABIYFjNFQjFEMDAwMDAwMDAwMDAwMDAwMQA="
    assert revoke.kind is EventKind.MESSAGE_DELETE
    assert revoke.platform_message_id == "wamid.HBgNNTU0ODk5MTIzNDU2NxUCABIYFjNFQjBBMDAwMDAwMDAwMDAwMDAwMQA="


def _body(messages: list[dict[str, object]], contacts: list[dict[str, object]] | None = None) -> bytes:
    value: dict[str, object] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511940028922", "phone_number_id": PHONE_ID},
        "messages": messages,
    }
    if contacts is not None:
        value["contacts"] = contacts
    entry = {"id": "1", "changes": [{"field": "messages", "value": value}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def test_username_only_user_without_phone_is_keyed_on_user_id() -> None:
    message: dict[str, object] = {
        "from_user_id": ANA,
        "id": "wamid.X1",
        "timestamp": "1767268800",
        "type": "text",
        "text": {"body": "oi"},
    }
    contact: dict[str, object] = {"profile": {"name": "Ana", "username": "@ana"}, "user_id": ANA}
    [event] = WhatsAppAdapter().parse(_body([message], [contact]))
    assert event.remote_user_id == ANA
    assert event.remote_user_phone is None
    assert event.remote_user_username == "@ana"


def test_malformed_items_are_skipped_not_fatal() -> None:
    messages: list[dict[str, object]] = [
        {"id": "wamid.NOFROM", "timestamp": "1767268800", "type": "text", "text": {"body": "?"}},
        {"from": "5511999998888", "timestamp": "1767268800", "type": "text"},
        {"from": "5511999998888", "id": "wamid.G", "group_id": "g1", "timestamp": "1", "type": "text"},
        {
            "from": "5511999998888",
            "id": "wamid.OK",
            "timestamp": "bogus",
            "type": "text",
            "text": {"body": "ok"},
        },
    ]
    events: list[InboundEvent] = WhatsAppAdapter().parse(_body(messages, contacts=[]))
    assert [e.platform_message_id for e in events] == ["wamid.OK"]
    assert events[0].timestamp.tzinfo is not None  # no platform time -> receive time, still aware


def test_request_welcome_is_an_entry_into_the_chat() -> None:
    [event] = parse("whatsapp", "request_welcome.json")
    # Opening the chat for the first time, without writing: an entry (referral rules answer it).
    assert event.kind is EventKind.REFERRAL
    assert event.detail_type == "request_welcome"
    assert event.text is None
    assert event.remote_user_id == "BR.4418026637190254"
    assert (event.remote_user_name, event.remote_user_phone) == ("Marina Costa", "5531988776655")
    assert event.platform_message_id == "wamid.HBgNNTUzMTk4ODc3NjY1NRUCABIYFjNFQjJBMDAwMDAwMDAwMDAwMDAwMQA="
    assert not event.is_echo


def test_identity_notices_are_keyed_on_the_business_scoped_id_the_customer_had() -> None:
    number, user_id = parse("whatsapp", "system_identity.json")
    assert number.kind is user_id.kind is EventKind.SYSTEM
    # Number change: `from` is the old phone, but the conversation is keyed on the old BSUID.
    assert number.detail_type == "user_changed_number"
    assert number.remote_user_id == "BR.1502576394655843"
    assert number.remote_user_phone == "5548991234567"
    assert number.detail is not None and number.detail["user_id"] == "BR.9021553478816632"
    assert number.detail["wa_id"] == "5548996543210"
    # BSUID change without any phone: still reported, about the id the customer had.
    assert user_id.detail_type == "user_changed_user_id"
    assert user_id.remote_user_id == "BR.2874436019981276"
    assert user_id.remote_user_phone is None
    assert user_id.detail is not None and user_id.detail["user_id"] == "BR.6630187452290871"
    assert user_id.text is not None and user_id.text.startswith("User Júlia Prado changed from")


def test_identity_notice_without_previous_id_or_phone_uses_the_new_id() -> None:
    message: dict[str, object] = {
        "id": "wamid.SYS1",
        "timestamp": "1767270660",
        "type": "system",
        "system": {"body": "changed", "user_id": "BR.77", "type": "user_changed_user_id"},
    }
    [event] = WhatsAppAdapter().parse(_body([message]))
    assert (event.kind, event.remote_user_id) == (EventKind.SYSTEM, "BR.77")


def test_flow_address_and_call_permission_replies() -> None:
    flow, address, call = parse("whatsapp", "interactive_replies.json")
    assert all(e.kind is EventKind.MESSAGE and e.detail_type == "interactive" for e in (flow, address, call))
    assert flow.detail is not None
    assert (flow.detail["interactive_type"], flow.detail["name"]) == ("nfm_reply", "flow")
    assert json.loads(flow.detail["response_json"])["sabor"] == "cenoura"
    assert flow.reply_to == "wamid.HBgNNTU1MTE5NDAwMjg5MjIVAgARGBJGTE9XMDAwMDAwMDAwMDAwMQA="
    assert flow.postback_payload is None  # a form answer is not a button tap
    assert address.detail is not None and address.detail["name"] == "address_message"
    assert address.text == "Rua das Flores, 12 - Centro, Florianópolis"
    assert call.detail is not None
    assert call.detail["interactive_type"] == "call_permission_reply"
    assert (call.detail["response"], call.detail["response_source"]) == ("accept", "user_action")
    assert (call.text, call.postback_payload) == (None, None)


def test_unsupported_says_what_the_customer_sent() -> None:
    [event] = parse("whatsapp", "unsupported_type.json")
    assert (event.detail_type, event.error_code) == ("unsupported", 131051)
    assert event.detail is not None and event.detail["unsupported_type"] == "poll_creation"
    assert event.detail["errors"][0]["error_data"]["details"] == "Message type is currently not supported."
    assert event.remote_user_id == ANA


def test_group_status_and_parent_bsuid_failure() -> None:
    group, failed = parse("whatsapp", "statuses_group_parent.json")
    group_id = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjMzOTQzMjAwMjA2NTc="
    # A group id is not a phone: kept as sent, never reduced to its digits.
    assert (group.kind, group.status, group.remote_user_id) == (EventKind.STATUS, "delivered", group_id)
    assert group.remote_user_phone is None
    assert group.detail is not None and group.detail["recipient_participant_id"] == "5548991234567"
    assert group.detail["pricing"]["category"] == "utility"
    # Sent to a parent BSUID: neither recipient_id nor recipient_user_id, the failure still arrives.
    assert (failed.status, failed.error_code) == ("failed", 131047)
    assert failed.remote_user_id == "BR.ENT.11815799212886844830"


def test_coexistence_history_and_contact_sync_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    # Months-old chats must not arrive as new messages (automations would answer them).
    with caplog.at_level(logging.INFO, logger="papo.adapters.whatsapp"):
        assert parse("whatsapp", "coexistence_sync.json") == []
    assert "history" in caplog.text
    assert "smb_app_state_sync" in caplog.text
