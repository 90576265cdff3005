"""YouTube PubSubHubbub notifications and commentThreads items -> InboundEvents."""

from __future__ import annotations

import json
import logging

import pytest

from papo.adapters.errors import PayloadError
from papo.adapters.events import EventKind
from papo.adapters.youtube import YouTubeAdapter, comment_thread_events, topic_channel
from papo.enums import MessageType, Platform
from tests.adapters.helpers import WEBHOOKS, parse, utc

CHANNEL = "UCx9k2Lr7nQvB3mT5yHw8ZpA"


def test_new_video_is_video_published() -> None:
    [event] = parse("youtube", "new_video.xml")
    assert event.platform is Platform.YOUTUBE
    assert event.kind is EventKind.VIDEO_PUBLISHED
    assert event.account_id == CHANNEL
    assert event.platform_message_id == event.post_id == "dQw4Xw9WgXc"
    assert event.text == "Como fazer brigadeiro gourmet 🍫"
    assert event.message_type is MessageType.VIDEO
    assert event.media_url == "https://www.youtube.com/watch?v=dQw4Xw9WgXc"
    assert event.timestamp == utc("2026-01-01T15:00:00")
    assert event.detail is not None and event.detail["channel_title"] == "Doces da Ana"
    assert event.remote_user_id == ""
    assert event.dedupe_key == "youtube:video:dQw4Xw9WgXc"


def test_metadata_update_of_old_video_is_flagged_under_the_video_dedupe_key() -> None:
    [event] = parse("youtube", "metadata_update.xml")
    assert (event.kind, event.post_id) == (EventKind.VIDEO_PUBLISHED, "aB3cD4eF5gH")
    assert event.timestamp == utc("2025-11-02T18:30:00")  # when it was published, not edited
    assert event.detail is not None and event.detail["metadata_update"] is True
    assert event.dedupe_key == "youtube:video:aB3cD4eF5gH"  # the upload's notification had the same key


def test_deleted_entry_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert parse("youtube", "deleted_entry.xml") == []
    assert "deleted-entry yt:video:dQw4Xw9WgXc" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<rss><channel/></rss>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><feed xmlns="http://www.w3.org/2005/Atom"/>',
    ],
)
def test_bad_xml_raises_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        YouTubeAdapter().parse(body)


def test_comment_thread_item_to_comment_events() -> None:
    response = json.loads((WEBHOOKS / "youtube" / "comment_threads.json").read_bytes())
    first = comment_thread_events(response["items"][0], channel_id=CHANNEL)
    # The channel's own reply is skipped; the top-level comment and the customer's reply remain.
    top, reply = first
    assert top.kind is EventKind.COMMENT
    assert top.account_id == CHANNEL
    assert top.remote_user_id == "UCm4R1n4C0sTaQ8vZ2kL7pXw"
    assert top.remote_user_name == "@marinacosta"
    assert top.remote_user_avatar == "https://yt3.ggpht.com/ytc/AIdro_mC0sTa=s48-c-k-c0x00ffffff-no-rj"
    assert top.platform_message_id == "UgzDE2tasfmrYLyNkGt4AaABAg"
    assert top.post_id == "dQw4Xw9WgXc"
    assert top.parent_comment_id is None
    assert top.text == "Vocês vendem a forminha? Onde compro?"
    assert top.timestamp == utc("2026-01-01T16:20:05")
    assert top.dedupe_key == "youtube:comment:UgzDE2tasfmrYLyNkGt4AaABAg"
    assert reply.parent_comment_id == "UgzDE2tasfmrYLyNkGt4AaABAg"
    assert reply.text == "Comprei a minha lá, chegou rápido <3"  # textOriginal, not the HTML textDisplay
    [second] = comment_thread_events(response["items"][1], channel_id=CHANNEL)
    assert second.remote_user_id == "UCl7Uc4sM0r3iRa8pQ2wX5zB"


def test_topic_channel() -> None:
    assert topic_channel(f"https://www.youtube.com/xml/feeds/videos.xml?channel_id={CHANNEL}") == CHANNEL
    assert topic_channel(f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}") == CHANNEL
    assert topic_channel("https://evil.example/feeds/videos.xml?channel_id=UC1") is None
    assert topic_channel("https://www.youtube.com/watch?v=x") is None


def test_every_entry_of_a_notification_is_an_event() -> None:
    # Modelled on the documented notification, whose <updated> is three days after <published>: the hub
    # sends the same entry for an upload and for a title/description change and says nothing to tell
    # them apart, so each entry is reported; the dedupe key (the video id) absorbs repeats.
    first, second = parse("youtube", "several_entries.xml")
    assert [e.post_id for e in (first, second)] == ["kL9mN0pQ1rS", "tU2vW3xY4zA"]
    assert {e.account_id for e in (first, second)} == {CHANNEL}
    assert first.timestamp == utc("2026-01-02T21:40:57")
    assert first.media_url == "http://www.youtube.com/watch?v=kL9mN0pQ1rS"
    assert first.detail is not None and first.detail["metadata_update"] is True
    assert second.detail is not None and second.detail["metadata_update"] is False
    assert second.dedupe_key == "youtube:video:tU2vW3xY4zA"
