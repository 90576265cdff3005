"""Opening hours (issue 16): parsing what owners type, and the closed period an away reply belongs to."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from papo.services import ServiceError
from papo.services.hours import Hours, closed_since, format_windows, parse_holiday, parse_windows

SP = "America/Sao_Paulo"  # UTC-3 all year


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    """A São Paulo time in December 2026 (the 7th is a Monday), as UTC."""
    return datetime(2026, 12, day, hour + 3, minute, tzinfo=UTC) if hour + 3 < 24 else \
        datetime(2026, 12, day + 1, hour + 3 - 24, minute, tzinfo=UTC)


def test_hours_are_read_in_three_languages_and_written_back() -> None:
    windows = parse_windows("seg-sex 9h-12h 13:00-18:00; sáb 09:00-13:00, dom 22:00-02:00")
    assert format_windows(windows) == "mon-fri 09:00-12:00, mon-fri 13:00-18:00, sat 09:00-13:00, sun 22:00-02:00"
    assert parse_windows("lun/mié/vie 10:00-24:00")[0].days == (0, 2, 4)
    assert parse_windows("sat-mon 10:00-14:00")[0].days == (0, 5, 6)  # wraps the week
    for bad, says in (("mon-fri", "needs days and hours"), ("someday 9-18", "is not a day"),
                      ("mon 18:00-18:00", "same time"), ("mon 9-25", "is not a time"), ("", "no opening hours")):
        with pytest.raises(ServiceError, match=says):
            parse_windows(bad)
    assert parse_holiday("25/12/2026") == parse_holiday("2026-12-25") == date(2026, 12, 25)


def test_the_closed_period_is_named_by_the_last_closing() -> None:
    hours = Hours(windows=parse_windows("mon-fri 09:00-18:00, sat 09:00-13:00"), timezone=SP, away_text="x")
    assert closed_since(hours, _at(7, 10)) is None  # Monday 10:00: open
    monday_close = closed_since(hours, _at(7, 19))
    assert monday_close == _at(7, 18)
    assert closed_since(hours, _at(8, 7)) == monday_close  # the same night, before Tuesday opens
    assert closed_since(hours, _at(8, 18)) == _at(8, 18)  # the end minute is closed: a new period
    # Saturday afternoon through Monday 08:59 is one period.
    assert closed_since(hours, _at(12, 14)) == closed_since(hours, _at(14, 8, 59)) == _at(12, 13)


def test_a_holiday_is_closed_all_day_and_joins_the_periods_around_it() -> None:
    hours = Hours(windows=parse_windows("mon-fri 09:00-18:00"), timezone=SP, away_text="x",
                  holidays=(date(2026, 12, 25),))
    assert closed_since(hours, _at(24, 12)) is None
    assert closed_since(hours, _at(25, 12)) == _at(24, 18)  # Christmas (a Friday), at noon: closed
    assert closed_since(hours, _at(27, 20)) == _at(24, 18)  # … until Monday
    assert closed_since(hours, _at(28, 9)) is None


def test_a_window_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    hours = Hours(windows=parse_windows("fri 22:00-04:00"), timezone=SP, away_text="x")
    assert closed_since(hours, _at(12, 3)) is None  # Saturday 03:00 is Friday night's window
    assert closed_since(hours, _at(12, 5)) == _at(12, 4)
    never = Hours(windows=parse_windows("mon 09:00-10:00"), timezone=SP, away_text="x",
                  holidays=tuple(date(2026, 1, 1).fromordinal(date(2026, 1, 1).toordinal() + i) for i in range(400)))
    assert closed_since(never, _at(9, 12)) is not None  # closed for more than the look-back: still one period
