"""Human handoff end to end: signed webhooks in → worker → the fake Graph API (issue 16, part 1)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio

from papo.config import Settings
from papo.models import Conversation, Message, OwnerSettings
from papo.runtime import Stores
from papo.services import handoff, hours
from papo.services.notify import NOTIFY_STREAM
from papo.services.rules import create_rule
from papo.streams import codec
from papo.worker import run_roles
from tests.automation.test_automation_e2e import CUSTOMER, IG_ID, PHONE_ID, _post, _settled
from tests.conftest import eventually
from tests.inbound.conftest import sign

PAPO_APP_ID = "1517776481860111"
PAGE_INBOX_APP_ID = "263902037430900"  # what Meta's own inbox (Business Suite) echoes carry
IG_CUSTOMER = "1254459154682919"


@pytest_asyncio.fixture(loop_scope="session")
async def handoff_worker(settings: Settings, stores: Stores, fake) -> AsyncIterator[Settings]:
    """Every worker role, platform APIs pointed at the fake server, Papo's Meta app id known."""
    local = settings.model_copy(update={
        "worker_lease_ms": 3000, "worker_batch": 64, "meta_app_id": PAPO_APP_ID,
        "graph_api_url": fake.url("/"), "instagram_api_url": fake.url("/"),
        "outbound_retry_base": 0.05, "outbound_retry_max": 0.2,
    })
    stop = asyncio.Event()
    task = asyncio.create_task(run_roles(stores, local, stop, name="handoff-worker"))
    yield local
    stop.set()
    await asyncio.wait_for(task, timeout=30)


async def _post_json(web, settings, platform: str, payload: dict) -> None:
    body = json.dumps(payload).encode()
    resp = await web.post(f"/webhooks/{platform}", data=body, headers=sign(settings, platform, body))
    assert resp.status == 200, await resp.text()


def _smb_echo(text: str, wamid: str, *, to: str = CUSTOMER) -> dict:
    """What WhatsApp sends when the owner answers from the WhatsApp Business app (smb_message_echoes)."""
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "5511940028922", "phone_number_id": PHONE_ID},
             "message_echoes": [{"from": "5511940028922", "to": to, "id": wamid, "timestamp": str(int(time.time())),
                                 "type": "text", "text": {"body": text}}]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "smb_message_echoes"}]}]}


def _ig_echo(mid: str, text: str, *, app_id: str | None = None) -> dict:
    """An Instagram echo: a message the business account sent (by Papo, or by hand in the app)."""
    message: dict = {"mid": mid, "text": text, "is_echo": True}
    if app_id is not None:
        message["app_id"] = int(app_id)
    now = int(time.time() * 1000)
    return {"object": "instagram", "entry": [{"id": IG_ID, "time": now, "messaging": [
        {"sender": {"id": IG_ID}, "recipient": {"id": IG_CUSTOMER}, "timestamp": now, "message": message}]}]}


async def _paused(remote_user_id: str) -> bool:
    conv = await Conversation.get(remote_user_id=remote_user_id)
    return conv.automation_paused_until is not None and conv.automation_paused_until > datetime.now(UTC)


async def test_an_answer_from_the_whatsapp_business_app_pauses_automation_but_not_understanding(
    web, handoff_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await create_rule(owner, name="Oi", trigger="message", platform="whatsapp", action="send_message",
                      condition={}, action_data={"text": "Olá! Já te respondo.", "cooldown_seconds": 0})
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi, vocês têm bolo de pote?", event_id="H1")
    await _settled(fake, f"/{PHONE_ID}/messages", 1)

    await _post_json(web, settings, "whatsapp", _smb_echo("Temos sim! Separo um pra você?", "wamid.OWNER1"))
    await eventually(lambda: Message.filter(platform_message_id="wamid.OWNER1").exists())
    echo = await Message.get(platform_message_id="wamid.OWNER1")
    assert str(echo.sender) == "user" and echo.kind == "echo" and not echo.is_automated
    await eventually(lambda: _paused(CUSTOMER))
    conv = await Conversation.get(remote_user_id=CUSTOMER)
    assert conv.automation_paused_reason == "owner_app"
    assert conv.automation_paused_until > datetime.now(UTC) + timedelta(hours=11.9)

    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="quero sim, quanto custa?", event_id="H2")

    async def classified() -> bool:
        return await stores.analytics.ai_interactions.count_documents({"user_message": "quero sim, quanto custa?"}) == 1

    await eventually(classified)  # stored, classified and scored as ever
    await asyncio.sleep(1.0)
    assert len(fake.calls_to(f"/{PHONE_ID}/messages")) == 1  # … but not answered by the bot
    assert await Message.filter(message_text="quero sim, quanto custa?", sender="remote").exists()
    # The owner's own words are never classified as a customer's.
    owner_words = {"user_message": "Temos sim! Separo um pra você?"}
    assert await stores.analytics.ai_interactions.count_documents(owner_words) == 0


async def test_papos_own_instagram_echoes_do_not_pause_and_one_from_another_app_does(
    web, handoff_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("instagram", IG_ID)
    await create_rule(owner, name="Oi", trigger="message", platform="instagram", action="send_message",
                      condition={}, action_data={"text": "Oi! Em que posso ajudar?", "cooldown_seconds": 0})
    await _post(web, settings, "instagram", sender=IG_CUSTOMER, text="oi", event_id="I1", account=IG_ID)
    await _settled(fake, f"/{IG_ID}/messages", 1)
    sent = await Message.get(sender="user", is_automated=True)
    # Papo's reply echoed back without an app id: known by its message id.
    await _post_json(web, settings, "instagram", _ig_echo(sent.platform_message_id, "Oi! Em que posso ajudar?"))
    # … and one with Papo's app id, not yet recorded by id.
    await _post_json(web, settings, "instagram", _ig_echo("m_PAPO_APP", "Oi de novo", app_id=PAPO_APP_ID))
    await eventually(lambda: Message.filter(platform_message_id="m_PAPO_APP").exists())
    assert not await _paused(IG_CUSTOMER)
    await _post(web, settings, "instagram", sender=IG_CUSTOMER, text="tem entrega?", event_id="I2", account=IG_ID)
    await _settled(fake, f"/{IG_ID}/messages", 2)

    # The owner answering in the Instagram app / Meta's inbox: another app id (or an unknown message id).
    await _post_json(web, settings, "instagram", _ig_echo("m_BY_HAND", "Entregamos sim!", app_id=PAGE_INBOX_APP_ID))
    await eventually(lambda: _paused(IG_CUSTOMER))
    await _post(web, settings, "instagram", sender=IG_CUSTOMER, text="que ótimo", event_id="I3", account=IG_ID)
    await eventually(lambda: Message.filter(message_text="que ótimo").exists())
    await asyncio.sleep(1.0)
    assert len(fake.calls_to(f"/{IG_ID}/messages")) == 2


async def test_a_pause_expires_and_resume_gives_the_conversation_back_to_the_bot(
    web, handoff_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await create_rule(owner, name="Oi", trigger="message", platform="whatsapp", action="send_message",
                      condition={}, action_data={"text": "Olá!", "cooldown_seconds": 0})
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi", event_id="E1")
    await _settled(fake, f"/{PHONE_ID}/messages", 1)
    conv = await Conversation.get(remote_user_id=CUSTOMER)

    # Paused 11 hours ago for 12: still paused.
    state = await handoff.pause(owner, conv.id, hours=12, now=datetime.now(UTC) - timedelta(hours=11))
    assert state.paused()
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="alô?", event_id="E2")
    await eventually(lambda: Message.filter(message_text="alô?").exists())
    await asyncio.sleep(1.0)
    assert len(fake.calls_to(f"/{PHONE_ID}/messages")) == 1

    # Paused 13 hours ago for 12: over, the bot answers again.
    await handoff.resume(owner, conv.id)
    await handoff.pause(owner, conv.id, hours=12, now=datetime.now(UTC) - timedelta(hours=13))
    assert not (await handoff.get_state(owner, conv.id)).paused()
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="alguém aí?", event_id="E3")
    await _settled(fake, f"/{PHONE_ID}/messages", 2)

    # Paused by hand, then resumed: answered.
    await handoff.pause(owner, conv.id, hours=5)
    await handoff.resume(owner, conv.id)
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi oi", event_id="E4")
    await _settled(fake, f"/{PHONE_ID}/messages", 3)


async def test_a_handoff_rule_pauses_alerts_the_owner_and_holds_the_reply(
    web, handoff_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await create_rule(owner, name="Reclamação", trigger="message", platform="any", action="handoff",
                      condition={"intent_in": ["complaint"], "sentiment_in": ["negative"]},
                      action_data={"message": "{name} reclamou: {text}", "hours": 6})
    await create_rule(owner, name="Resposta geral", trigger="message", platform="any", action="send_message",
                      condition={}, action_data={"text": "Obrigado pela mensagem!", "cooldown_seconds": 0})
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="meu pedido veio errado e frio, que absurdo",
                event_id="R1")

    async def alerted() -> bool:
        return any(codec.decode(f)["kind"] == "handoff" for _, f in await stores.redis.xrange(NOTIFY_STREAM))

    await eventually(alerted)
    entries = [codec.decode(f) for _, f in await stores.redis.xrange(NOTIFY_STREAM)]
    [alert] = [a for a in entries if a["kind"] == "handoff"]
    conv = await Conversation.get(remote_user_id=CUSTOMER)
    assert alert["payload"]["conversation_id"] == str(conv.id)
    assert alert["payload"]["message"] == "Ana Souza reclamou: meu pedido veio errado e frio, que absurdo"
    assert conv.automation_paused_reason == "rule"
    assert timedelta(hours=5.9) < conv.automation_paused_until - datetime.now(UTC) < timedelta(hours=6.1)
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi?", event_id="R2")
    await eventually(lambda: Message.filter(message_text="oi?").exists())
    await asyncio.sleep(1.0)
    assert fake.calls_to(f"/{PHONE_ID}/messages") == []  # neither the complaint nor the next message answered


async def test_the_away_reply_goes_once_per_closed_period_and_holidays_are_closed(
    web, handoff_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    # Open all week, all day — but today is a holiday.
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    await hours.set_hours(owner, spec="mon-sun 00:00-24:00", away_text="Olá {first_name}! Hoje estamos fechados.",
                          timezone="America/Sao_Paulo")
    await hours.change_holidays(owner, add=[today.isoformat()])
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="bom dia, estão abertos?", event_id="A1")
    [call] = await _settled(fake, f"/{PHONE_ID}/messages", 1)
    assert call.json["text"]["body"] == "Olá Ana! Hoje estamos fechados."
    away = await Message.get(sender="user")
    assert away.is_automated and away.outbound_id.startswith("away:")
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="alô?", event_id="A2")
    await eventually(lambda: Message.filter(message_text="alô?").exists())
    await asyncio.sleep(1.0)
    assert len(fake.calls_to(f"/{PHONE_ID}/messages")) == 1  # once per closed period

    # Not a holiday any more: open all day, no away reply for another customer.
    await hours.change_holidays(owner, remove=[today.isoformat()])
    await asyncio.sleep(5.5)  # the worker's short cache of the business's hours
    await _post(web, settings, "whatsapp", sender="5521912345678", text="bom dia", event_id="A3", name="Bruno")
    await eventually(lambda: Message.filter(message_text="bom dia").exists())
    await asyncio.sleep(1.0)
    assert len(fake.calls_to(f"/{PHONE_ID}/messages")) == 1
    assert (await OwnerSettings.get(user_id=owner.id)).holidays == []
