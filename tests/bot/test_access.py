"""Linking with a one-time code; strangers get one polite answer and nothing else."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from papo.services import owners
from papo.services.users import create_user
from tests.bot.conftest import BotHarness, Person, texts

OWNER = Person(111, "Dona Ana")
STRANGER = Person(999, "Curioso", "en")


async def test_link_code_links_once_and_then_the_menu_works(harness: BotHarness) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    code = await owners.create_link_code(user)
    calls = await harness.say(OWNER, f"/start {code.code}")
    assert [c.method for c in calls] == ["sendMessage"]
    assert "Doceria da Ana" in calls[0].text
    assert (await owners.owner_for(OWNER.id)).user_id == user.id
    # single use: a second account cannot use the same code
    other = Person(222, "Outro")
    calls = await harness.say(other, f"/start {code.code}")
    assert len(calls) == 1 and "não é válido" in calls[0].text
    assert await owners.owner_for(other.id) is None
    calls = await harness.say(OWNER, "/menu")
    assert "Doceria da Ana" in calls[-1].text and calls[-1].buttons()


async def test_expired_code_is_refused(harness: BotHarness) -> None:
    user = await create_user(email="bia@doceria.com.br", name="Doceria da Bia", plan="pro")
    code = await owners.create_link_code(user, ttl=timedelta(seconds=-1))
    calls = await harness.say(OWNER, f"/start {code.code}")
    assert len(calls) == 1 and "não é válido" in calls[0].text
    assert await owners.owner_for(OWNER.id) is None


async def test_stranger_gets_exactly_one_polite_answer_per_update_and_no_data(harness: BotHarness) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    await owners.link((await owners.create_link_code(user)).code, OWNER.id, OWNER.chat_id)
    for text in ("/start", "/menu", "/leads", "/stats", "hello", "/search Bruna"):
        calls = await harness.say(STRANGER, text)
        assert [c.method for c in calls] == ["sendMessage"], text
        assert "private" in calls[0].text and "Doceria" not in calls[0].text
        assert not calls[0].buttons()
    calls = await harness.press(STRANGER, data="nav:leads")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params.get("show_alert") == "true" and "Doceria" not in texts(calls)


async def test_a_flooding_stranger_gets_silence_after_ten_answers_a_minute(harness: BotHarness) -> None:
    answered = 0
    for n in range(14):
        answered += len(await harness.say(STRANGER, f"spam {n}"))
    assert answered == 10


async def test_a_group_chat_gets_no_data_even_from_a_linked_owner(harness: BotHarness) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    await owners.link((await owners.create_link_code(user)).code, OWNER.id, OWNER.chat_id)
    update = harness.message_update(OWNER, "/leads")
    update["message"]["chat"] = {"id": -100123, "type": "group", "title": "Equipe"}
    calls = await harness.feed(update)
    assert [c.method for c in calls] == ["sendMessage"] and calls[0].chat_id == -100123
    assert "privada" in calls[0].text and "Leads" not in calls[0].text


async def test_concurrent_link_tries_are_counted_before_any_code_is_checked(harness: BotHarness) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    code = await owners.create_link_code(user)
    # 39 guesses and the right code, all at once: read-then-increment let every one of them be checked.
    guesses = [harness.say(OWNER, f"/start WRONG{n:05d}") for n in range(39)]
    before = len(harness.telegram.calls)
    await asyncio.gather(*guesses, harness.say(OWNER, f"/start {code.code}"))
    answers = [c.text for c in harness.telegram.calls[before:]]
    assert sum("não é válido" in a for a in answers) == 10
    assert sum("Muitas tentativas" in a for a in answers) == 30
    assert await owners.owner_for(OWNER.id) is None


async def test_a_code_that_works_is_not_counted_as_a_failed_try(harness: BotHarness) -> None:
    ana = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    for n in range(9):
        await harness.say(OWNER, f"/start WRONG{n:05d}")
    await harness.say(OWNER, f"/start {(await owners.create_link_code(ana)).code}")
    assert (await owners.owner_for(OWNER.id)).user_id == ana.id
    other = Person(333, "Bia")
    calls = await harness.say(other, f"/start {(await owners.create_link_code(ana)).code}")
    assert "Doceria da Ana" in calls[0].text


async def test_many_telegram_accounts_share_one_hourly_limit(harness: BotHarness) -> None:
    from papo.bot.routers import start

    await harness.context.redis.set(start.LINK_TRIES_ALL, start.MAX_LINK_TRIES_ALL)
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    calls = await harness.say(Person(444, "Nova"), f"/start {(await owners.create_link_code(user)).code}")
    assert "Muitas tentativas" in calls[0].text
    assert await owners.owner_for(444) is None
