"""Conditions one by one: keywords, regex, classification, tags, first message, hours, media, payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from papo.adapters.events import EventKind
from papo.engine import EvalContext, LeadView, decide
from papo.engine.text import fold, phrase, tokens
from papo.enums import LeadQuality, Platform
from tests.engine.helpers import NOW, classification, event, rule


def fires(condition: dict, text: str | None = "oi", *, trigger: str = "message", lead: LeadView | None = None,
          cls=None, context: EvalContext | None = None, **event_kw) -> bool:
    r = rule(trigger=trigger, condition=condition)
    decision = decide(event(text, **event_kw), cls, lead, [r], now=NOW, context=context or EvalContext())
    return bool(decision.actions)


def test_fold_and_tokens() -> None:
    assert fold("Preço AÇAÍ Ñandú") == "preco acai nandu"
    assert tokens("Qual o PREÇO?? 😍 R$10,00") == ["qual", "o", "preco", "😍", "r", "10", "00"]
    assert phrase("Quero  Comprar!") == " quero comprar "
    assert phrase("?!") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("preço", True), ("PRECO", True), ("Preço?", True), ("qual o preço do bolo", True),
    ("qual o preco?", True), ("PREÇO!!!", True), ("preço.", True), ("(preço)", True),
    ("precocidade", False), ("apreço", False), ("preços", False), ("pre ço", False), ("", False),
])
def test_keywords_any_whole_words_case_and_accent_insensitive(text, expected) -> None:
    assert fires({"keywords_any": ["preço"]}, text) is expected


def test_keyword_written_without_accent_matches_accented_text() -> None:
    assert fires({"keywords_any": ["preco"]}, "Qual o PREÇO?")
    assert not fires({"keywords_any": ["preco"]}, "precocidade")


def test_phrases_match_contiguous_words() -> None:
    cond = {"keywords_any": ["quero comprar"]}
    assert fires(cond, "Oi, QUERO   comprar 2 bolos")
    assert fires(cond, "quero, comprar")  # punctuation between words is not a word
    assert not fires(cond, "quero muito comprar")
    assert not fires(cond, "comprar quero")


def test_keywords_all_needs_every_one_in_any_order() -> None:
    cond = {"keywords_all": ["entrega", "hoje"]}
    assert fires(cond, "Hoje tem ENTREGA?")
    assert not fires(cond, "tem entrega?")


def test_keywords_and_emoji() -> None:
    assert fires({"keywords_any": ["🔥"]}, "quero 🔥🔥")
    assert not fires({"keywords_any": ["🔥"]}, "quero")


def test_keywords_on_an_event_without_text_never_match() -> None:
    assert not fires({"keywords_any": ["oi"]}, None)


def test_regex_is_case_insensitive_and_searches() -> None:
    cond = {"regex": r"\bpedido\s*#?\d{4,}"}
    assert fires(cond, "Meu PEDIDO #12345 não chegou")
    assert not fires(cond, "meu pedido não chegou")
    assert fires({"regex": "^oi$"}, "OI")


def test_regex_on_a_long_text_stays_fast() -> None:
    # The text is cut before matching; with a length-limited, non-nested pattern this is linear.
    assert fires({"regex": "a{3}b"}, "a" * 100_000 + "aaab") is False
    assert fires({"regex": "a{3}b"}, "aaab" + "a" * 100_000) is True


def test_classification_conditions() -> None:
    complaint = classification("complaint", "negative", 0.1)
    assert fires({"intent_in": ["complaint"]}, "atrasou", cls=complaint)
    assert not fires({"intent_in": ["purchase", "question"]}, "atrasou", cls=complaint)
    assert fires({"sentiment_in": ["negative"]}, "x", cls=complaint)
    assert fires({"language_in": ["pt", "es"]}, "x", cls=complaint)
    assert not fires({"language_in": ["en"]}, "x", cls=complaint)
    assert not fires({"intent_in": ["complaint"]}, "x", cls=None)  # nothing classified: cannot hold


def test_quality_and_score_prefer_the_lead_then_the_message() -> None:
    hot_msg = classification("purchase", "positive", 0.9)
    assert fires({"quality_in": ["hot"]}, "x", cls=hot_msg)
    assert fires({"min_score": 0.8}, "x", cls=hot_msg)
    assert not fires({"min_score": 0.95}, "x", cls=hot_msg)
    cold_lead = LeadView(quality=LeadQuality.COLD, score=0.2)
    assert not fires({"quality_in": ["hot"]}, "x", cls=hot_msg, lead=cold_lead)
    assert not fires({"min_score": 0.5}, "x", cls=hot_msg, lead=cold_lead)
    assert fires({"min_score": 0.9}, "x", cls=hot_msg, lead=LeadView(quality=LeadQuality.COLD))  # no CRM score
    assert not fires({"min_score": 0.1}, "x", cls=None)


def test_tags_has_all_and_has_none_case_insensitively() -> None:
    lead = LeadView(tags=frozenset({"VIP", "Cliente Antigo"}))
    assert fires({"tags_has": ["vip"]}, lead=lead)
    assert fires({"tags_has": ["vip", "cliente  antigo"]}, lead=lead)
    assert not fires({"tags_has": ["vip", "atacado"]}, lead=lead)
    assert not fires({"tags_has_not": ["Vip"]}, lead=lead)
    assert fires({"tags_has_not": ["atacado"]}, lead=lead)
    assert not fires({"tags_has": ["vip"]}, lead=None)
    assert fires({"tags_has_not": ["vip"]}, lead=None)


def test_first_message_only() -> None:
    assert fires({"first_message_only": True}, context=EvalContext(is_first_message=True))
    assert not fires({"first_message_only": True}, context=EvalContext(is_first_message=False))
    assert fires({"first_message_only": False}, context=EvalContext(is_first_message=False))


def test_media_id_for_comments_one_or_many() -> None:
    ig = {"trigger": "comment", "kind": EventKind.COMMENT, "platform": Platform.INSTAGRAM}
    assert fires({"media_id": "17900001"}, "quero", post_id="17900001", **ig)
    assert fires({"media_id": ["1", "17900001"]}, "quero", post_id="17900001", **ig)
    assert not fires({"media_id": "17900002"}, "quero", post_id="17900001", **ig)
    assert not fires({"media_id": "17900002"}, "quero", **ig)
    fb = {"trigger": "comment", "kind": EventKind.COMMENT, "platform": Platform.FACEBOOK}
    assert fires({"media_id": "555"}, "quero", post_id="1044_555", **fb)  # Page posts are PAGEID_POSTID
    assert fires({"media_id": "1044_555"}, "quero", post_id="1044_555", **fb)


def test_media_id_for_story_replies() -> None:
    kw = {"trigger": "story_reply", "kind": EventKind.STORY_REPLY, "platform": Platform.INSTAGRAM}
    assert fires({"media_id": "story9"}, "lindo!", story_id="story9", **kw)
    assert not fires({"media_id": "story8"}, "lindo!", story_id="story9", **kw)


def test_payload_in_for_postbacks_and_referrals() -> None:
    kw = {"trigger": "postback", "kind": EventKind.POSTBACK, "platform": Platform.FACEBOOK}
    assert fires({"payload_in": ["VER_CARDAPIO"]}, "Ver cardápio", postback_payload="VER_CARDAPIO", **kw)
    assert not fires({"payload_in": ["FALAR"]}, "Ver cardápio", postback_payload="VER_CARDAPIO", **kw)
    ref = {"trigger": "referral", "kind": EventKind.REFERRAL, "platform": Platform.FACEBOOK}
    assert fires({"payload_in": ["promo_verao"]}, None, referral={"ref": "promo_verao"}, **ref)


# --- business hours -------------------------------------------------------------------------------------

HOURS = {"business_hours": {"inside": True, "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(("when", "inside"), [
    ("2026-03-04T12:00:00-03:00", True),  # Wednesday noon
    ("2026-03-04T09:00:00-03:00", True),  # opening minute counts
    ("2026-03-04T08:59:00-03:00", False),
    ("2026-03-04T18:00:00-03:00", False),  # closing minute does not
    ("2026-03-04T17:59:00-03:00", True),
    ("2026-03-07T12:00:00-03:00", False),  # Saturday
    ("2026-03-05T00:30:00+00:00", False),  # Thursday UTC, but Wednesday 21:30 in São Paulo
    ("2026-03-04T20:30:00+00:00", True),  # 17:30 in São Paulo although 20:30 UTC
])
def test_business_hours_in_the_owner_time_zone(when, inside) -> None:
    assert fires(HOURS, at=at(when)) is inside
    outside = {"business_hours": {**HOURS["business_hours"], "inside": False}}
    assert fires(outside, at=at(when)) is not inside


def test_business_hours_use_the_context_time_zone_by_default_and_the_rule_one_when_given() -> None:
    noon_utc = at("2026-03-04T12:00:00+00:00")  # 09:00 São Paulo, 13:00 Lisbon… 21:00 Tokyo
    assert fires(HOURS, at=noon_utc, context=EvalContext(timezone="America/Sao_Paulo"))
    assert not fires(HOURS, at=noon_utc, context=EvalContext(timezone="Asia/Tokyo"))
    tokyo = {"business_hours": {**HOURS["business_hours"], "timezone": "Asia/Tokyo"}}
    assert not fires(tokyo, at=noon_utc, context=EvalContext(timezone="America/Sao_Paulo"))
    # An owner time zone zoneinfo does not know falls back to São Paulo instead of failing.
    assert fires(HOURS, at=noon_utc, context=EvalContext(timezone="Nowhere/Land"))


NIGHT = {"business_hours": {"days": [4, 5], "start": "22:00", "end": "04:00"}}  # Fri and Sat nights


@pytest.mark.parametrize(("when", "inside"), [
    ("2026-03-06T23:00:00-03:00", True),  # Friday 23:00
    ("2026-03-07T03:59:00-03:00", True),  # Saturday 03:59: still Friday's night
    ("2026-03-07T04:00:00-03:00", False),
    ("2026-03-07T22:00:00-03:00", True),  # Saturday night starts
    ("2026-03-08T02:00:00-03:00", True),  # Sunday 02:00 belongs to Saturday's night
    ("2026-03-08T23:00:00-03:00", False),  # Sunday night: not a listed day
    ("2026-03-06T02:00:00-03:00", False),  # Friday 02:00 belongs to Thursday's night
    ("2026-03-06T12:00:00-03:00", False),
])
def test_business_hours_across_midnight(when, inside) -> None:
    assert fires(NIGHT, at=at(when)) is inside


def test_business_hours_whole_day_and_dst_zone() -> None:
    always = {"business_hours": {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}}
    assert fires(always, at=at("2026-03-08T23:59:00-03:00"))
    # New York switches to DST on 2026-03-08: 09:30 local is 13:30 UTC after, 14:30 UTC before.
    ny = {"business_hours": {"timezone": "America/New_York", "days": [0], "start": "09:00", "end": "10:00"}}
    assert fires(ny, at=at("2026-03-09T13:30:00+00:00"))
    assert not fires(ny, at=at("2026-03-02T13:30:00+00:00"))
    assert fires(ny, at=at("2026-03-02T14:30:00+00:00"))


def test_every_key_must_hold() -> None:
    cond = {"keywords_any": ["preço"], "intent_in": ["question"], "first_message_only": True}
    cls = classification("question")
    assert fires(cond, "preço?", cls=cls, context=EvalContext(is_first_message=True))
    assert not fires(cond, "preço?", cls=cls, context=EvalContext(is_first_message=False))
    assert not fires(cond, "oi", cls=cls, context=EvalContext(is_first_message=True))
