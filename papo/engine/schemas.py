"""The validated vocabulary of `automation_rules.condition` and `.action_data` (pydantic v2).

Every key is documented in RULES.md. Models forbid unknown keys, so a typo ("keyword_any") is an error
naming the field rather than a rule that silently never fires.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from papo.ai.base import LANGUAGES
from papo.engine.render import BUILTINS, NOTIFY_VARIABLES, unknown_placeholders
from papo.engine.text import phrase
from papo.enums import Intent, LeadQuality, Sentiment
from papo.timezones import DEFAULT_TIMEZONE, known_zone

MAX_KEYWORDS = 200
MAX_KEYWORD_CHARS = 100
MAX_REGEX_CHARS = 200  # long patterns are where catastrophic backtracking hides; real rules are short
MAX_TEXT_CHARS = 4096  # WhatsApp's text limit; Instagram cuts at 1000 bytes (the outbound side checks)
MAX_BUTTONS = 3  # WhatsApp reply buttons: at most 3, titles at most 20 characters
MAX_BUTTON_CHARS = 20
MAX_COOLDOWN = 30 * 24 * 3600
DEFAULT_PRIORITY = 100
# Rule regexes run on the `regex` engine (the stdlib's syntax, Unicode-aware) with a time limit per search:
# a pattern that backtracks exponentially costs at most REGEX_TIMEOUT per message instead of hours.
REGEX_TIMEOUT = 0.05  # seconds, per rule and message
REGEX_BUDGET = 0.2  # seconds of regex matching per message over all its rules: then no regex holds
_PROBE_TIMEOUT = 0.02  # seconds per probe when a rule is saved
# A quantified group that itself contains a quantifier — "(a+)+", "(\w*)*", "(x|y+){2,}" — is the
# classic exponential-backtracking shape; refuse it rather than find out on a customer's message.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d+,\d*\})")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_TEMPLATE_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _as_list(value: Any) -> Any:
    """Accept one value where a list is expected ("keywords_any": "preço")."""
    return [value] if isinstance(value, str | int | float) else value


def _non_empty_strings(values: tuple[str, ...], what: str, max_chars: int) -> tuple[str, ...]:
    out: list[str] = []
    for i, value in enumerate(values):
        value = value.strip()
        if not value:
            raise ValueError(f"{what} {i + 1} is empty")
        if len(value) > max_chars:
            raise ValueError(f"{what} {value[:20]!r}… is longer than {max_chars} characters")
        if value not in out:
            out.append(value)
    if not out:
        raise ValueError("must not be empty")
    return tuple(out)


def hhmm_minutes(value: str) -> int:
    """Minutes since midnight of "HH:MM" (24:00 allowed as an end)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def compile_regex(pattern: str) -> regex.Pattern[str]:
    """A rule's regex, case-insensitive; search it with `timeout=REGEX_TIMEOUT`."""
    return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)


def _backtracks(compiled: regex.Pattern[str], pattern: str) -> bool:
    """Whether a search over a 30-character run of one of the pattern's characters, then a character that
    cannot follow, exceeds its probe time: how (a|a)*$ and (\\w|\\d)+$ give themselves away."""
    chars = dict.fromkeys([*(c for c in pattern if c.isalnum()), "a", "0", " ", "x"])
    try:
        for char in chars:
            for tail in ("!", "\u0000"):
                compiled.search(char * 30 + tail, timeout=_PROBE_TIMEOUT)
    except TimeoutError:
        return True
    return False


def check_timezone(name: str) -> str:
    """`name` if zoneinfo knows it, else ValueError with a readable hint."""
    if known_zone(name) is None:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as {DEFAULT_TIMEZONE})")
    return name


class BusinessHours(_Strict):
    """Opening hours; the condition holds inside them (`inside: true`) or outside them."""

    inside: bool = True
    timezone: str | None = None  # default: the owner's time zone (EvalContext.timezone)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0; a window crossing midnight belongs to its start day
    start: str = "09:00"
    end: str = "18:00"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("days", mode="before")
    @classmethod
    def _days_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("must list at least one day (0 = Monday … 6 = Sunday)")
        bad = [d for d in value if not 0 <= d <= 6]
        if bad:
            raise ValueError(f"days are 0 (Monday) to 6 (Sunday), not {bad[0]}")
        return tuple(sorted(set(value)))

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time like 09:00 (24-hour HH:MM)")
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if value == "24:00":
            raise ValueError("must be 00:00–23:59 (24:00 is only an end)")
        return value

    @model_validator(mode="after")
    def _window(self) -> BusinessHours:
        if hhmm_minutes(self.start) == hhmm_minutes(self.end):
            raise ValueError("start and end are equal; use 00:00–24:00 for the whole day")
        return self


class Condition(_Strict):
    """`automation_rules.condition`: every key present must hold (AND); an empty condition always holds."""

    keywords_any: tuple[str, ...] | None = None
    keywords_all: tuple[str, ...] | None = None
    regex: str | None = None
    intent_in: tuple[Intent, ...] | None = None
    sentiment_in: tuple[Sentiment, ...] | None = None
    quality_in: tuple[LeadQuality, ...] | None = None
    language_in: tuple[str, ...] | None = None
    min_score: float | None = None
    tags_has: tuple[str, ...] | None = None
    tags_has_not: tuple[str, ...] | None = None
    first_message_only: bool = False
    business_hours: BusinessHours | None = None
    media_id: tuple[str, ...] | None = None
    payload_in: tuple[str, ...] | None = None

    @field_validator("keywords_any", "keywords_all", "intent_in", "sentiment_in", "quality_in", "language_in",
                     "tags_has", "tags_has_not", "media_id", "payload_in", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("keywords_any", "keywords_all")
    @classmethod
    def _keywords(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if len(value) > MAX_KEYWORDS:
            raise ValueError(f"at most {MAX_KEYWORDS} keywords")
        value = _non_empty_strings(value, "keyword", MAX_KEYWORD_CHARS)
        for keyword in value:
            if phrase(keyword) is None:
                raise ValueError(f"keyword {keyword!r} has no letters, digits or emoji to match")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must not be empty")
        if len(value) > MAX_REGEX_CHARS:
            raise ValueError(f"must be at most {MAX_REGEX_CHARS} characters")
        try:
            compiled = compile_regex(value)
        except regex.error as exc:
            raise ValueError(f"is not a valid regular expression: {exc}") from None
        if _NESTED_QUANTIFIER.search(value):
            raise ValueError("nests a quantifier inside a repeated group (like (a+)+), which can take "
                             "exponential time; rewrite it without the nested repetition")
        if _backtracks(compiled, value):
            raise ValueError("can take exponential time (a repeated group whose insides can match the same "
                             "text in several ways, like (a+)+ or (a|a)*); rewrite it without the overlap")
        return value

    @field_validator("language_in")
    @classmethod
    def _languages(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        value = tuple(dict.fromkeys(v.lower() for v in _non_empty_strings(value, "language", 10)))
        bad = [v for v in value if v not in LANGUAGES]
        if bad:
            raise ValueError(f"{bad[0]!r} is not one of: {', '.join(LANGUAGES)}")
        return value

    @field_validator("min_score")
    @classmethod
    def _score(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError("must be between 0 and 1")
        return value

    @field_validator("tags_has", "tags_has_not", "media_id", "payload_in")
    @classmethod
    def _strings(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _non_empty_strings(value, "value", 255)

    @field_validator("intent_in", "sentiment_in", "quality_in")
    @classmethod
    def _enums(cls, value: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        if value is not None and not value:
            raise ValueError("must not be empty")
        return value


def _builtins_only(values: Iterable[str]) -> None:
    for value in values:
        unknown = unknown_placeholders(value, BUILTINS)
        if unknown:
            raise ValueError(f"unknown variable {{{unknown[0]}}} (allowed: {', '.join(BUILTINS)})")


class TemplateRef(_Strict):
    """A `message_templates` row by id or by name, with values for its variables."""

    template_id: str | None = None
    template_name: str | None = None
    # By name {"cupom": "BEMVINDO"} or by position ["BEMVINDO"]; values may use the built-in variables.
    variables: dict[str, str] | tuple[str, ...] | None = None

    @field_validator("template_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a template id (a UUID)") from None

    @field_validator("variables", mode="before")
    @classmethod
    def _variables(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or not _TEMPLATE_VAR.match(key):
                    raise ValueError(f"{key!r} is not a variable name")
                if not isinstance(item, str | int | float):
                    raise ValueError(f"variables.{key} must be a string")
            values = {k: str(v) for k, v in value.items()}
            _builtins_only(values.values())
            return values
        if isinstance(value, list | tuple):
            if not all(isinstance(item, str | int | float) for item in value):
                raise ValueError("must be a list of strings")
            _builtins_only(str(v) for v in value)
            return tuple(str(v) for v in value)
        if value is not None:
            raise ValueError("must be an object {name: value} or a list of values")
        return None

    @model_validator(mode="after")
    def _exactly_one(self) -> TemplateRef:
        if (self.template_id is None) == (self.template_name is None):
            raise ValueError("give exactly one of template_id or template_name")
        return self


class _ActionData(_Strict):
    """Keys every action accepts."""

    default_cooldown: ClassVar[int] = 3600
    is_reply: ClassVar[bool] = True

    priority: int = Field(DEFAULT_PRIORITY, ge=0, le=1_000_000)  # lower runs first
    cooldown_seconds: int | None = Field(None, ge=0, le=MAX_COOLDOWN)  # per (rule, conversation)

    @property
    def cooldown(self) -> int:
        """The effective cooldown: the given one, else the action's default."""
        return self.default_cooldown if self.cooldown_seconds is None else self.cooldown_seconds


def _check_text(value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not value:
        raise ValueError("must not be empty")
    unknown = unknown_placeholders(value, allowed)
    if unknown:
        raise ValueError(f"unknown variable {{{unknown[0]}}} (allowed: {', '.join(allowed)}; "
                         "write {{ and }} for literal braces)")
    return value


class SendMessageData(_ActionData):
    """send_message: a text (with variables), optional quick-reply buttons, optional template fallback."""

    text: str = Field(max_length=MAX_TEXT_CHARS)
    buttons: tuple[str, ...] = Field((), max_length=MAX_BUTTONS)
    fallback: TemplateRef | None = None  # sent instead when the 24 h window is closed

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str | None:
        return _check_text(value, BUILTINS)

    @field_validator("buttons")
    @classmethod
    def _buttons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            return ()
        titles = _non_empty_strings(value, "button", MAX_BUTTON_CHARS)
        if len({t.casefold() for t in titles}) != len(value):
            raise ValueError("button titles must be different")
        return titles


class SendTemplateData(_ActionData, TemplateRef):
    """send_template: a stored template by id or name, with its variables."""


class TagLeadData(_ActionData):
    """tag_lead: tags added to the lead and the conversation."""

    default_cooldown: ClassVar[int] = 0  # adding a tag twice changes nothing
    is_reply: ClassVar[bool] = False

    tags: tuple[str, ...] = Field(max_length=20)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(" ".join(t.split()) for t in _non_empty_strings(value, "tag", 50))


class AiReplyData(_ActionData):
    """ai_reply: an answer written by the configured model from the business's FAQ text."""

    faq: str = Field(min_length=1, max_length=20_000)
    fallback_text: str | None = Field(None, max_length=MAX_TEXT_CHARS)  # sent when no model is configured

    @field_validator("fallback_text")
    @classmethod
    def _fallback(cls, value: str | None) -> str | None:
        return _check_text(value, BUILTINS)


class NotifyOwnerData(_ActionData):
    """notify_owner: a message to the owner (admin bot); may quote the customer's text."""

    is_reply: ClassVar[bool] = False

    message: str | None = Field(None, max_length=1000)

    @field_validator("message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        return _check_text(value, NOTIFY_VARIABLES)


class HandoffData(_ActionData):
    """handoff: pause automated replies in the conversation and alert the owner with a "resume" button."""

    is_reply: ClassVar[bool] = False

    hours: float | None = Field(None, gt=0, le=24 * 365)  # default: PAPO_HANDOFF_HOURS
    message: str | None = Field(None, max_length=1000)  # the alert's text; may quote the customer

    @field_validator("message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        return _check_text(value, NOTIFY_VARIABLES)


ActionData = SendMessageData | SendTemplateData | TagLeadData | AiReplyData | NotifyOwnerData | HandoffData
