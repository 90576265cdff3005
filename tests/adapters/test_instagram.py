"""Instagram payloads (Messaging + Graph webhooks) -> InboundEvents."""

from __future__ import annotations

import logging

import pytest

from papo.adapters.events import EventKind
from papo.enums import MessageType, Platform
from tests.adapters.helpers import fixtures, parse, utc

IG = "17841405822304914"
ANA = "1254459154682919"
JULIA = "6910382740156712"
MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMDk0OTEyODE1NjM1Nz"
    "I4NDg2MzgzMDozMTk4NTY4NzQ4MjU1OTk1Mzk0NjI0NjQxNzcyMDcwNDI1NgZDZD"
)
ECHO_MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMDk0OTEyODE1NjM1Nz"
    "I4NDg2MzgzMDozMTk4NTY4NzQ4MjU1OTk1Mzk0NjI0NjQxNzcyMDcwNDI1NgEChO1"
)


def test_text_dm() -> None:
    [event] = parse("instagram", "dm_text.json")
    assert event.platform is Platform.INSTAGRAM
    assert event.kind is EventKind.MESSAGE
    assert event.account_id == IG
    assert event.remote_user_id == ANA
    assert event.platform_message_id == MID
    assert event.text == "Oi! Qual o preço do brigadeiro gourmet?"
    assert event.timestamp == utc("2026-01-01T12:00:00.512000")  # milliseconds kept
    assert event.conversation_key == f"instagram:{IG}:{ANA}"
    assert event.dedupe_key == f"instagram:{MID}"


def test_same_message_via_both_meta_login_paths_has_one_dedupe_key() -> None:
    [via_facebook_login] = parse("instagram", "dm_text.json")
    [via_instagram_login] = parse("instagram", "dm_text_instagram_login.json")
    assert via_facebook_login.raw != via_instagram_login.raw
    assert via_facebook_login.dedupe_key == via_instagram_login.dedupe_key


def test_attachments() -> None:
    image, video, audio, file, post, reel = parse("instagram", "dm_attachments.json")
    assert [(e.message_type, e.detail_type) for e in (image, video, audio, file, post, reel)] == [
        (MessageType.IMAGE, "image"),
        (MessageType.VIDEO, "video"),
        (MessageType.AUDIO, "audio"),
        (MessageType.FILE, "file"),
        (MessageType.IMAGE, "ig_post"),
        (MessageType.VIDEO, "ig_reel"),
    ]
    assert image.media_url is not None and image.media_url.endswith("signature=AbCdEf1")
    assert file.media_url == "https://cdn.fbsbx.com/v/t59.2708-21/cardapio.pdf?_nc_cat=2"
    assert post.text == "Esse aqui"
    assert post.media_id == "18139494541428835"
    assert post.detail is not None
    assert post.detail["title"] == "Nossa caixa de Natal com 12 brigadeiros"
    assert [a["type"] for a in post.detail["attachments"]] == ["ig_post", "share"]
    assert reel.media_id == "18307225612069871"
    assert all(e.kind is EventKind.MESSAGE and e.remote_user_id == ANA for e in (image, reel))


def test_story_reply() -> None:
    [event] = parse("instagram", "story_reply.json")
    assert event.kind is EventKind.STORY_REPLY
    assert event.remote_user_id == JULIA
    assert event.text == "Que lindo! Ainda dá pra encomendar pro Natal?"
    assert event.story_id == "17975238460812234"
    assert event.story_url is not None and event.story_url.endswith("signature=StOrY1")


def test_story_mention() -> None:
    [event] = parse("instagram", "story_mention.json")
    assert event.kind is EventKind.STORY_MENTION
    assert event.remote_user_id == JULIA
    assert event.text is None
    assert event.detail_type == "story_mention"
    assert event.story_url == event.media_url
    assert event.story_url is not None and "asset_id=17889045671234567" in event.story_url


def test_echo_names_the_recipient_as_customer() -> None:
    [event] = parse("instagram", "echo.json")
    assert event.kind is EventKind.ECHO
    assert event.is_echo
    assert event.remote_user_id == ANA
    assert event.conversation_key == f"instagram:{IG}:{ANA}"
    assert event.platform_message_id == ECHO_MID


def test_deleted_and_unsupported() -> None:
    deleted, unsupported = parse("instagram", "deleted_unsupported.json")
    assert deleted.kind is EventKind.MESSAGE_DELETE
    assert deleted.platform_message_id is not None and deleted.platform_message_id.endswith("AAA1")
    assert deleted.dedupe_key == f"instagram:{deleted.platform_message_id}:delete"
    assert unsupported.kind is EventKind.MESSAGE
    assert unsupported.detail_type == "unsupported"


def test_reaction_and_unreaction() -> None:
    react, unreact = parse("instagram", "reaction.json")
    assert react.kind is unreact.kind is EventKind.REACTION
    assert react.reply_to == unreact.reply_to == ECHO_MID
    assert (react.reaction, react.removed) == ("❤", False)
    assert react.detail == {"reaction": "love", "action": "react"}
    assert unreact.removed
    assert react.dedupe_key != unreact.dedupe_key


def test_postback_quick_reply_and_referral() -> None:
    postback, quick, referral = parse("instagram", "postback_quick_reply.json")
    assert postback.kind is EventKind.POSTBACK
    assert (postback.text, postback.postback_payload) == ("Ver cardápio", "MENU_CARDAPIO")
    assert quick.kind is EventKind.MESSAGE
    assert (quick.detail_type, quick.text, quick.postback_payload) == ("quick_reply", "Entrega", "DELIVERY")
    assert referral.kind is EventKind.MESSAGE
    assert referral.referral is not None and referral.referral["ref"] == "natal2026"
    assert referral.remote_user_id == JULIA


def test_read_and_edit_and_unknown_item(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        read, edit = parse("instagram", "read_edit.json")
    assert read.kind is EventKind.STATUS
    assert (read.status, read.platform_message_id) == ("read", ECHO_MID)
    assert edit.kind is EventKind.MESSAGE_EDIT
    assert edit.platform_message_id == MID
    assert edit.text == "Oi! Qual o preço do brigadeiro de pistache?"
    assert edit.dedupe_key == f"instagram:{MID}:edit:1"
    assert "pass_thread_control" in caplog.text


def test_comments_share_the_conversation_with_dms() -> None:
    top, reply, live = parse("instagram", "comments.json")  # the account's own reply is skipped
    assert top.kind is reply.kind is live.kind is EventKind.COMMENT
    assert top.remote_user_id == ANA
    assert top.remote_user_name == top.remote_user_username == "ana.souza.doces"
    assert top.platform_message_id == "17865799348089039"
    assert top.post_id == "18139494541428835"
    assert top.parent_comment_id is None
    assert top.text == "Quanto custa a caixa com 12? 😍"
    assert top.timestamp == utc("2026-01-01T12:16:40")  # entry.time in seconds
    [dm] = parse("instagram", "dm_text.json")
    assert top.conversation_key == dm.conversation_key
    assert reply.parent_comment_id == "17865799348089039"
    assert reply.remote_user_id == JULIA
    assert live.detail_type == "live_comment"
    assert live.post_id == "18034567812345678"
    assert top.dedupe_key == "instagram:comment:17865799348089039"


def test_mentions() -> None:
    in_comment, in_caption = parse("instagram", "mentions.json")
    assert in_comment.kind is in_caption.kind is EventKind.MENTION
    assert (in_comment.post_id, in_comment.platform_message_id) == ("17920238422030506", "17858893269000001")
    assert in_comment.detail_type == "comment"
    assert in_caption.detail_type == "caption"
    assert in_comment.remote_user_id == ""  # Meta does not say who mentioned the account


def test_batch_of_entries_and_skipped_field(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        first, second, comment = parse("instagram", "batch.json")
    assert [first.text, second.text] == ["Oi", "Bom dia"]
    assert comment.account_id == "17841401234567890"
    assert comment.detail_type == "comment"
    assert "story_insights" in caplog.text


def test_instagram_never_emits_follow_like_or_story_view() -> None:
    kinds = {e.kind for name in fixtures("instagram") for e in parse("instagram", name)}
    assert not kinds & {EventKind.FOLLOW, EventKind.LIKE, EventKind.STORY_VIEW}


def test_comment_shapes_of_both_login_types() -> None:
    # developers.facebook.com/docs/instagram-platform/webhooks/examples: with Business Login for Instagram
    # `field`/`value` sit on the entry itself; with Facebook Login the comment id is `comment_id` and the
    # media may name the ad it ran in.
    flat, facebook_login = parse("instagram", "comments_login_shapes.json")
    assert flat.kind is EventKind.COMMENT
    assert (flat.account_id, flat.remote_user_id, flat.platform_message_id) == (IG, ANA, "17865799348089101")
    assert (flat.text, flat.post_id) == ("Tem de morango?", "18139494541428835")
    assert flat.timestamp == utc("2026-01-01T12:21:40")

    assert facebook_login.kind is EventKind.COMMENT
    assert facebook_login.platform_message_id == "17865799348089102"
    assert facebook_login.dedupe_key == "instagram:comment:17865799348089102"
    assert facebook_login.parent_comment_id == "17865799348089101"
    assert facebook_login.remote_user_id == JULIA
    assert facebook_login.detail == {
        "media_product_type": "FEED",
        "ad_id": "120211384718020499",
        "ad_title": "Caixas de Natal",
        "original_media_id": "18139494541428835",
    }
