"""Post use-cases: validation per platform, time zones, choosing accounts, cancel and reschedule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from papo.enums import Platform
from papo.models import Post, PostSync
from papo.services import NotFound, ServiceError
from papo.services.post_rules import PostInvalid
from papo.services.posts import (
    PostOptions,
    cancel_post,
    create_post,
    get_post,
    list_posts,
    parse_when,
    publish_now,
    reschedule_post,
    schedule_post,
    set_accounts,
)
from tests.conftest import eventually
from tests.posts.conftest import IG, PAGE, TT, YT

SOON = timedelta(hours=2)


def _soon() -> str:
    return (datetime.now(UTC) + SOON).isoformat()


async def test_validation_names_every_platform_and_stores_nothing(stores, apis, shop) -> None:
    png = shop.media(apis, "cardapio.png")
    with pytest.raises(PostInvalid) as caught:
        await create_post(shop.user, content="x" * 2300, media=[png], hashtags=[f"tag{i}" for i in range(6)],
                          options=shop.options, when=_soon(),
                          accounts=[IG, TT, f"youtube:{YT}", "whatsapp:106540352242922", PAGE])
    text = str(caught.value)
    problems = {(str(p.platform), p.message) for p in caught.value.problems}
    assert ("whatsapp", "WhatsApp has no feed: posts cannot be published there (choose another account)") in problems
    assert any(p == "instagram" and "2,200" in m for p, m in problems)
    assert any(p == "instagram" and "6 hashtags; Instagram allows 5" in m for p, m in problems)
    assert any(p == "instagram" and "only JPEG" in m and ".png" in m for p, m in problems)
    assert any(p == "tiktok" and "exactly one video" in m for p, m in problems)
    assert any(p == "youtube" and "needs a title" in m for p, m in problems)
    assert any(p == "tiktok" and "2,200" in m for p, m in problems)
    assert not any(p == "facebook" for p, _ in problems)  # 2,360 characters and one photo are fine there
    assert text.startswith("the post cannot be published as it is:") and "youtube: " in text
    assert await Post.all().count() == 0 and await PostSync.all().count() == 0


async def test_youtube_limits_and_instagram_carousel_size(stores, apis, shop) -> None:
    video = shop.media(apis, "v.mp4")
    with pytest.raises(PostInvalid) as caught:
        await create_post(shop.user, content="<b>promo</b>", title="t" * 101, media=[video],
                          options=shop.options, when="now", accounts=[f"youtube:{YT}"])
    messages = [p.message for p in caught.value.problems]
    assert "the title is 101 characters; YouTube allows 100" in messages
    assert "YouTube titles and descriptions cannot contain < or >" in messages
    photos = [shop.media(apis, f"p{i}.jpg") for i in range(11)]
    with pytest.raises(PostInvalid, match="11 media items; an Instagram carousel takes at most 10"):
        await create_post(shop.user, content="fotos", media=photos, options=shop.options, when=_soon(), accounts=[IG])
    with pytest.raises(PostInvalid, match="Instagram needs at least one image or video"):
        await create_post(shop.user, content="só texto", options=shop.options, when=_soon(), accounts=[IG])


async def test_drafts_skip_validation_until_they_are_scheduled(stores, apis, shop) -> None:
    draft = await create_post(shop.user, content="rascunho", options=shop.options, accounts=[IG])
    assert draft.status == "draft" and draft.scheduled_for is None
    with pytest.raises(PostInvalid, match="instagram: Instagram needs at least one image"):
        await schedule_post(shop.user, str(draft.id), _soon(), options=shop.options)
    assert (await get_post(shop.user, str(draft.id))).status == "draft"


async def test_times_are_read_in_the_owners_zone_and_stored_in_utc() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_when("2026-12-01T10:00", "America/Sao_Paulo", now=now) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert parse_when("2026-12-01T10:00:00+01:00", "America/Sao_Paulo", now=now) == datetime(
        2026, 12, 1, 9, 0, tzinfo=UTC)
    assert parse_when("2026-12-01T10:00Z", "Asia/Tokyo", now=now) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ServiceError, match="does not exist in America/New_York"):
        parse_when("2027-03-14T02:30", "America/New_York", now=now)
    with pytest.raises(ServiceError, match=r"2026-11-28 08:00 \(America/Sao_Paulo\) is in the past"):
        parse_when("2026-11-28T08:00", "America/Sao_Paulo", now=now)
    with pytest.raises(ServiceError, match="unknown time zone"):
        parse_when("2026-12-01T10:00", "Mars/Olympus", now=now)
    with pytest.raises(ServiceError, match="not an ISO-8601"):
        parse_when("amanhã às 10", "America/Sao_Paulo", now=now)


async def test_accounts_by_papo_id_or_platform_id_and_clear_errors(stores, apis, shop) -> None:
    view = await create_post(shop.user, content="oi", options=shop.options,
                             accounts=[str(shop.accounts[Platform.FACEBOOK].id), IG, f"kwai:{'kwai-150009988776'}"])
    assert [s.platform for s in view.syncs] == ["facebook", "instagram", "kwai"]  # by platform
    assert (await Post.get(id=view.id)).account_id == shop.accounts[Platform.FACEBOOK].id
    with pytest.raises(NotFound, match="no connected account 'nope' for this business"):
        await create_post(shop.user, content="oi", options=shop.options, accounts=["nope"])
    view = await set_accounts(shop.user, str(view.id)[:8], [PAGE, TT])
    assert sorted(s.platform for s in view.syncs) == ["facebook", "tiktok"]
    assert await PostSync.filter(post_id=view.id).count() == 2  # one row per (post, account), replaced


async def test_cancel_and_reschedule_before_publishing_starts(stores, apis, shop, roles) -> None:
    view = await create_post(shop.user, content="Café da manhã", options=shop.options, accounts=[PAGE],
                             when=(datetime.now(UTC) + timedelta(milliseconds=300)).isoformat())
    cancelled = await cancel_post(shop.user, str(view.id))
    assert cancelled.status == "draft" and cancelled.scheduled_for is None
    await roles.scheduler()
    await roles.publisher()
    await asyncio.sleep(0.8)  # well past its old time
    assert apis.to("POST", f"/{PAGE}/feed") == []  # cancelled: never published
    with pytest.raises(ServiceError, match="is draft: it cannot be cancelled; nothing to cancel"):
        await cancel_post(shop.user, str(view.id))
    # A naive time means the owner's zone: 1 s from now as a São Paulo wall-clock time.
    local = (datetime.now(UTC) + timedelta(seconds=1)).astimezone(ZoneInfo("America/Sao_Paulo")).replace(tzinfo=None)
    moved = await reschedule_post(shop.user, str(view.id), local.isoformat(), options=shop.options,
                                  timezone="America/Sao_Paulo")
    assert moved.status == "scheduled" and abs((moved.scheduled_for - datetime.now(UTC)).total_seconds()) < 2
    await eventually(lambda: _published(view.id))
    with pytest.raises(ServiceError, match="is published: it cannot be cancelled"):
        await cancel_post(shop.user, str(view.id))
    with pytest.raises(ServiceError, match="can no longer be"):
        await reschedule_post(shop.user, str(view.id), _soon(), options=shop.options)
    assert len(apis.to("POST", f"/{PAGE}/feed")) == 1


async def _published(post_id) -> bool:
    return str((await Post.get(id=post_id)).status) == "published"


async def test_publish_now_refuses_a_published_post_and_lists_show_states(stores, apis, shop, roles) -> None:
    view = await create_post(shop.user, content="Pão fresquinho", options=shop.options, accounts=[PAGE])
    await publish_now(stores.redis, shop.user, str(view.id), options=shop.options)
    assert (await get_post(shop.user, str(view.id))).state == "publishing"
    await roles.publisher()
    await eventually(lambda: _published(view.id))
    with pytest.raises(ServiceError, match="cannot be published again"):
        await publish_now(stores.redis, shop.user, str(view.id), options=shop.options)
    listed = await list_posts(shop.user, status="published")
    assert [v.id for v in listed] == [view.id] and listed[0].syncs[0].platform_post_id.startswith(PAGE)
    with pytest.raises(ServiceError, match="status 'sent' is not one of"):
        await list_posts(shop.user, status="sent")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/v.mp4", "video:http://localhost:8080/v", "https://api.localhost/a.jpg",
    "http://169.254.169.254/latest/meta-data/a.jpg", "http://[::1]:9000/v.mp4", "http://10.0.0.5/a.jpg",
    "http://[::ffff:192.168.0.1]/a.jpg", "http://2130706433/a.jpg"])
async def test_a_media_url_on_a_local_host_is_refused_when_the_post_is_created(stores, shop, url: str) -> None:
    with pytest.raises(ServiceError, match=r"is not a public address \(localhost or a private IP\)") as caught:
        await create_post(shop.user, content="Promo", media=[url], options=shop.options)
    assert "\n" not in str(caught.value)
    assert await Post.filter(content="Promo").count() == 0


async def test_papos_own_uploads_and_allowed_hosts_may_be_local(stores, shop, settings) -> None:
    local = settings.model_copy(update={"public_url": "http://127.0.0.1:8080", "media_fetch_allow_hosts":
                                        "127.0.0.1:9000, 192.168.0.10"})
    options = PostOptions.from_settings(local)
    own = "http://127.0.0.1:8080/media/" + "a" * 32 + ".mp4"
    view = await create_post(shop.user, content="Local", options=options,
                             media=[own, "http://127.0.0.1:9000/v.mp4", "http://192.168.0.10:81/a.jpg"])
    assert len(view.media_urls) == 3
    for other in ("http://127.0.0.1:8080/x.mp4", "http://127.0.0.1:9001/v.mp4", "http://192.168.0.11/a.jpg"):
        with pytest.raises(ServiceError, match="not a public address"):  # another path, port or address
            await create_post(shop.user, content="Local", options=options, media=[other])
