"""Consultancies: one Telegram account runs several client businesses and switches with /clientes; two
businesses with the same customer on the same platform never see each other's data — through the
services, the CLI's list commands and every bot menu. And the plan's limit of linked Telegram admins."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest

from papo.bot.keyboards import ConvAct, LeadAct, short
from papo.models import Message, TelegramLink, TelegramLinkCode
from papo.services import NotFound, ServiceError, conversations, leads, owners, plans, rules, stats, templates
from papo.services.users import create_user
from tests.bot.conftest import BotHarness, Person, make_business, screen, texts
from tests.cli_run import papo as _papo
from tests.conftest import TEST_SECRET

ANA = Person(7101, "Ana")
BETO = Person(7102, "Beto")
CARLA = Person(7103, "Carla")  # the consultant
DUDA = Person(7104, "Duda")
SAME = "5511912345678"  # one customer's WhatsApp number, writing to both businesses


async def _clients(harness: BotHarness):
    """A consultancy with Carla's account, and two clients (each with its own owner) sharing a customer."""
    agency = await create_user(email="carla@agencia.com.br", name="Agência da Carla", plan="consultancy")
    await owners.link((await owners.create_link_code(agency)).code, CARLA.id, CARLA.chat_id)
    doceria = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA, customer="Bruna da Doceria",
                                  phone=SAME, waba="106540352240001", text="Quanto custa o bolo de pote?")
    oficina = await make_business("beto@oficina.com.br", "Oficina do Beto", BETO, customer="Bruno da Oficina",
                                  phone=SAME, waba="106540352240002", text="Quanto fica a troca do freio?")
    for n in range(2):  # the oficina's customer wrote twice more: the stats differ
        await Message.create(conversation=oficina.conversation, sender="remote", message_text=f"alô {n}",
                             kind="message", platform_message_id=f"wamid.more{n}", platform_timestamp=datetime.now(UTC))
    await rules.create_rule(doceria.user, name="Preço do bolo", trigger="message", platform="whatsapp",
                            action="send_message", action_data={"text": "R$ 12"})
    await rules.create_rule(oficina.user, name="Orçamento de freio", trigger="message", platform="whatsapp",
                            action="send_message", action_data={"text": "R$ 300"})
    await templates.add_template(doceria.user, platform="whatsapp", name="doce_oi", content="Oi doce!")
    await templates.add_template(oficina.user, platform="whatsapp", name="freio_oi", content="Oi freio!")
    for client in (doceria, oficina):
        code = await owners.create_link_code(client.user, client_of=agency)
        calls = await harness.say(CARLA, f"/start {code.code}")
        assert client.user.name in screen(calls).text and "/clientes" in screen(calls).text
    return agency, doceria, oficina


async def test_clientes_switches_business_and_every_menu_shows_only_the_selected_one(harness: BotHarness) -> None:
    _, doceria, oficina = await _clients(harness)
    calls = await harness.say(CARLA, "/clientes")
    labels = [b["text"] for b in screen(calls).buttons()]
    assert labels[:3] == ["Agência da Carla (sua empresa)", "Doceria da Ana", "✅ Oficina do Beto"]

    shown = {"Doceria da Ana": ("Bruna da Doceria", "Preço do bolo", "doce_oi", "1 recebidas"),
             "Oficina do Beto": ("Bruno da Oficina", "Orçamento de freio", "freio_oi", "3 recebidas")}
    for name, other in (("Doceria da Ana", "Oficina do Beto"), ("Oficina do Beto", "Doceria da Ana")):
        await harness.say(CARLA, "/clientes")
        calls = await harness.press(CARLA, name)
        assert f"Agora você está vendo {name}" in texts(calls)
        assert (await owners.owner_for(CARLA.id)).user_id == (doceria if name.startswith("Doceria") else
                                                               oficina).user.id
        mine, theirs = shown[name], shown[other]
        menus = {
            "menu": await harness.say(CARLA, "/menu"),
            "search": await harness.say(CARLA, f"/search {SAME}"),
            "conversations": await harness.say(CARLA, "/conversations"),
            "rules": await harness.say(CARLA, "/rules"),
            "templates": await harness.say(CARLA, "/templates"),
            "stats": await harness.say(CARLA, "/stats"),
        }
        seen = "\n".join(texts(c) + " " + " ".join(b["text"] for call in c for b in call.buttons())
                         for c in menus.values())
        assert name in texts(menus["menu"])
        assert mine[0] in seen and mine[1] in seen and mine[2] in seen and mine[3] in texts(menus["stats"])
        assert not any(word in seen for word in (theirs[0], theirs[1], theirs[2], other))

    # Oficina selected: the Doceria's lead and conversation are "not found", even with a forged button.
    calls = await harness.press(CARLA, data=LeadAct(act="open", id=short(doceria.lead.id)).pack())
    assert "Bruna" not in texts(calls)
    calls = await harness.press(CARLA, data=ConvAct(act="open", id=short(doceria.conversation.id)).pack())
    assert "Bruna" not in texts(calls) and "bolo" not in texts(calls)

    # The clients' own owners are untouched: each still sees only their business.
    assert (await owners.owner_for(ANA.id)).user_id == doceria.user.id
    calls = await harness.say(ANA, f"/search {SAME}")
    assert "Bruna da Doceria" in texts(calls) + str([b["text"] for b in screen(calls).buttons()])
    assert "Bruno" not in texts(calls) + str([b["text"] for b in screen(calls).buttons()])


async def test_the_services_keep_two_businesses_with_the_same_customer_apart(harness: BotHarness, stores) -> None:
    _, doceria, oficina = await _clients(harness)
    for mine, theirs, customer, rule, template in (
            (doceria, oficina, "Bruna da Doceria", "Preço do bolo", "doce_oi"),
            (oficina, doceria, "Bruno da Oficina", "Orçamento de freio", "freio_oi")):
        found = await leads.search_leads(mine.user, SAME)
        assert [lead.name for lead in found.items] == [customer]
        assert (await leads.find_lead(mine.user, "whatsapp", SAME)) == mine.lead.id
        convs = await conversations.recent_conversations(mine.user)
        assert [c.id for c in convs.items] == [mine.conversation.id]
        assert await conversations.conversation_for_lead(mine.user, "whatsapp", SAME) == mine.conversation.id
        assert [r.name for r in await rules.list_rules(mine.user)] == [rule]
        assert [t.name for t in await templates.list_templates(mine.user)] == [template]
        with pytest.raises(NotFound):
            await leads.get_lead(mine.user, theirs.lead.id)
        assert await conversations.customer_name(mine.user, theirs.conversation.id) is None
        with pytest.raises(NotFound):
            await conversations.get_conversation(stores.redis, mine.user, theirs.conversation.id)
    one = await stats.compute_stats(doceria.user, stores.analytics)
    two = await stats.compute_stats(oficina.user, stores.analytics)
    assert (one.messages_in, two.messages_in) == (1, 3)


async def test_the_cli_list_commands_keep_them_apart(harness: BotHarness, stores, settings, monkeypatch,
                                                     tmp_path, capsys) -> None:
    _, doceria, oficina = await _clients(harness)
    for name in [n for n in os.environ if n.startswith("PAPO_")]:
        monkeypatch.delenv(name)
    for name, value in (("DATABASE_URL", stores.urls.database_url), ("REDIS_URL", stores.urls.redis_url),
                        ("MONGO_URL", stores.urls.mongo_url), ("SECRET_KEY", TEST_SECRET),
                        ("DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(f"PAPO_{name}", value)
    for mine, theirs in ((doceria, ("Orçamento de freio", "freio_oi", "7102", "106540352240002", "Bruno da Oficina")),
                         (oficina, ("Preço do bolo", "doce_oi", "7101", "106540352240001", "Bruna da Doceria"))):
        out = ""
        for command in (("rules", "list"), ("templates", "list"), ("posts", "list"), ("admin", "links"),
                        ("leads", "list"), ("conversations", "list"), ("broadcast", "list")):
            capsys.readouterr()
            assert await _papo(*command, "--user", mine.user.email) == 0
            out += capsys.readouterr().out
        assert str(CARLA.id) in out and str(mine.owner.id) in out  # its own admin, and the consultant
        assert mine.conversation.remote_user_name in out  # its own customer, under the same WhatsApp id as the other's
        assert not any(word in out for word in theirs)


async def test_an_ordinary_code_still_moves_a_consultants_account(harness: BotHarness) -> None:
    await _clients(harness)
    assert await TelegramLink.filter(telegram_user_id=CARLA.id).count() == 3
    other = await create_user(email="eva@loja.com.br", name="Loja da Eva", plan="pro")
    calls = await harness.say(CARLA, f"/start {(await owners.create_link_code(other)).code}")
    assert "Loja da Eva" in texts(calls)
    assert [link.user_id for link in await TelegramLink.filter(telegram_user_id=CARLA.id)] == [other.id]
    calls = await harness.say(CARLA, "/clientes")
    assert "administra só" in texts(calls)


async def test_a_client_code_needs_an_account_of_the_consultancy_and_stays_unused(harness: BotHarness) -> None:
    agency, doceria, _ = await _clients(harness)
    code = await owners.create_link_code(doceria.user, client_of=agency)
    calls = await harness.say(DUDA, f"/start {code.code}")
    assert "consultoria" in texts(calls)
    assert not await TelegramLink.filter(telegram_user_id=DUDA.id).exists()
    assert await TelegramLinkCode.filter(used_at__isnull=True, client_of_id=agency.id).count() == 1
    await plans.set_plan(agency, "pro")  # no longer a consultancy: no new client codes
    with pytest.raises(ServiceError, match="only a consultancy-plan business manages clients"):
        await owners.create_link_code(doceria.user, client_of=agency)


async def test_alerts_reach_the_consultant_with_the_business_named(harness: BotHarness, stores) -> None:
    from papo.bot.alerts import AlertConsumer
    from papo.services.notify import COMPLAINT, notify_owner

    _, doceria, _ = await _clients(harness)
    consumer = AlertConsumer(harness.bot, harness.context, consumer="test")
    await consumer.ensure_group()
    await notify_owner(stores.redis, doceria.user.id, COMPLAINT,
                       {"platform": "whatsapp", "remote_user_id": SAME, "customer": "Bruna", "text": "atrasou"})
    before = len(harness.telegram.calls)
    await consumer.run_once(block_ms=100)
    sent = {c.chat_id: c.text for c in harness.telegram.calls[before:] if c.method == "sendMessage"}
    assert set(sent) == {ANA.chat_id, CARLA.chat_id}
    assert sent[CARLA.chat_id].startswith("🏢 <b>Doceria da Ana</b>\n⚠️") and not sent[ANA.chat_id].startswith("🏢")


async def test_a_free_business_links_one_telegram_admin(harness: BotHarness) -> None:
    shop = await create_user(email="bia@bolos.com.br", name="Bolos da Bia")  # free: one linked admin
    await harness.say(ANA, f"/start {(await owners.create_link_code(shop)).code}")
    code = await owners.create_link_code(shop)
    calls = await harness.say(BETO, f"/start {code.code}")
    assert "O plano <b>free</b> permite 1 admins do Telegram vinculados (1 em uso)." in screen(calls).text
    assert "papo user plan --user bia@bolos.com.br --plan starter" in screen(calls).text
    assert await owners.owner_for(BETO.id) is None
    await plans.set_plan(shop, "starter")
    calls = await harness.say(BETO, f"/start {code.code}")  # the refused code was not spent
    assert "Bolos da Bia" in screen(calls).text
    assert (await owners.owner_for(BETO.id)).user_id == shop.id


async def test_two_accounts_racing_for_the_last_admin_slot_get_one(harness: BotHarness) -> None:
    shop = await create_user(email="bia@bolos.com.br", name="Bolos da Bia")
    codes = [await owners.create_link_code(shop) for _ in range(4)]
    results = await asyncio.gather(*(owners.link(c.code, 8000 + n, 8000 + n) for n, c in enumerate(codes)),
                                   return_exceptions=True)
    assert sum(isinstance(r, owners.LinkResult) for r in results) == 1
    assert all(isinstance(r, plans.QuotaExceeded) for r in results if not isinstance(r, owners.LinkResult))
    assert await TelegramLink.filter(user_id=shop.id).count() == 1



async def test_the_bot_tells_the_owner_a_plan_limit_in_their_language(harness: BotHarness, settings) -> None:
    from papo.bot.keyboards import PostAct
    from papo.crypto import TokenCipher
    from papo.services import posts
    from papo.services.accounts import connect_account

    shop = await create_user(email="bia@bolos.com.br", name="Bolos da Bia")  # free: 3 rules, 10 posts a month
    await harness.say(DUDA, f"/start {(await owners.create_link_code(shop)).code}")
    for n in range(3):
        await rules.create_rule(shop, name=f"Regra {n}", trigger="message", platform="whatsapp",
                                action="send_message", action_data={"text": "Oi"})
    await rules.create_rule(shop, name="Regra extra", trigger="message", platform="whatsapp",
                            action="send_message", action_data={"text": "Oi"}, is_active=False)
    await harness.say(DUDA, "/rules")
    calls = await harness.press(DUDA, "▶️ Ligar")
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer.params["text"] == ("🚫 O plano free permite 3 regras ativas (3 em uso).\nPara ter mais, mude de "
                                     "plano: papo user plan --user bia@bolos.com.br --plan starter")
    assert not (await rules.get_rule(shop, "Regra extra")).is_active

    await connect_account(user=shop, platform="facebook", platform_account_id="104857600000009", access_token="t",
                          cipher=TokenCipher(TEST_SECRET))
    draft = await posts.create_post(shop, content="Bolo de pote", accounts=["facebook:104857600000009"],
                                    options=posts.PostOptions.from_settings(settings))
    assert await plans.try_take(shop, plans.SCHEDULED_POSTS, 10)
    calls = await harness.press(DUDA, data=PostAct(act="now", id=short(draft.id)).pack())
    assert "O plano <b>free</b> permite 10 posts agendados por mês (10 em uso)." in texts(calls)
    assert str((await posts.get_post(shop, str(draft.id))).status) == "draft"
