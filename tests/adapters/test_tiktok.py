"""TikTok webhook payloads -> InboundEvents."""

from __future__ import annotations

import json
import logging

import pytest

from papo.adapters.errors import PayloadError
from papo.adapters.events import EventKind, PublishState
from papo.adapters.tiktok import TikTokAdapter
from papo.enums import MessageType, Platform
from tests.adapters.helpers import body, parse, utc

BUSINESS = "-000bZ1kLmNoPqRsTuVwXyZ12345abcdEF"
CUSTOMER = "7291038475610293847"


def test_authorization_removed_is_a_system_event() -> None:
    [event] = parse("tiktok", "authorization_removed.json")
    assert event.platform is Platform.TIKTOK
    assert event.kind is EventKind.SYSTEM
    assert event.detail_type == "authorization_removed"
    assert event.account_id == BUSINESS
    assert event.detail == {"reason": 1}
    assert event.text == "user disconnected the app"
    assert event.timestamp == utc("2026-01-01T12:53:20")
    assert event.remote_user_id == ""


@pytest.mark.parametrize(
    ("name", "state", "publish_id", "error"),
    [
        ("video_publish_completed.json", PublishState.PUBLISHED, "video.7347152853281234567.a1B2c3D4", None),
        (
            "video_upload_failed.json",
            PublishState.FAILED,
            "video.7347152853281239999.e5F6g7H8",
            "video.upload.failed",
        ),
        (
            "post_publish_failed.json",
            PublishState.FAILED,
            "v_pub_url~v2-1.7347160123456789012",
            "file_format_check_failed",
        ),
        (
            "post_publish_publicly_available.json",
            PublishState.PUBLICLY_AVAILABLE,
            "v_pub_url~v2-1.7347160123456789013",
            None,
        ),
    ],
)
def test_publish_outcomes(name: str, state: PublishState, publish_id: str, error: str | None) -> None:
    [event] = parse("tiktok", name)
    assert event.kind is EventKind.PUBLISH_STATUS
    assert event.status == state
    assert event.platform_message_id == publish_id
    assert event.error_title == error
    assert event.account_id == BUSINESS
    # One outcome per publish; visibility changes are per post and event time (tested below).
    if state is PublishState.PUBLICLY_AVAILABLE:
        assert publish_id in event.dedupe_key and str(event.post_id) in event.dedupe_key
    else:
        assert event.dedupe_key == f"tiktok:{event.detail_type}:{publish_id}"


def test_publicly_available_names_the_post() -> None:
    [event] = parse("tiktok", "post_publish_publicly_available.json")
    assert event.post_id == "7347160987654321098"


def test_business_messaging_text() -> None:
    [event] = parse("tiktok", "im_receive_msg_text.json")
    assert event.kind is EventKind.MESSAGE
    assert (event.account_id, event.remote_user_id) == (BUSINESS, CUSTOMER)
    assert event.remote_user_username == "ana_doces_fan"
    assert event.platform_message_id == "u5Buqc6lAghuOelnHUZV88DK2A=="
    assert event.text == "Oi, vocês vendem pelo TikTok Shop?"
    assert event.timestamp == utc("2026-01-01T13:01:39.876000")
    assert event.detail == {"conversation_id": "u5JhpselBAhoPOlnH0tZ9y07kg=="}
    assert event.dedupe_key == "tiktok:u5Buqc6lAghuOelnHUZV88DK2A=="


def test_business_messaging_image_and_shared_post() -> None:
    [image] = parse("tiktok", "im_receive_msg_image.json")
    assert (image.message_type, image.media_id) == (MessageType.IMAGE, "v0f044gc0000ctmmgtnog65m2bcq1234")
    assert image.reply_to == "u5Buqc6lAghuOelnHUZV88DK2A=="
    [share] = parse("tiktok", "im_receive_msg_share_post.json")
    assert share.detail_type == "share_post"
    assert share.media_url == "https://www.tiktok.com/embed/v2/7347152853281234567"
    assert share.detail is not None and share.detail["video_id"] == "7347152853281234567"


def test_business_messaging_echo_and_read() -> None:
    [echo] = parse("tiktok", "im_send_msg.json")
    assert echo.kind is EventKind.ECHO and echo.is_echo
    assert echo.remote_user_id == CUSTOMER
    [read] = parse("tiktok", "im_mark_read_msg.json")
    assert (read.kind, read.status, read.remote_user_id) == (EventKind.STATUS, "read", CUSTOMER)
    assert read.timestamp == utc("2026-01-01T13:04:59")


def test_unknown_event_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert parse("tiktok", "unknown_event.json") == []
    assert "portability.download.ready" in caplog.text


@pytest.mark.parametrize(
    "payload",
    [
        {"client_key": "k", "create_time": 1, "user_openid": "u", "content": "{}"},
        {"event": "authorization.removed", "create_time": 1, "content": "{}"},
        {"event": "authorization.removed", "user_openid": "u", "content": "{not json"},
    ],
)
def test_wrong_shape_raises_payload_error(payload: dict[str, object]) -> None:
    with pytest.raises(PayloadError):
        TikTokAdapter().parse(json.dumps(payload).encode())


def _body(event: str, content: dict[str, object], create_time: int = 1767274000) -> bytes:
    """A TikTok webhook body around `content`, serialised as the JSON string TikTok sends."""
    return json.dumps(
        {
            "client_key": "awq3k9v2xb7m1pde",
            "event": event,
            "create_time": create_time,
            "user_openid": BUSINESS,
            "content": json.dumps(content),
        }
    ).encode()


@pytest.mark.parametrize(
    "event", ["post.publish.no_longer_publicaly_available", "post.publish.no_longer_publicly_available"]
)
def test_no_longer_publicly_available_in_both_spellings(event: str) -> None:
    # developers.tiktok.com (Content Posting API, Get Post Status) spells it "publicaly"; the TikTok API
    # for Business spells it "publicly". Both mean the post stopped being public.
    content = {"publish_id": "v_pub_url~v2-1.1", "post_id": "7347160987654321098", "publish_type": "DIRECT_PUBLISH"}
    [event_] = TikTokAdapter().parse(_body(event, content))
    assert (event_.kind, event_.status) == (EventKind.PUBLISH_STATUS, PublishState.REMOVED)
    assert (event_.platform_message_id, event_.post_id) == ("v_pub_url~v2-1.1", "7347160987654321098")


def test_no_longer_publicaly_available_fixture() -> None:
    [event] = parse("tiktok", "post_publish_no_longer_publicaly_available.json")
    assert event.status == PublishState.REMOVED
    assert event.post_id == "7347160987654321098"
    assert event.error_title is None


def test_each_post_of_one_upload_and_each_visibility_change_is_its_own_event() -> None:
    # One upload can become several posts, and a post can go public, private and public again.
    def key(post_id: str, create_time: int) -> str:
        content = {"publish_id": "p1", "post_id": post_id, "publish_type": "INBOX_SHARE"}
        [event] = TikTokAdapter().parse(_body("post.publish.publicly_available", content, create_time))
        return event.dedupe_key

    assert key("111", 1) != key("222", 1)
    assert key("111", 1) != key("111", 2)
    assert key("111", 1) == key("111", 1)  # a redelivery is the same event


def test_comment_update_reply_is_a_comment_with_exact_64_bit_ids() -> None:
    [event] = parse("tiktok", "comment_update_reply.json")
    assert (event.kind, event.account_id, event.remote_user_id) == (EventKind.COMMENT, BUSINESS, CUSTOMER)
    assert event.platform_message_id == "7347161234567890123"  # a bare JSON number beyond 2**53
    assert event.post_id == "7347160987654321098"
    assert event.parent_comment_id == "7347161234567890001"
    assert event.text is None  # TikTok leaves the text out of comment.update
    assert event.timestamp == utc("2026-01-01T13:13:15.123000")
    assert event.dedupe_key == "tiktok:comment:7347161234567890123"
    # The customer's comments and DMs share one conversation.
    [dm] = parse("tiktok", "im_receive_msg_text.json")
    assert event.conversation_key == dm.conversation_key


def test_comment_update_delete() -> None:
    [event] = parse("tiktok", "comment_update_delete.json")
    assert (event.kind, event.platform_message_id) == (EventKind.COMMENT_DELETE, "7347161234567890123")
    assert event.dedupe_key != parse("tiktok", "comment_update_reply.json")[0].dedupe_key


def test_top_level_comment_has_no_parent_and_visibility_changes_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    content = {"comment_id": 7347161234567890555, "video_id": 7347160987654321098, "parent_comment_id": 0,
               "comment_type": "comment", "comment_action": "insert", "unique_identifier": CUSTOMER,
               "timestamp": 1767273195123}
    [event] = TikTokAdapter().parse(_body("comment.update", content))
    assert (event.platform_message_id, event.parent_comment_id) == ("7347161234567890555", None)
    with caplog.at_level(logging.INFO):
        assert TikTokAdapter().parse(_body("comment.update", {**content, "comment_action": "set_to_hidden"})) == []
    assert "set_to_hidden" in caplog.text


def test_high_intent_comment_carries_its_text() -> None:
    [event] = parse("tiktok", "im_receive_high_intent_comment.json")
    assert (event.kind, event.remote_user_id, event.remote_user_username) == (
        EventKind.COMMENT,
        CUSTOMER,
        "ana_doces_fan",
    )
    assert (event.platform_message_id, event.text) == ("7347161234567890777", "Quanto custa o bolo de pote? Entregam?")
    assert event.detail_type == "high_intent_comment"
    assert event.timestamp == utc("2026-01-01T13:16:39.001000")
    assert event.dedupe_key == "tiktok:comment:7347161234567890777"


def test_referral_from_a_click_to_message_ad() -> None:
    [event] = parse("tiktok", "im_referral_msg_ad.json")
    assert (event.kind, event.remote_user_id, event.detail_type) == (EventKind.REFERRAL, CUSTOMER, "ad")
    assert event.referral is not None and event.referral["ad"]["ad_id"] == "1800000000000000002"
    assert event.detail is not None and event.detail["conversation_id"] == "u5JhpselBAhoPOlnH0tZ9y07kg=="


def test_reaction_message_is_a_reaction_to_the_original_message() -> None:
    [event] = parse("tiktok", "im_receive_msg_reaction.json")
    assert (event.kind, event.reaction, event.removed) == (EventKind.REACTION, "❤️", False)
    assert event.reply_to == "u5Buqc6lAghuOelnHUZV88ECH1=="
    assert (event.remote_user_id, event.platform_message_id) == (CUSTOMER, "u5Buqc6lAghuOelnHUZV88RCT1==")
    content = json.loads(json.loads(body("tiktok", "im_receive_msg_reaction.json"))["content"])
    content["reaction"][0]["operation"] = "REMOVE"
    [removed] = TikTokAdapter().parse(_body("im_receive_msg", content))
    assert (removed.kind, removed.removed) == (EventKind.REACTION, True)


def test_q_and_a_card_tap_sets_the_postback_payload() -> None:
    [event] = parse("tiktok", "im_receive_msg_qa_reply.json")
    assert (event.kind, event.text) == (EventKind.MESSAGE, "Quais sabores vocês têm?")
    assert event.postback_payload == "sabores"
    assert event.detail is not None and event.detail["is_follower"] is True


def test_echo_of_a_q_and_a_card_keeps_its_title() -> None:
    content = {"from_user": {"id": BUSINESS, "role": "business_account"},
               "to_user": {"id": CUSTOMER, "role": "personal_account"}, "message_id": "m-card",
               "timestamp": 1767273000000, "type": "template",
               "template": {"type": "qa_button_card",
                            "elements": [{"title": "Escolha um sabor",
                                          "buttons": [{"text": "Chocolate", "type": "REPLY", "id": "choc"}]}]}}
    [event] = TikTokAdapter().parse(_body("im_send_msg", content))
    assert (event.kind, event.text, event.detail_type) == (EventKind.ECHO, "Escolha um sabor", "template")


def test_customer_is_the_personal_account_then_the_unique_identifier() -> None:
    content = {"unique_identifier": "tt-uid-1", "from_user": {"id": "tt-user-9", "role": "personal_account"},
               "to_user": {"id": BUSINESS, "role": "business_account"}, "message_id": "m1",
               "timestamp": 1767273000000, "type": "text", "text": {"body": "oi"}}
    [event] = TikTokAdapter().parse(_body("im_receive_msg", content))
    assert event.remote_user_id == "tt-user-9"
    # The business's own message: the customer is the recipient, whatever unique_identifier names.
    echo = {**content, "message_id": "m2", "from_user": content["to_user"],
            "to_user": {"id": "tt-user-9", "role": "personal_account"}}
    [event] = TikTokAdapter().parse(_body("im_send_msg", echo))
    assert (event.kind, event.remote_user_id) == (EventKind.ECHO, "tt-user-9")
    # No personal account named: unique_identifier, the id comment and mention events carry.
    [event] = TikTokAdapter().parse(_body("im_receive_msg", {**content, "message_id": "m3", "from_user": {}}))
    assert event.remote_user_id == "tt-uid-1"


def test_eu_message_without_sender_or_content_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert parse("tiktok", "im_receive_msg_eu.json") == []
    assert "im_receive_msg_eu" in caplog.text


def test_brand_mention_in_a_comment() -> None:
    [event] = parse("tiktok", "brand_mention_comment.json")
    assert (event.kind, event.remote_user_id) == (EventKind.MENTION, CUSTOMER)
    assert (event.platform_message_id, event.post_id) == ("7347169999999990001", "7347169999999999999")
    assert event.text is None  # the caption is the video's, not the commenter's words
    assert event.media_url == "https://www.tiktok.com/@ana_doces_fan/video/7347169999999999999"


def test_brand_mention_in_a_caption_and_edits(caplog: pytest.LogCaptureFixture) -> None:
    content = {"type_of_event": "CREATE", "mention_type": "VIDEO MENTION", "video_id": "7347169999999999998",
               "unique_identifier": CUSTOMER, "video_caption": "Melhor brigadeiro é da @docesdaana",
               "comment_id": "0"}
    [event] = TikTokAdapter().parse(_body("brand.mention.event", content))
    assert (event.kind, event.platform_message_id) == (EventKind.MENTION, "7347169999999999998")
    assert event.text == "Melhor brigadeiro é da @docesdaana"
    with caplog.at_level(logging.INFO):
        assert TikTokAdapter().parse(_body("brand.mention.event", {**content, "type_of_event": "EDIT"})) == []
