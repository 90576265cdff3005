"""The follow-up time parser (papo/bot/dates.py) under random owner input.

Documented contract: `parse_when` returns an aware datetime in the owner's zone, or raises DateParseError
(key "date_unknown" or "date_past"); the bot handlers catch nothing else, so any other exception leaves
the owner without an answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from papo.bot import dates
from papo.bot.dates import DateParseError, parse_when

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
KEYS = {"date_unknown", "date_past"}
ZONES = ["America/Sao_Paulo", "UTC", "Europe/Lisbon", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham",
         "Australia/Lord_Howe"]
NO_DST = ["America/Sao_Paulo", "UTC", "Asia/Kathmandu", "Asia/Tokyo"]

DAY_WORDS = ["amanhã", "amanha", "hoje", "depois de amanhã", "pasado mañana", "mañana", "tomorrow", "today",
             "tonight", "hoy", "day after tomorrow"]
WEEKDAYS = ["segunda", "terça-feira", "quarta", "sexta", "sábado", "domingo", "monday", "fri", "viernes",
            "próxima segunda", "next friday", "el viernes", "sexta que vem"]
CLOCKS = ["10h", "10h30", "9:15", "14:30", "3pm", "12am", "12pm", "9 am", "às 9", "at 9", "a las 10", "meio-dia",
          "meia-noite", "noon", "midnight", "9 da noite", "3 de la tarde", "8 da manhã", "10 horas", "25h", "24:00",
          "23:59", "0:00", "99:99", "7 in the evening"]
DATES = ["25/12", "31/02", "01/01/2030", "1/1/30", "2026-12-01", "2030-02-29", "2028-02-29", "0000-01-01",
         "9999-12-31", "31/12/9999", "1/13", "29/02"]
FILLER = ["às", "as", "de", "the", "on", "no", "na", "para", "e", ",", ".", "!", "por favor", "xyz"]
UNITS = ["minutos", "minutes", "min", "horas", "hours", "h", "dias", "days", "d", "semanas", "weeks", "semana"]
UNIT_SECONDS = {"min": 60, "minutos": 60, "minutes": 60, "h": 3600, "horas": 3600, "hours": 3600,
                "d": 86400, "dias": 86400, "days": 86400, "semana": 604800, "semanas": 604800, "weeks": 604800}

nows = st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
noise = st.text(st.characters(exclude_categories=("Nd",)), max_size=4)
phrases = st.tuples(
    st.none() | st.sampled_from(DAY_WORDS + WEEKDAYS + DATES),
    st.none() | st.sampled_from(FILLER),
    st.none() | st.sampled_from(CLOCKS),
    st.none() | st.none() | st.sampled_from(FILLER) | noise,
).flatmap(lambda parts: st.permutations([p for p in parts if p is not None])).map(" ".join)


def _reads_as_offset(text: str) -> bool:
    """Whether the parser takes part of `text` as "in N units" (the offset path)."""
    return any(not dates._looks_like_clock(m) for m in dates._OFFSET.finditer(dates.fold(text)))


def _check(when: object, zone: str, now: datetime) -> datetime:
    assert isinstance(when, datetime)
    assert when.tzinfo == ZoneInfo(zone) and when.utcoffset() is not None
    assert when.year <= 9999 and when.second == 0 and when.microsecond == 0
    return when


@FUZZ
@given(text=phrases, zone=st.sampled_from(ZONES), now=nows)
def test_day_and_time_words_are_a_future_moment_in_the_owners_zone_or_date_parse_error(
    text: str, zone: str, now: datetime
) -> None:
    try:
        when = _check(parse_when(text, timezone=zone, now=now), zone, now)
    except DateParseError as exc:
        assert exc.key in KEYS
        event(exc.key)
        return
    event("understood")
    if _reads_as_offset(text):
        return  # the offset path: see the properties below
    assert when > now, (text, when, now)
    if not any(d in text for d in DATES):
        # Without an explicit date the horizon is short: a weekday is at most a week away.
        assert when - now <= timedelta(days=8), (text, when)


@FUZZ
@given(count=st.integers(1, 500), unit=st.sampled_from(UNITS), prefix=st.sampled_from(["em", "in", "daqui a", "en"]),
       zone=st.sampled_from(NO_DST), now=nows)
def test_in_n_units_is_exactly_that_far_ahead(count: int, unit: str, prefix: str, zone: str, now: datetime) -> None:
    when = _check(parse_when(f"{prefix} {count} {unit}", timezone=zone, now=now), zone, now)
    ahead = when - now
    exact = timedelta(seconds=count * UNIT_SECONDS[unit])
    assert exact - timedelta(minutes=1) < ahead <= exact, (count, unit, when, now)
    assert when > now


@FUZZ
@given(text=st.text(max_size=40), zone=st.sampled_from(ZONES), now=nows)
def test_any_text_is_a_moment_or_date_parse_error(text: str, zone: str, now: datetime) -> None:
    try:
        _check(parse_when(text, timezone=zone, now=now), zone, now)
    except DateParseError as exc:
        assert exc.key in KEYS


def test_the_date_properties_see_both_outcomes() -> None:
    """Controls: the phrase grammar above produces understood, past and unknown texts."""
    now = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert parse_when("sexta 14:30", timezone="America/Sao_Paulo", now=now).date() == date(2026, 11, 27)
    for text, key in (("hoje 8h", "date_past"), ("xyz", "date_unknown"), ("31/02", "date_unknown")):
        with pytest.raises(DateParseError) as info:
            parse_when(text, timezone="America/Sao_Paulo", now=now)
        assert info.value.key == key
    assert _reads_as_offset("em 3 horas") and not _reads_as_offset("10 horas")


@settings(FUZZ, max_examples=25)
@example(text="em 999999999 dias")
@given(text=st.builds("em {} {}".format, st.integers(10**5, 10**15), st.sampled_from(["dias", "semanas", "horas"])))
def test_a_huge_offset_is_date_parse_error(text: str) -> None:
    now = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    with pytest.raises(DateParseError):
        parse_when(text, timezone="America/Sao_Paulo", now=now)


@pytest.mark.parametrize(("text", "zone", "now"), [
    ("em 0 minutos", "America/Sao_Paulo", datetime(2026, 11, 25, 13, 0, 30, tzinfo=UTC)),
    ("hoje em 2 dias", "America/Sao_Paulo", datetime(2026, 11, 25, 13, 0, 30, tzinfo=UTC)),
    ("2020-01-01 em 2 dias", "America/Sao_Paulo", datetime(2026, 11, 25, 13, 0, tzinfo=UTC)),
    ("1:20", "America/New_York", datetime(2026, 11, 1, 6, 10, tzinfo=UTC)),
])
def test_a_follow_up_is_never_in_the_past(text: str, zone: str, now: datetime) -> None:
    try:
        when = parse_when(text, timezone=zone, now=now)
    except DateParseError as exc:
        assert exc.key == "date_past"
        return
    assert when > now, (text, when.isoformat(), now.isoformat())


def test_a_bare_time_in_the_repeated_dst_hour_is_its_second_occurrence() -> None:
    """01:10 EST on the fall-back night (the second 01:10): '1:20' is ten minutes later, not tomorrow."""
    when = parse_when("1:20", timezone="America/New_York", now=datetime(2026, 11, 1, 6, 10, tzinfo=UTC))
    assert when.astimezone(UTC) == datetime(2026, 11, 1, 6, 20, tzinfo=UTC)
