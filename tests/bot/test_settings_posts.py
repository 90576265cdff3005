"""Settings (/lang, alerts, quiet hours, time zone) and the posts menu (cancel, reschedule, publish now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from papo.bot.keyboards import PostAct, short
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import OwnerSettings, Post
from papo.services import owners, posts
from papo.services.accounts import connect_account
from papo.services.posts import PostOptions, posts_spec
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts
from tests.conftest import TEST_SECRET

ANA = Person(2001, "Ana")


async def test_language_switch_changes_every_text(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/lang")
    calls = await harness.press(ANA, "English")
    assert "Language: English" in texts(calls) and "Settings" in screen(calls).text
    calls = await harness.say(ANA, "/leads")
    assert "Hot (1)" in " ".join(b["text"] for b in screen(calls).buttons())
    await harness.say(ANA, "/lang")
    await harness.press(ANA, "Español")
    calls = await harness.say(ANA, "/menu")
    assert "Conversaciones" in " ".join(b["text"] for b in screen(calls).buttons())
    assert (await owners.get_prefs(biz.user)).language == "es"


async def test_alert_switch_quiet_hours_and_time_zone(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/settings")
    calls = await harness.press(ANA, "Reclamação")
    assert "🔕 Reclamação" in screen(calls).text
    await harness.press(ANA, "Horário silencioso")
    calls = await harness.say(ANA, "22h")
    assert "22:00-07:00" in texts(calls)  # the format is explained, the question stays open
    calls = await harness.say(ANA, "22:00-07:00")
    assert "22:00–07:00" in screen(calls).text
    await harness.press(ANA, "Fuso horário")
    calls = await harness.say(ANA, "Marte/Olimpo")
    assert "unknown time zone" in texts(calls)
    await harness.say(ANA, "America/Manaus")
    prefs = await owners.get_prefs(biz.user)
    assert prefs.timezone == "America/Manaus" and not prefs.alert_on("complaint") and prefs.quiet_start == "22:00"
    assert prefs.in_quiet_hours(datetime(2026, 1, 1, 3, 0, tzinfo=UTC))  # 23:00 in Manaus
    assert not prefs.in_quiet_hours(datetime(2026, 1, 1, 16, 0, tzinfo=UTC))
    assert await OwnerSettings.filter(user_id=biz.user.id).count() == 1


async def test_post_card_cancel_reschedule_and_publish_now(harness: BotHarness, stores: Any, settings: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    account, _ = await connect_account(user=biz.user, platform=Platform.FACEBOOK, platform_account_id="pg-1",
                                       access_token="tok-fb", cipher=TokenCipher(TEST_SECRET), business_name="Doceria")
    when = datetime.now(UTC) + timedelta(days=2)
    view = await posts.create_post(biz.user, content="Promo de sexta", accounts=[str(account.id)], when=when,
                                   options=PostOptions.from_settings(settings))
    calls = await harness.say(ANA, "/posts")
    assert "Promo de sexta" in screen(calls).buttons()[0]["text"]
    calls = await harness.press(ANA, "Promo de sexta")
    assert "Agendado" in screen(calls).text and "Facebook" in screen(calls).text and "pendente" in screen(calls).text
    await harness.press(ANA, "Reagendar")
    await harness.say(ANA, "depois de amanhã 15h")
    post = await Post.get(id=view.id)
    assert post.scheduled_for.astimezone(ZoneInfo("America/Sao_Paulo")).hour == 15
    calls = await harness.press(ANA, data=PostAct(act="cancel", id=short(view.id)).pack())
    assert "virou rascunho" in screen(calls).text and str((await Post.get(id=view.id)).status) == "draft"
    calls = await harness.press(ANA, "Publicar agora")
    assert "fila para publicar" in screen(calls).text
    spec = posts_spec(settings.stream_partitions)
    assert sum([await stores.redis.xlen(spec.key(p)) for p in range(settings.stream_partitions)]) == 1


async def test_links_compose_a_post_while_files_need_a_public_url(harness: BotHarness) -> None:
    await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/posts")
    await harness.press(ANA, "Novo post")
    update = harness.message_update(ANA, "x")
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "p1", "file_unique_id": "u", "width": 10, "height": 10}]
    calls = await harness.feed(update)
    assert "PAPO_PUBLIC_URL" in screen(calls).text and "links públicos" in screen(calls).text
    calls = await harness.say(ANA, "Bolo novo!\nhttps://cdn.example.com/bolo.jpg\n#bolo")
    assert "Em quais contas" in screen(calls).text
