"""A reply the platform refused: the owner's alert offers "retry" and "answer by hand"; retry sends it again
through the outbound pipeline exactly once per failure, within the platform's rules, for its own business only.

Real parts: the aiogram Dispatcher against the fake Bot API, the outbound pipeline against the fake Graph API,
and the real stores.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from papo.bot.alerts import AlertConsumer
from papo.bot.keyboards import ConvAct, short
from papo.constants import ACTIVE_CONVERSATION
from papo.models import Message
from papo.pipeline.send import OutboundPipeline, RetryLater
from papo.services.owner_reply import manual_reply
from papo.services.send_ledger import SENT_KEY, SendLedger
from papo.services.templates import add_template
from papo.streams import codec
from papo.streams.consumer import Entry
from tests.bot.conftest import WABA, BotHarness, FakeTelegram, Person, make_business, screen
from tests.outbound.conftest import FakePlatform, deliver

ANA = Person(6201, "Ana")
BETO = Person(6202, "Beto")
PATH = f"/{WABA}/messages"
UNDELIVERABLE = (400, {"error": {"message": "(#131026) Message undeliverable", "code": 131026,
                                 "error_data": {"details": "Message could not be delivered"}}})


async def _alerts(harness: BotHarness) -> None:
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test", claim_idle_ms=0)
    await consumer.ensure_group()
    await consumer.run_once(block_ms=10)


async def _send_queued(pipeline: OutboundPipeline, redis: Any) -> int:
    """What a worker does with the outbound stream: hand each queued entry to the pipeline (then drop it)."""
    handled = 0
    for partition in range(pipeline.spec.partitions):
        key = pipeline.spec.key(partition)
        for entry_id, fields in await redis.xrange(key):
            for _ in range(10):  # a retryable error: the consumer delivers the entry again
                try:
                    await pipeline.handle([Entry(entry_id, partition, codec.decode(fields))])
                    break
                except RetryLater:
                    continue
            await redis.xdel(key, entry_id)
            handled += 1
    return handled


async def _failed_reply(harness: BotHarness, fake: FakePlatform, pipeline: OutboundPipeline, owner: Person,
                        **business: Any) -> tuple[Any, Message]:
    """A business whose reply the fake Graph API refused for good, and the alert it brought the owner."""
    biz = await make_business(f"{owner.first_name.lower()}@doceria.com.br", f"Doceria {owner.first_name}", owner,
                              **business)
    fake.script(PATH, UNDELIVERABLE)
    await deliver(pipeline, await manual_reply(biz.conversation.id, "O bolo sai por R$ 120."))
    row = await Message.get(conversation_id=biz.conversation.id, sender="user")
    assert row.delivery_status == "failed" and row.delivery_error.startswith("131026")
    await _alerts(harness)
    return biz, row


async def test_retry_from_the_alert_sends_the_failed_reply_once_and_it_shows_sent(
        harness: BotHarness, telegram: FakeTelegram, stores: Any, fake: FakePlatform, make_pipeline: Any) -> None:
    fake.calls.clear()
    pipeline = make_pipeline()
    biz, row = await _failed_reply(harness, fake, pipeline, ANA)
    beto = await make_business("beto@padaria.com.br", "Padaria do Beto", BETO, waba="106540352200001",
                               phone="5521912345678")
    [alert] = telegram.of("sendMessage", ANA.chat_id)[-1:]
    labels = [b["text"] for b in alert.buttons()]
    assert "🔁 Tentar de novo" in labels and "↩️ Responder" in labels, labels
    retry = harness.find(ANA, "Tentar de novo")["callback_data"]
    # The conversation offers the same retry (a later failure there gets no second alert the same day).
    opened = screen(await harness.press(ANA, data=ConvAct(act="open", id=short(biz.conversation.id)).pack()))
    assert "⚠️ <b>não enviada</b>" in opened.text
    assert [b["callback_data"] for b in opened.buttons() if "Tentar de novo" in b["text"]] == [retry]

    # Another business's owner with the same button gets "not found", and nothing is queued or reopened.
    calls = await harness.press(BETO, data=retry)
    assert "Não encontrei" in screen(calls).text
    assert await _send_queued(pipeline, stores.redis) == 0
    assert (await SendLedger(stores.redis).get(row.outbound_id)).state == "failed"
    assert beto.user.id != biz.user.id

    # Ana presses twice (a double tap): one retry is queued, the second press is told so.
    first = await harness.press(ANA, data=retry)
    second = await harness.press(ANA, data=retry)
    answers = [c.params.get("text", "") for c in first + second if c.method == "answerCallbackQuery"]
    assert answers == ["🔁 Enviando a resposta de novo.", "Essa resposta já está sendo enviada de novo (ou já foi)."]
    assert await _send_queued(pipeline, stores.redis) == 1  # the fake Graph API answers OK now

    sends = fake.calls_to(PATH)
    assert len(sends) == 2  # the refused one, then exactly one retry
    assert sends[1].json["text"]["body"] == "O bolo sai por R$ 120." and sends[1].json["to"] == "5511987654321"
    row = await Message.get(id=row.id)
    assert row.delivery_status == "sent" and row.delivery_error is None and row.platform_message_id.startswith("wamid.")
    assert await Message.filter(conversation_id=biz.conversation.id, sender="user").count() == 1  # the same row

    # The conversation now shows it delivered (✓), no longer "not sent".
    view = screen(await harness.press(ANA, data=ConvAct(act="open", id=short(biz.conversation.id)).pack())).text
    assert "O bolo sai por R$ 120. ✓" in view and "não enviada" not in view
    assert not any("Tentar de novo" in b["text"] for b in harness.last_keyboard(ANA).buttons())

    # Pressing again after it went out sends nothing.
    later = await harness.press(ANA, data=retry)
    assert [c.params.get("text") for c in later if c.method == "answerCallbackQuery"] == [
        "Essa resposta já está sendo enviada de novo (ou já foi)."]
    assert await _send_queued(pipeline, stores.redis) == 0 and len(fake.calls_to(PATH)) == 2


async def test_retry_after_the_window_closed_offers_the_templates_and_sends_nothing(
        harness: BotHarness, telegram: FakeTelegram, stores: Any, fake: FakePlatform, make_pipeline: Any) -> None:
    fake.calls.clear()
    pipeline = make_pipeline()
    biz, row = await _failed_reply(harness, fake, pipeline, ANA)
    await add_template(biz.user, platform="whatsapp", name="retomar", content="Oi {first_name}! Podemos continuar?",
                       meta_template_name="retomar_conversa", language="pt_BR", approved=True)
    # The customer's last message is now 30 hours old: a free-form reply may not go out.
    await Message.filter(conversation_id=biz.conversation.id, sender="remote").update(
        platform_timestamp=datetime.now(UTC) - timedelta(hours=30))
    await stores.redis.delete(f"{ACTIVE_CONVERSATION}{biz.conversation.id}")

    calls = await harness.press(ANA, "Tentar de novo")
    shown = screen(calls)
    assert "janela de 24 h está fechada" in shown.text
    assert any("retomar" in b["text"] for b in shown.buttons())  # the approved template, to send instead
    assert await _send_queued(pipeline, stores.redis) == 0 and len(fake.calls_to(PATH)) == 1
    assert (await SendLedger(stores.redis).get(row.outbound_id)).state == "failed"  # may still be retried later
    assert (await Message.get(id=row.id)).delivery_status == "failed"


async def test_retry_of_a_reply_no_longer_kept_says_to_answer_by_hand(
        harness: BotHarness, telegram: FakeTelegram, stores: Any, fake: FakePlatform, make_pipeline: Any) -> None:
    fake.calls.clear()
    pipeline = make_pipeline()
    _, row = await _failed_reply(harness, fake, pipeline, ANA)
    await stores.redis.delete(SENT_KEY + row.outbound_id)  # what the ledger's 30-day TTL does

    calls = await harness.press(ANA, "Tentar de novo")
    assert [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"] == [
        "Essa resposta não pode mais ser reenviada como era: responda você mesmo."]
    assert await _send_queued(pipeline, stores.redis) == 0 and len(fake.calls_to(PATH)) == 1


async def test_a_reply_that_gave_up_gets_its_whole_retry_budget_again(
        harness: BotHarness, telegram: FakeTelegram, stores: Any, fake: FakePlatform, make_pipeline: Any) -> None:
    fake.calls.clear()
    pipeline = make_pipeline(max_attempts=2)
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    outage = (500, {"error": {"message": "An unexpected error has occurred.", "code": 2, "is_transient": True}})
    fake.script(PATH, outage, outage)
    await deliver(pipeline, await manual_reply(biz.conversation.id, "Já saiu para entrega!"))
    row = await Message.get(conversation_id=biz.conversation.id, sender="user")
    assert row.delivery_status == "failed" and row.delivery_error.startswith("gave up after 2 attempts")
    await _alerts(harness)

    fake.script(PATH, outage)  # the owner's retry meets one more 500, then the platform is back
    await harness.press(ANA, "Tentar de novo")
    assert await _send_queued(pipeline, stores.redis) == 1
    assert len(fake.calls_to(PATH)) == 4  # 2 given up, then the retry's 500 and its success
    row = await Message.get(id=row.id)
    assert row.delivery_status == "sent" and row.metadata["attempts"] == 2
