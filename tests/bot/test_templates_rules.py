"""Templates (edit, delete, refusals) and the rule wizard's step-by-step validation."""

from __future__ import annotations

from papo.bot.keyboards import TplAct, short
from papo.enums import Platform
from papo.models import AutomationRule, MessageTemplate
from papo.services import rules
from papo.services.templates import add_template
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts

ANA = Person(9001, "Ana")


async def test_instagram_template_skips_the_whatsapp_steps_and_can_be_edited(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/templates")
    await harness.press(ANA, "Novo modelo")
    await harness.say(ANA, "obrigado")
    await harness.press(ANA, "Instagram")
    calls = await harness.say(ANA, "Valeu, {first_name}! Volte sempre à {business_name}.")
    shown = texts(calls)
    assert "Modelo salvo" in shown and "Valeu, Maria! Volte sempre à Doceria da Ana." in shown
    tpl = await MessageTemplate.get(user_id=biz.user.id)
    assert tpl.meta_template_name is None and tpl.variables == ["first_name", "business_name"]
    await harness.press(ANA, "Editar texto")
    calls = await harness.say(ANA, "Obrigada, {name}!")
    assert "Modelo atualizado" in texts(calls)
    edited = await MessageTemplate.get(user_id=biz.user.id)
    assert edited.content == "Obrigada, {name}!" and edited.variables == ["name"] and edited.name == "obrigado"


async def test_template_in_use_by_an_active_rule_is_not_deleted(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    tpl = await add_template(biz.user, platform=Platform.WHATSAPP, name="boas_vindas", content="Oi {first_name}",
                             meta_template_name="boas_vindas", language="pt_BR", approved=True)
    await rules.create_rule(biz.user, name="Boas-vindas", trigger="message", platform="whatsapp",
                            action="send_template", action_data={"template_name": "boas_vindas"})
    await harness.press(ANA, data=TplAct(act="open", id=short(tpl.id)).pack())
    await harness.press(ANA, "Apagar")
    calls = await harness.press(ANA, "Sim, apagar")
    assert "Boas-vindas" in screen(calls).text and await MessageTemplate.filter(id=tpl.id).exists()
    # Changes are made in place (same id), so the rule keeps its template.
    await harness.press(ANA, data=TplAct(act="open", id=short(tpl.id)).pack())
    calls = await harness.press(ANA, "Marcar pendente")
    kept = await MessageTemplate.get(user_id=biz.user.id)
    assert "aguardando aprovação" in screen(calls).text and kept.is_approved is False and kept.id == tpl.id
    # A text the rule cannot fill is refused with the reason; the question stays open for a corrected text.
    await harness.press(ANA, "Editar texto")
    calls = await harness.say(ANA, "Oi {first_name}, use {cupom}")
    assert "rule 'Boas-vindas' gives no value for {cupom}" in screen(calls).text
    assert "Envie o texto corrigido" in screen(calls).text
    assert (await MessageTemplate.get(id=tpl.id)).content == "Oi {first_name}"
    calls = await harness.say(ANA, "Olá {first_name}, bem-vinda à {business_name}!")
    assert "Modelo atualizado" in texts(calls) and "Olá Maria, bem-vinda à Doceria da Ana!" in texts(calls)
    edited = await MessageTemplate.get(id=tpl.id)
    assert edited.variables == ["first_name", "business_name"] and edited.meta_template_name == "boas_vindas"
    assert (await rules.get_rule(biz.user, "Boas-vindas")).is_active


async def test_wizard_warns_when_a_trigger_never_fires_and_hides_text_conditions(harness: BotHarness) -> None:
    await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/rules")
    await harness.press(ANA, "Nova regra")
    calls = await harness.press(ANA, "Novo seguidor")
    assert "⚠️ Instagram" in " ".join(b["text"] for b in screen(calls).buttons())
    calls = await harness.press(ANA, "Instagram")
    assert "não vai disparar" in screen(calls).text and "Kwai" in screen(calls).text
    calls = await harness.press(ANA, "Continuar mesmo assim")
    labels = " ".join(b["text"] for b in screen(calls).buttons())
    assert "Palavras-chave" not in labels and "Intenção" not in labels  # a follow has no text
    await harness.press(ANA, "Próximo: ação")
    await harness.press(ANA, "Me avisar")
    calls = await harness.say(ANA, "Novo seguidor: {nome}")
    assert "Não dá assim" in screen(calls).text and "nome" in screen(calls).text  # unknown variable, asked again
    await harness.say(ANA, "Novo seguidor: {name}")
    calls = await harness.say(ANA, "Seguidores")
    assert "will not fire" in screen(calls).text or "não vai" in screen(calls).text
    await harness.press(ANA, "Descartar")
    assert not await AutomationRule.exists()


async def test_wizard_conditions_are_validated_as_they_are_chosen(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/rules")
    await harness.press(ANA, "Nova regra")
    await harness.press(ANA, "Mensagem")
    await harness.press(ANA, "Qualquer")
    await harness.press(ANA, "Intenção")
    await harness.press(ANA, "Reclamação")
    await harness.press(ANA, "Pronto")
    await harness.press(ANA, "Fora do horário")
    calls = await harness.say(ANA, "09:00-25:00")
    assert "Não dá assim" in screen(calls).text and "business_hours" in screen(calls).text
    calls = await harness.say(ANA, "09:00-18:00")  # asked again after the refusal
    assert "business_hours" in screen(calls).text and "intent_in" in screen(calls).text
    await harness.press(ANA, "Próximo: ação")
    await harness.press(ANA, "Etiquetar lead")
    await harness.say(ANA, "reclamou, urgente")
    calls = await harness.say(ANA, "Reclamações fora do horário")
    assert "Teste com as últimas mensagens" in screen(calls).text
    await harness.press(ANA, "Salvar desligada")
    rule = await AutomationRule.get(user_id=biz.user.id)
    assert rule.is_active is False and rule.action_data["tags"] == ["reclamou", "urgente"]
    assert rule.condition["intent_in"] == ["complaint"] and rule.condition["business_hours"]["inside"] is False


async def test_rule_card_dry_run_and_delete(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    rule = await rules.create_rule(biz.user, name="Preço", trigger="message", platform="whatsapp",
                                   action="send_message", condition={"keywords_any": ["quanto custa"]},
                                   action_data={"text": "Olá {first_name}! Tabela: doceria.com/precos"})
    await harness.say(ANA, "/rules")
    calls = await harness.press(ANA, "🟢 Preço")
    assert "Quando: 💬 Mensagem · WhatsApp" in screen(calls).text
    calls = await harness.press(ANA, "Testar")
    assert "Teria agido em <b>1</b> das últimas 1" in screen(calls).text
    assert "Olá Bruna! Tabela: doceria.com/precos" in screen(calls).text  # rendered for the real customer
    await harness.press(ANA, "Apagar")
    calls = await harness.press(ANA, "Sim, apagar")
    assert not await AutomationRule.filter(id=rule.id).exists() and "Nenhuma regra" in screen(calls).text


async def test_a_duplicate_template_name_is_refused_with_the_reason(harness: BotHarness) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await add_template(biz.user, platform=Platform.FACEBOOK, name="Oi", content="Oi!")
    await harness.say(ANA, "/templates")
    await harness.press(ANA, "Novo modelo")
    await harness.say(ANA, "oi")
    await harness.press(ANA, "Facebook")
    calls = await harness.say(ANA, "Olá de novo")
    assert "already exists" in texts(calls) and await MessageTemplate.filter(user_id=biz.user.id).count() == 1
