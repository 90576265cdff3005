"""What a broadcast goes to and says: the segment of leads (parsed from the CLI's JSON or the bot's
choices) and the template's variables filled per lead."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from papo.engine.render import builtin_values, render
from papo.enums import LeadQuality, LeadStatus, Platform
from papo.services import ServiceError
from papo.services.posts import zone
from papo.services.templates import TemplateInfo
from papo.timezones import DEFAULT_TIMEZONE

BROADCAST_PLATFORMS = (Platform.WHATSAPP, Platform.INSTAGRAM, Platform.FACEBOOK)  # platforms with DMs
LEAD_VARIABLES = ("name", "first_name", "business_name", "platform", "phone", "email")
SEGMENT_KEYS = ("quality", "status", "tags", "platform", "last_contact_before", "last_contact_after")


@dataclass(frozen=True, slots=True)
class Segment:
    """Which leads a broadcast goes to; empty fields do not filter."""

    quality: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    platform: tuple[str, ...] = ()
    last_contact_before: datetime | None = None
    last_contact_after: datetime | None = None

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | None, *, timezone: str = DEFAULT_TIMEZONE) -> Segment:
        """From the JSON the CLI takes (or a dict from the bot); a readable ServiceError when malformed."""
        if value is None or value == "":
            return cls()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ServiceError(f"--segment is not valid JSON: {exc}") from None
        if not isinstance(value, Mapping):
            raise ServiceError('the segment must be a JSON object such as {"quality": ["hot"]}')
        unknown = sorted(set(value) - set(SEGMENT_KEYS))
        if unknown:
            raise ServiceError(f"unknown segment key(s) {', '.join(unknown)}; use {', '.join(SEGMENT_KEYS)}")
        return cls(
            quality=_choices(value.get("quality"), "quality", [q.value for q in LeadQuality]),
            status=_choices(value.get("status"), "status", [s.value for s in LeadStatus]),
            tags=tuple(t.strip().lower() for t in _strings(value.get("tags"), "tags") if t.strip()),
            platform=_choices(value.get("platform"), "platform", [p.value for p in BROADCAST_PLATFORMS]),
            last_contact_before=_moment(value.get("last_contact_before"), "last_contact_before", timezone),
            last_contact_after=_moment(value.get("last_contact_after"), "last_contact_after", timezone),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, only the fields that filter."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                out[name] = value.isoformat()
            elif value:
                out[name] = list(value)
        return out


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ServiceError(f"segment {name}: give a string or a list of strings")


def _choices(value: Any, name: str, allowed: list[str]) -> tuple[str, ...]:
    given = [v.strip().lower() for v in _strings(value, name)]
    wrong = [v for v in given if v not in allowed]
    if wrong:
        raise ServiceError(f"segment {name}: {', '.join(wrong)} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(given))


def _moment(value: Any, name: str, timezone: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ServiceError(f"segment {name}: give an ISO-8601 date or date-time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ServiceError(f"segment {name}: {value!r} is not an ISO-8601 date or date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone(timezone))  # the owner's clock


# ------------------------------------------------------------------ variables


def variable_values(template: TemplateInfo, given: Mapping[str, Any] | str | None) -> list[str]:
    """One value pattern per template variable, in the template's order (Meta's {{1}}, {{2}}…).

    `given` maps a variable's name or its 1-based position to a text that may use the lead's
    `{name}`, `{first_name}`, `{phone}`, `{email}`, `{business_name}`, `{platform}`; lead variables
    the owner does not give are filled from the lead itself.
    """
    if isinstance(given, str):
        try:
            given = json.loads(given) if given.strip() else {}
        except ValueError as exc:
            raise ServiceError(f"--variables is not valid JSON: {exc}") from None
    given = dict(given or {})
    if not all(isinstance(v, str) for v in given.values()):
        raise ServiceError('variables: each value must be a text, e.g. {"1": "{first_name}"}')
    names = list(template.variables)
    positions = {str(i + 1): name for i, name in enumerate(names)}
    unknown = [k for k in given if k not in names and k not in positions]
    if unknown:
        have = ", ".join(f"{{{n}}}" for n in names) or "no variables"
        raise ServiceError(f"template {template.name!r} has no variable {', '.join(unknown)} (it has {have})")
    patterns = []
    for i, name in enumerate(names):
        value = given.get(name, given.get(str(i + 1)))
        if value is None and name in LEAD_VARIABLES:
            value = f"{{{name}}}"
        if value is None:
            raise ServiceError(f"template {template.name!r} needs a value for {{{name}}}: "
                               f"--variables '{{\"{name}\": \"...\"}}'")
        patterns.append(value)
    return patterns


def lead_values(row: Mapping[str, Any]) -> dict[str, str]:
    """The lead variables of one selected lead."""
    values = builtin_values(name=row.get("name"), business_name=row.get("business_name"),
                            platform=Platform(row["platform"]))
    values["phone"] = row.get("phone") or ""
    values["email"] = row.get("email") or ""
    return values


def fill(template: TemplateInfo, patterns: list[str], row: Mapping[str, Any]) -> tuple[list[str], str]:
    """The template's parameter values for one lead, and the text the lead will read."""
    values = lead_values(row)
    params = [render(pattern, values).strip() for pattern in patterns]
    return params, render(template.content, dict(zip(template.variables, params, strict=True)))
