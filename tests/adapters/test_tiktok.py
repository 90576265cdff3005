"""TikTok webhook payloads -> InboundEvents."""

from __future__ import annotations

import json
import logging

import pytest

from papo.adapters.errors import PayloadError
from papo.adapters.events import EventKind, PublishState
from papo.adapters.tiktok import TikTokAdapter
from papo.enums import MessageType, Platform
from tests.adapters.helpers import parse, utc

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
