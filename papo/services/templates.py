"""Message templates of a business: add, list, update, delete; variables detected from `{placeholders}`.

WhatsApp templates name the approved Meta template (`meta_template_name`) and its language code
(`message_templates.language`, migration 0011), which every send of it carries.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from papo.engine import TemplateView
from papo.engine.render import BUILTINS, placeholders
from papo.engine.text import fold
from papo.enums import Platform
from papo.models import AutomationRule, MessageTemplate
from papo.services import NotFound, ServiceError
from papo.services.accounts import parse_platform
from papo.services.ids import UserRef, user_id

MAX_CONTENT = 4096
MAX_META_BODY = 1024  # Meta's limit for a template body
_META_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2,4})?$")  # Meta's codes: pt_BR, en_US, es, es_MX, zh_CN…
_META_PLACEHOLDER = re.compile(r"\{\{\s*\d+\s*\}\}")



@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template as the CLI and bot show it."""

    id: uuid.UUID
    platform: Platform
    name: str
    content: str
    variables: tuple[str, ...]
    meta_template_name: str | None
    language: str | None
    is_approved: bool
    created_at: datetime | None

    @classmethod
    def of(cls, row: MessageTemplate, language: str | None = None) -> TemplateInfo:
        """From a row (the language from the row once the column exists)."""
        return cls(
            id=row.id, platform=Platform(row.platform), name=row.name, content=row.content,
            variables=tuple(row.variables or ()), meta_template_name=row.meta_template_name,
            language=row.language or language, is_approved=bool(row.is_approved),
            created_at=row.created_at,
        )

    def view(self) -> TemplateView:
        """The evaluator's view of this template."""
        return TemplateView(
            id=str(self.id), name=self.name, platform=self.platform, content=self.content,
            variables=self.variables, meta_template_name=self.meta_template_name, language=self.language,
            is_approved=self.is_approved,
        )


def detect_variables(content: str) -> list[str]:
    """The `{variables}` of a template's content, in order of first use."""
    return placeholders(content)


def _problems(plat: Platform, name: str, content: str, meta: str | None, lang: str | None, *,
              need_language: bool) -> list[str]:
    """What is wrong with a template's fields (shared by add and update)."""
    errors = []
    if not name or len(name) > 255:
        errors.append("name: must be 1 to 255 characters")
    if not content:
        errors.append("content: must not be empty")
    elif len(content) > MAX_CONTENT:
        errors.append(f"content: must be at most {MAX_CONTENT} characters")
    if _META_PLACEHOLDER.search(content):
        errors.append("content: write variables as {name}; Meta's {{1}}, {{2}}… are filled from them in order")
    if meta is not None:
        if plat is not Platform.WHATSAPP:
            errors.append("meta_template_name: only WhatsApp templates are approved by Meta")
        if not _META_NAME.match(meta):
            errors.append("meta_template_name: lower-case letters, digits and _ only (as in WhatsApp Manager)")
        if lang is None and need_language:
            errors.append("language: required with meta_template_name (e.g. pt_BR, en_US, es)")
        if len(content) > MAX_META_BODY:
            errors.append(f"content: a WhatsApp template body has at most {MAX_META_BODY} characters")
    elif lang is not None:
        errors.append("language: only applies to WhatsApp templates (with meta_template_name)")
    if lang is not None and not _LANGUAGE.match(lang):
        hint = _language_hint(lang)
        errors.append(f"language: {lang!r} is not a WhatsApp language code"
                      + (f"; did you mean {hint}?" if hint else " like pt_BR, en_US, es_MX or es"))
    return errors


def _language_hint(lang: str) -> str | None:
    """The WhatsApp spelling of a locale written another way (pt-BR, pt_br, PT_BR → pt_BR)."""
    language, _, region = lang.replace("-", "_").partition("_")
    fixed = language.lower() + (f"_{region.upper()}" if region else "")
    return fixed if fixed != lang and _LANGUAGE.match(fixed) else None


async def add_template(user: UserRef, *, platform: str | Platform, name: str, content: str,
                       meta_template_name: str | None = None, language: str | None = None,
                       approved: bool = False) -> TemplateInfo:
    """Store a template; refuses a duplicate name on the same platform and malformed WhatsApp fields."""
    uid = user_id(user)
    plat = parse_platform(platform) if isinstance(platform, str) else platform
    name, content = name.strip(), content.strip()
    meta = meta_template_name.strip() if meta_template_name else None
    lang = language.strip() if language else None
    errors = _problems(plat, name, content, meta, lang, need_language=True)
    if errors:
        raise ServiceError("; ".join(errors))
    for other in await MessageTemplate.filter(user_id=uid, platform=plat).only("id", "name"):
        if fold(other.name) == fold(name):
            raise ServiceError(f"a {plat} template named {other.name!r} already exists")
    row = await MessageTemplate.create(
        user_id=uid, platform=plat, name=name, content=content, variables=detect_variables(content),
        meta_template_name=meta, language=lang, is_approved=approved,
    )
    return TemplateInfo.of(row, lang)


async def list_templates(user: UserRef, *, platform: str | Platform | None = None) -> list[TemplateInfo]:
    """A business's templates, by platform then name."""
    query = MessageTemplate.filter(user_id=user_id(user))
    if platform is not None:
        query = query.filter(platform=parse_platform(platform) if isinstance(platform, str) else platform)
    return [TemplateInfo.of(row) for row in await query.order_by("platform", "name")]


async def get_template(user: UserRef, ref: str) -> TemplateInfo:
    """A template by id, or by name when the name is unique across platforms."""
    return TemplateInfo.of(await _row(user_id(user), ref))


async def _row(uid: uuid.UUID, ref: str) -> MessageTemplate:
    ref = ref.strip()
    try:
        found = await MessageTemplate.get_or_none(id=uuid.UUID(ref), user_id=uid)
    except ValueError:
        rows = [r for r in await MessageTemplate.filter(user_id=uid) if fold(r.name) == fold(ref)]
        if len(rows) > 1:
            raise ServiceError(f"{len(rows)} templates are named {ref!r}; use the id") from None
        found = rows[0] if rows else None
    if found is None:
        raise NotFound(f"no template {ref!r}")
    return found


class TemplateInUse(ServiceError):
    """An active rule still uses the template; each caller says how its user can delete it anyway."""


async def delete_template(user: UserRef, ref: str, *, force: bool = False) -> TemplateInfo:
    """Delete a template; refuses while an active rule uses it, unless `force`."""
    uid = user_id(user)
    row = await _row(uid, ref)
    if not force:
        users = await rules_using(uid, row)
        if users:
            raise TemplateInUse(f"template {row.name!r} is used by active rule(s): {', '.join(users)}; "
                                "disable or delete them first")
    info = TemplateInfo.of(row)
    await row.delete()
    return info


async def rules_using(uid: uuid.UUID, template: MessageTemplate) -> list[str]:
    """Names of the active rules that reference a template by id or name."""
    return [rule.name for rule, _ in await _active_refs(uid, template)]


async def _active_refs(uid: uuid.UUID, template: MessageTemplate) -> list[tuple[AutomationRule, dict[str, Any]]]:
    """Each active rule that references a template, with the reference (action_data or its fallback)."""
    found = []
    for rule in await AutomationRule.filter(user_id=uid, is_active=True):
        data = rule.action_data or {}
        refs = [data, data.get("fallback") or {}] if isinstance(data, dict) else []
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            if ref.get("template_id") == str(template.id) or (
                isinstance(ref.get("template_name"), str) and fold(ref["template_name"]) == fold(template.name)
            ):
                found.append((rule, ref))
                break
    return found


def _unfilled(rule: AutomationRule, ref: dict[str, Any], variables: list[str]) -> list[str]:
    """Why a rule could no longer fill a template whose variables became `variables` (as rules.py checks)."""
    given = ref.get("variables")
    if isinstance(given, list) and len(given) > len(variables):
        return [f"rule {rule.name!r} gives {len(given)} values, the new text has {len(variables)} variables"]
    return [f"rule {rule.name!r} gives no value for {{{var}}}" for i, var in enumerate(variables)
            if var not in BUILTINS and not ((isinstance(given, dict) and var in given)
                                            or (isinstance(given, list) and i < len(given)))]


async def update_template(user: UserRef, ref: str, *, content: str | None = None, approved: bool | None = None,
                          meta_template_name: str | None = None, language: str | None = None) -> TemplateInfo:
    """Change a template in place (same id and name, so rules keep referring to it); None keeps a field.

    Variables are detected again from the new text. Validated like `add_template`; refused when an
    active rule using the template could not fill the new variables. `meta_template_name=""` removes
    the WhatsApp template name (and its language); a new WhatsApp name needs its language.
    """
    uid = user_id(user)
    row = await _row(uid, ref)
    plat = Platform(row.platform)
    text = row.content if content is None else content.strip()
    meta = row.meta_template_name if meta_template_name is None else (meta_template_name.strip() or None)
    lang = language.strip() if language else None
    if lang is None and meta is not None and meta == row.meta_template_name:
        lang = row.language  # unchanged name: its stored language
    errors = _problems(plat, row.name, text, meta, lang, need_language=meta != row.meta_template_name)
    variables = detect_variables(text)
    if not errors and variables != list(row.variables or ()):
        for rule, rule_ref in await _active_refs(uid, row):
            errors += _unfilled(rule, rule_ref, variables)
        if any(e.startswith("rule ") for e in errors):
            errors.append("change those rules' variables or disable them first")
    if errors:
        raise ServiceError(f"template {row.name!r}: " + "; ".join(errors))
    row.content, row.variables, row.meta_template_name = text, variables, meta
    if approved is not None:
        row.is_approved = approved
    row.language = lang if meta is not None else None
    await row.save()  # updated_at moves (trigger): rules_version changes, cached rule indexes reload
    return TemplateInfo.of(row, lang if meta is not None else None)


async def template_views(user: UserRef) -> list[TemplateView]:
    """Every template of a business as the evaluator sees them."""
    return [TemplateInfo.of(row).view() for row in await MessageTemplate.filter(user_id=user_id(user))]
