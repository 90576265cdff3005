"""The broadcast wizard and a campaign's results through the fake Telegram Bot API, on the real stores."""

from __future__ import annotations

from tortoise import Tortoise

from papo.enums import Platform
from papo.services.broadcasts import get_broadcast, list_broadcasts
from papo.services.plans import set_plan
from papo.services.templates import add_template
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts
from tests.bot.test_session import png_size
from tests.broadcasts.seed import seed_leads

ANA = Person(7001, "Ana")


async def test_the_wizard_previews_and_creates_a_broadcast_then_shows_its_results_chart(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)  # Bruna: a hot WhatsApp lead
    await seed_leads(biz.user.id, biz.account.id, count=4, quality="warm", name="Carla")
    await add_template(biz.user, platform=Platform.WHATSAPP, name="promo", content="Oi {first_name}! Use {cupom}.",
                       meta_template_name="promo_natal", language="pt_BR", approved=True)
    await add_template(biz.user, platform=Platform.WHATSAPP, name="rascunho", content="Oi",
                       meta_template_name="rascunho", language="pt_BR", approved=False)

    calls = await harness.say(ANA, "/broadcasts")
    assert "Nenhuma campanha ainda" in screen(calls).text
    calls = await harness.press(ANA, "Nova campanha")
    labels = [b["text"] for b in screen(calls).buttons()]
    assert "📄 promo" in labels and not any("rascunho" in label for label in labels)  # approved ones only
    calls = await harness.press(ANA, "promo")
    assert "precisa de um valor para <b>cupom</b>" in screen(calls).text
    calls = await harness.say(ANA, "NATAL10")
    assert "Segmento: todos os clientes" in screen(calls).text
    calls = await harness.press(ANA, "Quente")
    assert "quality: hot" in screen(calls).text and any(b["text"] == "✓ Quente" for b in screen(calls).buttons())
    calls = await harness.press(ANA, "Prévia")
    shown = screen(calls).text
    assert "Vai para <b>1</b> cliente(s): WhatsApp 1" in shown and "Oi Bruna! Use NATAL10." in shown
    calls = await harness.press(ANA, "Enviar agora")
    assert "Campanha criada" in texts(calls) and "Destinatários: <b>1</b>" in screen(calls).text
    [created] = await list_broadcasts(biz.user)
    assert created.total == 1 and created.segment == {"quality": ["hot"]}

    # Its results, once the pipeline has sent it and the customer read and answered it.
    conn = Tortoise.get_connection("default")
    await conn.execute_query("UPDATE broadcast_recipients SET state = 'read', sent_at = now(), read_at = now(), "
                             "replied_at = now() WHERE broadcast_id = $1", [created.id])
    await conn.execute_query("UPDATE broadcasts SET status = 'finished' WHERE id = $1", [created.id])
    calls = await harness.press(ANA, "Atualizar")
    card = screen(calls).text
    assert "concluída" in card and "• Lidas: 1" in card and "• Responderam: 1" in card
    calls = await harness.press(ANA, "Resultados")
    photo = next(c for c in calls if c.method == "sendPhoto")
    assert png_size(photo.file("photo")) == (800, 420) and "1 destinatários, 1 responderam" in photo.text


async def test_a_broadcast_scheduled_in_words_can_be_cancelled_from_its_card(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await add_template(biz.user, platform=Platform.WHATSAPP, name="novidades", content="Oi {first_name}!",
                       meta_template_name="novidades", language="pt_BR", approved=True)
    await harness.say(ANA, "/broadcasts")
    await harness.press(ANA, "Nova campanha")
    calls = await harness.press(ANA, "novidades")  # no variable to ask: straight to the segment
    assert "Para quem?" in screen(calls).text
    await harness.press(ANA, "#bolo")
    await harness.press(ANA, "Prévia")
    calls = await harness.press(ANA, "Agendar")
    assert "Quando enviar?" in screen(calls).text
    calls = await harness.say(ANA, "ontem")
    assert "Campanha criada" not in texts(calls)
    calls = await harness.say(ANA, "amanhã 10h")
    assert "Campanha criada" in texts(calls) and "agendada" in screen(calls).text
    [created] = await list_broadcasts(biz.user)
    assert created.status == "scheduled" and created.segment == {"tags": ["bolo"]}
    calls = await harness.press(ANA, "Cancelar campanha")
    assert "Campanha cancelada" in screen(calls).text
    assert (await get_broadcast(biz.user, str(created.id))).status == "cancelled"


async def test_the_finished_alert_says_how_it_went_and_opens_the_campaign(harness: BotHarness, stores) -> None:
    from papo.bot.alerts import AlertConsumer
    from papo.services import notify
    from papo.services.broadcasts import Segment, create_broadcast

    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await add_template(biz.user, platform=Platform.WHATSAPP, name="novidades", content="Oi {first_name}!",
                       meta_template_name="novidades", language="pt_BR", approved=True)
    view = await create_broadcast(biz.user, template="novidades", segment=Segment())
    await notify.notify_owner(stores.redis, biz.user.id, notify.BROADCAST_FINISHED, {
        "broadcast_id": str(view.id), "name": "novidades", "total": 1, "sent": 1, "failed": 0, "skipped": 0})
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test", claim_idle_ms=0)
    await consumer.ensure_group()
    assert await consumer.run_once(block_ms=10) == 1
    alert = harness.telegram.of("sendMessage", ANA.chat_id)[-1]
    assert "Campanha concluída" in alert.text and "1 de 1 enviadas · 0 falharam" in alert.text
    calls = await harness.press(ANA, data=alert.buttons()[0]["callback_data"])
    assert "Destinatários: <b>1</b>" in screen(calls).text


async def test_a_broadcast_over_the_plan_is_refused_in_the_owners_language_and_nothing_is_stored(
        harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await add_template(biz.user, platform=Platform.WHATSAPP, name="novidades", content="Oi {first_name}!",
                       meta_template_name="novidades", language="pt_BR", approved=True)
    await set_plan(biz.user, "free")  # no broadcast recipients at all
    await harness.say(ANA, "/broadcasts")
    await harness.press(ANA, "Nova campanha")
    await harness.press(ANA, "novidades")
    await harness.press(ANA, "Prévia")
    calls = await harness.press(ANA, "Enviar agora")
    shown = screen(calls).text
    assert "O plano <b>free</b> permite 0 destinatários de campanhas por mês (0 em uso)" in shown
    assert "papo user plan --user ana@doceria.com.br --plan starter" in shown
    assert await list_broadcasts(biz.user) == []
