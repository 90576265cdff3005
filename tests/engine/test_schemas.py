"""Rule validation: every problem is reported, each naming its field."""

from __future__ import annotations

import re

import pytest

from papo.engine import RuleError, rule_warnings, trigger_possible, validate_rule
from papo.enums import Platform, RulePlatform, Trigger

TEMPLATE_ID = "0f6f2d53-5f7e-4f7e-9c55-1b2a3c4d5e6f"


def problems(trigger="message", platform="any", action="send_message", condition=None, data=None) -> list[str]:
    with pytest.raises(RuleError) as info:
        validate_rule(trigger, platform, action, condition or {}, data if data is not None else {"text": "oi"})
    return list(info.value.problems)


def test_a_valid_rule_is_normalised_for_storage() -> None:
    valid = validate_rule(" Message ", "WhatsApp", "send_message",
                          {"keywords_any": "preço", "min_score": 0.5, "business_hours": {"inside": False}},
                          {"text": "  Olá {first_name}!  ", "buttons": ["Sim", "Não"]})
    assert valid.trigger is Trigger.MESSAGE and valid.platform is RulePlatform.WHATSAPP
    assert valid.condition_json() == {"keywords_any": ["preço"], "min_score": 0.5,
                                      "business_hours": {"inside": False}}
    assert valid.data_json() == {"text": "Olá {first_name}!", "buttons": ["Sim", "Não"]}
    assert valid.is_reply and valid.data.cooldown == 3600 and valid.data.priority == 100


def test_null_condition_and_data_are_empty_objects() -> None:
    valid = validate_rule("comment", "instagram", "tag_lead", None, {"tags": "vip"})
    assert valid.condition_json() == {} and valid.data_json() == {"tags": ["vip"]}
    assert valid.data.cooldown == 0 and not valid.is_reply


def test_min_score_error_names_the_field() -> None:
    assert problems(condition={"min_score": 1.5}) == ["condition.min_score: must be between 0 and 1"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(trigger="messag", platform="orkut", action="send_message",
                     condition={"keyword_any": ["x"]}, data={"text": ""})
    assert found[0].startswith("trigger: 'messag' is not one of: follow, like, comment")
    assert found[1].startswith("platform: 'orkut' is not one of:")
    assert found[2].startswith("condition.keyword_any: unknown key (allowed: keywords_any, keywords_all")
    assert found[3] == "action_data.text: must not be empty"


@pytest.mark.parametrize(("condition", "expected"), [
    ({"keywords_any": []}, "condition.keywords_any: must not be empty"),
    ({"keywords_any": ["ok", "  "]}, "condition.keywords_any: keyword 2 is empty"),
    ({"keywords_all": ["?!"]}, "condition.keywords_all: keyword '?!' has no letters, digits or emoji to match"),
    ({"keywords_any": ["x" * 101]}, "condition.keywords_any: keyword 'xxxxxxxxxxxxxxxxxxxx'… is longer than 100"),
    ({"regex": "(pre"}, "condition.regex: is not a valid regular expression: missing ) at position 4"),
    ({"regex": "(a+)+$"}, "condition.regex: nests a quantifier inside a repeated group"),
    ({"regex": r"(\w*)*"}, "condition.regex: nests a quantifier"),
    ({"regex": "(x|y+){2,}"}, "condition.regex: nests a quantifier"),
    ({"regex": "a" * 201}, "condition.regex: must be at most 200 characters"),
    ({"intent_in": ["buy"]}, "condition.intent_in[0]: must be one of: question, complaint, purchase or info"),
    ({"sentiment_in": "angry"}, "condition.sentiment_in[0]: must be one of: positive, neutral or negative"),
    ({"quality_in": ["hot", "boiling"]}, "condition.quality_in[1]: must be one of: cold, warm or hot"),
    ({"language_in": ["fr"]}, "condition.language_in: 'fr' is not one of: pt, es, en, other"),
    ({"min_score": "high"}, "condition.min_score: must be a number"),
    ({"first_message_only": "maybe"}, "condition.first_message_only: must be true or false"),
    ({"tags_has": [""]}, "condition.tags_has: value 1 is empty"),
    ({"business_hours": {"timezone": "America/Sao_Pablo"}},
     "condition.business_hours.timezone: unknown time zone 'America/Sao_Pablo' (use an IANA name"),
    ({"business_hours": {"days": [0, 7]}}, "condition.business_hours.days: days are 0 (Monday) to 6 (Sunday), not 7"),
    ({"business_hours": {"days": []}}, "condition.business_hours.days: must list at least one day"),
    ({"business_hours": {"start": "9:00"}}, "condition.business_hours.start: '9:00' is not a time like 09:00"),
    ({"business_hours": {"end": "25:00"}}, "condition.business_hours.end: '25:00' is not a time like 09:00"),
    ({"business_hours": {"start": "10:00", "end": "10:00"}},
     "condition.business_hours: start and end are equal; use 00:00–24:00 for the whole day"),
    ({"business_hours": {"start": "24:00"}}, "condition.business_hours.start: must be 00:00–23:59"),
    ({"business_hours": {"open": "09:00"}},
     "condition.business_hours.open: unknown key (allowed: inside, timezone, days, start, end)"),
    ({"business_hours": "9-18"}, "condition.business_hours: must be an object"),
])
def test_condition_errors(condition, expected) -> None:
    found = problems(condition=condition)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(("action", "data", "expected"), [
    ("send_message", {}, "action_data.text: is required"),
    ("send_message", {"text": "Oi {nome}"}, "action_data.text: unknown variable {nome} (allowed: name, first_name"),
    ("send_message", {"text": "x" * 4097}, "action_data.text: must be at most 4096 characters"),
    ("send_message", {"text": "oi", "buttons": ["a", "b", "c", "d"]}, "action_data.buttons: must have at most 3"),
    ("send_message", {"text": "oi", "buttons": ["Quero comprar agora mesmo"]},
     "action_data.buttons: button 'Quero comprar agora '… is longer than 20 characters"),
    ("send_message", {"text": "oi", "buttons": ["Sim", "SIM"]}, "action_data.buttons: button titles must be different"),
    ("send_message", {"text": "oi", "fallback": {"variables": ["a"]}},
     "action_data.fallback: give exactly one of template_id or template_name"),
    ("send_message", {"text": "oi", "fallback": {"template_name": "t", "variables": ["{x}"]}},
     "action_data.fallback.variables: unknown variable {x}"),
    ("send_message", {"text": "oi", "priority": -1}, "action_data.priority: must be ≥ 0"),
    ("send_message", {"text": "oi", "cooldown_seconds": 1.5}, "action_data.cooldown_seconds: must be a whole number"),
    ("send_message", {"text": "oi", "cooldown_seconds": 10**9}, "action_data.cooldown_seconds: must be ≤ 2592000"),
    ("send_template", {}, "action_data: give exactly one of template_id or template_name"),
    ("send_template", {"template_id": "abc"}, "action_data.template_id: 'abc' is not a template id (a UUID)"),
    ("send_template", {"template_id": TEMPLATE_ID, "template_name": "x"}, "action_data: give exactly one of"),
    ("send_template", {"template_name": "x", "variables": "a"}, "action_data.variables: must be an object"),
    ("send_template", {"template_name": "x", "variables": {"a b": "1"}}, "action_data.variables: 'a b' is not a"),
    ("tag_lead", {}, "action_data.tags: is required"),
    ("tag_lead", {"tags": []}, "action_data.tags: must not be empty"),
    ("tag_lead", {"tags": ["x" * 51]}, "action_data.tags: tag 'xxxxxxxxxxxxxxxxxxxx'… is longer than 50"),
    ("ai_reply", {"fallback_text": "oi"}, "action_data.faq: is required"),
    ("ai_reply", {"faq": "x", "fallback_text": "{preco}"}, "action_data.fallback_text: unknown variable {preco}"),
    ("notify_owner", {"message": "{nope}"}, "action_data.message: unknown variable {nope} (allowed: name"),
    ("notify_owner", {"msg": "x"}, "action_data.msg: unknown key (allowed: priority, cooldown_seconds, message)"),
])
def test_action_data_errors(action, data, expected) -> None:
    found = problems(action=action, data=data)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_action_data_must_be_an_object() -> None:
    assert problems(data=["oi"]) == ["action_data: must be a JSON object"]
    assert problems(condition=["x"], data={"text": "oi"})[0] == "condition: must be a JSON object"


def test_templates_by_id_or_name_with_variables() -> None:
    by_id = validate_rule("message", "whatsapp", "send_template", {},
                          {"template_id": TEMPLATE_ID.upper(), "variables": ["{first_name}", 10]})
    assert by_id.data_json() == {"template_id": TEMPLATE_ID, "variables": ["{first_name}", "10"]}
    by_name = validate_rule("message", "whatsapp", "send_template", {},
                            {"template_name": "boas_vindas", "variables": {"cupom": "OFF10"}})
    assert by_name.data_json()["variables"] == {"cupom": "OFF10"}


def test_literal_braces_are_allowed_in_texts() -> None:
    valid = validate_rule("message", "any", "send_message", {}, {"text": "Use {{cupom}} ou { } e R$ {10}"})
    assert valid.data_json()["text"] == "Use {{cupom}} ou { } e R$ {10}"


def test_notify_owner_may_quote_the_customer() -> None:
    valid = validate_rule("message", "any", "notify_owner", {"intent_in": ["complaint"]},
                          {"message": "{name} reclamou: {text} ({sentiment}, {score})"})
    assert valid.data.cooldown == 3600 and not valid.is_reply


@pytest.mark.parametrize(("trigger", "condition", "expected"), [
    ("follow", {"keywords_any": ["oi"]}, "condition.keywords_any: a follow event has no text to check"),
    ("like", {"intent_in": ["purchase"]}, "condition.intent_in: a like event has no text to check"),
    ("story_view", {"regex": "x"}, "condition.regex: a story_view event has no text to check"),
    ("message", {"media_id": "123"}, "condition.media_id: only applies to these triggers: comment, like"),
    ("comment", {"payload_in": ["A"]}, "condition.payload_in: only applies to these triggers: postback, referral"),
])
def test_conditions_that_can_never_hold_for_the_trigger(trigger, condition, expected) -> None:
    found = problems(trigger=trigger, condition=condition)
    assert found == [found[0]] and found[0].startswith(expected)


def test_trigger_possible_follows_the_platforms() -> None:
    assert not trigger_possible("follow", "instagram")
    assert not trigger_possible(Trigger.LIKE, Platform.INSTAGRAM)
    assert not trigger_possible("story_view", "any")  # no platform reports story views
    assert trigger_possible("follow", "kwai") and trigger_possible("follow", "any")
    assert trigger_possible("like", "facebook") and trigger_possible("comment", "youtube")
    assert not trigger_possible("comment", "whatsapp") and not trigger_possible("message", "youtube")
    assert trigger_possible("story_reply", "instagram") and not trigger_possible("story_reply", "facebook")
    assert trigger_possible("postback", "whatsapp")  # button replies arrive as messages


def test_warnings() -> None:
    follow = validate_rule("follow", "instagram", "send_message", {}, {"text": "Obrigado por seguir!"})
    assert rule_warnings(follow) == [
        "instagram never reports follow events (only: kwai); this rule will not fire"
    ]
    buttons = validate_rule("comment", "youtube", "send_message", {}, {"text": "oi", "buttons": ["Sim"]})
    assert rule_warnings(buttons) == ["youtube has no quick-reply buttons; they will be dropped"]
    comment = validate_rule("comment", "instagram", "send_message", {"keywords_any": "quero"}, {"text": "oi"})
    assert any(re.search("one private reply", w) for w in rule_warnings(comment))
    assert rule_warnings(validate_rule("message", "whatsapp", "send_message", {}, {"text": "oi"})) == []
