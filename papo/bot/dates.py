"""Follow-up times as owners type them, in Portuguese, Spanish and English, in the owner's time zone.

Understood: "amanhã 10h", "hoje 18h", "sexta 14:30", "próxima segunda às 9", "depois de amanhã",
"in 2 days", "em 3 horas", "daqui a 2 dias", "tomorrow 3pm", "next friday at 9am", "mañana a las 9",
"el viernes a las 10:30", "pasado mañana", "25/12 10h", "2026-12-01 14:00", "meio-dia", "9 da noite".
A day without a time means 09:00; a time without a day means its next occurrence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME = time(9, 0)
MAX_OFFSET = timedelta(days=3660)  # "em 1000000 dias" is a typo, not a follow-up in the year 4766


class DateParseError(ValueError):
    """The text is not a time the bot understands, or it is in the past; `key` names the message to show."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class _Parts:
    day: date | None = None
    at: time | None = None
    offset: timedelta | None = None


_NUMBERS = {
    "um": 1, "uma": 1, "one": 1, "a": 1, "an": 1, "un": 1, "una": 1, "uno": 1,
    "dois": 2, "duas": 2, "two": 2, "dos": 2, "tres": 3, "three": 3, "quatro": 4, "four": 4, "cuatro": 4,
    "cinco": 5, "five": 5, "seis": 6, "six": 6, "sete": 7, "seven": 7, "siete": 7, "oito": 8, "eight": 8,
    "ocho": 8, "nove": 9, "nine": 9, "nueve": 9, "dez": 10, "ten": 10, "diez": 10,
}
_UNITS = {
    "minute": "minutes", "minutes": "minutes", "min": "minutes", "mins": "minutes", "minuto": "minutes",
    "minutos": "minutes",
    "hour": "hours", "hours": "hours", "h": "hours", "hr": "hours", "hrs": "hours", "hora": "hours", "horas": "hours",
    "day": "days", "days": "days", "d": "days", "dia": "days", "dias": "days",
    "week": "weeks", "weeks": "weeks", "semana": "weeks", "semanas": "weeks",
}
_WEEKDAYS = {
    "segunda": 0, "seg": 0, "lunes": 0, "monday": 0, "mon": 0,
    "terca": 1, "ter": 1, "martes": 1, "tuesday": 1, "tue": 1, "tues": 1,
    "quarta": 2, "qua": 2, "miercoles": 2, "wednesday": 2, "wed": 2,
    "quinta": 3, "qui": 3, "jueves": 3, "thursday": 3, "thu": 3, "thurs": 3,
    "sexta": 4, "sex": 4, "viernes": 4, "friday": 4, "fri": 4,
    "sabado": 5, "sab": 5, "saturday": 5, "sat": 5,
    "domingo": 6, "dom": 6, "sunday": 6, "sun": 6,
}
_DAY_WORDS = [  # longest first: "depois de amanha" before "amanha"
    ("depois de amanha", 2), ("pasado manana", 2), ("day after tomorrow", 2),
    ("amanha", 1), ("manana", 1), ("tomorrow", 1), ("hoje", 0), ("hoy", 0), ("today", 0), ("tonight", 0),
]
_NOON = re.compile(r"\b(meio dia|mediodia|noon)\b")
_MIDNIGHT = re.compile(r"\b(meia noite|medianoche|midnight)\b")
_NUMBER = r"(\d+|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r")"
_UNIT = r"(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")"
_OFFSET = re.compile(rf"\b(?:in|em|en|daqui a|dentro de|within)?\s*{_NUMBER}\s*{_UNIT}\b")
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DMY = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2})|h(\d{2})?)\s*(am|pm)?(?!\w)")
_AMPM = re.compile(r"\b(\d{1,2})\s*(am|pm)\b")
_HOURS = re.compile(r"\b(\d{1,2})\s*(?:horas|hrs|hours|o'?clock)\b")
_AT_HOUR = re.compile(r"\b(?:as|a las|a la|at|@)\s+(\d{1,2})\b(?!\s*(?:/|-|dias?|days?|horas?|hours?))")
_BARE_HOUR = re.compile(r"^\s*(\d{1,2})\s*$")
_AFTERNOON = re.compile(r"\b(da tarde|de la tarde|da noite|de la noche|in the evening|in the afternoon|"
                        r"at night|tarde|noite|noche|evening|tonight)\b")
_MORNING = re.compile(r"\b(da manha|de la manana|in the morning|morning)\b")
_NEXT = re.compile(r"\b(proxima|proximo|next|que vem|siguiente)\b")


def fold(text: str) -> str:
    """Lower case without accents, hyphens between words as spaces, single spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    plain = plain.lower().replace("-feira", "").replace(",", " ")
    plain = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", plain)  # "meio-dia"; dates keep theirs (2026-12-01)
    return " ".join(plain.split())


def parse_when(text: str, *, timezone: str, now: datetime) -> datetime:
    """The moment `text` means, as an aware datetime in `timezone`; DateParseError when unclear or past."""
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    folded = fold(text)
    if not folded:
        raise DateParseError("date_unknown")
    parts, rest = _parse(folded, local_now)
    if rest.strip(" .!"):
        raise DateParseError("date_unknown")
    try:
        when = _when(parts, local_now, tz)
    except OverflowError:  # "em 999999999 dias": past the calendar's end
        raise DateParseError("date_unknown") from None
    if not _later(when, local_now):
        raise DateParseError("date_past")
    return when


def _when(parts: _Parts, local_now: datetime, tz: ZoneInfo) -> datetime:
    if parts.offset is not None:
        base = local_now + parts.offset
        if parts.at is None and parts.day is None:
            return base.replace(second=0, microsecond=0)
        day = parts.day or base.date()
        return _combine(day, parts.at or base.time().replace(second=0, microsecond=0), tz)
    if parts.day is None and parts.at is None:
        raise DateParseError("date_unknown")
    if parts.day is None:
        assert parts.at is not None
        today = _combine(local_now.date(), parts.at, tz)
        # fold=1: the second 01:20 of a DST fall-back night, still to come when the first has passed.
        for when in (today, today.replace(fold=1)):
            if _later(when, local_now):
                return when
        return _combine(local_now.date() + timedelta(days=1), parts.at, tz)
    return _combine(parts.day, parts.at or DEFAULT_TIME, tz)


def _later(when: datetime, now: datetime) -> bool:
    """Compared as instants: datetimes sharing a tzinfo compare by wall clock, wrong in a DST fall-back hour."""
    return when.timestamp() > now.timestamp()


def _combine(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tz)


def _parse(text: str, now: datetime) -> tuple[_Parts, str]:
    """Pull the day, the time and an offset out of the text; what is left should be filler words."""
    offset = None
    for match in _OFFSET.finditer(text):
        if _looks_like_clock(match):
            continue
        count = match.group(1)
        n = int(count) if count.isdigit() else _NUMBERS[count]
        try:
            offset = timedelta(**{_UNITS[match.group(2)]: n})
        except OverflowError:  # more days than datetime holds
            raise DateParseError("date_unknown") from None
        if offset > MAX_OFFSET:
            raise DateParseError("date_unknown")
        text = _cut(text, match)
        break
    at, text = _time(text)
    day, text = _day(text, now)
    return _Parts(day=day, at=at, offset=offset), _strip_filler(text)


def _looks_like_clock(match: re.Match[str]) -> bool:
    """'10h' or '10 horas' alone is a time of day, not 'in 10 hours' (unless 'in'/'em'/'daqui a' says so)."""
    prefixed = bool(re.match(r"\s*(in|em|en|daqui a|dentro de|within)\b", match.group(0)))
    return _UNITS[match.group(2)] == "hours" and not prefixed


def _cut(text: str, match: re.Match[str]) -> str:
    return f"{text[:match.start()]} {text[match.end():]}"


def _time(text: str) -> tuple[time | None, str]:
    pm = bool(_AFTERNOON.search(text))
    am = bool(_MORNING.search(text))
    text = _MORNING.sub(" ", _AFTERNOON.sub(" ", text))
    if _NOON.search(text):
        return time(12, 0), _NOON.sub(" ", text)
    if _MIDNIGHT.search(text):
        return time(0, 0), _MIDNIGHT.sub(" ", text)
    hour = minute = None
    suffix = None
    for pattern in (_CLOCK, _AMPM, _HOURS, _AT_HOUR):
        match = pattern.search(text)
        if match is None:
            continue
        hour = int(match.group(1))
        if pattern is _CLOCK:
            minute = int(match.group(2) or match.group(3) or 0)
            suffix = match.group(4)
        elif pattern is _AMPM:
            minute, suffix = 0, match.group(2)
        else:
            minute = 0
        text = _cut(text, match)
        break
    if hour is None:
        match = _BARE_HOUR.match(text) if (pm or am) else None
        if match is None:
            return None, text  # "à tarde" alone is not a time
        hour, minute = int(match.group(1)), 0
        text = ""
    assert minute is not None
    if suffix == "pm" or (pm and hour < 12):
        hour = hour + 12 if hour < 12 else hour
    elif suffix == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise DateParseError("date_unknown")
    return time(hour, minute), text


def _day(text: str, now: datetime) -> tuple[date | None, str]:
    today = now.date()
    for word, days in _DAY_WORDS:
        match = re.search(rf"\b{word}\b", text)
        if match:
            return today + timedelta(days=days), _cut(text, match)
    match = _ISO.search(text)
    if match:
        return _date(int(match.group(1)), int(match.group(2)), int(match.group(3))), _cut(text, match)
    match = _DMY.search(text)
    if match:
        day, month, year = int(match.group(1)), int(match.group(2)), match.group(3)
        if year is None:
            candidate = _date(today.year, month, day)
            if candidate < today:
                candidate = _date(today.year + 1, month, day)
            return candidate, _cut(text, match)
        full = int(year) + (2000 if len(year) == 2 else 0)
        return _date(full, month, day), _cut(text, match)
    for word, weekday in sorted(_WEEKDAYS.items(), key=lambda kv: -len(kv[0])):
        match = re.search(rf"\b{word}\b", text)
        if match:
            # Today's weekday means next week's: "sexta" said on a Friday is the next Friday.
            ahead = (weekday - today.weekday()) % 7 or 7
            text = _NEXT.sub(" ", _cut(text, match))
            return today + timedelta(days=ahead), text
    return None, text


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateParseError("date_unknown") from None


_FILLER = re.compile(r"\b(as|a las|a la|at|on|el|la|las|no|na|de|da|do|a|o|al|para|por|the|e|y|and|feira|"
                     r"o'?clock|hrs|em|en|in|proxima|proximo|next|que vem|siguiente|that)\b")


def _strip_filler(text: str) -> str:
    return " ".join(_FILLER.sub(" ", text).split())
