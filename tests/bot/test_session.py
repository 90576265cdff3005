"""The issue's 'done when': one scripted owner session through the real Dispatcher and Bot."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest_asyncio

from papo.bot.alerts import AlertConsumer
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import AutomationRule, Conversation, Lead, Message, MessageTemplate, Post, PostSync
from papo.pipeline.send import run_outbound
from papo.services import notify, owners
from papo.services.accounts import connect_account
from papo.services.users import create_user
from tests.bot.conftest import BotHarness, FakeTelegram, Person, screen, texts
from tests.conftest import TEST_SECRET, eventually
from tests.outbound.conftest import FakePlatform

ANA = Person(5001, "Ana")
WABA = "106540352242922"
PHONE = "5511987654321"


@pytest_asyncio.fixture(loop_scope="session")
async def outbound_worker(settings: Any, stores: Any, fake: FakePlatform) -> AsyncIterator[None]:
    """The real outbound worker, sending to the fake Graph API."""
    local = settings.model_copy(update={"graph_api_url": fake.url("/"), "worker_lease_ms": 3000})
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(run_outbound(stores, local, stop, session, cipher=TokenCipher(TEST_SECRET),
                                                worker_id="bot-test-out"))
        yield
        stop.set()
        await asyncio.wait_for(task, timeout=20)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking the signature and chunk type."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_owner_session_end_to_end(harness: BotHarness, telegram: FakeTelegram, fake: FakePlatform,
                                        stores: Any, outbound_worker: None) -> None:
    # --- the business, its customer, and a one-time code printed by `papo admin link`
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    account, _ = await connect_account(user=user, platform=Platform.WHATSAPP, platform_account_id=WABA,
                                       access_token="tok-wa", cipher=TokenCipher(TEST_SECRET))
    await connect_account(user=user, platform=Platform.FACEBOOK, platform_account_id="pg-777",
                          access_token="tok-fb", cipher=TokenCipher(TEST_SECRET), business_name="Doceria FB")
    at = datetime.now(UTC) - timedelta(hours=2)
    conv = await Conversation.create(user=user, account=account, platform_conversation_id=PHONE, remote_user_id=PHONE,
                                     remote_user_name="Bruna Teixeira", platform=Platform.WHATSAPP, last_message_at=at)
    await Message.create(conversation=conv, sender="remote", message_text="Quanto custa o bolo de 2kg? Quero comprar",
                         kind="message", platform_message_id="wamid.in1", platform_timestamp=at,
                         metadata={"remote_user_phone": PHONE})
    lead = await Lead.create(user=user, remote_user_id=PHONE, remote_user_name="Bruna Teixeira",
                             platform=Platform.WHATSAPP, phone=PHONE, quality="hot", last_interaction=at,
                             metadata={"score": 0.86})
    await Lead.create(user=user, remote_user_id="5511900000001", remote_user_name="Carlos Frio",
                      platform=Platform.WHATSAPP, quality="cold", last_interaction=at)
    code = await owners.create_link_code(user)

    # --- link
    calls = await harness.say(ANA, f"/start {code.code}")
    assert "Doceria da Ana" in calls[0].text

    # --- hot leads, open one
    calls = await harness.say(ANA, "/leads")
    assert "Leads: 2" in screen(calls).text
    calls = await harness.press(ANA, "Quente (1)")
    assert [b["text"] for b in screen(calls).buttons() if "Bruna" in b["text"]]
    assert not [b for b in screen(calls).buttons() if "Carlos" in b["text"]]
    calls = await harness.press(ANA, "Bruna")
    card = screen(calls).text
    assert "Bruna Teixeira" in card and "Quente" in card and "0.86" in card and "Quanto custa o bolo" in card

    # --- reply to the customer: through the outbound pipeline to the fake WhatsApp API
    await harness.press(ANA, "Responder")
    calls = await harness.say(ANA, "Oi Bruna! O bolo de 2kg sai por R$ 120.")
    assert "fila" in texts(calls)

    async def delivered() -> bool:
        return bool(fake.calls_to(f"/{WABA}/messages"))

    await eventually(delivered)
    sent = fake.calls_to(f"/{WABA}/messages")[0].json
    assert sent["to"] == PHONE and sent["text"]["body"] == "Oi Bruna! O bolo de 2kg sai por R$ 120."
    await eventually(lambda: Message.filter(sender="user", delivery_status="sent").exists())

    # --- create a template
    await harness.say(ANA, "/templates")
    await harness.press(ANA, "Novo modelo")
    await harness.say(ANA, "retomar_conversa")
    await harness.press(ANA, "WhatsApp")
    calls = await harness.say(ANA, "Olá {first_name}! Ainda quer o bolo? Use o cupom {cupom}.")
    assert "{first_name}, {cupom}" in texts(calls)
    await harness.say(ANA, "retomar_conversa")
    await harness.press(ANA, "pt_BR")
    calls = await harness.press(ANA, "Sim")
    shown = screen(calls).text
    assert "retomar_conversa" in shown and "aprovado" in shown
    assert "Olá Maria! Ainda quer o bolo? Use o cupom ‹cupom›." in shown  # the preview, with sample data
    tpl = await MessageTemplate.get(user_id=user.id)
    assert tpl.variables == ["first_name", "cupom"] and tpl.is_approved and tpl.meta_template_name == "retomar_conversa"

    # --- create a rule (guided), see the dry run, save it on, toggle it off and on
    await harness.say(ANA, "/rules")
    await harness.press(ANA, "Nova regra")
    await harness.press(ANA, "Mensagem")
    await harness.press(ANA, "WhatsApp")
    await harness.press(ANA, "Palavras-chave")
    calls = await harness.say(ANA, "quanto custa, preço")
    assert "keywords_any" in screen(calls).text
    await harness.press(ANA, "Próximo: ação")
    await harness.press(ANA, "Enviar mensagem")
    await harness.say(ANA, "Olá {first_name}! A tabela está em doceria.com/precos")
    calls = await harness.say(ANA, "Preço")
    assert "Teria agido em <b>1</b>" in screen(calls).text and "doceria.com/precos" in screen(calls).text
    rule = await AutomationRule.get(user_id=user.id)
    assert rule.is_active is False and rule.condition == {"keywords_any": ["quanto custa", "preço"]}
    await harness.press(ANA, "Salvar e ligar")
    assert (await AutomationRule.get(id=rule.id)).is_active is True
    await harness.say(ANA, "/rules")
    await harness.press(ANA, "Desligar")
    assert (await AutomationRule.get(id=rule.id)).is_active is False
    calls = await harness.press(ANA, "Ligar")
    assert (await AutomationRule.get(id=rule.id)).is_active is True and "⚪" not in screen(calls).buttons()[0]["text"]

    # --- schedule a post
    await harness.say(ANA, "/posts")
    await harness.press(ANA, "Novo post")
    await harness.say(ANA, "Bolo de pote de maracujá chegou!\n#bolo #doce")
    await harness.press(ANA, "Doceria FB")
    await harness.press(ANA, "Próximo")
    await harness.press(ANA, "Agendar")
    calls = await harness.say(ANA, "amanhã 10h")
    assert "Agendado" in screen(calls).text
    post = await Post.get(user_id=user.id)
    assert str(post.status) == "scheduled" and post.hashtags == ["bolo", "doce"] and post.scheduled_for is not None
    assert [str(s.platform) for s in await PostSync.filter(post_id=post.id)] == ["facebook"]

    # --- a hot-lead alert, with buttons to act on it
    await notify.notify_owner(stores.redis, user.id, notify.HOT_LEAD, {
        "platform": "whatsapp", "remote_user_id": PHONE, "name": "Bruna Teixeira", "score": 0.91,
        "text": "Fechado! Quero 2 bolos"})
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test")
    await consumer.ensure_group()
    assert await consumer.run_once(block_ms=10) == 1
    alert = telegram.of("sendMessage", ANA.chat_id)[-1]
    assert "Lead quente" in alert.text and "Fechado! Quero 2 bolos" in alert.text and "0.91" in alert.text
    assert {"Responder", "Abrir lead", "Marcar contatado"} <= {b["text"].split(" ", 1)[1] for b in alert.buttons()}
    await harness.press(ANA, "Marcar contatado")
    assert str((await Lead.get(id=lead.id)).status) == "contacted"

    # --- the stats chart, a real PNG
    calls = await harness.say(ANA, "/stats 7")
    photo = next(c for c in calls if c.method == "sendPhoto")
    assert png_size(photo.file("photo")) == (800, 420)
    assert "7 dias" in photo.text and "1 recebidas" in photo.text and "1 enviadas" in photo.text
