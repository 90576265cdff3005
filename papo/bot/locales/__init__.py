"""The bot's texts in Portuguese (Brazil, the default), English and Spanish: one JSON catalogue per language.

`t("link.done", business=...)` fills `{placeholders}`; string values are HTML-escaped (the bot sends HTML), except
`Safe` strings that are already markup. A key missing from a catalogue falls back to Portuguese.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

LANGUAGES = ("pt-BR", "en", "es")
DEFAULT_LANGUAGE = "pt-BR"
_FILES = {"pt-BR": "pt_BR.json", "en": "en.json", "es": "es.json"}
LANGUAGE_NAMES = {"pt-BR": "🇧🇷 Português", "en": "🇬🇧 English", "es": "🇪🇸 Español"}


class Safe(str):
    """A string that is already HTML: inserted as is."""

    __slots__ = ()


class _Escaping(dict[str, Any]):
    """format_map values: plain strings escaped, Safe strings and numbers as they are."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, Safe):
            return value
        if isinstance(value, str):
            return escape(value, quote=False)
        return value

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@cache
def catalogue(language: str) -> dict[str, str]:
    """The texts of one language."""
    path = Path(__file__).with_name(_FILES[language])
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Translator:
    """Texts in one language."""

    lang: str

    def __call__(self, key: str, /, **values: Any) -> str:
        """The text for `key` with values filled in (escaped)."""
        text = catalogue(self.lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
        return text.format_map(_Escaping(values))

    def has(self, key: str) -> bool:
        """Whether a text exists for `key`."""
        return key in catalogue(self.lang) or key in catalogue(DEFAULT_LANGUAGE)


@cache
def translator(language: str | None) -> Translator:
    """A Translator for a language code (unknown codes get the default language)."""
    return Translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def language_for(code: str | None) -> str:
    """The bot language closest to a Telegram `language_code` (pt → pt-BR, es → es, en → en)."""
    base = (code or "").split("-")[0].lower()
    return {"pt": "pt-BR", "es": "es", "en": "en"}.get(base, DEFAULT_LANGUAGE)
