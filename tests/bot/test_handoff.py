"""Human handoff in the bot: the reply by hand pauses the bot, the conversation shows and changes the state,
the handoff alert's "Resume bot" button, and the opening hours screen (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from papo.bot.alerts import AlertConsumer
from papo.bot.keyboards import ConvAct, short
from papo.models import Conversation, OwnerSettings
from papo.services import notify
from tests.bot.conftest import BotHarness, FakeTelegram, Person, make_business, screen

ANA = Person(8101, "Ana")


async def _fresh(conv: Conversation) -> Conversation:
    return await Conversation.get(id=conv.id)


async def test_a_reply_by_hand_pauses_the_bot_and_the_buttons_resume_and_pause_it(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    calls = await harness.press(ANA, data=ConvAct(act="open", id=short(biz.conversation.id)).pack())
    assert "Bot ativo nesta conversa" in screen(calls).text
    await harness.press(ANA, "Responder")
    await harness.say(ANA, "Oi Bruna, sou a Ana! Faço sim.")
    conv = await _fresh(biz.conversation)
    assert conv.automation_paused_reason == "owner_reply"
    assert conv.automation_paused_until - datetime.now(UTC) > timedelta(hours=11.9)  # PAPO_HANDOFF_HOURS

    calls = await harness.press(ANA, data=ConvAct(act="open", id=short(biz.conversation.id)).pack())
    assert "Bot pausado até" in screen(calls).text
    calls = await harness.say(ANA, "/conversations")  # the list marks it too
    assert next(b["text"] for b in screen(calls).buttons() if "Bruna" in b["text"]).startswith("⏸ ")
    await harness.press(ANA, "Bruna")
    calls = await harness.press(ANA, "Retomar bot")
    assert (await _fresh(biz.conversation)).automation_paused_until is None
    assert "Bot ativo" in screen(calls).text
    calls = await harness.press(ANA, "Pausar bot")
    conv = await _fresh(biz.conversation)
    assert conv.automation_paused_reason == "manual" and conv.automation_paused_until > datetime.now(UTC)
    assert "Retomar bot" in " ".join(b["text"] for b in screen(calls).buttons())


async def test_the_handoff_alert_has_a_resume_button_that_works(harness: BotHarness, telegram: FakeTelegram,
                                                               stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    until = datetime.now(UTC) + timedelta(hours=12)
    await Conversation.filter(id=biz.conversation.id).update(automation_paused_until=until,
                                                             automation_paused_reason="rule")
    await notify.notify_owner(stores.redis, biz.user.id, notify.HANDOFF, {
        "rule": "Reclamação", "message": "Bruna reclamou: <atraso>", "conversation_id": str(biz.conversation.id),
        "platform": "whatsapp", "paused_until": until.isoformat()})
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test", claim_idle_ms=0)
    await consumer.ensure_group()
    assert await consumer.run_once(block_ms=10) == 1
    [alert] = telegram.of("sendMessage", ANA.chat_id)[-1:]
    assert "Reclamação" in alert.text and "&lt;atraso&gt;" in alert.text and "Bot pausado até" in alert.text
    labels = [b["text"] for b in alert.buttons()]
    assert labels == ["▶️ Retomar bot", "↩️ Responder", "💬 Abrir conversa"]
    calls = await harness.press(ANA, data=alert.buttons()[0]["callback_data"])
    assert (await _fresh(biz.conversation)).automation_paused_until is None
    assert "Bot ativo" in screen(calls).text


async def test_opening_hours_away_text_and_holidays_are_edited_in_the_bot(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    calls = await harness.say(ANA, "/settings")
    calls = await harness.press(ANA, "Horário de atendimento")
    assert "não definido" in screen(calls).text
    await harness.press(ANA, "Definir horário")
    calls = await harness.say(ANA, "seg-sex 25:00-18:00")
    assert "is not a time" in screen(calls).text  # refused, still asking
    calls = await harness.say(ANA, "seg-sex 09:00-18:00, sáb 09:00-13:00")
    assert "mon-fri 09:00-18:00, sat 09:00-13:00" in screen(calls).text
    await harness.press(ANA, "Mensagem de ausência")
    calls = await harness.say(ANA, "Oi {first_name}! Voltamos às 9h.")
    assert "Voltamos às 9h" in screen(calls).text
    await harness.press(ANA, "Adicionar feriado")
    calls = await harness.say(ANA, "25/12/2099")
    assert "25/12/2099" in screen(calls).text
    row = await OwnerSettings.get(user_id=biz.user.id)
    assert row.holidays == ["2099-12-25"] and row.away_text == "Oi {first_name}! Voltamos às 9h."
    calls = await harness.press(ANA, "🗑 25/12/2099")
    assert (await OwnerSettings.get(user_id=biz.user.id)).holidays == []
    await harness.press(ANA, "Desligar ausência")
    assert (await OwnerSettings.get(user_id=biz.user.id)).away_text is None


async def test_the_rule_wizard_offers_the_handoff_action(harness: BotHarness) -> None:
    from papo.models import AutomationRule

    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/rules")
    await harness.press(ANA, "Nova regra")
    await harness.press(ANA, "Mensagem")
    await harness.press(ANA, "Qualquer")
    await harness.press(ANA, "Intenção")
    await harness.press(ANA, "Reclamação")
    await harness.press(ANA, "Pronto")
    await harness.press(ANA, "Próximo: ação")
    calls = await harness.press(ANA, "Passar para mim")
    assert "o bot pausa nesta conversa" in screen(calls).text
    await harness.say(ANA, "{name} reclamou: {text}")
    await harness.say(ANA, "Reclamação → eu")
    await harness.press(ANA, "Salvar e ligar")
    rule = await AutomationRule.get(user_id=biz.user.id)
    assert str(rule.action) == "handoff" and rule.action_data == {"message": "{name} reclamou: {text}"}
