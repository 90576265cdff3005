"""Conversations: recent, open, reply inside the window, approved templates outside it, archive and mute."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from papo.bot.keyboards import ConvAct, short
from papo.enums import Platform
from papo.models import Conversation, Message
from papo.pipeline.send import OutboundPipeline
from papo.services.queues import outbound_spec
from papo.services.templates import add_template
from papo.streams.consumer import Entry
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts
from tests.outbound.conftest import FakePlatform, outbound_settings

ANA = Person(8001, "Ana")


async def _send_queued(stores: Any, settings: Any, fake: FakePlatform) -> int:
    """Hand every queued outbound entry to the real pipeline (what `papo worker` does)."""
    import aiohttp

    from papo.crypto import TokenCipher
    from tests.conftest import TEST_SECRET

    spec = outbound_spec(settings.stream_partitions)
    sent = 0
    async with aiohttp.ClientSession() as session:
        pipeline = OutboundPipeline(stores, outbound_settings(settings, fake), session=session,
                                    cipher=TokenCipher(TEST_SECRET), worker_id="t")
        for partition in range(settings.stream_partitions):
            for entry_id, fields in await stores.redis.xrange(spec.key(partition)):
                from papo.streams import codec

                await pipeline.handle([Entry(entry_id, partition, codec.decode(fields))])
                sent += 1
    return sent


async def test_recent_open_and_reply_inside_the_window(harness: BotHarness, stores: Any, settings: Any,
                                                       fake: FakePlatform) -> None:
    await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    calls = await harness.say(ANA, "/conversations")
    assert "Bruna Teixeira" in screen(calls).buttons()[0]["text"]
    calls = await harness.press(ANA, "Bruna")
    assert "Janela de 24 h aberta" in screen(calls).text and "quanto custa?" in screen(calls).text
    await harness.press(ANA, "Responder")
    calls = await harness.say(ANA, "Sai por R$ 120 <b>com entrega</b>")
    assert "fila" in texts(calls)
    assert await _send_queued(stores, settings, fake) == 1
    body = fake.calls[-1].json
    assert body["text"]["body"] == "Sai por R$ 120 <b>com entrega</b>"  # sent as typed, never as HTML
    row = await Message.get(sender="user")
    assert row.is_automated is False and row.delivery_status == "sent"


async def test_outside_the_window_only_approved_templates_are_offered(harness: BotHarness, stores: Any,
                                                                      settings: Any, fake: FakePlatform) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA, last_inbound=timedelta(hours=30))
    await add_template(biz.user, platform=Platform.WHATSAPP, name="rascunho", content="Oi {first_name}")
    await add_template(biz.user, platform=Platform.WHATSAPP, name="retomar", content="Oi {first_name}! Cupom {cupom}",
                       meta_template_name="retomar", language="pt_BR", approved=True)
    calls = await harness.press(ANA, data=ConvAct(act="open", id=short(biz.conversation.id)).pack())
    assert "Janela de 24 h fechada" in screen(calls).text
    assert "Enviar modelo" in " ".join(b["text"] for b in screen(calls).buttons())
    calls = await harness.press(ANA, "Enviar modelo")
    labels = [b["text"] for b in screen(calls).buttons()]
    assert any("retomar" in label for label in labels) and not any("rascunho" in label for label in labels)
    # a reply typed anyway (an old button) is refused before queueing and the templates are offered
    calls = await harness.press(ANA, data=ConvAct(act="reply", id=short(biz.conversation.id)).pack())
    assert "janela de 24 h está fechada" in screen(calls).text
    spec = outbound_spec(settings.stream_partitions)
    assert sum([await stores.redis.xlen(spec.key(p)) for p in range(settings.stream_partitions)]) == 0
    await harness.press(ANA, "retomar")
    calls = await harness.say(ANA, "VOLTA10")
    assert "Oi Bruna! Cupom VOLTA10" in texts(calls)
    assert await _send_queued(stores, settings, fake) == 1
    template = fake.calls[-1].json["template"]
    assert template["name"] == "retomar" and template["language"]["code"] == "pt_BR"
    params = [p["text"] for p in template["components"][0]["parameters"]]
    assert params == ["Bruna", "VOLTA10"]


async def test_archive_and_mute(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.press(ANA, data=ConvAct(act="open", id=short(biz.conversation.id)).pack())
    await harness.press(ANA, "Silenciar")
    assert str((await Conversation.get(id=biz.conversation.id)).status) == "muted"
    await harness.press(ANA, "Arquivar")
    assert str((await Conversation.get(id=biz.conversation.id)).status) == "archived"
    calls = await harness.say(ANA, "/conversations")
    assert "Nenhuma conversa" in screen(calls).text
    calls = await harness.press(ANA, "Arquivadas")
    assert "Bruna" in screen(calls).buttons()[0]["text"]
    await harness.press(ANA, "Bruna")
    await harness.press(ANA, "Desarquivar")
    assert str((await Conversation.get(id=biz.conversation.id)).status) == "active"
    await asyncio.sleep(0)


async def test_a_failed_reply_never_looks_sent_and_says_why(harness: BotHarness) -> None:
    business = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    for text, state, error in (("Oi Bruna! Já vamos responder.", "read", None),
                               ("Temos bolo de cenoura hoje.", "delivered", None),
                               ("O bolo sai por R$ 120.", "failed",
                                "gave up after 5 attempts: 131047: Re-engagement message <outside the window>")):
        await Message.create(conversation=business.conversation, sender="user", message_text=text, kind="message",
                             is_automated=True, delivery_status=state, delivery_error=error)

    await harness.say(ANA, "/conversations")
    shown = screen(await harness.press(ANA, "Bruna")).text

    lines = {line.split("🤖", 1)[1].strip() for line in shown.splitlines() if "🤖" in line}
    assert "Oi Bruna! Já vamos responder. ✓✓ <i>lida</i>" in lines
    assert "Temos bolo de cenoura hoje. ✓✓" in lines
    failed = next(line for line in lines if line.startswith("O bolo sai por R$ 120."))
    assert "⚠️ <b>não enviada</b>: gave up after 5 attempts: 131047: Re-engagement message &lt;outside" in failed
    assert "✓" not in failed
