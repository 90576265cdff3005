"""Rules and templates through the services, and dry runs over really stored conversations (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from papo.adapters.events import EventKind, InboundEvent
from papo.crypto import TokenCipher
from papo.engine import EvalContext, evaluate
from papo.enums import Platform
from papo.models import AutomationRule, Lead
from papo.services import NotFound, ServiceError
from papo.services.account_index import AccountOwner
from papo.services.accounts import connect_account
from papo.services.event_store import persist_batch
from papo.services.rules import (
    create_rule,
    delete_rule,
    disable_rule,
    dry_run,
    enable_rule,
    get_rule,
    list_rules,
    load_index,
    rules_version,
)
from papo.services.templates import add_template, delete_template, get_template, list_templates, update_template
from papo.services.users import create_user

CIPHER = TokenCipher("test-secret-key-0123456789abcdef")
T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # Wednesday 11:00 in São Paulo


async def owner(email: str = "ana@doceria.com.br"):
    return await create_user(email=email, name="Ana", plan="pro")


async def test_create_list_enable_disable_delete(stores) -> None:
    user = await owner()
    price = await create_rule(user, name="Preço", trigger="message", platform="whatsapp", action="send_message",
                              condition='{"keywords_any": ["preço", "valor"]}',
                              action_data='{"text": "Olá {first_name}! O bolo custa R$ 50.", "priority": 10}')
    tag = await create_rule(user.id, name="Quente", trigger="message", platform="any", action="tag_lead",
                            condition={"quality_in": ["hot"]}, action_data={"tags": ["quente"]})
    assert price.priority == 10 and price.condition == {"keywords_any": ["preço", "valor"]}
    assert price.is_active and price.warnings == () and price.error is None
    assert [r.name for r in await list_rules(user)] == ["Preço", "Quente"]
    assert [r.name for r in await list_rules(user, trigger="message", platform="any")] == ["Quente"]

    off = await disable_rule(user, str(price.id))
    assert not off.is_active and [r.name for r in await list_rules(user, active=True)] == ["Quente"]
    assert (await enable_rule(user, "preço")).is_active  # by name, case- and accent-insensitively
    assert (await get_rule(user, price.id)).name == "Preço"
    deleted = await delete_rule(user, tag.id)
    assert deleted.name == "Quente" and len(await list_rules(user)) == 1
    with pytest.raises(NotFound):
        await get_rule(user, tag.id)
    other = await owner("outro@loja.com")
    with pytest.raises(NotFound):  # never another business's rule
        await get_rule(other, price.id)


async def test_create_rule_errors_are_readable(stores) -> None:
    user = await owner()
    with pytest.raises(ServiceError) as info:
        await create_rule(user, name="x", trigger="mesage", platform="whatsapp", action="send_message",
                          condition={"min_score": 3}, action_data={"text": "Oi {nome}"})
    assert str(info.value) == (
        "trigger: 'mesage' is not one of: follow, like, comment, message, story_view, story_reply, story_mention, "
        "postback, referral; condition.min_score: must be between 0 and 1; action_data.text: unknown variable "
        "{nome} (allowed: name, first_name, business_name, platform; write {{ and }} for literal braces)"
    )
    with pytest.raises(ServiceError, match=r"condition: not valid JSON: Expecting property name"):
        await create_rule(user, name="x", trigger="message", platform="any", action="tag_lead",
                          condition="{keywords_any: 1}", action_data={"tags": ["a"]})
    await create_rule(user, name="Dup", trigger="message", platform="any", action="tag_lead", action_data={"tags": "a"})
    with pytest.raises(ServiceError, match="a rule named 'Dup' already exists"):
        await create_rule(user, name="dup", trigger="message", platform="any", action="tag_lead",
                          action_data={"tags": "a"})


async def test_warnings_for_triggers_a_platform_never_sends(stores) -> None:
    user = await owner()
    info = await create_rule(user, name="Seguiu", trigger="follow", platform="instagram", action="send_message",
                             action_data={"text": "Obrigada por seguir!"})
    assert info.warnings == ("instagram never reports follow events (only: kwai); this rule will not fire",)


async def test_templates_add_list_get_delete(stores) -> None:
    user = await owner()
    wa = await add_template(user, platform="WhatsApp", name="boas_vindas",
                            content="Olá {first_name}, use o cupom {cupom} até {data}!",
                            meta_template_name="boas_vindas_v2", language="pt_BR", approved=True)
    assert wa.variables == ("first_name", "cupom", "data") and wa.language == "pt_BR" and wa.is_approved
    ig = await add_template(user, platform="instagram", name="Boas vindas", content="Oi {name}! {{não é variável}}")
    assert ig.variables == ("name",)
    assert [t.name for t in await list_templates(user)] == ["Boas vindas", "boas_vindas"]  # by platform
    assert [t.name for t in await list_templates(user, platform="whatsapp")] == ["boas_vindas"]
    assert (await get_template(user, str(wa.id))).meta_template_name == "boas_vindas_v2"
    assert (await get_template(user, "BOAS VINDAS")).id == ig.id  # names compare case/accent-insensitively
    await add_template(user, platform="instagram", name="Boas_Vindas", content="Oi!")
    with pytest.raises(ServiceError, match="2 templates are named 'boas_vindas'; use the id"):
        await get_template(user, "boas_vindas")

    with pytest.raises(ServiceError, match="a whatsapp template named 'boas_vindas' already exists"):
        await add_template(user, platform="whatsapp", name="Boas_Vindas", content="x")
    with pytest.raises(ServiceError) as info:
        await add_template(user, platform="instagram", name="t", content="Oi {{1}}", meta_template_name="Bad Name",
                           language="portuguese")
    assert str(info.value) == (
        "content: write variables as {name}; Meta's {{1}}, {{2}}… are filled from them in order; "
        "meta_template_name: only WhatsApp templates are approved by Meta; "
        "meta_template_name: lower-case letters, digits and _ only (as in WhatsApp Manager); "
        "language: 'portuguese' is not a WhatsApp language code like pt_BR, en_US, es_MX or es"
    )
    with pytest.raises(ServiceError, match="language: required with meta_template_name"):
        await add_template(user, platform="whatsapp", name="t2", content="x", meta_template_name="t2")
    with pytest.raises(ServiceError, match="language: 'pt-BR' is not a WhatsApp language code; did you mean pt_BR"):
        await add_template(user, platform="whatsapp", name="t3", content="x", meta_template_name="t3",
                           language="pt-BR")
    stored = await add_template(user, platform="whatsapp", name="t4", content="Hola", meta_template_name="t4",
                                language="es_MX")
    assert (await get_template(user, str(stored.id))).language == "es_MX"  # read back from the table

    await create_rule(user, name="Cupom", trigger="message", platform="whatsapp", action="send_template",
                      action_data={"template_id": str(wa.id), "variables": {"cupom": "DOCE10", "data": "sexta"}})
    with pytest.raises(ServiceError, match="used by active rule\\(s\\): Cupom"):
        await delete_template(user, str(wa.id))
    await disable_rule(user, "Cupom")
    assert (await delete_template(user, str(wa.id))).name == "boas_vindas"
    with pytest.raises(ServiceError, match="no template"):
        await enable_rule(user, "Cupom")  # its template is gone


async def test_template_references_are_checked(stores) -> None:
    user = await owner()
    await add_template(user, platform="whatsapp", name="cupom", content="Use {cupom}, {first_name}!",
                       meta_template_name="cupom", language="pt_BR", approved=True)
    base = {"name": "r", "trigger": "message", "action": "send_template"}
    with pytest.raises(ServiceError, match=r"action_data: no template 'nenhum' \(add it first\)"):
        await create_rule(user, platform="whatsapp", action_data={"template_name": "nenhum"}, **base)
    with pytest.raises(ServiceError, match=r"action_data.variables: template 'cupom' needs a value for \{cupom\}"):
        await create_rule(user, platform="whatsapp", action_data={"template_name": "cupom"}, **base)
    with pytest.raises(ServiceError, match="has 2 variables, 3 values given"):
        await create_rule(user, platform="whatsapp", action_data={"template_name": "cupom",
                                                                  "variables": ["a", "b", "c"]}, **base)
    with pytest.raises(ServiceError, match="template 'cupom' is for whatsapp, the rule for instagram"):
        await create_rule(user, platform="instagram", action_data={"template_name": "cupom",
                                                                   "variables": ["A"]}, **base)
    ok = await create_rule(user, platform="whatsapp", action_data={"template_name": "cupom", "variables": ["A"]},
                           **base)
    assert ok.error is None
    fallback = await create_rule(user, name="fb", trigger="message", platform="whatsapp", action="send_message",
                                 action_data={"text": "Oi!", "fallback": {"template_name": "cupom",
                                                                          "variables": {"cupom": "X"}}})
    assert fallback.error is None


async def test_update_template_in_place_keeps_rules_working(stores) -> None:
    user = await owner()
    tpl = await add_template(user, platform="whatsapp", name="cupom", content="Use {cupom}, {first_name}!",
                             meta_template_name="cupom", language="pt_BR")
    await create_rule(user, name="Cupom", trigger="message", platform="whatsapp", action="send_template",
                      action_data={"template_name": "cupom", "variables": {"cupom": "DOCE10"}})
    before = await rules_version(user)
    edited = await update_template(user, "cupom", content="Oi {name}! Seu cupom: {cupom}", approved=True)
    assert edited.id == tpl.id and edited.name == "cupom" and edited.variables == ("name", "cupom")
    assert edited.is_approved and edited.meta_template_name == "cupom"  # the unchanged name needs no language
    assert (await get_template(user, str(tpl.id))).content == "Oi {name}! Seu cupom: {cupom}"
    assert await rules_version(user) != before  # cached rule indexes reload
    index = await load_index(user)
    assert len(index) == 1 and index.templates[str(tpl.id)].content == "Oi {name}! Seu cupom: {cupom}"
    await disable_rule(user, "Cupom")
    assert (await enable_rule(user, "Cupom")).is_active  # re-validated against the new text

    # A variable the active rule cannot fill is refused, naming the rule; nothing changes.
    with pytest.raises(ServiceError, match=r"rule 'Cupom' gives no value for \{prazo\}; change those rules"):
        await update_template(user, str(tpl.id), content="{cupom} vale até {prazo}")
    assert (await get_template(user, "cupom")).variables == ("name", "cupom")
    await disable_rule(user, "Cupom")  # a disabled rule is re-checked when it is turned on again
    assert (await update_template(user, "cupom", content="{cupom} vale até {prazo}")).variables == ("cupom", "prazo")
    with pytest.raises(ServiceError, match=r"needs a value for \{prazo\}"):
        await enable_rule(user, "Cupom")


async def test_update_template_validates_like_add(stores) -> None:
    user = await owner()
    wa = await add_template(user, platform="whatsapp", name="oi", content="Oi!")
    ig = await add_template(user, platform="instagram", name="valeu", content="Valeu {first_name}")
    with pytest.raises(ServiceError, match=r"template 'oi': content: must not be empty"):
        await update_template(user, str(wa.id), content="  ")
    with pytest.raises(ServiceError, match=r"content: write variables as \{name\}"):
        await update_template(user, str(wa.id), content="Oi {{1}}")
    with pytest.raises(ServiceError, match="language: required with meta_template_name"):
        await update_template(user, str(wa.id), meta_template_name="oi_v2")  # a new name needs its language
    with pytest.raises(ServiceError, match="lower-case letters, digits and _ only"):
        await update_template(user, str(wa.id), meta_template_name="Oi V2", language="pt_BR")
    with pytest.raises(ServiceError, match="only WhatsApp templates are approved by Meta"):
        await update_template(user, str(ig.id), meta_template_name="valeu", language="pt_BR")
    with pytest.raises(ServiceError, match="language: 'portugues' is not a WhatsApp language code"):
        await update_template(user, str(wa.id), meta_template_name="oi_v2", language="portugues")
    meta = await update_template(user, str(wa.id), meta_template_name="oi_v2", language="pt_BR")
    assert meta.meta_template_name == "oi_v2" and meta.language == "pt_BR" and meta.content == "Oi!"
    cleared = await update_template(user, "oi", meta_template_name="")
    assert cleared.meta_template_name is None and cleared.language is None
    with pytest.raises(NotFound):
        await update_template(await owner("outro@loja.com"), str(wa.id), content="x")  # never another business's


# --- loading the index and dry runs on stored conversations -------------------------------------------

async def stored_conversation(user, *, platform: Platform = Platform.WHATSAPP, account: str = "106540352242922"):
    acc, _ = await connect_account(user=user, platform=platform, platform_account_id=account, access_token="tok",
                                   cipher=CIPHER, business_name="Doceria da Ana")

    def msg(i: int, text: str, minutes: int, *, kind=EventKind.MESSAGE, who="5511988887777", **kw) -> InboundEvent:
        return InboundEvent(platform=platform, kind=kind, account_id=account, timestamp=T0 + timedelta(minutes=minutes),
                            remote_user_id=who, remote_user_name="Maria Silva", platform_message_id=f"wamid.{i}",
                            text=text, **kw)

    events = [
        msg(1, "Oi, boa tarde!", 0),
        msg(2, "Qual o preço do bolo de cenoura?", 1),
        msg(3, "", 2, kind=EventKind.ECHO, is_echo=True),  # the owner's own answer: never a candidate
        msg(4, "E o PRECO da torta?", 3),
        msg(5, "Quero encomendar pra sexta", 200),
        msg(6, "preço do brigadeiro?", 0, who="5511977776666"),
    ]
    await persist_batch(events, {f"{platform}:{account}": [AccountOwner(acc.id, user.id)]})
    return acc


async def test_load_index_skips_inactive_and_invalid_rules(stores) -> None:
    user = await owner()
    await create_rule(user, name="on", trigger="message", platform="any", action="tag_lead", action_data={"tags": "a"})
    off = await create_rule(user, name="off", trigger="message", platform="any", action="tag_lead",
                            action_data={"tags": "b"})
    await disable_rule(user, off.id)
    # A row written around the service (e.g. by an older version) that no longer validates.
    await AutomationRule.create(user_id=user.id, name="broken", trigger="message", platform="any",
                                action="send_message", condition={"nope": 1}, action_data={"text": "x"})
    before = await rules_version(user)
    index = await load_index(user)
    assert len(index) == 1
    await disable_rule(user, "on")
    assert await rules_version(user) != before
    broken = next(r for r in await list_rules(user) if r.name == "broken")
    assert broken.error and "condition.nope: unknown key" in broken.error
    with pytest.raises(ServiceError, match="is not valid any more"):
        await enable_rule(user, broken.id)


async def test_dry_run_over_a_stored_conversation(stores) -> None:
    user = await owner()
    await stored_conversation(user)
    rule = await create_rule(user, name="Preço", trigger="message", platform="whatsapp", action="send_message",
                             condition={"keywords_any": ["preço"]},
                             action_data={"text": "Olá {first_name}! Tabela em doceria.com/precos",
                                          "buttons": ["Encomendar"]})
    result = await dry_run(user, rule.id, last_n=10)
    assert [item.text for item in result.items] == [
        "Oi, boa tarde!", "preço do brigadeiro?", "Qual o preço do bolo de cenoura?", "E o PRECO da torta?",
        "Quero encomendar pra sexta",
    ]  # in platform time order, echoes left out
    verdicts = [item.describe() for item in result.items]
    assert verdicts[1] == verdicts[2] == (
        "yes: send: Olá Maria! Tabela em doceria.com/precos [buttons: Encomendar]"
    )
    assert verdicts[0] == "no: none of keywords_any found"
    assert verdicts[3].startswith("no: cooling down: acted in this conversation 120 s ago")  # simulated cooldown
    assert result.fired == 2 and result.rule.name == "Preço"
    assert result.items[2].actions[0].conversation_id == str(result.items[2].conversation_id)
    last_two = await dry_run(user, "preço", last_n=2)
    # The last two stored (the brigadeiro question was stored last), replayed in platform time order.
    assert [i.text for i in last_two.items] == ["preço do brigadeiro?", "Quero encomendar pra sexta"]
    assert last_two.items[0].fired and not last_two.items[1].fired


async def test_dry_run_uses_classification_first_message_leads_and_business_name(stores) -> None:
    user = await owner()
    await stored_conversation(user)
    await Lead.create(user_id=user.id, remote_user_id="5511988887777", remote_user_name="Maria S.",
                      platform="whatsapp", tags=["vip"])
    welcome = await create_rule(user, name="Boas-vindas", trigger="message", platform="any", action="send_message",
                                condition={"first_message_only": True, "tags_has": ["VIP"]},
                                action_data={"text": "Bem-vinda à {business_name}, {first_name}!",
                                             "cooldown_seconds": 0})
    result = await dry_run(user, welcome.id)
    fired = [(i.text, i.actions[0].text) for i in result.items if i.fired]
    assert fired == [("Oi, boa tarde!", "Bem-vinda à Doceria da Ana, Maria!")]
    buy = await create_rule(user, name="Compra", trigger="message", platform="any", action="notify_owner",
                            condition={"intent_in": ["purchase"]}, action_data={"message": "{name}: {text} ({intent})"})
    result = await dry_run(user, buy.id)
    assert [i.actions[0].text for i in result.items if i.fired] == [
        "Maria S.: Quero encomendar pra sexta (purchase)"
    ]


async def test_dry_run_for_comments_and_other_platforms(stores) -> None:
    user = await owner()
    await stored_conversation(user)
    await stored_conversation(user, platform=Platform.INSTAGRAM, account="17841400000000001")
    rule = await create_rule(user, name="IG", trigger="message", platform="instagram", action="tag_lead",
                             condition={"keywords_any": ["preço"]}, action_data={"tags": ["preço"]})
    result = await dry_run(user, rule.id)
    assert {i.event.platform for i in result.items} == {Platform.INSTAGRAM} and result.fired == 3
    comments = await create_rule(user, name="C", trigger="comment", platform="any", action="tag_lead",
                                 action_data={"tags": ["c"]})
    assert (await dry_run(user, comments.id)).items == ()
    with pytest.raises(ServiceError, match="last: must be between 1 and 500"):
        await dry_run(user, rule.id, last_n=0)
    with pytest.raises(NotFound):
        await dry_run(user, uuid.uuid4())


async def test_the_loaded_index_evaluates_like_the_pipeline_will(stores) -> None:
    user = await owner()
    await add_template(user, platform="whatsapp", name="fora_do_horario", content="Oi {first_name}, voltamos às 9h.",
                       meta_template_name="fora_do_horario", language="pt_BR", approved=True)
    await create_rule(user, name="Fora", trigger="message", platform="whatsapp", action="send_message",
                      condition={"business_hours": {"inside": False}},
                      action_data={"text": "Estamos fechados, {first_name}.",
                                   "fallback": {"template_name": "fora_do_horario"}})
    index = await load_index(user)
    night = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="1",
                         timestamp=datetime(2026, 3, 4, 23, 30, tzinfo=UTC), remote_user_id="55119",
                         remote_user_name="João Souza", platform_message_id="wamid.x", text="oi")
    [action] = evaluate(night, None, None, index, now=night.timestamp, context=EvalContext())
    assert action.text == "Estamos fechados, João."
    assert action.fallback is not None and action.fallback.parameters == ("João",)
    assert action.fallback.language == "pt_BR"


async def test_dry_run_for_likes_reads_interactions(stores) -> None:
    user = await owner()
    acc, _ = await connect_account(user=user, platform=Platform.FACEBOOK, platform_account_id="1044",
                                   access_token="tok", cipher=CIPHER, business_name="Doceria da Ana")
    likes = [InboundEvent(platform=Platform.FACEBOOK, kind=EventKind.LIKE, account_id="1044",
                          timestamp=T0 + timedelta(minutes=i), remote_user_id=f"fan{i}", remote_user_name=f"Fã {i}",
                          post_id="1044_555" if i else "1044_999", dedupe_key=f"like-{i}") for i in range(3)]
    await persist_batch(likes, {"facebook:1044": [AccountOwner(acc.id, user.id)]})
    rule = await create_rule(user, name="Curtiu", trigger="like", platform="facebook", action="send_message",
                             condition={"media_id": "555"}, action_data={"text": "Obrigada, {first_name}!"})
    result = await dry_run(user, rule.id)
    assert [item.describe() for item in result.items] == [
        "no: not on one of the chosen posts/media", "yes: send: Obrigada, Fã!", "yes: send: Obrigada, Fã!",
    ]


async def test_dry_run_for_button_taps(stores) -> None:
    user = await owner()
    acc, _ = await connect_account(user=user, platform=Platform.WHATSAPP, platform_account_id="1065",
                                   access_token="tok", cipher=CIPHER)
    tap = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="1065", timestamp=T0,
                       remote_user_id="5511", platform_message_id="wamid.tap", text="Ver cardápio",
                       postback_payload="MENU", detail_type="interactive")
    plain = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="1065", timestamp=T0,
                         remote_user_id="5511", platform_message_id="wamid.plain", text="MENU")
    await persist_batch([tap, plain], {"whatsapp:1065": [AccountOwner(acc.id, user.id)]})
    rule = await create_rule(user, name="Menu", trigger="postback", platform="whatsapp", action="send_message",
                             condition={"payload_in": ["MENU"]}, action_data={"text": "Aqui está o cardápio"})
    result = await dry_run(user, rule.id)
    assert [(i.text, i.describe()) for i in result.items] == [("Ver cardápio", "yes: send: Aqui está o cardápio")]
