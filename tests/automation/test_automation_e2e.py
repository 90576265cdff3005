"""Rules answer customers end to end: signed webhook in → worker → fake platform API out."""

from __future__ import annotations

import asyncio
import time

from papo.adapters.simulate import build_webhook
from papo.models import Conversation, Lead, Message
from papo.services.notify import NOTIFY_STREAM
from papo.services.rules import create_rule
from papo.services.templates import add_template
from papo.streams import codec
from tests.conftest import eventually
from tests.inbound.conftest import outcomes, sign
from tests.inbound.test_webhooks_e2e import WEBHOOKS

PHONE_ID = "106540352242922"
IG_ID = "17841405822304914"
CUSTOMER = "5511987654321"


async def _post(web, settings, platform: str, *, sender: str, text: str, event_id: str, kind: str = "message",
                now: float | None = None, account: str = PHONE_ID, name: str = "Ana Souza") -> dict:
    secret = settings.meta_app_secret.get_secret_value()
    body, headers = build_webhook(platform, account=account, sender=sender, text=text, kind=kind, secret=secret,
                                  name=name, event_id=event_id, now=now)
    resp = await web.post(f"/webhooks/{platform}", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _settled(fake, path_suffix: str, count: int, within: float = 15.0) -> list:
    async def check() -> bool:
        return len(fake.calls_to(path_suffix)) >= count

    await eventually(check, within=within)
    await asyncio.sleep(0.5)  # nothing more goes out afterwards
    return fake.calls_to(path_suffix)


async def test_whatsapp_keyword_rule_answers_in_the_window_and_with_the_template_outside(
    web, automation_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await add_template(owner, platform="whatsapp", name="preco",
                       content="Olá {first_name}! Nossos preços: papo.link/precos",
                       meta_template_name="precos_padaria", language="es_MX", approved=True)
    await create_rule(owner, name="Preço", trigger="message", platform="whatsapp", action="send_message",
                      condition={"keywords_any": ["preço", "quanto custa"]},
                      action_data={"text": "Oi {first_name}! O bolo de cenoura custa R$ 45.",
                                   "fallback": {"template_name": "preco"}, "cooldown_seconds": 0})

    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="Qual o PRECO do bolo de cenoura?", event_id="W1")
    calls = await _settled(fake, f"/{PHONE_ID}/messages", 1)
    sent = calls[0].json
    assert sent["messaging_product"] == "whatsapp" and sent["type"] == "text"
    assert sent["text"]["body"] == "Oi Ana! O bolo de cenoura custa R$ 45."
    assert calls[0].headers["Authorization"] == "Bearer tok-test"
    row = await Message.get(sender="user")
    assert row.is_automated and row.automation_rule_id is not None and row.platform_message_id.startswith("wamid.")

    # Another customer whose last message (platform time) is 2 days old: outside the window.
    fake.calls.clear()
    await _post(web, settings, "whatsapp", sender="5521912345678", text="quanto custa a torta?", event_id="W2",
                now=time.time() - 2 * 86400, name="Bruno Lima")
    calls = await _settled(fake, f"/{PHONE_ID}/messages", 1)
    sent = calls[0].json
    assert sent["type"] == "template"
    # The language it was approved in (not the pt_BR default): Meta refuses a template in another one.
    assert sent["template"]["name"] == "precos_padaria" and sent["template"]["language"]["code"] == "es_MX"
    assert sent["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Bruno"}]


async def test_instagram_comment_quero_gets_one_private_reply_and_the_lead_is_tagged(
    web, automation_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("instagram", IG_ID)
    await create_rule(owner, name="Quero → DM", trigger="comment", platform="instagram", action="send_message",
                      condition={"keywords_any": ["quero"]},
                      action_data={"text": "Oi! Te mandei os detalhes no direct 😉"})
    await create_rule(owner, name="Tag interessados", trigger="comment", platform="any", action="tag_lead",
                      condition={"keywords_any": ["quero"]}, action_data={"tags": ["interessado"]})
    answer = await _post(web, settings, "instagram", sender="1254459154682919", text="QUERO!! 😍", kind="comment",
                         event_id="C1", account=IG_ID, name="maria.clara")
    assert answer == {"queued": True}
    calls = await _settled(fake, f"/{IG_ID}/messages", 1)
    assert len(calls) == 1
    body = calls[0].json
    assert "comment_id" in body["recipient"] and body["message"]["text"].startswith("Oi! Te mandei")
    lead = await Lead.get(remote_user_id="1254459154682919")
    assert "interessado" in lead.tags
    conv = await Conversation.get(remote_user_id="1254459154682919")
    assert "interessado" in conv.tags

    # The same comment delivered again, then replayed past the dedupe marker: still one private reply.
    await _post(web, settings, "instagram", sender="1254459154682919", text="QUERO!! 😍", kind="comment",
                event_id="C1", account=IG_ID, name="maria.clara")

    async def dropped_as_duplicate() -> bool:
        return (await outcomes(stores, "instagram"))["duplicate"] == 1

    await eventually(dropped_as_duplicate)
    await stores.redis.delete(*[k async for k in stores.redis.scan_iter("papo:{in:*}:seen:*")])
    await _post(web, settings, "instagram", sender="1254459154682919", text="QUERO!! 😍", kind="comment",
                event_id="C1", account=IG_ID, name="maria.clara")
    await asyncio.sleep(1.5)
    assert len(fake.calls_to(f"/{IG_ID}/messages")) == 1


async def test_complaint_rule_notifies_the_owner(web, automation_worker, settings, stores, connect, owner) -> None:
    await connect("whatsapp", PHONE_ID)
    await create_rule(owner, name="Reclamação", trigger="message", platform="any", action="notify_owner",
                      condition={"intent_in": ["complaint"]}, action_data={"message": "Cliente insatisfeito!"})
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="meu pedido veio errado e frio, que absurdo",
                event_id="N1")

    async def notified() -> bool:
        entries = await stores.redis.xrange(NOTIFY_STREAM)
        return any(codec.decode(f)["kind"] == "rule" for _, f in entries)

    await eventually(notified)
    alerts = [codec.decode(fields) for _, fields in await stores.redis.xrange(NOTIFY_STREAM)]
    rule_alerts = [a for a in alerts if a["kind"] == "rule"]
    assert len(rule_alerts) == 1
    assert rule_alerts[0]["user_id"] == str(owner.id)
    assert rule_alerts[0]["payload"]["message"] == "Cliente insatisfeito!"


async def test_cooldown_suppresses_a_second_reply_and_echoes_are_never_answered(
    web, automation_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await connect("instagram", IG_ID)
    await create_rule(owner, name="Oi", trigger="message", platform="any", action="send_message",
                      condition={"keywords_any": ["oi", "olá"]},
                      action_data={"text": "Olá! Como posso ajudar?", "cooldown_seconds": 3600})
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi", event_id="K1")
    await _settled(fake, f"/{PHONE_ID}/messages", 1)
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi de novo", event_id="K2")
    await asyncio.sleep(1.5)
    assert len(fake.calls_to(f"/{PHONE_ID}/messages")) == 1  # the cooldown held the second one

    # The business's own message (an echo) mentioning a keyword: stored, never answered.
    await create_rule(owner, name="Brigadeiro", trigger="message", platform="instagram", action="send_message",
                      condition={"keywords_any": ["brigadeiro"]}, action_data={"text": "Temos brigadeiro!"})
    echo = (WEBHOOKS / "instagram" / "echo.json").read_bytes()
    resp = await web.post("/webhooks/instagram", data=echo, headers=sign(settings, "instagram", echo))
    assert await resp.json() == {"queued": True}
    await eventually(lambda: Message.filter(kind="echo").exists())
    await asyncio.sleep(1.5)
    assert fake.calls_to(f"/{IG_ID}/messages") == []


async def _reply_latency_count(web) -> float:
    text = await (await web.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith('papo_reply_seconds_count{platform="whatsapp"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_show_the_reply_latency_the_worker_recorded(
    web, automation_worker, settings, stores, connect, owner, fake
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await create_rule(owner, name="Oi", trigger="message", platform="whatsapp", action="send_message",
                      condition={"keywords_any": ["oi"]}, action_data={"text": "Olá! Já te atendo.",
                                                                       "cooldown_seconds": 0})
    before = await _reply_latency_count(web)
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="oi, tudo bem?", event_id="L1")
    await _settled(fake, f"/{PHONE_ID}/messages", 1)

    # The worker recorded it in Redis; serve's /metrics shows it: one reply, from webhook in to platform OK.
    await eventually(lambda: _increased(web, before))
    text = await (await web.get("/metrics")).text()
    assert "# TYPE papo_reply_seconds histogram" in text
    assert 'papo_reply_seconds_bucket{platform="whatsapp",le="+Inf"} ' in text
    total = next(line for line in text.splitlines() if line.startswith('papo_reply_seconds_sum{platform="whatsapp"}'))
    assert 0 < float(total.rsplit(" ", 1)[1]) < 60  # seconds since this test's webhook, not since 1970


async def _increased(web, before: float) -> bool:
    return await _reply_latency_count(web) == before + 1
