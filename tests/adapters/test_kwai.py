"""Kwai custom-channel payloads -> InboundEvents."""

from __future__ import annotations

import json
import logging

import pytest

from papo.adapters.errors import PayloadError
from papo.adapters.events import EventKind
from papo.adapters.kwai import KwaiAdapter
from papo.enums import MessageType, Platform
from tests.adapters.helpers import body, parse, utc

ACCOUNT = "kwai-150009988776"


def test_batch(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        events = parse("kwai", "batch.json")
    assert "gift" in caplog.text  # unknown types are skipped
    text, image, comment, reply, like, follow, unfollow, status, deleted = events
    assert all(e.platform is Platform.KWAI and e.account_id == ACCOUNT for e in events)

    assert text.kind is EventKind.MESSAGE
    assert (text.remote_user_id, text.remote_user_name) == ("kw_u_88213377", "Bruna Teixeira")
    assert text.remote_user_username == "bruna.tx"
    assert text.remote_user_avatar == "https://static.kwai.net/avatar/88213377.jpg"
    assert (text.platform_message_id, text.text) == (
        "kw_msg_5512093",
        "Oi! Faz bolo de aniversário personalizado?",
    )
    assert text.timestamp == utc("2026-01-01T13:09:50")
    assert text.dedupe_key == f"kwai:{ACCOUNT}:evt_01JGZK3M4N5P6Q7R8S9T0V1W2X"

    assert (image.message_type, image.media_url, image.media_mime) == (
        MessageType.IMAGE,
        "https://static.kwai.net/dm/5512094.jpg",
        "image/jpeg",
    )
    assert image.reply_to == "kw_msg_5512093"

    assert (comment.kind, comment.post_id, comment.platform_message_id) == (
        EventKind.COMMENT,
        "kw_vid_3000123",
        "kw_cmt_90011",
    )
    assert reply.parent_comment_id == "kw_cmt_90011"
    assert reply.conversation_key == text.conversation_key  # one history per customer

    assert (like.kind, like.post_id, like.platform_message_id) == (EventKind.LIKE, "kw_vid_3000123", None)
    assert (follow.kind, follow.removed, follow.timestamp) == (
        EventKind.FOLLOW,
        False,
        utc("2026-01-01T13:09:59"),
    )
    assert (unfollow.kind, unfollow.removed) == (EventKind.FOLLOW, True)
    assert (status.kind, status.status, status.platform_message_id) == (
        EventKind.STATUS,
        "failed",
        "papo-out-4f2a9c",
    )
    assert (status.error_code, status.error_title) == (4031, "recipient does not accept messages")
    assert (deleted.kind, deleted.platform_message_id) == (EventKind.COMMENT_DELETE, "kw_cmt_90012")


def test_signing_account() -> None:
    assert KwaiAdapter().signing_account(body("kwai", "batch.json")) == ACCOUNT


@pytest.mark.parametrize(
    "payload",
    [
        {"events": []},
        {"account_id": "a", "events": {}},
        {"account_id": "a", "version": 2, "events": []},
        [],
    ],
)
def test_wrong_shape_raises_payload_error(payload: object) -> None:
    raw = json.dumps(payload).encode()
    with pytest.raises(PayloadError):
        KwaiAdapter().parse(raw)
    with pytest.raises(PayloadError):
        KwaiAdapter().signing_account(raw)


def test_edit_without_target_is_skipped() -> None:
    raw = json.dumps(
        {"account_id": "a", "events": [{"id": "e1", "type": "message_edit", "timestamp": 1, "text": "x"}]}
    ).encode()
    assert KwaiAdapter().parse(raw) == []


def test_every_documented_type_of_the_custom_channel() -> None:
    echo, reaction, postback, referral, mention, audio, edit, delete, status = parse("kwai", "every_type.json")
    assert (echo.kind, echo.is_echo, echo.remote_user_id) == (EventKind.ECHO, True, "kw_u_88213377")
    assert (reaction.kind, reaction.reaction, reaction.reply_to) == (EventKind.REACTION, "❤️", "kw_msg_5512100")
    assert reaction.timestamp == utc("2026-01-01T13:10:11")  # milliseconds, as a string
    assert (postback.kind, postback.postback_payload, postback.text) == (
        EventKind.POSTBACK,
        "ORDER_CAKE",
        "Encomendar",
    )
    assert postback.timestamp == utc("2026-01-01T13:10:12.250000")  # RFC 3339 with a Z
    assert (referral.kind, referral.referral) == (EventKind.REFERRAL, {"source": "ad", "ad_id": "kw_ad_7788"})
    assert (mention.kind, mention.post_id, mention.platform_message_id) == (
        EventKind.MENTION,
        "kw_vid_3000999",
        "evt_01JH0A00000000000000000MEN",  # no message_id: the event id stands in
    )
    assert (audio.message_type, audio.media_mime) == (MessageType.AUDIO, "audio/mp4")
    assert (edit.kind, edit.platform_message_id, edit.text) == (
        EventKind.MESSAGE_EDIT,
        "kw_msg_5512093",
        "Oi! Faz bolo de aniversário personalizado para sábado?",
    )
    assert (delete.kind, delete.platform_message_id) == (EventKind.MESSAGE_DELETE, "kw_msg_5512094")
    assert (status.kind, status.status, status.remote_user_id) == (EventKind.STATUS, "read", "")


def _one(event: dict[str, object]) -> bytes:
    return json.dumps({"version": 1, "account_id": ACCOUNT, "events": [event]}).encode()


@pytest.mark.parametrize("kind", ["message", "comment", "like", "follow", "reaction", "referral"])
def test_event_without_the_required_user_is_logged_and_skipped(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # KWAI.md: `user` (with its `id`) is required for every type except `status`; without it there is no
    # customer to file the event under.
    event = {"id": "evt_no_user", "type": kind, "timestamp": 1767273000, "text": "oi", "video_id": "v1"}
    with caplog.at_level(logging.INFO):
        assert KwaiAdapter().parse(_one(event)) == []
        assert KwaiAdapter().parse(_one({**event, "user": {"name": "Sem id"}})) == []
    assert "evt_no_user" in caplog.text


def test_status_and_deletes_need_no_user() -> None:
    status = {"id": "e1", "type": "status", "timestamp": 1, "message_id": "papo-out-1", "status": "delivered"}
    delete = {"id": "e2", "type": "comment_delete", "timestamp": 1, "message_id": "kw_cmt_1"}
    assert [e.kind for e in KwaiAdapter().parse(_one(status)) + KwaiAdapter().parse(_one(delete))] == [
        EventKind.STATUS,
        EventKind.COMMENT_DELETE,
    ]


def test_an_event_that_is_not_an_object_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    good = {"id": "e1", "type": "follow", "timestamp": 1, "user": {"id": "kw_u_1"}}
    raw = json.dumps({"account_id": ACCOUNT, "events": ["follow", good]}).encode()
    with caplog.at_level(logging.INFO):
        [event] = KwaiAdapter().parse(raw)
    assert event.kind is EventKind.FOLLOW
    assert "not an object" in caplog.text
