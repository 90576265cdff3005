"""The evaluator: triggers, order, one reply per event, cooldown, cap, replays, templates, action ids."""

from __future__ import annotations

from datetime import timedelta

import pytest

from papo.adapters.events import EventKind
from papo.engine import (
    Action,
    ConversationState,
    EvalContext,
    Fired,
    LeadView,
    RuleIndex,
    TemplateView,
    action_id,
    decide,
    evaluate,
)
from papo.engine.triggers import triggers_for
from papo.enums import Action as ActionType
from papo.enums import Platform, Trigger
from tests.adapters.helpers import parse
from tests.engine.helpers import NOW, classification, event, rule

CTX = EvalContext(conversation_id="conv-1", business_name="Doceria da Ana")


def names(actions: list[Action]) -> list[str]:
    return [a.rule_name for a in actions]


# --- which events trigger ------------------------------------------------------------------------------

def test_echoes_are_never_answered() -> None:
    catch_all = [rule("any-reply"), rule("tag", action="tag_lead"), rule("notify", action="notify_owner")]
    echo = event("preço?", kind=EventKind.ECHO)
    assert echo.is_echo and evaluate(echo, None, None, catch_all, now=NOW, context=CTX) == []
    flagged = event("preço?", is_echo=True)  # a message kind flagged as the business's own
    assert evaluate(flagged, None, None, catch_all, now=NOW, context=CTX) == []


@pytest.mark.parametrize(("platform", "fixture"), [
    ("instagram", "echo.json"), ("whatsapp", "smb_echoes.json"),
])
def test_real_echo_payloads_fire_nothing(platform, fixture) -> None:
    events = [e for e in parse(platform, fixture) if e.is_echo]
    assert events
    rules = [rule("r", platform="any"), rule("t", action="tag_lead")]
    for e in events:
        assert triggers_for(e) == ()
        assert evaluate(e, None, None, rules, now=NOW, context=CTX) == []


@pytest.mark.parametrize(("kind", "extra", "expected"), [
    (EventKind.MESSAGE, {}, (Trigger.MESSAGE,)),
    (EventKind.COMMENT, {}, (Trigger.COMMENT,)),
    (EventKind.STORY_REPLY, {}, (Trigger.STORY_REPLY,)),
    (EventKind.STORY_MENTION, {}, (Trigger.STORY_MENTION,)),
    (EventKind.POSTBACK, {}, (Trigger.POSTBACK,)),
    (EventKind.REFERRAL, {}, (Trigger.REFERRAL,)),
    (EventKind.LIKE, {}, (Trigger.LIKE,)),
    (EventKind.FOLLOW, {}, (Trigger.FOLLOW,)),
    (EventKind.STORY_VIEW, {}, (Trigger.STORY_VIEW,)),
    (EventKind.MESSAGE, {"postback_payload": "SIM", "detail_type": "interactive"}, (Trigger.POSTBACK, Trigger.MESSAGE)),
    (EventKind.MESSAGE, {"postback_payload": "SIM", "detail_type": "quick_reply"}, (Trigger.POSTBACK, Trigger.MESSAGE)),
    (EventKind.MESSAGE, {"referral": {"source_id": "ad1"}}, (Trigger.REFERRAL, Trigger.MESSAGE)),
    (EventKind.REACTION, {}, ()),
    (EventKind.MENTION, {}, ()),
    (EventKind.OPTIN, {}, ()),
    (EventKind.STATUS, {}, ()),
    (EventKind.MESSAGE_EDIT, {}, ()),
    (EventKind.COMMENT_DELETE, {}, ()),
    (EventKind.LIKE, {"removed": True}, ()),  # an unlike is not a like
    (EventKind.MESSAGE, {"remote_user_id": ""}, ()),  # nobody to answer
])
def test_event_kinds_to_triggers(kind, extra, expected) -> None:
    assert triggers_for(event("x", kind=kind, **extra)) == expected


def test_real_whatsapp_button_reply_fires_postback_rules() -> None:
    taps = [e for e in parse("whatsapp", "rich.json") if e.postback_payload]
    assert taps
    r = rule("menu", trigger="postback", platform="whatsapp")
    assert all(names(evaluate(e, None, None, [r], now=NOW, context=CTX)) == ["menu"] for e in taps)


def test_rules_of_other_triggers_and_platforms_do_not_fire() -> None:
    rules = [rule("ig", platform="instagram"), rule("comment", trigger="comment"), rule("wa", platform="whatsapp")]
    assert names(evaluate(event("oi"), None, None, rules, now=NOW, context=CTX)) == ["wa"]


def test_inactive_rules_are_not_indexed() -> None:
    assert evaluate(event(), None, None, [rule("off", active=False)], now=NOW, context=CTX) == []


# --- order and the single reply ------------------------------------------------------------------------

def test_one_reply_per_event_while_every_tag_and_notification_applies() -> None:
    rules = [
        rule("reply-a", age=1), rule("reply-b", age=2),
        rule("tag-1", action="tag_lead", data={"tags": ["quente"]}),
        rule("tag-2", action="tag_lead", data={"tags": ["bolo"]}, age=5),
        rule("notify", action="notify_owner"),
        rule("ai", action="ai_reply", age=3),
    ]
    actions = evaluate(event("oi"), None, None, rules, now=NOW, context=CTX)
    assert [a.type for a in actions if a.is_reply] == [ActionType.SEND_MESSAGE]
    assert names(actions) == ["notify", "tag-1", "reply-a", "tag-2"]  # priority, then creation, then id


def test_priority_then_creation_decides_the_reply() -> None:
    rules = [
        rule("old", age=1), rule("new", age=2),
        rule("urgent", age=3, data={"text": "!", "priority": 10}),
    ]
    assert names(evaluate(event(), None, None, rules, now=NOW, context=CTX)) == ["urgent"]
    same = [rule("b", age=2), rule("a", age=1)]
    assert names(evaluate(event(), None, None, same, now=NOW, context=CTX)) == ["a"]


def test_a_non_matching_reply_rule_lets_the_next_one_answer() -> None:
    rules = [rule("price", condition={"keywords_any": ["preço"]}, data={"text": "R$ 10", "priority": 1}),
             rule("fallback", data={"text": "Já te respondo", "priority": 500})]
    assert names(evaluate(event("preço?"), None, None, rules, now=NOW, context=CTX)) == ["price"]
    assert names(evaluate(event("oi"), None, None, rules, now=NOW, context=CTX)) == ["fallback"]


def test_specific_trigger_wins_over_generic_message_at_equal_priority() -> None:
    rules = [rule("dm", age=1), rule("ad", trigger="referral", age=2)]
    from_ad = event("vi o anúncio", referral={"source_id": "ad1"})
    assert names(evaluate(from_ad, None, None, rules, now=NOW, context=CTX)) == ["ad"]
    assert names(evaluate(event("oi"), None, None, rules, now=NOW, context=CTX)) == ["dm"]


def test_platform_rules_and_any_rules_are_merged_in_order() -> None:
    rules = [rule("any", age=1, data={"text": "x", "priority": 50}), rule("wa", platform="whatsapp", age=0)]
    assert names(evaluate(event(), None, None, rules, now=NOW, context=CTX)) == ["any"]


def test_tags_see_the_lead_before_this_events_actions() -> None:
    rules = [rule("tag", action="tag_lead", data={"tags": ["vip"], "priority": 1}),
             rule("vip-reply", condition={"tags_has": ["vip"]})]
    assert names(evaluate(event(), None, LeadView(), rules, now=NOW, context=CTX)) == ["tag"]


# --- cooldown, cap, replays ----------------------------------------------------------------------------

def state(**fired: int) -> ConversationState:
    """Rules that fired `seconds` ago (and count as replies in the last hour)."""
    last = {rid: Fired(NOW - timedelta(seconds=s), f"old-{rid}") for rid, s in fired.items()}
    return ConversationState(last_fired=last, recent_replies={f"old-{rid}": f.at for rid, f in last.items()})


def test_cooldown_suppresses_the_reply_and_holds_the_reply_slot() -> None:
    rules = [rule("price", data={"text": "R$ 10", "priority": 1}), rule("catch-all"),
             rule("tag", action="tag_lead")]
    decision = decide(event(), None, None, rules, now=NOW, context=EvalContext(state=state(price=600)))
    assert names(list(decision.actions)) == ["tag"]
    assert any("cooling down: acted in this conversation 600 s ago (cooldown 3600 s)" in n.message
               for n in decision.notes)
    # After the cooldown the rule answers again.
    later = decide(event(), None, None, rules, now=NOW, context=EvalContext(state=state(price=3600)))
    assert names(list(later.actions)) == ["price", "tag"]


def test_custom_and_zero_cooldowns() -> None:
    quick = rule("quick", data={"text": "ok", "cooldown_seconds": 60})
    assert evaluate(event(), None, None, [quick], now=NOW, context=EvalContext(state=state(quick=59))) == []
    assert evaluate(event(), None, None, [quick], now=NOW, context=EvalContext(state=state(quick=60)))
    never = rule("never", data={"text": "ok", "cooldown_seconds": 0})
    assert evaluate(event(), None, None, [never], now=NOW, context=EvalContext(state=state(never=1)))


def test_notify_owner_has_a_cooldown_too_and_tags_none() -> None:
    rules = [rule("notify", action="notify_owner"), rule("tag", action="tag_lead")]
    ctx = EvalContext(state=state(notify=10, tag=10))
    assert names(evaluate(event(), None, None, rules, now=NOW, context=ctx)) == ["tag"]


def test_hourly_reply_cap_stops_replies_but_not_tags() -> None:
    recent = {f"a{i}": NOW - timedelta(minutes=i) for i in range(5)}
    capped = EvalContext(max_replies_per_hour=5, state=ConversationState(recent_replies=recent))
    rules = [rule("reply"), rule("tag", action="tag_lead")]
    decision = decide(event(), None, None, rules, now=NOW, context=capped)
    assert names(list(decision.actions)) == ["tag"]
    assert any("reply cap reached: 5 automated replies in the last hour (cap 5)" in n.message for n in decision.notes)
    # Replies older than an hour do not count; no cap at all means no limit.
    old = {f"a{i}": NOW - timedelta(minutes=61 + i) for i in range(50)}
    assert names(evaluate(event(), None, None, rules, now=NOW,
                          context=EvalContext(max_replies_per_hour=5,
                                              state=ConversationState(recent_replies=old)))) == ["reply", "tag"]
    unlimited = EvalContext(max_replies_per_hour=None, state=ConversationState(recent_replies=recent))
    assert names(evaluate(event(), None, None, rules, now=NOW, context=unlimited)) == ["reply", "tag"]


def test_two_bots_loop_is_cut_by_the_cap() -> None:
    """Another bot answering every reply: our replies stop at the cap even with cooldown 0."""
    r = rule("echo-bot", data={"text": "Obrigado!", "cooldown_seconds": 0})
    st = ConversationState()
    sent = 0
    for i in range(100):
        now = NOW + timedelta(seconds=i * 5)
        actions = evaluate(event("Obrigado!"), None, None, [r], now=now,
                           context=EvalContext(max_replies_per_hour=20, state=st))
        for a in actions:
            sent += 1
            st = ConversationState(last_fired={a.rule_id: Fired(now, a.action_id)},
                                   recent_replies={**st.recent_replies, a.action_id: now})
    assert sent == 20


def test_a_replayed_event_decides_the_same_reply_again() -> None:
    e = event("oi")
    r = rule("welcome")
    first = evaluate(e, None, None, [r], now=NOW, context=CTX)
    aid = first[0].action_id
    after = ConversationState(last_fired={"welcome": Fired(NOW, aid)}, recent_replies={aid: NOW})
    again = evaluate(e, None, None, [r], now=NOW + timedelta(seconds=30),
                     context=EvalContext(conversation_id="conv-1", business_name="Doceria da Ana",
                                         max_replies_per_hour=1, state=after))
    assert again == first  # same action, same id: the outbound stage sends it at most once
    other = evaluate(event("oi de novo"), None, None, [r], now=NOW + timedelta(seconds=30),
                     context=EvalContext(state=after))
    assert other == []


def test_action_ids_are_deterministic_per_event_and_rule() -> None:
    e = event("oi")
    rules = [rule("a"), rule("t", action="tag_lead")]
    one = evaluate(e, None, None, rules, now=NOW, context=CTX)
    two = evaluate(e, None, None, rules, now=NOW + timedelta(hours=5), context=CTX)
    assert [a.action_id for a in one] == [a.action_id for a in two]
    assert one[0].action_id == action_id(e.dedupe_key, "a") != one[1].action_id
    assert action_id(event("oi").dedupe_key, "a") != one[0].action_id
    assert len(one[0].action_id) == 32


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(event(), None, None, [], now=NOW.replace(tzinfo=None))


# --- what actions carry --------------------------------------------------------------------------------

def test_send_message_renders_variables_and_carries_buttons() -> None:
    r = rule("hi", data={"text": "Olá {first_name}! Aqui é a {business_name} ({platform}).",
                         "buttons": ["Cardápio", "Falar com alguém"]})
    [a] = evaluate(event("oi", remote_user_name="Maria Silva"), None, None, [r], now=NOW, context=CTX)
    assert a.text == "Olá Maria! Aqui é a Doceria da Ana (WhatsApp)."
    assert a.buttons == ("Cardápio", "Falar com alguém")
    assert a.conversation_id == "conv-1" and a.remote_user_id == "5511999990000" and a.account_id == "acc1"
    assert a.trigger is Trigger.MESSAGE and a.cooldown_seconds == 3600 and a.priority == 100
    assert Action.from_dict(a.to_dict()) == a


def test_lead_name_wins_over_the_profile_name_and_conversation_key_is_the_default() -> None:
    [a] = evaluate(event("oi", remote_user_name="mari_doces"), None, LeadView(name="Mariana Souza"),
                   [rule("hi", data={"text": "Oi {first_name}"})], now=NOW)
    assert a.text == "Oi Mariana"
    assert a.conversation_id == "whatsapp:acc1:5511999990000"


def test_comment_reply_points_at_the_comment() -> None:
    r = rule("dm", trigger="comment", platform="instagram", condition={"keywords_any": ["quero"]},
             data={"text": "Te mandei no direct!"})
    comment = event("Quero!!", kind=EventKind.COMMENT, platform=Platform.INSTAGRAM,
                    platform_message_id="17858893269000001", post_id="17900001")
    [a] = evaluate(comment, None, None, [r], now=NOW, context=CTX)
    assert a.reply_to_id == "17858893269000001" and a.platform is Platform.INSTAGRAM


def test_notify_owner_quotes_the_customer_and_classification() -> None:
    r = rule("complaint", action="notify_owner", condition={"intent_in": ["complaint"]},
             data={"message": "{name} reclamou: {text} [{intent}/{sentiment} {score}]"})
    cls = classification("complaint", "negative", 0.12)
    [a] = evaluate(event("Meu pedido atrasou"), cls, None, [r], now=NOW, context=CTX)
    assert a.text == "Maria Silva reclamou: Meu pedido atrasou [complaint/negative 0.12]"
    assert not a.is_reply
    [default] = evaluate(event("x" * 900), cls, None, [rule("n", action="notify_owner", data={})], now=NOW)
    assert default.text.startswith("n: Maria Silva on WhatsApp: xxx") and default.text.endswith("…")


def test_ai_reply_carries_faq_and_rendered_fallback() -> None:
    r = rule("ai", action="ai_reply", data={"faq": "Abrimos 9h–18h.", "fallback_text": "Oi {first_name}!"})
    [a] = evaluate(event("que horas abre?"), None, None, [r], now=NOW, context=CTX)
    assert a.is_reply and a.faq == "Abrimos 9h–18h." and a.text == "Oi Maria!"


T1 = "00000000-0000-4000-8000-000000000001"
T2 = "00000000-0000-4000-8000-000000000002"
WA_TEMPLATE = TemplateView(id=T1, name="boas_vindas", platform=Platform.WHATSAPP,
                           content="Olá {first_name}, use o cupom {cupom}!", variables=("first_name", "cupom"),
                           meta_template_name="boas_vindas_v2", language="pt_BR", is_approved=True)
IG_TEMPLATE = TemplateView(id=T2, name="Boas Vindas", platform=Platform.INSTAGRAM,
                           content="Oi {name}! {extra}", variables=("name", "extra"))


def index(*rules, templates=(WA_TEMPLATE, IG_TEMPLATE)) -> RuleIndex:
    return RuleIndex.build(rules, templates)


def test_send_template_fills_parameters_in_variable_order() -> None:
    r = rule("tpl", action="send_template", data={"template_name": "Boas_Vindas", "variables": {"cupom": "OFF10"}})
    [a] = evaluate(event("oi"), None, None, index(r), now=NOW, context=CTX)
    assert a.template is not None and a.template.template_id == T1  # same name: the event's platform wins
    assert a.template.parameters == ("Maria", "OFF10") and a.template.language == "pt_BR"
    assert a.template.meta_template_name == "boas_vindas_v2"
    assert a.text == a.template.text == "Olá Maria, use o cupom OFF10!"
    positional = rule("p", action="send_template", data={"template_id": T1, "variables": ["{name}", "X"]})
    [b] = evaluate(event("oi"), None, None, index(positional), now=NOW, context=CTX)
    assert b.template is not None and b.template.parameters == ("Maria Silva", "X")


def test_send_template_refuses_what_whatsapp_would_reject() -> None:
    missing = rule("m", action="send_template", data={"template_name": "boas_vindas"})
    decision = decide(event("oi"), None, None, index(missing), now=NOW, context=CTX)
    assert decision.actions == () and "variable {cupom} has no value" in decision.notes[0].message
    too_many = rule("x", action="send_template", data={"template_id": T1, "variables": ["a", "b", "c"]})
    note = decide(event("oi"), None, None, index(too_many), now=NOW, context=CTX).notes[0]
    assert "has 2 variables, 3 values given" in note.message
    unapproved = TemplateView(**{**{f: getattr(WA_TEMPLATE, f) for f in WA_TEMPLATE.__slots__},
                                 "is_approved": False})
    r = rule("u", action="send_template", data={"template_id": T1, "variables": {"cupom": "X"}})
    note = decide(event("oi"), None, None, index(r, templates=[unapproved]), now=NOW, context=CTX).notes[0]
    assert "is not approved by Meta" in note.message


def test_a_broken_template_rule_lets_the_next_reply_rule_answer() -> None:
    gone = rule("gone", action="send_template", data={"template_name": "apagado", "priority": 1})
    rules = index(gone, rule("text"))
    decision = decide(event("oi"), None, None, rules, now=NOW, context=CTX)
    assert names(list(decision.actions)) == ["text"] and "template 'apagado' not found" in decision.notes[0].message


def test_non_meta_template_renders_with_empty_values() -> None:
    r = rule("ig", action="send_template", platform="instagram", data={"template_name": "boas vindas"})
    [a] = evaluate(event("oi", platform=Platform.INSTAGRAM), None, None, index(r), now=NOW, context=CTX)
    assert a.template is not None and a.template.template_id == T2 and a.text == "Oi Maria Silva!"


def test_send_message_fallback_template() -> None:
    r = rule("fb", data={"text": "Oi!", "fallback": {"template_id": T1, "variables": {"cupom": "VOLTA"}}})
    [a] = evaluate(event("oi"), None, None, index(r), now=NOW, context=CTX)
    assert a.fallback is not None and a.fallback.parameters == ("Maria", "VOLTA") and a.template is None
    assert Action.from_dict(a.to_dict()) == a
    bad = rule("bad", data={"text": "Oi!", "fallback": {"template_name": "nope"}})
    decision = decide(event("oi"), None, None, index(bad), now=NOW, context=CTX)
    assert decision.actions[0].fallback is None
    assert not decision.notes[0].skipped and "fallback unavailable" in decision.notes[0].message
