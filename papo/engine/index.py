"""RuleIndex: one business's active rules, bucketed so an event only looks at rules that can match.

Rules are bucketed by (trigger, platform) — `any` has its own bucket, looked up too — and, inside a
bucket, rules with keywords are posted under one word each (the longest word of each keyword_any
phrase, or of the first keywords_all phrase), rules without keywords but with `intent_in` under their
intents. An event therefore only checks the rules of its trigger and platform that share a word with
its text, that want its intent, or that have neither gate: the cost per event does not grow with
rules for other triggers, platforms, words or intents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from papo.engine.model import RuleView, TemplateView
from papo.engine.text import fold
from papo.enums import Intent, Platform, RulePlatform, Trigger


@dataclass(frozen=True, slots=True)
class _Bucket:
    rules: tuple[RuleView, ...]  # sorted by priority, created_at, id; each rule once
    always: frozenset[int]  # positions of rules without a gate
    by_token: Mapping[str, tuple[int, ...]]  # rules with keywords, under one word of each keyword
    by_intent: Mapping[Intent, tuple[int, ...]]  # rules without keywords but with intent_in

    @classmethod
    def build(cls, rules: list[RuleView]) -> _Bucket:
        unique = {rule.id: rule for rule in rules}  # the same rule given twice acts once
        ordered = tuple(sorted(unique.values(), key=lambda r: r.order))
        always: set[int] = set()
        tokens: dict[str, list[int]] = defaultdict(list)
        intents: dict[Intent, list[int]] = defaultdict(list)
        for pos, rule in enumerate(ordered):
            cond = rule.condition
            if cond.indexed and cond.gate is not None:
                for token in cond.gate:
                    tokens[token].append(pos)
            elif cond.indexed and cond.intents is not None:
                for intent in cond.intents:
                    intents[intent].append(pos)
            else:
                always.add(pos)
        return cls(ordered, frozenset(always), {t: tuple(p) for t, p in tokens.items()},
                   {i: tuple(p) for i, p in intents.items()})

    def matching(self, token_set: frozenset[str], intent: Intent | None) -> Sequence[RuleView]:
        """Rules that may match an event with these tokens and this intent, in order."""
        if not self.by_token and not self.by_intent:
            return self.rules
        positions = set(self.always)
        for token in token_set:
            found = self.by_token.get(token)
            if found:
                positions.update(found)
        if intent is not None:
            positions.update(self.by_intent.get(intent, ()))
        if len(positions) == len(self.rules):
            return self.rules
        rules = self.rules
        return [rules[p] for p in sorted(positions)]


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """A business's active rules and templates, built once (and rebuilt when they change)."""

    buckets: Mapping[tuple[Trigger, RulePlatform], _Bucket] = field(default_factory=dict)
    templates: Mapping[str, TemplateView] = field(default_factory=dict)  # by id
    templates_by_name: Mapping[str, tuple[TemplateView, ...]] = field(default_factory=dict)  # folded name
    size: int = 0

    @classmethod
    def build(cls, rules: Iterable[RuleView], templates: Iterable[TemplateView] = ()) -> RuleIndex:
        """Index the active rules (inactive ones are left out) and the templates they may use."""
        grouped: dict[tuple[Trigger, RulePlatform], list[RuleView]] = defaultdict(list)
        size = 0
        for rule in rules:
            if rule.is_active:
                grouped[(rule.trigger, rule.platform)].append(rule)
                size += 1
        by_id: dict[str, TemplateView] = {}
        by_name: dict[str, list[TemplateView]] = defaultdict(list)
        for template in templates:
            by_id[template.id] = template
            by_name[fold(template.name.strip())].append(template)
        return cls(
            buckets={key: _Bucket.build(found) for key, found in grouped.items()},
            templates=by_id,
            templates_by_name={k: tuple(v) for k, v in by_name.items()},
            size=size,
        )

    def __len__(self) -> int:
        return self.size

    def candidates(self, triggers: tuple[Trigger, ...], platform: Platform, token_set: frozenset[str],
                   intent: Intent | None = None) -> Sequence[RuleView]:
        """Rules that may match, ordered by priority, then trigger specificity, then age."""
        found: list[tuple[int, Sequence[RuleView]]] = []
        for rank, trigger in enumerate(triggers):
            for where in (RulePlatform(platform.value), RulePlatform.ANY):
                bucket = self.buckets.get((trigger, where))
                if bucket is not None:
                    rules = bucket.matching(token_set, intent)
                    if rules:
                        found.append((rank, rules))
        if not found:
            return ()
        if len(found) == 1:
            return found[0][1]  # one bucket: already in order, no copy
        keyed = sorted(((r.priority, rank, r.order[1], r.id), r) for rank, rules in found for r in rules)
        seen: set[str] = set()
        out = []
        for _, rule in keyed:
            if rule.id not in seen:  # a rule reached through two triggers still acts once
                seen.add(rule.id)
                out.append(rule)
        return out

    def template(self, *, template_id: str | None, name: str | None, platform: Platform) -> TemplateView | None:
        """A template by id, or by name (case/accent-insensitive), preferring the event's platform."""
        if template_id is not None:
            return self.templates.get(template_id)
        if name is None:
            return None
        same_name = self.templates_by_name.get(fold(name.strip()), ())
        return next((t for t in same_name if t.platform is platform), same_name[0] if same_name else None)
