"""Opening hours, holidays and the "away" reply (issue 16).

The owner writes hours the way a shop door shows them: `mon-fri 09:00-18:00, sat 09:00-13:00` (English,
Portuguese or Spanish day names; several ranges per day; a range whose end is before its start crosses
midnight and belongs to the day it starts, as in the rules' `business_hours`). Holidays are dates on which
the business does not open at all. Outside the hours a customer's direct message gets the owner's away
text — once per conversation per *closed period*: the stretch from the moment the business last closed
until it opens again, named by that moment, so the away reply's outbound id is the same for every message
of the period and the outbound ledger sends it once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from papo.engine.render import BUILTINS, unknown_placeholders
from papo.engine.schemas import hhmm_minutes
from papo.models import OwnerSettings
from papo.services import ServiceError
from papo.services.templates import UserRef, user_id
from papo.timezones import DEFAULT_TIMEZONE, known_zone

MAX_AWAY_CHARS = 1000
MAX_HOLIDAYS = 366
LOOKBACK_DAYS = 400  # how far back the last closing is looked for (a long holiday break, at most a year)
DAY_NAMES = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "seg": 0, "ter": 1, "qua": 2, "qui": 3, "sex": 4, "sab": 5, "sáb": 5, "dom": 6,
    "lun": 0, "mar": 1, "mie": 2, "mié": 2, "jue": 3, "vie": 4,
}
SHORT = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):?(\d{2})?-(\d{1,2}):?(\d{2})?$")
_DAYS = re.compile(r"^([^\W\d_]+)(?:-([^\W\d_]+))?$")


@dataclass(frozen=True, slots=True)
class Window:
    """Open on `days` (Monday = 0) from `start` to `end` ("HH:MM"; end may be 24:00 or before start)."""

    days: tuple[int, ...]
    start: str
    end: str

    def to_dict(self) -> dict[str, Any]:
        """As stored in owner_settings.business_hours."""
        return {"days": list(self.days), "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Hours:
    """A business's opening hours, holidays and away text, in its time zone."""

    windows: tuple[Window, ...] = ()
    holidays: tuple[date, ...] = ()
    away_text: str | None = None
    timezone: str = DEFAULT_TIMEZONE

    @property
    def away_on(self) -> bool:
        """Whether an away reply can be sent: hours and a text are both set."""
        return bool(self.windows and self.away_text)

    def describe(self) -> str:
        """The hours written back the way they are typed (`mon-fri 09:00-18:00, sat 09:00-13:00`)."""
        return format_windows(self.windows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI prints it)."""
        return {"hours": self.describe(), "windows": [w.to_dict() for w in self.windows],
                "holidays": [d.isoformat() for d in self.holidays], "away_text": self.away_text,
                "timezone": self.timezone}


def _day(name: str) -> int:
    key = name.strip().lower().rstrip(".")
    if key[:3] in DAY_NAMES and key not in DAY_NAMES:
        key = key[:3]
    if key not in DAY_NAMES:
        raise ServiceError(f"{name!r} is not a day (mon, tue, wed, thu, fri, sat, sun)")
    return DAY_NAMES[key]


def _days(spec: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in spec.split("/"):
        match = _DAYS.match(part.strip())
        if not match:
            raise ServiceError(f"{part!r} is not a day or a range of days like mon-fri")
        first = _day(match.group(1))
        last = _day(match.group(2)) if match.group(2) else first
        day = first
        while True:  # a range may wrap the week: sat-mon
            out.append(day)
            if day == last:
                break
            day = (day + 1) % 7
    return tuple(sorted(set(out)))


def _hhmm(hours: str, minutes: str | None, *, end: bool) -> str:
    value = f"{int(hours):02d}:{minutes or '00'}"
    if value == "24:00" and end:
        return value
    if int(hours) > 23 or int(minutes or 0) > 59:
        raise ServiceError(f"{value!r} is not a time (00:00–23:59; 24:00 only as an end)")
    return value


def parse_windows(spec: str) -> tuple[Window, ...]:
    """`mon-fri 09:00-18:00, sat 09:00-13:00` as windows; ServiceError naming what is wrong."""
    windows: list[Window] = []
    for group in re.split(r"[,;\n]", spec):
        words = group.split()
        if not words:
            continue
        if len(words) < 2:
            raise ServiceError(f"{group.strip()!r} needs days and hours, like mon-fri 09:00-18:00")
        days = _days(words[0])
        for word in words[1:]:
            match = _RANGE.match(word.replace("h", ":").replace("::", ":").strip(":"))
            if not match:
                raise ServiceError(f"{word!r} is not a range of hours like 09:00-18:00")
            start = _hhmm(match.group(1), match.group(2), end=False)
            stop = _hhmm(match.group(3), match.group(4), end=True)
            if hhmm_minutes(start) == hhmm_minutes(stop):
                raise ServiceError(f"{word!r} starts and ends at the same time; use 00:00-24:00 for a whole day")
            windows.append(Window(days, start, stop))
    if not windows:
        raise ServiceError("no opening hours given (e.g. mon-fri 09:00-18:00, sat 09:00-13:00)")
    return tuple(windows)


def format_windows(windows: tuple[Window, ...]) -> str:
    """Windows written as they are typed."""
    parts = []
    for w in windows:
        days = w.days
        if len(days) > 1 and days == tuple(range(days[0], days[-1] + 1)):
            label = f"{SHORT[days[0]]}-{SHORT[days[-1]]}"
        else:
            label = "/".join(SHORT[d] for d in days)
        parts.append(f"{label} {w.start}-{w.end}")
    return ", ".join(parts)


def parse_holiday(value: str) -> date:
    """A holiday as typed: 2026-12-25 or 25/12/2026."""
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time in it
        except ValueError:
            continue
    raise ServiceError(f"{value!r} is not a date (2026-12-25 or 25/12/2026)")


def _intervals(hours: Hours, zone: ZoneInfo, day: date) -> list[tuple[datetime, datetime]]:
    """The opening intervals that start on `day` (none on a holiday)."""
    if day in hours.holidays:
        return []
    out = []
    for w in hours.windows:
        if day.weekday() not in w.days:
            continue
        start = datetime.combine(day, time.fromisoformat(w.start), tzinfo=zone)
        end_day = day + timedelta(days=1) if w.end == "24:00" or hhmm_minutes(w.end) <= hhmm_minutes(w.start) \
            else day
        end = datetime.combine(end_day, time(0, 0) if w.end == "24:00" else time.fromisoformat(w.end), tzinfo=zone)
        out.append((start, end))
    return out


def closed_since(hours: Hours, at: datetime) -> datetime | None:
    """When the closed period holding `at` began (the last closing), or None when the business is open then.

    A business whose hours never opened in the last LOOKBACK_DAYS is closed since that bound's start.
    """
    zone = known_zone(hours.timezone) or ZoneInfo(DEFAULT_TIMEZONE)
    local = at.astimezone(zone)
    last_close: datetime | None = None
    for back in range(LOOKBACK_DAYS + 1):
        day = local.date() - timedelta(days=back)
        for start, end in _intervals(hours, zone, day):
            if start <= local < end:
                return None
            if end <= local and (last_close is None or end > last_close):
                last_close = end
        # An interval ends before the end of the day after it starts: once a closing at or after the start of
        # the day after `day` is known (and `at` is past it), no earlier day can close later or still be open.
        after = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        if back >= 1 and last_close is not None and last_close >= after:
            break
    if last_close is None:
        return datetime.combine(local.date() - timedelta(days=LOOKBACK_DAYS), time(0), tzinfo=zone)
    return last_close


# ------------------------------------------------------------------ stored settings


def _windows_from(value: Any) -> tuple[Window, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        if isinstance(item, dict) and {"days", "start", "end"} <= item.keys():
            out.append(Window(tuple(int(d) for d in item["days"]), str(item["start"]), str(item["end"])))
    return tuple(out)


def _holidays_from(value: Any) -> tuple[date, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(sorted({date.fromisoformat(str(v)) for v in value}))


async def get_hours(user: UserRef, *, default_timezone: str = DEFAULT_TIMEZONE) -> Hours:
    """The business's opening hours, holidays and away text (empty when never set)."""
    row = await OwnerSettings.get_or_none(user_id=user_id(user))
    if row is None:
        return Hours(timezone=default_timezone)
    return Hours(windows=_windows_from(row.business_hours), holidays=_holidays_from(row.holidays),
                 away_text=row.away_text, timezone=row.timezone or default_timezone)


async def hours_by_user(user_ids: list[Any], *, default_timezone: str) -> dict[Any, Hours]:
    """Hours of several businesses at once (the automation stage), only those with an away reply set."""
    rows = await OwnerSettings.filter(user_id__in=user_ids, away_text__isnull=False,
                                      business_hours__isnull=False)
    out = {}
    for row in rows:
        hours = Hours(windows=_windows_from(row.business_hours), holidays=_holidays_from(row.holidays),
                      away_text=row.away_text, timezone=row.timezone or default_timezone)
        if hours.away_on:
            out[row.user_id] = hours
    return out


async def set_hours(user: UserRef, *, spec: str | None = None, clear: bool = False, away_text: str | None = None,
                    timezone: str | None = None, default_timezone: str = DEFAULT_TIMEZONE) -> Hours:
    """Change the opening hours (`spec`, or `clear`), the away text ("" removes it) and the time zone."""
    row, _ = await OwnerSettings.get_or_create(user_id=user_id(user))
    if clear:
        row.business_hours = None
    elif spec is not None:
        row.business_hours = [w.to_dict() for w in parse_windows(spec)]
    if away_text is not None:
        text = away_text.strip()
        if len(text) > MAX_AWAY_CHARS:
            raise ServiceError(f"the away text has {len(text)} characters; the limit is {MAX_AWAY_CHARS}")
        unknown = unknown_placeholders(text, BUILTINS)
        if unknown:
            raise ServiceError(f"unknown variable {{{unknown[0]}}} in the away text (allowed: {', '.join(BUILTINS)})")
        row.away_text = text or None
    if timezone is not None:
        if known_zone(timezone.strip()) is None:
            raise ServiceError(f"unknown time zone {timezone!r} (e.g. {DEFAULT_TIMEZONE})")
        row.timezone = timezone.strip()
    await row.save()
    return await get_hours(user, default_timezone=default_timezone)


async def change_holidays(user: UserRef, *, add: list[str] = (), remove: list[str] = (),  # type: ignore[assignment]
                          default_timezone: str = DEFAULT_TIMEZONE) -> Hours:
    """Add and remove holidays (dates as typed); the dates are kept sorted, each once."""
    added, removed = [parse_holiday(v) for v in add], {parse_holiday(v) for v in remove}
    row, _ = await OwnerSettings.get_or_create(user_id=user_id(user))
    current = set(_holidays_from(row.holidays))
    missing = sorted(removed - current)
    if missing:
        raise ServiceError(f"{missing[0].isoformat()} is not one of the holidays")
    days = sorted((current | set(added)) - removed)
    if len(days) > MAX_HOLIDAYS:
        raise ServiceError(f"at most {MAX_HOLIDAYS} holidays")
    row.holidays = [d.isoformat() for d in days]
    await row.save()
    return await get_hours(user, default_timezone=default_timezone)
