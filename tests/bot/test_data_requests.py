"""Data requests (LGPD) from the bot: export and erase a customer from the lead card and the conversation
(erase asks first), and "Export leads" sending a CSV/XLSX document through the fake Bot API's sendDocument."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from papo.bot.keyboards import ConvAct, DataAct, LeadAct, short
from papo.enums import Platform
from papo.models import Conversation, Lead, Message
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts

ANA = Person(7101, "Ana")
BETO = Person(7102, "Beto")
PHONE = "5511987654321"


async def _two() -> tuple[object, object]:
    """Ana's and Beto's businesses, both with the customer 5511987654321 on WhatsApp."""
    ana = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    beto = await make_business("beto@oficina.com.br", "Oficina do Beto", BETO, customer="Bruna do Beto",
                               waba="200000000000001", text="Meu carro faz barulho")
    return ana, beto


async def test_export_from_the_lead_card_sends_the_json_document(harness: BotHarness) -> None:
    ana, _ = await _two()
    await harness.press(ANA, data=LeadAct(act="open", id=short(ana.lead.id)).pack())
    calls = await harness.press(ANA, "Exportar dados")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    assert sent.chat_id == ANA.chat_id and sent.filename("document") == f"papo-customer-whatsapp-{PHONE}.json"
    doc = json.loads(sent.file("document").decode("utf-8"))
    assert doc["lead"]["remote_user_name"] == "Bruna Teixeira" and doc["lead"]["tags"] == ["bolo"]
    [conv] = doc["conversations"]
    assert conv["messages"][0]["message_text"].startswith("Oi! Quero encomendar um bolo")
    assert "Meu carro" not in sent.file("document").decode("utf-8")  # Beto's customer is another customer
    assert "Bruna Teixeira" in sent.text and "1 mensagem" in sent.text


async def test_erase_from_the_lead_card_asks_first_and_spares_the_other_business(harness: BotHarness) -> None:
    ana, beto = await _two()
    await harness.press(ANA, data=LeadAct(act="open", id=short(ana.lead.id)).pack())
    calls = await harness.press(ANA, "Apagar dados")
    assert "Não dá para desfazer" in screen(calls).text
    assert (await Lead.get(id=ana.lead.id)).remote_user_id == PHONE  # nothing erased before the answer
    calls = await harness.press(ANA, "Sim, apagar tudo")
    assert "foram apagados" in screen(calls).text
    lead = await Lead.get(id=ana.lead.id)
    assert lead.remote_user_id.startswith("erased:") and lead.remote_user_name is None and lead.phone is None
    conv = await Conversation.get(id=ana.conversation.id)
    assert conv.remote_user_id.startswith("erased:")
    assert await Message.filter(conversation_id=conv.id, message_text__isnull=False).count() == 0
    # the erased customer is gone from the lists; Beto's customer with the same number is untouched
    calls = await harness.say(ANA, "/leads")
    assert "Leads: 0" in screen(calls).text
    assert (await Lead.get(id=beto.lead.id)).remote_user_id == PHONE
    assert await Message.filter(conversation_id=beto.conversation.id, message_text="Meu carro faz barulho").exists()


async def test_a_forged_button_cannot_export_or_erase_another_business_customer(harness: BotHarness) -> None:
    ana, _ = await _two()
    for act in ("export", "erase", "yes"):
        calls = await harness.press(BETO, data=DataAct(act=act, of="l", id=short(ana.lead.id)).pack())
        assert not [c for c in calls if c.method == "sendDocument"] and "Bruna Teixeira" not in texts(calls)
    calls = await harness.press(BETO, data=DataAct(act="yes", of="c", id=short(ana.conversation.id)).pack())
    assert "Não encontrei" in texts(calls)
    assert (await Lead.get(id=ana.lead.id)).remote_user_id == PHONE
    assert (await Conversation.get(id=ana.conversation.id)).remote_user_id == PHONE


async def test_erase_from_the_conversation(harness: BotHarness) -> None:
    ana, _ = await _two()
    await harness.press(ANA, data=ConvAct(act="open", id=short(ana.conversation.id)).pack())
    await harness.press(ANA, "Apagar dados")
    calls = await harness.press(ANA, "Sim, apagar tudo")
    assert "foram apagados" in screen(calls).text
    assert harness.find(ANA, "Voltar")["callback_data"] == "nav:convs"
    assert (await Conversation.get(id=ana.conversation.id)).remote_user_name is None
    calls = await harness.say(ANA, "/conversations")
    assert "Bruna" not in " ".join(b["text"] for b in screen(calls).buttons())


async def test_export_leads_sends_xlsx_and_a_filtered_csv(harness: BotHarness) -> None:
    ana, _ = await _two()
    await Lead.create(user=ana.user, remote_user_id="ig-1", remote_user_name="Iara Gonçalves",
                      platform=Platform.INSTAGRAM, quality="warm", status="new",
                      last_interaction=datetime.now(UTC) - timedelta(days=1))
    await harness.say(ANA, "/leads")
    await harness.press(ANA, "Exportar leads")
    calls = await harness.press(ANA, "Excel (XLSX)")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    assert sent.filename("document").endswith(".xlsx") and "2 lead(s)" in sent.text
    values = list(load_workbook(io.BytesIO(sent.file("document"))).active.iter_rows(values_only=True))
    assert [v[1] for v in values[1:]] == ["Bruna Teixeira", "Iara Gonçalves"]
    await harness.say(ANA, "/leads")
    await harness.press(ANA, "Morno (1)")
    await harness.press(ANA, "Exportar leads")
    calls = await harness.press(ANA, "CSV")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    rows = list(csv.reader(io.StringIO(sent.file("document").decode("utf-8-sig"))))
    assert sent.filename("document").endswith(".csv") and [r[1] for r in rows[1:]] == ["Iara Gonçalves"]
    assert "1 lead(s)" in sent.text and "Morno" in sent.text
    # Beto's export never holds Ana's leads
    await harness.say(BETO, "/leads")
    await harness.press(BETO, "Exportar leads")
    calls = await harness.press(BETO, "CSV")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    assert "Bruna do Beto" in sent.file("document").decode("utf-8-sig")
    assert "Iara" not in sent.file("document").decode("utf-8-sig")
