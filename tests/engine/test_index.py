"""RuleIndex: bucket lookup, keyword gating, and equivalence with checking every rule."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from papo.adapters.events import EventKind
from papo.engine import EvalContext, RuleIndex, RuleView, decide
from papo.enums import Intent, Platform, Trigger
from tests.engine.helpers import NOW, classification, event, rule

WORDS = ["preço", "entrega", "bolo", "quero comprar", "horário", "pix", "cardápio", "🔥", "promoção", "frete"]
SPELLINGS = {"preço": ["PRECO", "Preço?", "preco"], "horário": ["HORARIO", "horario!"], "cardápio": ["cardapio"],
             "quero comprar": ["Quero  comprar", "QUERO COMPRAR"], "promoção": ["promocao", "PROMOÇÃO"]}


def ungated(r: RuleView) -> RuleView:
    return replace(r, condition=replace(r.condition, indexed=False))


def many_rules(n: int, seed: int = 7) -> list[RuleView]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        trigger = rnd.choice(["message", "message", "comment", "postback", "follow", "story_reply"])
        platform = rnd.choice(["any", "whatsapp", "instagram", "facebook", "kwai"])
        action = rnd.choice(["send_message", "tag_lead", "notify_owner"])
        condition = {}
        if trigger != "follow":
            choice = rnd.random()
            if choice < 0.45:
                condition["keywords_any"] = [f"produto{i}", f"sku{i}"]
            elif choice < 0.6:
                condition["keywords_all"] = [rnd.choice(WORDS), f"tamanho{i}"]
            elif choice < 0.7:
                condition["keywords_any"] = rnd.sample(WORDS, 2)
        data = {"send_message": {"text": f"r{i}", "priority": rnd.randint(1, 300)},
                "tag_lead": {"tags": [f"t{i}"]}, "notify_owner": {"message": f"n{i}"}}[action]
        out.append(rule(f"rule-{i:05d}", trigger=trigger, platform=platform, action=action,
                        condition=condition, data=data, age=i))
    return out


def test_thousands_of_rules_only_candidates_are_checked() -> None:
    rules = many_rules(5000)
    index = RuleIndex.build(rules)
    assert len(index) == 5000
    e = event("Oi, quero o produto42 com entrega hoje")
    words = frozenset({"oi", "quero", "o", "produto42", "com", "entrega", "hoje"})
    candidates = index.candidates((Trigger.MESSAGE,), Platform.WHATSAPP, words)
    everything = [r for r in rules if r.trigger is Trigger.MESSAGE and r.platform.value in ("whatsapp", "any")]
    # Only message rules of whatsapp/any that share a word with the text or have no gate at all (the
    # intent-gated ones need a classification, and there is none here).
    expected = {r.id for r in everything if (r.condition.gate is None and r.condition.intents is None)
                or (r.condition.gate is not None and r.condition.gate & words)}
    assert {r.id for r in candidates} == expected and len(expected) < len(everything) / 2
    reference = decide(e, None, None, RuleIndex.build([ungated(r) for r in rules]), now=NOW)
    assert decide(e, None, None, index, now=NOW).actions == reference.actions


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10_000), words=st.lists(st.sampled_from([*WORDS, "oi", "tudo", "bem"]), max_size=8),
       kind=st.sampled_from([EventKind.MESSAGE, EventKind.COMMENT, EventKind.POSTBACK]),
       platform=st.sampled_from([Platform.WHATSAPP, Platform.INSTAGRAM, Platform.KWAI]),
       intent=st.sampled_from([None, "question", "purchase", "complaint", "info"]))
def test_index_gives_the_same_actions_as_checking_every_rule(seed, words, kind, platform, intent) -> None:
    rnd = random.Random(seed)
    rules = []
    for i in range(40):
        condition = {}
        pick = rnd.random()
        if pick < 0.4:
            condition["keywords_any"] = rnd.sample(WORDS, rnd.randint(1, 3))
        elif pick < 0.7:
            condition["keywords_all"] = rnd.sample(WORDS, rnd.randint(1, 2))
        if rnd.random() < 0.4:  # alone, or with keywords (then the keyword gate is used)
            condition["intent_in"] = rnd.sample(["question", "purchase", "complaint", "info"], rnd.randint(1, 2))
        action = rnd.choice(["send_message", "tag_lead"])
        rules.append(rule(f"r{i}", trigger=rnd.choice(["message", "comment", "postback"]),
                          platform=rnd.choice(["any", "whatsapp", "instagram"]), action=action,
                          condition=condition, age=rnd.randint(0, 5)))
    text = " ".join(rnd.choice(SPELLINGS.get(w, [w])) for w in words)
    e = event(text, kind=kind, platform=platform)
    ctx = EvalContext(conversation_id="c")
    cls = classification(intent) if intent else None
    indexed = decide(e, cls, None, RuleIndex.build(rules), now=NOW, context=ctx)
    everything = decide(e, cls, None, RuleIndex.build([ungated(r) for r in rules]), now=NOW, context=ctx)
    assert indexed.actions == everything.actions


def test_the_same_rule_twice_acts_once() -> None:
    r = rule("dup", action="tag_lead")
    assert len(decide(event(), None, None, [r, r], now=NOW).actions) == 1


def test_rules_without_keywords_are_always_candidates() -> None:
    index = RuleIndex.build([rule("kw", condition={"keywords_any": ["pix"]}), rule("open", age=1)])
    assert [r.name for r in index.candidates((Trigger.MESSAGE,), Platform.WHATSAPP, frozenset({"oi"}))] == ["open"]
    assert [r.name for r in index.candidates((Trigger.MESSAGE,), Platform.WHATSAPP, frozenset({"pix"}))] == [
        "kw", "open"
    ]


def test_intent_rules_are_candidates_only_for_their_intents() -> None:
    index = RuleIndex.build([rule("complaint", action="notify_owner", condition={"intent_in": ["complaint"]}),
                             rule("both", condition={"keywords_any": ["pix"], "intent_in": ["question"]})])
    none = frozenset[str]()
    assert list(index.candidates((Trigger.MESSAGE,), Platform.WHATSAPP, none, None)) == []
    assert [r.name for r in index.candidates((Trigger.MESSAGE,), Platform.WHATSAPP, none, Intent.COMPLAINT)] == [
        "complaint"
    ]
    # With keywords, the keyword gate is the one used; the intent is still checked afterwards.
    assert [r.name for r in index.candidates((Trigger.MESSAGE,), Platform.WHATSAPP, frozenset({"pix"}),
                                             Intent.PURCHASE)] == ["both"]
