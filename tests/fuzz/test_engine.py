"""Rule conditions and reply rendering under random input: refused cleanly, or evaluated without surprises.

Conditions: a random condition document is either refused with RuleError (every problem naming a
`condition.` field) or accepted, stored in a form that validates back to itself, and evaluated without
raising — and the rule index never hides a rule whose condition holds.

Rendering: values (a customer's name, the text quoted to the owner, template parameters) are inserted
verbatim, once: nothing in a value is ever read as a placeholder, and no format-string syntax reaches
attributes or indexes.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from papo.adapters.events import EventKind, InboundEvent
from papo.ai.base import LANGUAGES, Classification
from papo.engine import RuleError, RuleIndex, RuleView, TemplateView, decide, evaluate, render, validate_rule
from papo.engine.conditions import check, compile_condition
from papo.engine.evaluator import facts_for
from papo.engine.model import EvalContext, LeadView
from papo.engine.render import BUILTINS, builtin_values
from papo.engine.schemas import REGEX_BUDGET, REGEX_TIMEOUT, Condition
from papo.enums import Intent, LeadQuality, Platform, RulePlatform, Sentiment, Trigger
from tests.fuzz.strategies import json_values

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday, 12:00 in São Paulo

# ------------------------------------------------------------------ random conditions

WORDS = ["preço", "PRECO", "oi", "bolo", "cenoura", "quero comprar", "entrega", "🔥", "ção", "a", "ok?", "  ", "?!"]
TAGS = ["vip", "VIP ", "cliente", "novo", "  ", "atacado"]
IDS = ["17920238422030507", "104412318129773_998877", "998877", "PROMO_BOLO", "", "x" * 300]
ZONES = ["America/Sao_Paulo", "UTC", "Europe/Lisbon", "Asia/Kolkata", "Australia/Lord_Howe", "Nowhere/City", "",
         "../etc/passwd", "America/Sao_Paulo ", "utc"]
TIMES = ["09:00", "18:00", "00:00", "24:00", "23:59", "9:00", "25:00", "12:60", "", "noon"]
REGEXES = [r"\bpre[cç]o\b", r"^oi", "bolo|torta", r"(\d+) ?kg", "(pre", "(a+)+$", r"(\w*)*", "[", "a{2,}", "x" * 201,
           "", r"(?i)OI", r"\d{3}-\d{4}"]


def _lists(element: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(element, max_size=4) | element


business_hours = st.fixed_dictionaries({}, optional={
    "inside": st.booleans() | json_values,
    "timezone": st.sampled_from(ZONES) | st.text(max_size=20) | json_values,
    "days": _lists(st.integers(-1, 8)) | json_values,
    "start": st.sampled_from(TIMES) | json_values,
    "end": st.sampled_from(TIMES) | json_values,
    "extra": json_values,
}) | json_values
VALUES_BY_KEY: dict[str, st.SearchStrategy[Any]] = {
    "keywords_any": _lists(st.sampled_from(WORDS) | st.text(max_size=12)),
    "keywords_all": _lists(st.sampled_from(WORDS) | st.text(max_size=12)),
    "regex": st.sampled_from(REGEXES) | st.text("ab()|*+?[]{}\\.^$12,-", max_size=12),
    "intent_in": _lists(st.sampled_from([*Intent, "QUESTION", "duvida"])),
    "sentiment_in": _lists(st.sampled_from([*Sentiment, "angry"])),
    "quality_in": _lists(st.sampled_from([*LeadQuality, "lukewarm"])),
    "language_in": _lists(st.sampled_from([*LANGUAGES, "PT", "pt-BR", ""])),
    "min_score": st.floats() | st.integers(-2, 2),
    "tags_has": _lists(st.sampled_from(TAGS)),
    "tags_has_not": _lists(st.sampled_from(TAGS)),
    "first_message_only": st.booleans(),
    "business_hours": business_hours,
    "media_id": _lists(st.sampled_from(IDS)),
    "payload_in": _lists(st.sampled_from(IDS)),
}


@st.composite
def plausible_conditions(draw: st.DrawFn) -> dict[str, Any]:
    """One to three documented keys with values of the right kind (often accepted)."""
    keys = draw(st.lists(st.sampled_from(sorted(VALUES_BY_KEY)), max_size=3, unique=True))
    return {key: draw(VALUES_BY_KEY[key]) for key in keys}


wild_conditions = st.fixed_dictionaries({}, optional={
    **{key: values | json_values for key, values in VALUES_BY_KEY.items()},
    "keyword_any": json_values,  # the typo the schema exists to catch
}) | json_values
conditions = plausible_conditions() | wild_conditions

events = st.builds(
    lambda text, payload, post, tap, referral, platform: InboundEvent(
        platform=platform, kind=EventKind.MESSAGE, account_id="acc1", timestamp=NOW, remote_user_id="5511999990000",
        remote_user_name="Maria Silva", platform_message_id=f"mid.{uuid.uuid4().hex}", text=text,
        postback_payload=payload, post_id=post, detail_type="button" if tap else "text",
        referral={"ref": payload} if referral and payload else None,
    ),
    text=st.none() | st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=6).map(" ".join),
    payload=st.none() | st.sampled_from(IDS[:4]),
    post=st.none() | st.sampled_from(IDS[:3]),
    tap=st.booleans(),
    referral=st.booleans(),
    platform=st.sampled_from(Platform),
)
classifications = st.none() | st.builds(
    Classification, intent=st.sampled_from(Intent), sentiment=st.sampled_from(Sentiment),
    lead_score=st.floats(0, 1), language=st.sampled_from(LANGUAGES), confidence=st.floats(0, 1),
)
leads = st.none() | st.builds(
    LeadView, tags=st.frozensets(st.sampled_from(TAGS), max_size=3),
    quality=st.none() | st.sampled_from(LeadQuality), score=st.none() | st.floats(0, 1),
)
contexts = st.builds(
    EvalContext, is_first_message=st.booleans(),
    timezone=st.sampled_from(["America/Sao_Paulo", "Asia/Kolkata", "Not/AZone"]),
)
moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC))


def _tag_rule(condition: Any, trigger: Trigger, platform: RulePlatform) -> RuleView:
    return RuleView.from_row(id="r1", name="fuzz", trigger=trigger, platform=platform, action="tag_lead",
                             condition=condition, action_data={"tags": ["fuzz"]})


@FUZZ
@given(condition=conditions, trigger=st.sampled_from(Trigger), platform=st.sampled_from(RulePlatform))
def test_a_random_condition_is_refused_with_rule_error_naming_condition_fields_or_accepted(
    condition: Any, trigger: Trigger, platform: RulePlatform
) -> None:
    try:
        valid = validate_rule(trigger, platform, "tag_lead", condition, {"tags": ["fuzz"]})
    except RuleError as exc:
        assert exc.problems, condition
        assert all(isinstance(p, str) and p.startswith("condition") for p in exc.problems), exc.problems
        return
    # Accepted: what is stored validates back to a condition that means the same, and is then stable.
    stored = valid.condition_json()
    again = validate_rule(trigger, platform, "tag_lead", stored, {"tags": ["fuzz"]})
    assert compile_condition(again.condition) == compile_condition(valid.condition), condition
    assert Condition.model_validate(again.condition_json()) == again.condition


@FUZZ
@given(condition=plausible_conditions(), event=events, classification=classifications, lead=leads,
       context=contexts, at=moments)
def test_an_accepted_condition_evaluates_without_raising_and_the_index_never_hides_a_match(
    condition: Any, event: InboundEvent, classification: Classification | None, lead: LeadView | None,
    context: EvalContext, at: datetime
) -> None:
    try:
        rule: RuleView | None = _tag_rule(condition, Trigger.MESSAGE, RulePlatform.ANY)
    except RuleError:
        rule = None
    assume(rule is not None)
    assert rule is not None
    event = InboundEvent(**{**_fields(event), "timestamp": at})
    holds = check(rule.condition, facts_for(event, classification, lead, context)) is None
    decision = decide(event, classification, lead, [rule], now=at, context=context)
    actions = evaluate(event, classification, lead, RuleIndex.build([rule]), now=at, context=context)
    # tag_lead has no cooldown and no reply cap: it acts exactly when its condition holds.
    assert [a.rule_id for a in actions] == (["r1"] if holds else []), (condition, event.text)
    assert [a.rule_id for a in decision.actions] == [a.rule_id for a in actions]


def _fields(event: InboundEvent) -> dict[str, Any]:
    return dict(event.__dict__)


def test_the_condition_fuzzing_reaches_both_outcomes() -> None:
    """Controls: the strategies above can produce accepted, refused, matching and non-matching conditions."""
    ok = _tag_rule({"keywords_any": ["preço"], "business_hours": {"timezone": "UTC", "start": "00:00",
                                                                   "end": "24:00", "days": [0, 1, 2, 3, 4, 5, 6]}},
                   Trigger.MESSAGE, RulePlatform.ANY)
    hit = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="a", timestamp=NOW,
                       remote_user_id="u", text="Qual o PRECO?")
    miss = InboundEvent(**{**_fields(hit), "text": "precocidade"})
    assert len(evaluate(hit, None, None, [ok], now=NOW)) == 1
    assert evaluate(miss, None, None, [ok], now=NOW) == []
    with pytest.raises(RuleError) as info:
        validate_rule("follow", "any", "tag_lead", {"keywords_any": "x", "first_message_only": True}, {"tags": "x"})
    assert info.value.problems == ("condition.keywords_any: a follow event has no text to check",)


def test_the_stored_form_of_a_condition_validates_back_to_itself() -> None:
    valid = validate_rule("message", "any", "tag_lead", {"language_in": ["pt", "PT"]}, {"tags": "x"})
    assert Condition.model_validate(valid.condition_json()) == valid.condition


@pytest.mark.parametrize("zone", ["America", "Europe", "A" * 300])
def test_a_time_zone_that_names_a_directory_or_is_too_long_is_refused(zone: str) -> None:
    with pytest.raises(RuleError):
        validate_rule("message", "any", "tag_lead", {"business_hours": {"timezone": zone}}, {"tags": "x"})


@pytest.mark.parametrize("pattern", ["(a|a)*$", "(a|aa)+$", "(a+)+$"])
def test_a_regex_with_exponential_backtracking_is_refused(pattern: str) -> None:
    with pytest.raises(RuleError, match=r"exponential time|nests a quantifier"):
        validate_rule("message", "any", "tag_lead", {"regex": pattern}, {"tags": "x"})


@pytest.mark.parametrize(("pattern", "text"), [
    (r"(\w|\d)+$", "0" * 40 + "!"), ("((a+))+$", "a" * 40 + "!"), (r"(.|\s)*preço", " " * 40),
])
def test_an_overlap_the_engine_handles_is_accepted_and_answers_in_time(pattern: str, text: str) -> None:
    """Exponential in the stdlib's engine (24 spaces took 4 s), not in `regex`'s: no reason to refuse them."""
    rule = validate_rule("message", "any", "tag_lead", {"regex": pattern}, {"tags": "x"})
    compiled = compile_condition(rule.condition)
    assert check(compiled, facts_for(_customer_event("Ana", text), None, None, EvalContext())) == "regex does not match"


def test_a_backtracking_regex_that_got_past_the_guard_costs_a_message_at_most_its_time_limit() -> None:
    """Whatever reaches the matcher (a rule stored by an older Papo, a trap the probe misses) cannot block the
    loop: the search gives up after REGEX_TIMEOUT and the condition does not hold; the same check without
    the trap does."""
    trap = compile_condition(Condition.model_construct(regex="(a|a)*$"))
    plain = compile_condition(Condition.model_construct(regex="a+$"))
    context = EvalContext()
    started = time.perf_counter()
    why = check(trap, facts_for(_customer_event("Ana", "a" * 40 + "!"), None, None, context))  # unbounded: days
    assert time.perf_counter() - started < 20 * REGEX_TIMEOUT
    assert why == f"regex gave up after {REGEX_TIMEOUT:g} s"
    assert check(plain, facts_for(_customer_event("Ana", "a" * 40), None, None, context)) is None


# ------------------------------------------------------------------ rendering

NASTY = ["{name}", "{{name}}", "{{", "}}", "{", "}", "{0}", "{name.__class__}", "{name.__class__.__mro__}",
         "{name!r}", "{name:>10}", "{name[0]}", "%s", "%(name)s", "${name}", "${x}", "{business_name}",
         "{first_name}", "{text}", "{rule}", "{{{name}}}", "\\{name}", "{ name }"]
nasty_values = st.lists(st.sampled_from(NASTY) | st.text(max_size=6), min_size=1, max_size=4).map("".join).filter(
    lambda value: value.strip() != "")
names = st.sampled_from([*BUILTINS, "text", "rule", "cupom", "x"])
literal = st.text(st.characters(exclude_characters="{}"), max_size=8)


@FUZZ
@given(segments=st.lists(st.tuples(literal, names), max_size=5), tail=literal,
       values=st.fixed_dictionaries({name: nasty_values for name in [*BUILTINS, "text", "rule", "cupom", "x"]}))
def test_values_are_inserted_verbatim_and_never_expanded_again(
    segments: list[tuple[str, str]], tail: str, values: dict[str, str]
) -> None:
    template = "".join(f"{text}{{{name}}}" for text, name in segments) + tail
    expected = "".join(text + values[name] for text, name in segments) + tail
    assert render(template, values) == expected


@FUZZ
@given(parts=st.lists(st.sampled_from(NASTY) | literal, max_size=6),
       values=st.fixed_dictionaries({name: nasty_values for name in BUILTINS}))
def test_format_string_syntax_in_a_template_never_reaches_attributes_or_indexes(
    parts: list[str], values: dict[str, str]
) -> None:
    text = "".join(parts)
    # Only `{known}` and `{{`/`}}` are syntax; with neither present the text must come back untouched.
    assume("{{" not in text and "}}" not in text and not any(f"{{{name}}}" in text for name in values))
    assert render(text, values) == text


def _customer_event(name: str, text: str) -> InboundEvent:
    return InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="acc1", timestamp=NOW,
                        remote_user_id="5511999990000", remote_user_name=name, text=text, platform_message_id="mid.1")


def _template_rule(variables: dict[str, str]) -> RuleView:
    return RuleView.from_row(id="tpl", name="tpl", trigger="message", platform="any", action="send_template",
                             condition={}, action_data={"template_name": "boas_vindas", "variables": variables})


TEMPLATE = TemplateView(id=str(uuid.UUID(int=1)), name="boas_vindas", platform=Platform.WHATSAPP,
                        content="Use {cupom}, {name}!", variables=("cupom", "name"))


@FUZZ
@given(name=nasty_values, business=nasty_values, text=nasty_values)
def test_a_customers_name_and_words_never_fill_another_placeholder_through_the_engine(
    name: str, business: str, text: str
) -> None:
    rules = [
        RuleView.from_row(id="send", name="send", trigger="message", platform="any", action="send_message",
                          condition={}, action_data={"text": "Olá {name}, aqui é {business_name}."}),
        RuleView.from_row(id="notify", name="notify", trigger="message", platform="any", action="notify_owner",
                          condition={}, action_data={"message": "{rule}: {name} disse {text}"}),
    ]
    event, context = _customer_event(name, text), EvalContext(business_name=business)
    by_rule = {a.rule_id: a for a in evaluate(event, None, None, RuleIndex.build(rules), now=NOW, context=context)}
    assert by_rule["send"].text == f"Olá {name.strip()}, aqui é {business.strip()}."
    assert by_rule["notify"].text == f"notify: {name.strip()} disse {text.strip()}"
    # A template whose variables are all given: the owner's value may use {name}, filled once.
    [call] = evaluate(event, None, None, RuleIndex.build([_template_rule({"cupom": "{name}", "name": "Maria"})],
                                                         [TEMPLATE]), now=NOW, context=context)
    assert call.template is not None and call.template.parameters == (name.strip(), "Maria")
    assert call.text == f"Use {name.strip()}, Maria!"


@settings(FUZZ, max_examples=50)
@example(name="{business_name}", business="Padaria Pão Quente")
@given(name=nasty_values, business=nasty_values)
def test_a_template_variable_filled_from_the_customers_name_is_not_rendered_again(name: str, business: str) -> None:
    [call] = evaluate(_customer_event(name, "oi"), None, None,
                      RuleIndex.build([_template_rule({"cupom": "BEMVINDO"})], [TEMPLATE]), now=NOW,
                      context=EvalContext(business_name=business))
    assert call.template is not None and call.template.parameters == ("BEMVINDO", name.strip())


@settings(FUZZ, max_examples=50)
@example(template="{first_name}{text}", empty="first_name", value="preço  ?  ok")
@given(template=st.sampled_from(["Olá {first_name}: {text}", "{first_name}{text}", "{text} {first_name}"]),
       empty=st.just("first_name"), value=nasty_values)
def test_an_empty_variable_does_not_change_the_other_values(template: str, empty: str, value: str) -> None:
    assert value in render(template, {empty: "", "text": value})


def test_builtin_values_only_trim_what_the_customer_typed() -> None:
    """Control for the rendering properties: the built-ins really carry the customer's name through."""
    values = builtin_values(name="  {business_name} Silva ", business_name="Padaria {name}", platform=Platform.KWAI)
    assert values == {"name": "{business_name} Silva", "first_name": "{business_name}",
                      "business_name": "Padaria {name}", "platform": "Kwai"}
    assert render("{name} @ {business_name}", values) == "{business_name} Silva @ Padaria {name}"
    assert render("{first_name}", values) != render("{business_name}", values)


def test_many_backtracking_regexes_cost_one_message_at_most_the_regex_budget() -> None:
    """Each rule's search is bounded, and so is their sum: twenty traps cost a message REGEX_BUDGET, not
    twenty time limits; the ones past the budget are not tried and do not hold."""
    traps = [compile_condition(Condition.model_construct(regex=f"(a|a)*${'' if n == 0 else '|z' * n}"))
             for n in range(20)]
    facts = facts_for(_customer_event("Ana", "a" * 40 + "!"), None, None, EvalContext())
    started = time.perf_counter()
    reasons = [check(trap, facts) for trap in traps]
    assert time.perf_counter() - started < REGEX_BUDGET + 5 * REGEX_TIMEOUT  # not 20 x 50 ms
    assert reasons[0] == f"regex gave up after {REGEX_TIMEOUT:g} s"
    assert reasons[-1].startswith("regex not tried") and facts.regex_left <= 0
