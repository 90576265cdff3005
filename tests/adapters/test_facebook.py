"""Messenger and Page feed payloads -> InboundEvents."""

from __future__ import annotations

import logging

import pytest

from papo.adapters.events import EventKind
from papo.enums import MessageType, Platform
from tests.adapters.helpers import parse, utc

PAGE = "104412318129773"
PSID = "7134250116598231"
MARINA = "2948571029384756"
RAFAEL = "3058612930475867"
POST = "104412318129773_1122334455667788"
FIRST_MID = "m_Xu3ktf2IVdZ2R8Rk7e_0B0Ib4wC5dJpYlG9kBfYq2rJ8gMQ4KX6M1cQ9NqPDvUwXl0y7bTzS4hJ1fR3kA6oWcg"
ECHO_MID = "m_Ec5hU8sZ4qN1wT6vB9xK2mJ7aP0rL3fD8gY5iH1oQ4eW2tR9uI6yO3pA0sD7fG4hJ1kL8zX5cV2bN9mQ6wE3rT"


def test_messenger_message_sticker_echo_edit_reaction() -> None:
    text, sticker, echo, edit, reaction = parse("facebook", "messenger.json")
    assert text.platform is Platform.FACEBOOK
    assert (text.kind, text.account_id, text.remote_user_id) == (EventKind.MESSAGE, PAGE, PSID)
    assert text.text == "Boa tarde! Vocês entregam no Estreito?"
    assert text.platform_message_id == FIRST_MID
    assert text.timestamp == utc("2026-01-01T12:36:40.100000")

    assert (sticker.message_type, sticker.detail_type) == (MessageType.IMAGE, "sticker")
    assert sticker.media_url is not None and sticker.media_url.endswith("759568595_n.png")

    assert echo.kind is EventKind.ECHO and echo.is_echo
    assert echo.remote_user_id == PSID  # the recipient of the Page's message
    assert echo.detail == {"app_id": 1517776481860111, "metadata": "papo:outbound:8f1c2d"}
    assert echo.conversation_key == text.conversation_key

    assert edit.kind is EventKind.MESSAGE_EDIT
    assert (edit.platform_message_id, edit.text) == (FIRST_MID, "Boa tarde! Vocês entregam em Coqueiros?")
    assert edit.detail == {"num_edit": 2}

    assert reaction.kind is EventKind.REACTION
    assert (reaction.reply_to, reaction.reaction, reaction.removed) == (ECHO_MID, "👍", False)


def test_messenger_postback_delivery_read_referral_optin(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        postback, delivered_1, delivered_2, read, referral, optin = parse("facebook", "messenger_events.json")
    assert postback.kind is EventKind.POSTBACK
    assert (postback.text, postback.postback_payload) == ("Fazer pedido", "START_ORDER")
    assert postback.referral == {"ref": "cardapio-qr", "source": "SHORTLINK", "type": "OPEN_THREAD"}

    assert [delivered_1.status, delivered_2.status] == ["delivered", "delivered"]
    assert delivered_1.platform_message_id == ECHO_MID
    assert delivered_1.kind is EventKind.STATUS
    assert delivered_1.dedupe_key == f"facebook:{ECHO_MID}:status:delivered"

    assert (read.kind, read.status, read.platform_message_id) == (EventKind.STATUS, "read", None)
    assert read.detail == {"watermark": "1767271000300"}

    assert referral.kind is EventKind.REFERRAL
    assert referral.referral is not None and referral.referral["ad_id"] == "120211384718020501"
    assert referral.postback_payload == "promo-natal"

    assert optin.kind is EventKind.OPTIN
    assert optin.postback_payload == "PROMOCOES_SEMANAIS"
    assert optin.detail is not None and optin.detail["notification_messages_token"] == "7106392813248519012"
    assert "account_linking" in caplog.text


def test_feed_comments_add_reply_edit_remove() -> None:
    # The hidden comment and the Page's own reply are skipped.
    top, reply, edited, removed = parse("facebook", "feed_comments.json")
    assert (top.kind, top.remote_user_id, top.remote_user_name) == (EventKind.COMMENT, MARINA, "Marina Costa")
    assert top.platform_message_id == "1122334455667788_998877665544331"
    assert top.post_id == POST
    assert top.parent_comment_id is None  # a top-level comment's parent is the post
    assert top.text == "Quanto fica a caixa de 24?"
    assert top.timestamp == utc("2026-01-01T12:39:50")
    assert top.dedupe_key == "facebook:comment:1122334455667788_998877665544331"

    assert reply.parent_comment_id == "1122334455667788_998877665544331"
    assert (reply.message_type, reply.media_url) == (
        MessageType.IMAGE,
        "https://scontent.xx.fbcdn.net/v/t39.30808-6/comment_photo.jpg",
    )

    assert edited.kind is EventKind.COMMENT_EDIT
    assert edited.platform_message_id == top.platform_message_id
    assert edited.text == "Quanto fica a caixa de 24 com entrega?"
    assert edited.dedupe_key.startswith("facebook:comment:1122334455667788_998877665544331:edit:")

    assert removed.kind is EventKind.COMMENT_DELETE
    assert removed.platform_message_id == reply.platform_message_id
    assert removed.dedupe_key.endswith(":delete")


def test_feed_likes_and_reactions() -> None:
    like, love, unlove, haha_on_comment, legacy_like = parse("facebook", "feed_reactions.json")
    assert (like.kind, like.reaction, like.removed) == (EventKind.LIKE, "like", False)
    assert like.post_id == POST and like.remote_user_id == MARINA
    assert (love.kind, love.reaction) == (EventKind.REACTION, "love")
    assert (unlove.kind, unlove.removed) == (EventKind.REACTION, True)
    assert love.dedupe_key != unlove.dedupe_key
    assert haha_on_comment.reply_to == "1122334455667788_998877665544339"
    assert haha_on_comment.detail_type == "comment"
    assert (legacy_like.kind, legacy_like.remote_user_name) == (EventKind.LIKE, "Lucas Moreira")


def test_feed_visitor_post_and_skipped_items(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        [visitor_post] = parse("facebook", "feed_posts.json")  # the Page's own photo is skipped
    assert visitor_post.kind is EventKind.COMMENT
    assert visitor_post.detail_type == "visitor_status"
    assert visitor_post.platform_message_id == visitor_post.post_id == "104412318129773_1122334455667799"
    assert visitor_post.text == "Melhor bolo de Floripa! Vocês abrem no feriado?"
    assert "feed item event" in caplog.text
    assert "ratings" in caplog.text


def test_batch_of_pages() -> None:
    first, comment, second = parse("facebook", "batch.json")
    assert (first.account_id, first.text) == (PAGE, "Olá")
    assert (comment.account_id, comment.kind, comment.text) == (
        "209876543210987",
        EventKind.COMMENT,
        "Tem sem lactose?",
    )
    assert (second.account_id, second.remote_user_id) == (PAGE, "8245361227709342")


def test_messenger_attachment_and_sender_shapes_from_the_reference() -> None:
    # developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/
    # messages (sticker type, appointment_booking, fallback with payload null and title/URL beside it),
    # messaging_referrals and messaging_postbacks (chat plugin: sender.user_ref, no sender.id),
    # messaging_optins (notification_messages_status) and message-deliveries (no timestamp).
    (sticker, transition, fallback, booking, reply, plugin_referral, plugin_postback, stop,
     delivered) = parse("facebook", "messenger_doc_shapes.json")

    assert (sticker.kind, sticker.message_type, sticker.detail_type) == (
        EventKind.MESSAGE, MessageType.IMAGE, "sticker")
    assert sticker.media_id == "369239263222822"
    assert sticker.media_url is not None and sticker.media_url.endswith("759568595_n.png")
    # During the sticker transition an `image` and a `sticker` attachment arrive together.
    assert (transition.message_type, transition.detail_type) == (MessageType.IMAGE, "sticker")

    assert fallback.text == "https://www.docesdaana.com.br/cardapio"
    assert fallback.detail_type == "fallback"
    assert fallback.media_url == "https://www.docesdaana.com.br/cardapio"
    assert fallback.detail is not None and fallback.detail["title"] == "Cardápio de Natal | Doces da Ana"

    assert booking.detail_type == "appointment_booking"
    assert booking.detail is not None
    assert booking.detail["payload"]["booking_id"] == "981276345012"
    assert booking.detail["payload"]["status"] == "confirmed"

    assert reply.reply_to == ECHO_MID and reply.text == "Pode ser às 15h?"

    assert plugin_referral.kind is EventKind.REFERRAL
    assert plugin_referral.remote_user_id == "cp_8f3a61d2e9b54c07"
    assert plugin_referral.referral is not None
    assert plugin_referral.referral["referer_uri"] == "https://www.docesdaana.com.br/contato"
    assert plugin_referral.postback_payload == "site-rodape"
    assert plugin_postback.kind is EventKind.POSTBACK
    assert plugin_postback.remote_user_id == plugin_referral.remote_user_id
    assert plugin_postback.conversation_key == f"facebook:{PAGE}:cp_8f3a61d2e9b54c07"

    assert stop.kind is EventKind.OPTIN and stop.removed  # the person stopped the notifications

    assert (delivered.kind, delivered.status) == (EventKind.STATUS, "delivered")
    assert delivered.platform_message_id is not None and delivered.platform_message_id.endswith("kM8oQ1")
    assert delivered.timestamp == utc("2026-01-01T12:53:21.234000")  # no timestamp: entry.time (ms)


def test_messaging_item_as_a_field_value_change() -> None:
    # developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/
    # messaging_postbacks shows the item as `{"field": "messaging_postbacks", "value": {...}}`, with every
    # property a string and the timestamp in seconds.
    [postback] = parse("facebook", "messenger_field_value.json")
    assert postback.kind is EventKind.POSTBACK
    assert (postback.account_id, postback.remote_user_id) == (PAGE, "cp_8f3a61d2e9b54c07")
    assert (postback.text, postback.postback_payload) == ("Fazer pedido", "START_ORDER")
    assert postback.referral == {"ref": "cardapio-qr", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    assert postback.timestamp == utc("2026-01-01T12:55:00")


def test_feed_comment_with_sender_fields_and_photo_post_with_photos_list() -> None:
    # developers.facebook.com/docs/graph-api/webhooks/reference/page (feed: `photos`, created_time); older
    # feed deliveries name the author with sender_id/sender_name instead of `from`.
    comment, photo_post = parse("facebook", "feed_sender_fields.json")
    assert comment.kind is EventKind.COMMENT
    assert (comment.remote_user_id, comment.remote_user_name) == ("5280834152697089", "Beatriz Lima")
    assert comment.conversation_key == f"facebook:{PAGE}:5280834152697089"
    assert comment.text == "Vocês fazem bolo sem glúten?"

    assert (photo_post.kind, photo_post.detail_type) == (EventKind.COMMENT, "visitor_photo")
    assert photo_post.message_type is MessageType.IMAGE
    assert photo_post.media_url == "https://scontent.xx.fbcdn.net/v/t39.30808-6/bolo_aniversario.jpg"
    assert photo_post.timestamp == utc("2026-01-01T12:56:35")  # created_time as an ISO 8601 string
