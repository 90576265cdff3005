"""Filling `{placeholders}` in reply texts and templates.

Syntax: `{name}` is a variable (letters, digits, underscore, not starting with a digit); `{{` and `}}`
are literal braces. Anything else with braces — "{ }", "{1}", "R$ {valor" — is ordinary text and left
untouched, so rendering never fails on a customer-facing text. Unknown variables are refused when the
rule is saved (schemas.py), and left as written if one ever reaches render().
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from papo.enums import Platform

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:])")
_SPACES = re.compile(r"[ \t]{2,}")

# Variables every reply text may use.
BUILTINS = ("name", "first_name", "business_name", "platform")
# Extra variables for notify_owner messages only: the owner may see the customer's words, a customer
# must never get them echoed back by a rule.
NOTIFY_VARIABLES = (*BUILTINS, "text", "intent", "sentiment", "score", "quality", "rule")

PLATFORM_NAMES = {
    Platform.WHATSAPP: "WhatsApp",
    Platform.INSTAGRAM: "Instagram",
    Platform.FACEBOOK: "Facebook",
    Platform.TIKTOK: "TikTok",
    Platform.YOUTUBE: "YouTube",
    Platform.KWAI: "Kwai",
}


def placeholders(text: str) -> list[str]:
    """The variable names used in `text`, in first-use order, without duplicates."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1):
            seen.setdefault(match.group(1), None)
    return list(seen)


def unknown_placeholders(text: str, allowed: Iterable[str]) -> list[str]:
    """Placeholders of `text` that are not in `allowed`."""
    known = set(allowed)
    return [name for name in placeholders(text) if name not in known]


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace known `{variables}`; unknown ones stay as written; `{{`/`}}` become `{`/`}`.

    When a variable is empty (a customer without a name), the space it leaves is tidied:
    "Olá {first_name}, tudo bem?" becomes "Olá, tudo bem?" rather than "Olá , tudo bem?".
    """
    emptied = False

    def fill(match: re.Match[str]) -> str:
        nonlocal emptied
        name = match.group(1)
        if name is None:
            return match.group(0)[0]  # "{{" → "{", "}}" → "}"
        value = values.get(name)
        if value is None:
            return match.group(0)
        if not value:
            emptied = True
        return value

    out = _PLACEHOLDER.sub(fill, text)
    if emptied:
        out = _SPACES.sub(" ", _SPACE_BEFORE_PUNCT.sub(r"\1", out)).strip()
    return out


def first_name(name: str | None) -> str:
    """The first word of a display name ("" when unknown); handles "@handle" style names."""
    if not name:
        return ""
    words = name.strip().lstrip("@").split()
    return words[0] if words else ""


def builtin_values(*, name: str | None, business_name: str | None, platform: Platform) -> dict[str, str]:
    """Values of the built-in variables for one customer and business."""
    name = (name or "").strip()
    return {
        "name": name,
        "first_name": first_name(name),
        "business_name": (business_name or "").strip(),
        "platform": PLATFORM_NAMES.get(platform, str(platform)),
    }
