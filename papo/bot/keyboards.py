"""Typed callback data (≤ 64 bytes each), inline keyboards and pagination.

UUIDs travel as 22-character base64url strings and tags as 8-hex-digit hashes, so every button fits
Telegram's 64-byte callback limit; ids are always re-checked against the owner's business by services.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from papo.bot.locales import Translator
from papo.enums import LeadQuality, LeadStatus

QUALITY_ICON = {LeadQuality.HOT.value: "🔥", LeadQuality.WARM.value: "🌤", LeadQuality.COLD.value: "❄️"}
STATUS_ICON = {LeadStatus.NEW.value: "🆕", LeadStatus.CONTACTED.value: "📞", LeadStatus.QUALIFIED.value: "✅",
               LeadStatus.LOST.value: "❌"}


def short(value: uuid.UUID | str) -> str:
    """A UUID as 22 base64url characters."""
    raw = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return base64.urlsafe_b64encode(raw.bytes).rstrip(b"=").decode()


def unshort(value: str) -> uuid.UUID | None:
    """Back from `short`; None for anything that is not one."""
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(value + "=="))
    except (ValueError, TypeError):
        return None


def tag_key(tag: str) -> str:
    """A short stable key for a tag (tags may be too long for callback data)."""
    return hashlib.sha1(tag.casefold().encode()).hexdigest()[:8]


class Nav(CallbackData, prefix="nav"):
    """Go to a section: menu, leads, convs, tpls, rules, posts, bcast, stats, settings."""

    to: str


class ClientPick(CallbackData, prefix="bz"):
    """Switch a consultancy's Telegram account to one of its linked businesses (`/clientes`)."""

    id: str


class LeadList(CallbackData, prefix="ll"):
    """A filtered, paginated list of leads (q quality, s status, p platform, t tag key)."""

    q: str = ""
    s: str = ""
    p: str = ""
    t: str = ""
    page: int = 0


class LeadAct(CallbackData, prefix="la"):
    """An action on one lead (open, status, setst, quality, setq, tags, rmtag, addtag, fu, fuclear, contacted)."""

    act: str
    id: str = ""
    v: str = ""


class LeadExport(CallbackData, prefix="lx"):
    """Export the leads of a list (the LeadList filter: q, s, p, t) as `f` (csv or xlsx; "" = choose)."""

    f: str = ""
    q: str = ""
    s: str = ""
    p: str = ""
    t: str = ""


class DataAct(CallbackData, prefix="dr"):
    """A data request (LGPD) for the customer of a lead (`of` "l") or a conversation ("c"): export, erase,
    erase confirmed (yes)."""

    act: str
    of: str
    id: str


class ConvList(CallbackData, prefix="cl"):
    """A page of conversations (archived ones when `arch`)."""

    page: int = 0
    arch: int = 0


class ConvAct(CallbackData, prefix="ca"):
    """An action on one conversation (open, reply, tpls, tpl, archive, unarchive, mute, unmute, lead, retry)."""

    act: str
    id: str
    v: str = ""


class TplAct(CallbackData, prefix="ta"):
    """Templates: list, open, new, edit, delete, confirm delete; v carries a choice during creation."""

    act: str
    id: str = ""
    v: str = ""


class RuleAct(CallbackData, prefix="ra"):
    """Rules: list (page), open, toggle, dry, delete, new."""

    act: str
    id: str = ""
    page: int = 0


class RuleWiz(CallbackData, prefix="rw"):
    """A step of the guided rule creation: trigger, platform, cond, action, template, save…"""

    step: str
    v: str = ""


class PostAct(CallbackData, prefix="pa"):
    """Posts: list, open, new, account toggles, publish/schedule/draft, cancel, reschedule."""

    act: str
    id: str = ""
    v: str = ""


class BcAct(CallbackData, prefix="bc"):
    """Broadcasts: list, open, chart, cancel, new; the wizard's tpl, q/s/p/tag toggles, seg, preview, go."""

    act: str
    id: str = ""
    v: str = ""


class StatsCb(CallbackData, prefix="st"):
    """Stats for today (1), 7 or 30 days."""

    days: int


class SetAct(CallbackData, prefix="se"):
    """Settings: lang, setlang, alert toggles, quiet hours, time zone."""

    act: str
    v: str = ""


class HoursAct(CallbackData, prefix="ho"):
    """Opening hours: show, hours, away, noaway, clear, addday, delday (v = ISO date)."""

    act: str
    v: str = ""


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    """One inline button."""
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def rows(*lines: Iterable[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """A keyboard from rows of buttons (empty rows are dropped)."""
    return InlineKeyboardMarkup(inline_keyboard=[list(line) for line in lines if list(line)])


def grid(buttons: list[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    """Buttons in rows of `width`."""
    return [buttons[i:i + width] for i in range(0, len(buttons), width)]


def pager(page: int, pages: int, make: Callable[[int], CallbackData]) -> list[InlineKeyboardButton]:
    """‹ n/N › buttons (none when there is one page)."""
    if pages <= 1:
        return []
    out = []
    if page > 0:
        out.append(button("‹", make(page - 1)))
    out.append(button(f"{page + 1}/{pages}", make(page)))
    if page < pages - 1:
        out.append(button("›", make(page + 1)))
    return out


def back(t: Translator, data: CallbackData) -> InlineKeyboardButton:
    """The « Back button."""
    return button(t("btn.back"), data)


def main_menu(t: Translator, *, posts: bool) -> InlineKeyboardMarkup:
    """The main menu."""
    builder = InlineKeyboardBuilder()
    sections = ["leads", "convs", "tpls", "rules", *(["posts"] if posts else []), "bcast", "stats", "settings"]
    for section in sections:
        builder.add(button(t(f"menu.{section}"), Nav(to=section)))
    builder.adjust(2)
    return builder.as_markup()


def data_row(t: Translator, of: str, item: str) -> list[InlineKeyboardButton]:
    """The data-request buttons (LGPD) of a lead card (`of` "l") or a conversation ("c")."""
    return [button(t("data.export"), DataAct(act="export", of=of, id=item)),
            button(t("data.erase"), DataAct(act="erase", of=of, id=item))]
