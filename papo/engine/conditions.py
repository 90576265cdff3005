"""Compiled conditions and the facts of one event they are checked against.

A condition is compiled once when the rule index is built (keywords folded, regex compiled, time zone
loaded); checking it against an event is then a few set and substring operations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import regex

from papo.engine.schemas import REGEX_BUDGET, REGEX_TIMEOUT, BusinessHours, Condition, compile_regex, hhmm_minutes
from papo.engine.text import fold_tag, phrase
from papo.enums import Intent, LeadQuality, Sentiment

log = logging.getLogger(__name__)

DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Hours:
    """Compiled business hours: minutes since midnight, days (Monday = 0), zone (None = the owner's)."""

    inside: bool
    zone: ZoneInfo | None
    days: frozenset[int]
    start: int
    end: int  # may be ≤ start: the window crosses midnight

    def contains(self, local: datetime) -> bool:
        """Whether the local time falls in the window; after midnight counts for the previous day."""
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return local.weekday() in self.days
        if minute < self.end:
            return (local - timedelta(days=1)).weekday() in self.days
        return False


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A Condition ready to check; None means "no constraint" everywhere."""

    any_phrases: tuple[str, ...] | None = None
    all_phrases: tuple[str, ...] | None = None
    regex: regex.Pattern[str] | None = None
    intents: frozenset[Intent] | None = None
    sentiments: frozenset[Sentiment] | None = None
    qualities: frozenset[LeadQuality] | None = None
    languages: frozenset[str] | None = None
    min_score: float | None = None
    tags_has: frozenset[str] | None = None
    tags_has_not: frozenset[str] | None = None
    first_message_only: bool = False
    hours: Hours | None = None
    media_ids: frozenset[str] | None = None
    payloads: frozenset[str] | None = None
    # Index gate: the rule can only match an event containing at least one of these tokens (None = any).
    gate: frozenset[str] | None = None
    indexed: bool = True  # False: always a candidate (dry runs, to explain every "no")


def _hours(spec: BusinessHours) -> Hours:
    return Hours(
        inside=spec.inside,
        zone=ZoneInfo(spec.timezone) if spec.timezone else None,
        days=frozenset(spec.days),
        start=hhmm_minutes(spec.start),
        end=hhmm_minutes(spec.end) % DAY if spec.end != "24:00" else DAY,
    )


def _phrases(keywords: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if keywords is None:
        return None
    return tuple(p for p in (phrase(k) for k in keywords) if p)


def _key_token(padded_phrase: str) -> str:
    # The longest word of a phrase is the rarest in practice ("quero comprar" → "comprar").
    return max(padded_phrase.split(), key=len)


def compile_condition(cond: Condition) -> CompiledCondition:
    """Fold, compile and precompute everything a check needs."""
    any_p, all_p = _phrases(cond.keywords_any), _phrases(cond.keywords_all)
    gate: frozenset[str] | None = None
    if all_p:
        gate = frozenset({_key_token(all_p[0])})  # every phrase is needed, one is enough to gate on
    elif any_p:
        gate = frozenset(_key_token(p) for p in any_p)
    return CompiledCondition(
        any_phrases=any_p,
        all_phrases=all_p,
        regex=compile_regex(cond.regex) if cond.regex else None,
        intents=frozenset(cond.intent_in) if cond.intent_in else None,
        sentiments=frozenset(cond.sentiment_in) if cond.sentiment_in else None,
        qualities=frozenset(cond.quality_in) if cond.quality_in else None,
        languages=frozenset(cond.language_in) if cond.language_in else None,
        min_score=cond.min_score,
        tags_has=frozenset(fold_tag(t) for t in cond.tags_has) if cond.tags_has else None,
        tags_has_not=frozenset(fold_tag(t) for t in cond.tags_has_not) if cond.tags_has_not else None,
        first_message_only=cond.first_message_only,
        hours=_hours(cond.business_hours) if cond.business_hours else None,
        media_ids=frozenset(cond.media_id) if cond.media_id else None,
        payloads=frozenset(cond.payload_in) if cond.payload_in else None,
        gate=gate,
    )


@dataclass(slots=True)
class Facts:
    """What conditions look at, computed once per event (the evaluator builds it)."""

    text: str
    words: str  # padded folded tokens
    token_set: frozenset[str]
    intent: Intent | None
    sentiment: Sentiment | None
    language: str | None
    quality: LeadQuality | None
    score: float | None
    tags: frozenset[str]
    first_message: bool
    at: datetime  # when the customer acted (aware)
    owner_zone: ZoneInfo
    media_ids: frozenset[str]
    payload: str | None
    _local: dict[object, datetime] = field(default_factory=dict)
    regex_left: float = REGEX_BUDGET  # seconds of regex matching this message may still cost

    def local(self, zone: ZoneInfo | None) -> datetime:
        """The event time in a zone (the owner's when None), cached per zone."""
        zone = zone or self.owner_zone
        found = self._local.get(zone)
        if found is None:
            found = self._local[zone] = self.at.astimezone(zone)
        return found


def check(cond: CompiledCondition, facts: Facts) -> str | None:
    """None when every part of the condition holds, else why not (for dry runs and logs)."""
    # Cheapest and most selective checks first.
    if cond.first_message_only and not facts.first_message:
        return "not the first message of the conversation"
    if cond.media_ids is not None and not (cond.media_ids & facts.media_ids):
        return "not on one of the chosen posts/media"
    if cond.payloads is not None and facts.payload not in cond.payloads:
        return "button/referral payload is not one of payload_in"
    if cond.tags_has is not None and not cond.tags_has <= facts.tags:
        return "lead lacks a required tag"
    if cond.tags_has_not is not None and cond.tags_has_not & facts.tags:
        return "lead has an excluded tag"
    if cond.intents is not None and facts.intent not in cond.intents:
        return f"intent {facts.intent} is not in intent_in"
    if cond.sentiments is not None and facts.sentiment not in cond.sentiments:
        return f"sentiment {facts.sentiment} is not in sentiment_in"
    if cond.languages is not None and facts.language not in cond.languages:
        return f"language {facts.language} is not in language_in"
    if cond.qualities is not None and facts.quality not in cond.qualities:
        return f"lead quality {facts.quality} is not in quality_in"
    if cond.min_score is not None and (facts.score is None or facts.score < cond.min_score):
        return f"lead score {facts.score} is below min_score {cond.min_score}"
    if cond.any_phrases is not None and not any(p in facts.words for p in cond.any_phrases):
        return "none of keywords_any found"
    if cond.all_phrases is not None and not all(p in facts.words for p in cond.all_phrases):
        return "not all of keywords_all found"
    if cond.regex is not None:
        if facts.regex_left <= 0:  # a thousand slow rules must not cost one message a thousand limits
            return f"regex not tried: this message's {REGEX_BUDGET:g} s of regex matching is spent"
        limit = min(REGEX_TIMEOUT, facts.regex_left)
        started = time.perf_counter()
        try:
            if cond.regex.search(facts.text, timeout=limit) is None:
                return "regex does not match"
        except TimeoutError:
            log.warning("a rule's regex %r gave up on a %d-character message after %g s: treated as no match",
                        cond.regex.pattern, len(facts.text), limit)
            return f"regex gave up after {limit:g} s"
        finally:
            facts.regex_left -= time.perf_counter() - started
    if cond.hours is not None and cond.hours.contains(facts.local(cond.hours.zone)) != cond.hours.inside:
        return "outside business hours" if cond.hours.inside else "inside business hours"
    return None
