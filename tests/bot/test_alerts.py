"""Owner alerts: every kind rendered with its buttons, switches, quiet hours, muted conversations, blocked
accounts, several linked accounts, and each alert delivered once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from papo.bot.alerts import AlertConsumer, FollowUpScanner
from papo.bot.keyboards import LeadAct, short
from papo.models import Conversation, Lead, TelegramLink
from papo.services import notify, owners
from papo.streams import codec
from tests.bot.conftest import BotHarness, FakeTelegram, Person, make_business, screen

ANA = Person(6001, "Ana")
ANA_PHONE = Person(6002, "Ana (celular 2)")


async def _deliver(harness: BotHarness) -> int:
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test", claim_idle_ms=0)
    await consumer.ensure_group()
    return await consumer.run_once(block_ms=10)


async def test_each_kind_is_rendered_with_buttons_to_act(harness: BotHarness, telegram: FakeTelegram,
                                                         stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    r = stores.redis
    uid = biz.user.id
    await notify.notify_owner(r, uid, notify.COMPLAINT, {
        "conversation_id": biz.conversation.id, "platform": "whatsapp", "remote_user_id": biz.lead.remote_user_id,
        "customer": "Bruna", "text": "O bolo chegou amassado!"})  # the understanding stage's shape
    await notify.notify_owner(r, uid, notify.POST_FAILED, {"post_id": "0f6f2d53-5f7e-4f7e-9c55-1b2a3c4d5e6f",
                                                           "title": "Promo", "error": "instagram: image is not JPEG"})
    await notify.notify_owner(r, uid, notify.TOKEN_EXPIRING, {"platform": "instagram", "name": "@doceria",
                                                              "expires_at": "2026-12-20T12:00:00+00:00"})
    await notify.notify_owner(r, uid, notify.RULE, {"rule": "Reclamações", "message": "Bruna reclamou: <atraso>",
                                                    "conversation_id": str(biz.conversation.id)})
    assert await _deliver(harness) == 4
    sent = telegram.of("sendMessage", ANA.chat_id)[-4:]
    complaint, failed, token, rule = sent
    assert "Reclamação" in complaint.text and "amassado" in complaint.text
    assert {b["text"] for b in complaint.buttons()} == {"↩️ Responder", "👤 Abrir lead"}
    assert "image is not JPEG" in failed.text and "Tentar de novo" in " ".join(b["text"] for b in failed.buttons())
    assert "@doceria" in token.text and "20/12" in token.text and not token.buttons()
    assert "&lt;atraso&gt;" in rule.text  # customer words are escaped, never markup
    calls = await harness.press(ANA, data=complaint.buttons()[1]["callback_data"])
    assert "Bruna Teixeira" in screen(calls).text


async def test_switches_quiet_hours_muted_and_blocked(harness: BotHarness, telegram: FakeTelegram,
                                                     stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await owners.link((await owners.create_link_code(biz.user)).code, ANA_PHONE.id, ANA_PHONE.chat_id)
    await owners.set_alert(biz.user, "complaint", False)
    await notify.notify_owner(stores.redis, biz.user.id, notify.COMPLAINT, {"text": "ruim"})
    assert await _deliver(harness) == 1
    assert not telegram.of("sendMessage", ANA.chat_id) and not telegram.of("sendMessage", ANA_PHONE.chat_id)

    # quiet hours covering now: delivered, without sound, to both linked accounts
    await owners.set_timezone(biz.user, "UTC")
    start = (datetime.now(UTC) - timedelta(hours=1)).strftime("%H:%M")
    end = (datetime.now(UTC) + timedelta(hours=1)).strftime("%H:%M")
    await owners.set_quiet_hours(biz.user, start, end)
    await notify.notify_owner(stores.redis, biz.user.id, notify.HOT_LEAD, {"name": "Bruna", "text": "quero"})
    assert await _deliver(harness) == 1
    for person in (ANA, ANA_PHONE):
        call = telegram.of("sendMessage", person.chat_id)[-1]
        assert "Lead quente" in call.text and call.params.get("disable_notification") == "true"

    # a muted conversation sends nothing
    await Conversation.filter(id=biz.conversation.id).update(status="muted")
    before = len(telegram.calls)
    await notify.notify_owner(stores.redis, biz.user.id, notify.HOT_LEAD,
                              {"conversation_id": str(biz.conversation.id), "text": "quero"})
    assert await _deliver(harness) == 1 and len(telegram.calls) == before

    # an account that blocked the bot is paused; the other still gets alerts
    await owners.set_quiet_hours(biz.user, None, None)
    telegram.fail("sendMessage", ANA_PHONE.chat_id, 403, "Forbidden: bot was blocked by the user")
    await notify.notify_owner(stores.redis, biz.user.id, notify.HOT_LEAD, {"text": "de novo"})
    assert await _deliver(harness) == 1
    assert (await TelegramLink.get(telegram_user_id=ANA_PHONE.id)).blocked_at is not None
    assert "de novo" in telegram.of("sendMessage", ANA.chat_id)[-1].text
    assert [c.chat_id for c in await owners.linked_chats(biz.user)] == [ANA.chat_id]


async def test_an_alert_is_sent_once_even_when_redelivered(harness: BotHarness, telegram: FakeTelegram,
                                                           stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    entry = await notify.notify_owner(stores.redis, biz.user.id, notify.HOT_LEAD, {"text": "quero"},
                                      dedupe_key="hot:1")
    assert await notify.notify_owner(stores.redis, biz.user.id, notify.HOT_LEAD, {"text": "quero"},
                                     dedupe_key="hot:1") is None
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test")
    await consumer.ensure_group()
    fields = {"v": codec.VERSION, "data": (await stores.redis.xrange(notify.NOTIFY_STREAM))[0][1]["data"]}
    assert await consumer.handle(entry, fields) is True
    assert await consumer.handle(entry, fields) is True  # a redelivery after a crash before the ack
    assert len(telegram.of("sendMessage", ANA.chat_id)) == 1


async def test_stale_and_undecodable_entries_are_dropped(harness: BotHarness, telegram: FakeTelegram,
                                                         stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    old = {"user_id": str(biz.user.id), "kind": "hot_lead", "payload": {},
           "at": (datetime.now(UTC) - timedelta(days=2)).isoformat()}
    await stores.redis.xadd(notify.NOTIFY_STREAM, codec.encode(old))
    await stores.redis.xadd(notify.NOTIFY_STREAM, {"v": "9", "data": "{}"})
    assert await _deliver(harness) == 2
    assert not telegram.of("sendMessage", ANA.chat_id)
    assert (await stores.redis.xpending(notify.NOTIFY_STREAM, notify.NOTIFY_GROUP))["pending"] == 0


async def test_due_follow_ups_become_one_alert_each(harness: BotHarness, telegram: FakeTelegram,
                                                     stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    due = datetime.now(UTC) - timedelta(minutes=1)
    await Lead.filter(id=biz.lead.id).update(next_followup=due)
    scanner = FollowUpScanner(harness.context)
    assert await scanner.scan() == 1
    assert await scanner.scan() == 0  # a second process, or the next round, does not alert again
    assert await _deliver(harness) == 1
    alert = telegram.of("sendMessage", ANA.chat_id)[-1]
    assert "Hora do follow-up" in alert.text and "Bruna Teixeira" in alert.text
    contacted = next(b for b in alert.buttons() if "contatado" in b["text"])
    assert contacted["callback_data"] == LeadAct(act="contacted", id=short(biz.lead.id)).pack()
    await harness.press(ANA, data=contacted["callback_data"])
    lead = await Lead.get(id=biz.lead.id)
    assert str(lead.status) == "contacted" and lead.next_followup is None


async def test_an_account_claimed_by_another_business_tells_the_holder_how_to_hand_it_over(
        harness: BotHarness, telegram: FakeTelegram, stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await notify.notify_owner(stores.redis, biz.user.id, notify.ACCOUNT_CLAIMED, {
        "account_id": "0f6f2d53-5f7e-4f7e-9c55-1b2a3c4d5e6f", "platform": "tiktok", "name": "@doceria",
        "claimant": "<Outra> Loja"})  # the shape papo.services.connect sends

    assert await _deliver(harness) == 1
    [sent] = telegram.of("sendMessage", ANA.chat_id)[-1:]
    assert "&lt;Outra&gt; Loja" in sent.text and "@doceria" in sent.text and "continua conectada" in sent.text
    assert "papo account disconnect --account 0f6f2d53-5f7e-4f7e-9c55-1b2a3c4d5e6f" in sent.text


async def test_a_reply_that_was_not_sent_alerts_the_owner_with_the_reason_and_a_way_to_answer(
        harness: BotHarness, telegram: FakeTelegram, stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await notify.notify_owner(stores.redis, biz.user.id, notify.REPLY_FAILED, {  # as the outbound stage sends it
        "conversation_id": str(biz.conversation.id), "platform": "whatsapp",
        "remote_user_id": biz.conversation.remote_user_id, "text": "O bolo sai por R$ 120.",
        "error": "gave up after 5 attempts: 131047: Re-engagement message"})

    assert await _deliver(harness) == 1
    [sent] = telegram.of("sendMessage", ANA.chat_id)[-1:]
    assert "Bruna Teixeira" in sent.text and "não foi enviada" in sent.text and "131047" in sent.text
    assert "O bolo sai por R$ 120." in sent.text
    labels = [b["text"] for b in sent.buttons()]
    assert any("Responder" in label for label in labels), labels  # answer by hand, in the conversation
