"""Benchmark: evaluate() per inbound event with 10 vs 5,000 rules per business.

    .venv/bin/python bench/rules.py [--events 20000]

Three rule sets per size:
  mixed   — rules spread over triggers and platforms, most gated by product keywords (a realistic shop)
  keyword — every rule is a WhatsApp `message` rule with its own keywords (the index's word gate)
  open    — every rule is a WhatsApp `message` rule without keywords (intent/score/hours conditions):
            nothing can be skipped by the index, the worst case
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from papo.adapters.events import EventKind, InboundEvent
from papo.ai.base import Classification
from papo.engine import EvalContext, LeadView, RuleIndex, RuleView, evaluate
from papo.enums import Intent, LeadQuality, Platform, Sentiment

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
TEXTS = [
    "Oi, qual o preço do bolo de chocolate?", "Vocês entregam hoje no centro?", "quero comprar o produto{n}",
    "Meu pedido #{n} atrasou, que absurdo", "Obrigada! Amei 😍", "tem o sku{n} em estoque?",
    "Qual o horário de funcionamento?", "aceita pix?",
]


def make_rule(i: int, kind: str, rnd: random.Random) -> RuleView:
    if kind == "mixed":
        trigger = rnd.choice(["message", "message", "message", "comment", "postback", "story_reply", "follow"])
        platform = rnd.choice(["any", "whatsapp", "instagram", "facebook", "kwai"])
    else:
        trigger, platform = "message", "whatsapp"
    action = rnd.choice(["send_message", "send_message", "tag_lead", "notify_owner"])
    condition: dict[str, object] = {}
    if kind == "open" or (kind == "mixed" and rnd.random() < 0.1) or trigger == "follow":
        if trigger != "follow":
            condition["intent_in"] = [rnd.choice(["purchase", "complaint", "question"])]
        condition["min_score"] = round(rnd.random(), 2)
        if rnd.random() < 0.3:
            condition["business_hours"] = {"inside": rnd.random() < 0.5, "start": "09:00", "end": "18:00"}
    else:
        condition["keywords_any"] = [f"produto{i}", f"sku{i}"]
    data = {"send_message": {"text": f"Olá {{first_name}}! Resposta {i}", "priority": rnd.randint(1, 500)},
            "tag_lead": {"tags": [f"t{i}"]}, "notify_owner": {"message": f"regra {i}: {{text}}"}}[action]
    return RuleView.from_row(id=f"rule-{i}", name=f"rule {i}", trigger=trigger, platform=platform, action=action,
                             condition=condition, action_data=data,
                             created_at=NOW - timedelta(days=30, minutes=i))


def make_events(n: int, rules: int, rnd: random.Random) -> list[InboundEvent]:
    out = []
    for i in range(n):
        text = rnd.choice(TEXTS).format(n=rnd.randrange(max(rules, 1)))
        out.append(InboundEvent(
            platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="acc", timestamp=NOW,
            remote_user_id=f"55119{i % 500:05d}", remote_user_name="Maria Silva", platform_message_id=f"wamid.{i}",
            text=text,
        ))
    return out


def run(kind: str, size: int, events: int) -> tuple[float, float, float, float]:
    """(µs per event, ms to build the index, µs to validate+compile one rule, actions per event)."""
    rnd = random.Random(42)
    t0 = time.perf_counter()
    rules = [make_rule(i, kind, rnd) for i in range(size)]
    compile_us = (time.perf_counter() - t0) / size * 1e6
    t0 = time.perf_counter()
    index = RuleIndex.build(rules)
    build_ms = (time.perf_counter() - t0) * 1e3
    batch = make_events(events, size, rnd)
    cls = Classification(intent=Intent.QUESTION, sentiment=Sentiment.NEUTRAL, lead_score=0.55, language="pt",
                         confidence=0.9)
    lead = LeadView(name="Maria Silva", tags=frozenset({"cliente"}), quality=LeadQuality.WARM)
    ctx = EvalContext(conversation_id="c", business_name="Doceria", is_first_message=False)
    for e in batch[:500]:  # warm-up
        evaluate(e, cls, lead, index, now=NOW, context=ctx)
    t0 = time.perf_counter()
    fired = 0
    for e in batch:
        fired += len(evaluate(e, cls, lead, index, now=NOW, context=ctx))
    per_event = (time.perf_counter() - t0) / len(batch) * 1e6
    return per_event, build_ms, compile_us, fired / len(batch)


def main() -> None:
    """Print µs per event for 10 and 5,000 rules, and the ratio, for each rule set."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    print(f"evaluate() per event, {args.events:,} WhatsApp messages, one business")
    print(f"{'rule set':<9} {'10 rules':>10} {'5,000 rules':>12} {'ratio':>7} {'actions/event':>14} "
          f"{'index build':>12} {'compile/rule':>13}")
    for kind in ("mixed", "keyword", "open"):
        small, _, _, _ = run(kind, 10, args.events)
        big, build_ms, compile_us, acted = run(kind, 5000, args.events)
        print(f"{kind:<9} {small:>8.1f}µs {big:>10.1f}µs {big / small:>6.1f}x {acted:>14.1f} "
              f"{build_ms:>9.1f} ms {compile_us:>11.1f}µs")


if __name__ == "__main__":
    main()
