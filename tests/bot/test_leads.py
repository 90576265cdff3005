"""The leads menu: filters, the card, status/quality/tags, follow-ups, search — and one business per owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from papo.bot.keyboards import LeadAct, LeadList, short, tag_key
from papo.enums import Platform
from papo.models import Lead
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts

ANA = Person(7001, "Ana")
BETO = Person(7002, "Beto")


async def test_filters_by_status_platform_and_tag_newest_first(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    now = datetime.now(UTC)
    await Lead.create(user=biz.user, remote_user_id="ig-1", remote_user_name="Iara Insta", platform=Platform.INSTAGRAM,
                      quality="warm", status="contacted", last_interaction=now - timedelta(minutes=5), tags=["vip"])
    await Lead.create(user=biz.user, remote_user_id="ig-2", remote_user_name="Ivo Antigo", platform=Platform.INSTAGRAM,
                      quality="warm", status="new", last_interaction=now - timedelta(days=3), tags=["vip"])
    await harness.say(ANA, "/leads")
    calls = await harness.press(ANA, "Contatado (1)")
    names = [b["text"] for b in screen(calls).buttons()]
    assert any("Iara" in n for n in names) and not any("Bruna" in n or "Ivo" in n for n in names)
    calls = await harness.press(ANA, data=LeadList(p="instagram").pack())
    labels = [b["text"] for b in screen(calls).buttons() if "Insta" in b["text"] or "Antigo" in b["text"]]
    assert labels[0].startswith("🌤 Iara") and "Ivo" in labels[1]  # newest interaction first
    calls = await harness.press(ANA, data=LeadList(t=tag_key("vip")).pack())
    assert "🏷 vip" in screen(calls).text and "2 lead(s)" in screen(calls).text


async def test_status_quality_tags_and_contacted_from_the_card(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    calls = await harness.press(ANA, data=LeadAct(act="open", id=short(biz.lead.id)).pack())
    assert "Bruna Teixeira" in screen(calls).text and "bolo" in screen(calls).text
    await harness.press(ANA, "Status")
    calls = await harness.press(ANA, "Qualificado")
    assert "Qualificado" in screen(calls).text
    await harness.press(ANA, "Qualidade")
    await harness.press(ANA, "Morno")
    lead = await Lead.get(id=biz.lead.id)
    assert str(lead.status) == "qualified" and str(lead.quality) == "warm" and lead.metadata["score"] == 0.55
    await harness.press(ANA, "Etiquetas")
    await harness.press(ANA, "Adicionar etiqueta")
    calls = await harness.say(ANA, "festa, Bolo")  # "Bolo" is already there as "bolo": not twice
    assert (await Lead.get(id=biz.lead.id)).tags == ["bolo", "festa"]
    assert "bolo, festa" in screen(calls).text
    await harness.press(ANA, "Etiquetas")
    await harness.press(ANA, "✖ bolo")
    assert (await Lead.get(id=biz.lead.id)).tags == ["festa"]


async def test_follow_up_in_the_owner_time_zone(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.press(ANA, data=LeadAct(act="open", id=short(biz.lead.id)).pack())
    await harness.press(ANA, "Follow-up")
    calls = await harness.say(ANA, "semana que vem")
    assert "Não entendi a data" in screen(calls).text
    calls = await harness.say(ANA, "amanhã 10h")
    assert "Follow-up marcado" in texts(calls)
    due = (await Lead.get(id=biz.lead.id)).next_followup
    local = due.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert (local.hour, local.minute) == (10, 0)
    assert local.date() == (datetime.now(ZoneInfo("America/Sao_Paulo")) + timedelta(days=1)).date()
    await harness.press(ANA, data=LeadAct(act="fu", id=short(biz.lead.id)).pack())
    await harness.press(ANA, "Tirar o follow-up")
    assert (await Lead.get(id=biz.lead.id)).next_followup is None


async def test_search_by_name_phone_and_email(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await Lead.create(user=biz.user, remote_user_id="x1", remote_user_name="Zélia", platform=Platform.INSTAGRAM,
                      email="zelia@example.com")
    calls = await harness.say(ANA, "/search bruna")
    assert "1 lead(s)" in screen(calls).text and "Bruna" in screen(calls).buttons()[0]["text"]
    calls = await harness.say(ANA, "/search (11) 98765-4321")
    assert "Bruna" in screen(calls).buttons()[0]["text"]
    await harness.say(ANA, "/search")
    calls = await harness.say(ANA, "zelia@EXAMPLE")
    assert "Zélia" in screen(calls).buttons()[0]["text"]
    calls = await harness.say(ANA, "/search ninguém")
    assert "Nenhum lead" in screen(calls).text


async def test_two_businesses_never_see_each_others_leads(harness: BotHarness) -> None:
    ana = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA, customer="Bruna Teixeira")
    beto = await make_business("beto@oficina.com.br", "Oficina do Beto", BETO, customer="Carlos Motor",
                               phone="5521999990000", waba="200000000000001")
    calls = await harness.say(BETO, "/leads")
    assert "Leads: 1" in screen(calls).text
    calls = await harness.press(BETO, "Quente (1)")
    labels = " ".join(b["text"] for b in screen(calls).buttons())
    assert "Carlos" in labels and "Bruna" not in labels
    # a forged button with Ana's lead id shows nothing of hers
    calls = await harness.press(BETO, data=LeadAct(act="open", id=short(ana.lead.id)).pack())
    assert "Bruna" not in texts(calls) and "Não encontrei" in texts(calls)
    calls = await harness.press(BETO, data=LeadAct(act="setst", id=short(ana.lead.id), v="lost").pack())
    assert str((await Lead.get(id=ana.lead.id)).status) == "new"
    calls = await harness.say(BETO, "/search Bruna")
    assert "Nenhum lead" in screen(calls).text
    calls = await harness.say(ANA, "/search Carlos")
    assert "Nenhum lead" in screen(calls).text
    assert beto.lead.id != ana.lead.id
