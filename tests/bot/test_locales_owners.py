"""Catalogues complete in all three languages; link codes; the CLI's `admin link` output."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from papo.bot import locales
from papo.bot.keyboards import LeadAct, LeadList, RuleWiz, short, unshort
from papo.models import TelegramLinkCode
from papo.services import ServiceError, owners
from papo.services.users import create_user

BOT = Path(locales.__file__).parent.parent
USED = re.compile(r"""\bt{1,2}\(\s*["']([a-z_][a-z_.0-9]*)["']""")
PREFIXED = {  # keys built at run time: prefix -> the values that follow it
    "quality.": ("hot", "warm", "cold"), "status.": ("new", "contacted", "qualified", "lost"),
    "trigger.": ("message", "comment", "story_reply", "story_mention", "postback", "referral", "like", "follow",
                 "story_view"),
    "action.": ("send_message", "send_template", "tag_lead", "ai_reply", "notify_owner"),
    "platform.": ("whatsapp", "instagram", "facebook", "tiktok", "youtube", "kwai", "any"),
    "intent.": ("purchase", "question", "complaint", "info"), "sentiment.": ("positive", "neutral", "negative"),
    "conv.status.": ("active", "archived", "muted"), "conv.done.": ("archive", "unarchive", "mute", "unmute"),
    "post.state.": ("draft", "scheduled", "publishing", "published", "failed"),
    "post.sync.": ("pending", "published", "failed"), "post.done.": ("now", "cancel", "retry", "resched"),
    "stats.period.": ("1", "7", "30"),
    "delivery.": ("sent", "delivered", "read", "played", "failed"), "alert.kind.": owners.ALERT_KINDS,
    "wiz.ask.": ("send_message", "notify_owner", "tag_lead", "ai_reply"),
    "wiz.choose_": ("intent", "sentiment", "quality"),
    "menu.": ("leads", "convs", "tpls", "rules", "posts", "bcast", "stats", "settings"),
    "cmd.": ("menu", "leads", "conversations", "templates", "rules", "posts", "broadcasts", "stats", "search",
             "settings", "lang", "cancel", "help"),
    "bc.status.": ("scheduled", "running", "finished", "cancelled"),
    "bc.state.": ("sent", "delivered", "read", "replied", "failed", "skipped", "pending"),
}


EXAMPLES = {"tpl.ask_content"}  # shows template syntax with a variable name in each language ({cupom}, {coupon})


def _used_keys() -> set[str]:
    keys = set()
    for path in BOT.rglob("*.py"):
        keys |= {k for k in USED.findall(path.read_text()) if not k.endswith((".", "_"))}
    keys |= {prefix + value for prefix, values in PREFIXED.items() for value in values}
    return keys | {"date_unknown", "date_past"}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", locales.LANGUAGES)
def test_every_key_used_exists_in_every_language(lang: str) -> None:
    missing = sorted(_used_keys() - set(locales.catalogue(lang)))
    assert not missing, f"{lang} lacks {missing}"


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    base = locales.catalogue("pt-BR")
    for lang in ("en", "es"):
        other = locales.catalogue(lang)
        assert set(other) == set(base)
        for key, text in base.items():
            if key in EXAMPLES:
                continue
            assert _fields(other[key]) == _fields(text), f"{lang}:{key}"


def test_values_are_escaped_but_safe_markup_is_not() -> None:
    t = locales.translator("en")
    assert t("error", message="<b>x</b> & y") == "⚠️ &lt;b&gt;x&lt;/b&gt; &amp; y"
    assert t("error", message=locales.Safe("<b>x</b>")) == "⚠️ <b>x</b>"
    assert locales.language_for("es-MX") == "es" and locales.language_for("de") == "pt-BR"


def test_callback_data_fits_telegram_limits() -> None:
    lead = "0f6f2d53-5f7e-4f7e-9c55-1b2a3c4d5e6f"
    assert unshort(short(lead)) == __import__("uuid").UUID(lead) and unshort("not-an-id") is None
    for data in (LeadAct(act="contacted", id=short(lead), v="qualified"),
                 LeadList(q="warm", s="contacted", p="instagram", t="deadbeef", page=12),
                 RuleWiz(step="platform_ok", v="instagram")):
        assert len(data.pack().encode()) <= 64


async def test_codes_are_stored_hashed_single_use_and_relinking_moves(stores: Any) -> None:
    ana = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    beto = await create_user(email="beto@oficina.com.br", name="Oficina do Beto", plan="pro")
    code = await owners.create_link_code(ana)
    row = await TelegramLinkCode.get(user_id=ana.id)
    assert code.code not in row.code_hash and len(row.code_hash) == 64
    assert code.start_command == f"/start {code.code}"
    assert code.deep_link("@papo_bot") == f"https://t.me/papo_bot?start={code.code}" and code.deep_link(None) is None
    result = await owners.link(code.code.lower(), 77, 77)  # typed in lower case: still the code
    assert result.user_id == ana.id and result.moved_from is None
    with pytest.raises(ServiceError):
        await owners.link(code.code, 78, 78)
    moved = await owners.link((await owners.create_link_code(beto)).code, 77, 77)
    assert moved.moved_from == ana.id and (await owners.owner_for(77)).business_name == "Oficina do Beto"
    assert await owners.unlink(77) and await owners.owner_for(77) is None


async def test_quiet_hours_are_validated(stores: Any) -> None:
    ana = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    with pytest.raises(ServiceError):
        await owners.set_quiet_hours(ana, "25:00", "07:00")
    with pytest.raises(ServiceError):
        await owners.set_quiet_hours(ana, "07:00", "07:00")
    assert await owners.set_quiet_hours(ana, "22h00", "7:05") == ("22:00", "07:05")
    prefs = await owners.get_prefs(ana, default_timezone="UTC")
    assert prefs.in_quiet_hours(datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
    assert prefs.in_quiet_hours(datetime(2026, 1, 1, 7, 4, tzinfo=UTC))
    assert not prefs.in_quiet_hours(datetime(2026, 1, 1, 7, 5, tzinfo=UTC))
