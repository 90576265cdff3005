"""A customer's conversation moves their lead through cold → warm → hot, through server and worker."""

from __future__ import annotations

import pytest

from papo.adapters.simulate import build_webhook
from papo.ai.base import Classification
from papo.enums import Intent, Sentiment
from papo.models import Conversation, Lead
from papo.services.crm import next_score
from tests.conftest import eventually

ACCOUNT = "106540352242922"
CUSTOMER = "5511987654321"


def _c(intent: Intent, score: float) -> Classification:
    return Classification(intent=intent, sentiment=Sentiment.NEUTRAL, lead_score=score, language="pt",
                          confidence=0.9)


def test_scoring_rules() -> None:
    hot = 0.85
    assert next_score(hot, _c(Intent.INFO, 0.05)) >= 0.7  # one "obrigado" keeps a hot lead hot
    assert next_score(hot, _c(Intent.COMPLAINT, 0.0)) < hot  # a complaint lowers it
    assert next_score(0.1, _c(Intent.QUESTION, 0.6)) == pytest.approx(0.6)  # a price question warms it
    assert next_score(0.6, _c(Intent.PURCHASE, 0.95)) == pytest.approx(0.95)
    assert next_score(0.8, _c(Intent.QUESTION, 0.5)) > 0.7  # a weaker question does not cool a hot lead
    assert next_score(0.8, _c(Intent.INFO, 0.1), idle_days=60) < 0.4  # two months of silence cool it
    assert next_score(None, _c(Intent.COMPLAINT, 0.3)) == 0.0


async def _say(web, settings, text: str, n: int) -> None:
    body, headers = build_webhook("whatsapp", account=ACCOUNT, sender=CUSTOMER, text=text, name="Ana Souza",
                                  secret=settings.meta_app_secret.get_secret_value(), event_id=f"CRM{n}")
    resp = await web.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 200 and await resp.json() == {"queued": True}


async def _lead_after(web, settings, stores, text: str, n: int) -> Lead:
    await _say(web, settings, text, n)

    async def classified() -> bool:
        # The interaction is logged before the lead's transaction commits (understand.py): wait for both.
        lead = await Lead.first()
        scored = sum(((lead.metadata or {}).get("intents") or {}).values()) if lead else 0
        return await stores.analytics.ai_interactions.count_documents({}) == n and scored == n

    await eventually(classified)
    return await Lead.get()


async def test_lead_goes_cold_warm_hot_and_keeps_contact_data(web, worker, settings, stores, connect, owner):
    await connect("whatsapp", ACCOUNT)
    lead = await _lead_after(web, settings, stores, "Oi, boa tarde!", 1)
    assert (str(lead.quality), str(lead.status), lead.remote_user_name) == ("cold", "new", "Ana Souza")
    assert lead.user_id == owner.id and str(lead.platform) == "whatsapp"

    lead = await _lead_after(web, settings, stores, "Quanto custa o bolo de chocolate de 2kg?", 2)
    assert str(lead.quality) == "warm"

    lead = await _lead_after(web, settings, stores,
                             "Quero encomendar um pra sábado! meu email é ana.souza@gmail.com", 3)
    assert str(lead.quality) == "hot"
    assert lead.email == "ana.souza@gmail.com"
    assert lead.phone == CUSTOMER  # a WhatsApp customer's number
    conv = await Conversation.get(remote_user_id=CUSTOMER)
    assert str(conv.lead_quality) == "hot"

    lead = await _lead_after(web, settings, stores, "obrigada!!", 4)
    assert str(lead.quality) == "hot" and lead.email == "ana.souza@gmail.com"  # not cooled, not erased

    lead = await _lead_after(web, settings, stores, "o bolo chegou todo amassado, que decepção", 5)
    assert lead.metadata["score"] < 0.7 and str(lead.quality) != "hot"
    assert lead.metadata["intents"]["complaint"] == 1

    docs = await stores.analytics.ai_interactions.find({}).sort("created_at", 1).to_list(10)
    assert [d["intent"] for d in docs][:3] == ["info", "question", "purchase"]
    assert docs[0]["user_id"] == owner.id and docs[0]["conversation_id"] == conv.id
    assert docs[2]["user_message"].startswith("Quero encomendar")
    rises = await stores.analytics.analytics.find({"event_type": "lead_qualified"}).to_list(10)
    assert [r["data"]["lead_quality"] for r in rises] == ["warm", "hot"]


async def test_hot_lead_and_negative_complaint_alert_the_owner(web, worker, settings, stores, connect, owner):
    from papo.services.notify import NOTIFY_STREAM
    from papo.streams import codec

    await connect("whatsapp", ACCOUNT)
    await _lead_after(web, settings, stores, "Quanto custa o bolo de chocolate de 2kg?", 1)
    await _lead_after(web, settings, stores, "Quero encomendar um pra sábado!", 2)
    await _lead_after(web, settings, stores, "Quero encomendar outro pra domingo!", 3)  # already hot: no 2nd alert
    await _lead_after(web, settings, stores, "o bolo chegou todo amassado, que decepção, quero meu dinheiro", 4)
    alerts = [codec.decode(fields) for _, fields in await stores.redis.xrange(NOTIFY_STREAM)]
    kinds = [a["kind"] for a in alerts]
    assert kinds == ["hot_lead", "complaint"]
    assert alerts[0]["user_id"] == str(owner.id) and alerts[0]["payload"]["customer"] == "Ana Souza"
    assert alerts[1]["payload"]["text"].startswith("o bolo chegou")
