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
_BLANKS = " \t"
_ENDS_BLANK = tuple(_BLANKS)  # for str.endswith / startswith
_PUNCT = tuple(",.!?;:")

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

    When a variable is empty (a customer without a name), the space it leaves in the owner's text is
    tidied: "Olá {first_name}, tudo bem?" becomes "Olá, tudo bem?" rather than "Olá , tudo bem?". Values
    are never changed.
    """
    pieces: list[str | None] = []  # the owner's text and values, None where a variable was empty
    literal: list[bool] = []
    start = 0
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        value = values.get(name) if name is not None else None
        if name is None:
            piece: str | None = match.group(0)[0]  # "{{" → "{", "}}" → "}"
        elif value is None:
            piece = match.group(0)  # unknown: left as written
        else:
            piece = value or None
        pieces += [text[start:match.start()], piece]
        literal += [True, name is None or value is None]
        start = match.end()
    if not pieces:
        return text
    pieces.append(text[start:])
    literal.append(True)
    for i, piece in enumerate(pieces):
        if piece is None:
            _tidy_around(pieces, literal, i)
    return "".join(piece for piece in pieces if piece)


def _tidy_around(pieces: list[str | None], literal: list[bool], i: int) -> None:
    """Drop the owner's blanks next to the empty variable at i (never inside a value)."""
    before = pieces[i - 1] if literal[i - 1] else None  # pieces[0] is always the owner's text
    after = pieces[i + 1] if literal[i + 1] else None
    at_start = not any(pieces[:i])
    at_end = not any(pieces[i + 1:])
    if before is not None and before.endswith(_ENDS_BLANK) and (at_end or (after or "").startswith(_PUNCT)):
        pieces[i - 1] = before.rstrip(_BLANKS)  # "Olá {first_name}," → "Olá,"; "… {first_name}" at the end
    elif after is not None and after.startswith(_ENDS_BLANK) and (at_start or (before or "").endswith(_ENDS_BLANK)):
        pieces[i + 1] = after.lstrip(_BLANKS)  # "{first_name} oi" → "oi"; "a {x} b" → "a b"


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
