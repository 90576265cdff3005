"""Follow-up times in Portuguese, Spanish and English, in the owner's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from papo.bot.dates import DateParseError, parse_when

# Wednesday 25 Nov 2026, 10:00 in São Paulo (13:00 UTC)
NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
SP = "America/Sao_Paulo"


@pytest.mark.parametrize(("text", "expected"), [
    ("amanhã 10h", "2026-11-26 10:00"),
    ("amanha as 10:30", "2026-11-26 10:30"),
    ("hoje 18h", "2026-11-25 18:00"),
    ("sexta 14:30", "2026-11-27 14:30"),
    ("sexta-feira às 9h", "2026-11-27 09:00"),
    ("próxima segunda às 9", "2026-11-30 09:00"),
    ("quarta", "2026-12-02 09:00"),  # today's weekday means next week's
    ("depois de amanhã", "2026-11-27 09:00"),
    ("em 3 horas", "2026-11-25 13:00"),
    ("daqui a 2 dias", "2026-11-27 10:00"),
    ("9 da noite", "2026-11-25 21:00"),
    ("meio-dia", "2026-11-25 12:00"),
    ("25/12 10h", "2026-12-25 10:00"),
    ("2026-12-01 14:00", "2026-12-01 14:00"),
    ("in 2 days", "2026-11-27 10:00"),
    ("tomorrow 3pm", "2026-11-26 15:00"),
    ("next friday at 9am", "2026-11-27 09:00"),
    ("in 30 minutes", "2026-11-25 10:30"),
    ("mañana a las 9", "2026-11-26 09:00"),
    ("el viernes a las 10:30", "2026-11-27 10:30"),
    ("pasado mañana", "2026-11-27 09:00"),
    ("en 2 días", "2026-11-27 10:00"),
    ("3 de la tarde", "2026-11-25 15:00"),
    ("10h", "2026-11-26 10:00"),  # 10:00 has just passed today: tomorrow's
])
def test_understood(text: str, expected: str) -> None:
    when = parse_when(text, timezone=SP, now=NOW)
    assert when.strftime("%Y-%m-%d %H:%M") == expected
    assert when.utcoffset() is not None and when.tzinfo is not None


@pytest.mark.parametrize(("text", "key"), [
    ("hoje 8h", "date_past"), ("blah", "date_unknown"), ("amanhã blah", "date_unknown"), ("", "date_unknown"),
    ("amanhã 25h", "date_unknown"), ("31/02", "date_unknown"),
])
def test_refused_with_a_reason(text: str, key: str) -> None:
    with pytest.raises(DateParseError) as err:
        parse_when(text, timezone=SP, now=NOW)
    assert err.value.key == key


def test_time_zone_is_the_owners() -> None:
    lisbon = parse_when("amanhã 10h", timezone="Europe/Lisbon", now=NOW)
    assert lisbon.astimezone(UTC).hour == 10  # Lisbon is UTC+0 in November
    assert parse_when("amanhã 10h", timezone=SP, now=NOW).astimezone(UTC).hour == 13
