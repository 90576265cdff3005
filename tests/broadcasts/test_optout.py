"""Opt-out and opt-in: whole-message keywords only, recorded through the real inbound pipeline, confirmed once."""

from __future__ import annotations

import pytest

from papo.services import optout
from papo.services.broadcasts import Segment, preview
from papo.services.rules import create_rule
from papo.services.templates import add_template
from tests.automation.conftest import automation_worker  # noqa: F401 - every worker role, against the fake
from tests.automation.test_automation_e2e import _post, _settled
from tests.conftest import eventually
from tests.inbound.conftest import connect, owner, web  # noqa: F401 - server, owner, accounts
from tests.outbound.conftest import fake  # noqa: F401 - the fake Graph API

PHONE_ID = "106540352242922"
CUSTOMER = "5511987654321"


@pytest.mark.parametrize(("text", "out", "language"), [
    ("sair", True, "pt"), ("SAIR", True, "pt"), ("Parar!", True, "pt"), ("  stop. ", True, "en"),
    ("Baja", True, "es"), ("cancelar inscrição", True, "pt"), ("darme de baja", True, "es"),
    ("voltar", False, "pt"), ("START", False, "en"), ("alta", False, "es"),
])
def test_whole_message_keywords_opt_out_or_in(text: str, out: bool, language: str) -> None:
    found = optout.detect(text)
    assert found is not None and found.out is out and found.language == language


@pytest.mark.parametrize("text", [
    "não quero sair de casa hoje", "stop by tomorrow?", "qual o horário? vou sair às 5", "parar onde?",
    "a baja california", "sairam os pedidos?", "", None, "sair " * 30,
])
def test_keywords_inside_other_words_or_sentences_do_not(text: str | None) -> None:
    assert optout.detect(text) is None


async def test_a_customer_opts_out_is_confirmed_once_left_out_of_broadcasts_and_opts_in_again(
    web, automation_worker, settings, stores, connect, owner, fake  # noqa: F811
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await add_template(owner, platform="whatsapp", name="promo", content="Oi {first_name}, temos novidades!",
                       meta_template_name="promo", language="pt_BR", approved=True)
    # A rule that answers every message must not answer the opt-out itself.
    await create_rule(owner, name="Boas-vindas", trigger="message", platform="whatsapp", action="send_message",
                      action_data={"text": "Olá! Como posso ajudar?", "cooldown_seconds": 0})
    path = f"/{PHONE_ID}/messages"

    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="Oi, quanto custa o bolo?", event_id="O1")
    await _settled(fake, path, 1)
    assert (await preview(owner, template="promo", segment=Segment())).count == 1

    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="SAIR", event_id="O2")
    calls = await _settled(fake, path, 2)
    assert calls[1].json["text"]["body"] == optout.CONFIRM_OUT["pt"]
    assert await optout.is_opted_out(owner.id, "whatsapp", CUSTOMER)
    found = await preview(owner, template="promo", segment=Segment())
    assert found.count == 0 and found.opted_out == 1

    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="sair!", event_id="O3")  # already out
    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="ok", event_id="O4")

    async def answered_ok() -> bool:
        return len(fake.calls_to(path)) >= 3

    await eventually(answered_ok)
    calls = await _settled(fake, path, 3)
    assert [c.json["text"]["body"] for c in calls[2:]] == ["Olá! Como posso ajudar?"]  # no second confirmation

    await _post(web, settings, "whatsapp", sender=CUSTOMER, text="Voltar", event_id="O5")
    calls = await _settled(fake, path, 4)
    assert calls[3].json["text"]["body"] == optout.CONFIRM_IN["pt"]
    assert not await optout.is_opted_out(owner.id, "whatsapp", CUSTOMER)
    assert (await preview(owner, template="promo", segment=Segment())).count == 1
