"""The `handoff` action (issue 16): validated like the others, and a handoff holds the event's reply."""

from __future__ import annotations

import pytest

from papo.engine import EvalContext, RuleError, decide, evaluate, validate_rule
from papo.engine.model import Action
from papo.enums import Action as ActionType
from papo.enums import Platform
from tests.adapters.helpers import parse
from tests.engine.helpers import NOW, classification, event, rule

CTX = EvalContext(conversation_id="conv-1", business_name="Doceria da Ana")


def test_handoff_data_is_checked_like_every_action() -> None:
    valid = validate_rule("message", "any", "handoff", {"sentiment_in": ["negative"]},
                          {"message": "{name} reclamou: {text}", "hours": 6})
    assert valid.action is ActionType.HANDOFF and not valid.is_reply
    for data, says in (({"hours": 0}, "action_data.hours"), ({"message": "{cupom}"}, "unknown variable {cupom}"),
                       ({"hour": 2}, "action_data.hour")):
        with pytest.raises(RuleError) as err:
            validate_rule("message", "any", "handoff", {}, data)
        assert says in str(err.value)


def test_a_handoff_drops_the_reply_of_the_same_event_and_keeps_tags() -> None:
    rules = [rule("reply"), rule("tag", action="tag_lead"),
             rule("handoff", action="handoff", condition={"sentiment_in": ["negative"]},
                  data={"message": "{name}: {text}", "hours": 4}, age=1)]
    angry = decide(event("cadê meu pedido??"), classification("complaint", "negative"), None, rules, now=NOW,
                   context=CTX)
    assert [a.rule_name for a in angry.actions] == ["tag", "handoff"]
    [handed] = [a for a in angry.actions if a.type is ActionType.HANDOFF]
    assert handed.text == "Maria Silva: cadê meu pedido??" and handed.hours == 4
    assert "handoff rule passed this conversation to the owner" in " ".join(n.message for n in angry.notes)
    assert Action.from_dict(handed.to_dict()) == handed
    assert "pause automated replies for 4 h" in handed.describe()
    calm = evaluate(event("oi"), classification("info", "positive"), None, rules, now=NOW, context=CTX)
    assert [a.rule_name for a in calm] == ["reply", "tag"]


def test_the_business_app_echo_is_marked_as_the_owners() -> None:
    [echo] = [e for e in parse("whatsapp", "smb_echoes.json") if e.is_echo]
    assert echo.platform is Platform.WHATSAPP and echo.detail["sent_from"] == "whatsapp_business_app"


def test_a_messenger_echo_names_its_app_so_papos_own_is_told_from_the_owners() -> None:
    from papo.services.handoff import echo_origin

    [echo] = [e for e in parse("facebook", "messenger.json") if e.is_echo]
    assert str(echo.detail["app_id"]) == "1517776481860111"
    assert echo_origin(echo, "1517776481860111") == "papo"  # sent through Papo's Meta app
    assert echo_origin(echo, "999") == "owner"  # another app: the Page inbox, Business Suite…
    assert echo_origin(echo, None) is None  # Papo's app id unknown: only the ids Papo sent can tell
