"""IANA time zones as owners type them: one place that knows every way `ZoneInfo` refuses a name."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "America/Sao_Paulo"  # PAPO_TIMEZONE's default (Brazil first), and every fallback zone


def known_zone(name: str) -> ZoneInfo | None:
    """The zone `name` names, or None: unknown ("Mars/Base"), malformed ("../x", ValueError), a directory of
    the zone database ("America": IsADirectoryError) or too long for a file name (OSError)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
