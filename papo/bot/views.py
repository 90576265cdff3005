"""Screens as text: pure functions from service results to the HTML the bot sends (testable without Telegram)."""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from papo.bot.keyboards import QUALITY_ICON, STATUS_ICON
from papo.bot.locales import Safe, Translator
from papo.engine.render import PLATFORM_NAMES, builtin_values, render
from papo.enums import Platform
from papo.services.conversations import ConversationSummary, ConversationView
from papo.services.leads import LeadCard, LeadCounts, LeadSummary, MessageLine
from papo.services.plans import QuotaExceeded
from papo.services.rules import RuleInfo
from papo.services.stats import Stats
from papo.services.templates import TemplateInfo

MAX_SNIPPET = 60


def quota(t: Translator, exc: QuotaExceeded) -> Safe:
    """A plan's limit in the owner's language (HTML), and how to get more."""
    text = t("quota.exceeded", plan=str(exc.plan), limit=exc.limit, used=exc.used,
             what=t(f"quota.metric.{exc.metric}"))
    more = (t("quota.upgrade", command=f"papo user plan --user {exc.email} --plan {exc.next_plan}") if exc.next_plan
            else t("quota.top"))
    return Safe(f"{text}\n{more}")


def problem(t: Translator, exc: Exception) -> str:
    """Why a use-case refused, for `t("error", message=…)`: a plan's limit in the owner's language (HTML),
    other refusals as they are (escaped by the catalogue)."""
    return quota(t, exc) if isinstance(exc, QuotaExceeded) else str(exc)


def plain(text: str) -> str:
    """HTML text as plain text (a callback answer's pop-up shows no markup)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def platform_name(platform: str | None) -> str:
    """WhatsApp, Instagram… (the value itself when unknown)."""
    try:
        return PLATFORM_NAMES[Platform(str(platform))]
    except ValueError:
        return str(platform)


def when(value: datetime | None, tz: str, t: Translator) -> str:
    """A time in the owner's zone, e.g. 25/11 14:30 ('—' when unknown)."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime(t("fmt.datetime"))


def snippet(text: str | None, limit: int = MAX_SNIPPET) -> str:
    """One line of at most `limit` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def quality(t: Translator, value: str | None) -> str:
    """Icon and name of a quality."""
    value = value or "cold"
    return f"{QUALITY_ICON.get(value, '')} {t('quality.' + value)}"


def status(t: Translator, value: str | None) -> str:
    """Icon and name of a status."""
    value = value or "new"
    return f"{STATUS_ICON.get(value, '')} {t('status.' + value)}"


def lead_counts(t: Translator, counts: LeadCounts) -> str:
    """The leads overview."""
    q = " · ".join(f"{quality(t, k)} {v}" for k, v in counts.by_quality.items())
    s = " · ".join(f"{status(t, k)} {v}" for k, v in counts.by_status.items())
    return t("leads.overview", total=counts.total, by_quality=q, by_status=s)


def lead_button(lead: LeadSummary) -> str:
    """A lead in a list button."""
    return f"{QUALITY_ICON.get(lead.quality or 'cold', '')} {snippet(lead.name, 28)} · {platform_name(lead.platform)}"


def messages(t: Translator, lines: tuple[MessageLine, ...], tz: str) -> str:
    """The last messages, oldest first."""
    if not lines:
        return t("messages.none")
    out = []
    for line in lines:
        who = t("messages.customer") if line.from_customer else (t("messages.bot") if line.automated
                                                                  else t("messages.you"))
        out.append(t("messages.line", at=when(line.at, tz, t), who=who, text=snippet(line.text, 300),
                     state=Safe(delivery(t, line))))
    return "\n".join(out)


DELIVERY_STATES = ("sent", "delivered", "read", "played", "failed")


def delivery(t: Translator, line: MessageLine) -> str:
    """How far one of Papo's messages got: a failed one never looks sent (it says why)."""
    if line.from_customer or line.delivery not in DELIVERY_STATES:
        return ""
    if line.delivery == "failed":
        return " " + t("delivery.failed", reason=snippet(line.error or t("delivery.no_reason"), 200))
    return " " + t(f"delivery.{line.delivery}")


def lead_card(t: Translator, card: LeadCard, tz: str) -> str:
    """The lead card."""
    lead = card.lead
    score = f"{lead.score:.2f}" if lead.score is not None else "—"
    return t(
        "lead.card", name=lead.name, platform=platform_name(lead.platform), quality=Safe(quality(t, lead.quality)),
        score=score, status=Safe(status(t, lead.status)), tags=", ".join(lead.tags) or "—",
        email=card.email or "—", phone=card.phone or "—", last=when(lead.last_interaction, tz, t),
        followup=when(lead.next_followup, tz, t) if lead.next_followup else "—",
        messages=Safe(messages(t, card.messages, tz)),
    )


def conversation_button(conv: ConversationSummary) -> str:
    """A conversation in a list button."""
    mark = ("🔕 " if conv.status == "muted" else "") + ("⏸ " if conv.paused_until else "")  # ⏸: the bot is paused
    return f"{mark}{platform_name(conv.platform)} · {snippet(conv.name, 20)}: {snippet(conv.last_text, 24)}"


def conversation(t: Translator, view: ConversationView, tz: str) -> str:
    """An opened conversation."""
    s = view.summary
    if view.window_open is None:
        window = t("conv.window_none")
    else:
        window = t("conv.window_open") if view.window_open else t("conv.window_closed")
    bot = t("conv.paused", until=when(view.paused_until, tz, t)) if view.paused_until else t("conv.bot_on")
    window = f"{window}\n{bot}"
    return t("conv.card", name=s.name, platform=platform_name(s.platform), status=t("conv.status." + s.status),
             window=window, messages=Safe(messages(t, view.messages, tz)))


def sample_values(template: TemplateInfo, business: str, t: Translator) -> dict[str, str]:
    """Sample data for a template preview: a sample customer, the business, and ‹name› for other variables."""
    values = builtin_values(name=t("sample.customer"), business_name=business, platform=template.platform)
    for var in template.variables:
        values.setdefault(var, f"‹{var}›")
    return values


def template_card(t: Translator, template: TemplateInfo, business: str) -> str:
    """A template with its variables, WhatsApp state and a preview."""
    if template.platform is Platform.WHATSAPP and template.meta_template_name:
        state = t("tpl.approved") if template.is_approved else t("tpl.pending")
        meta = t("tpl.meta", name=template.meta_template_name, language=template.language or "—", state=state)
    elif template.platform is Platform.WHATSAPP:
        meta = t("tpl.no_meta")
    else:
        meta = ""
    preview = render(template.content, sample_values(template, business, t))
    return t("tpl.card", name=template.name, platform=platform_name(template.platform),
             variables=", ".join("{" + v + "}" for v in template.variables) or "—", meta=Safe(meta),
             content=template.content, preview=preview)


def template_button(template: TemplateInfo) -> str:
    """A template in a list button."""
    mark = ""
    if template.platform is Platform.WHATSAPP and template.meta_template_name:
        mark = " ✅" if template.is_approved else " ⏳"
    return f"{platform_name(template.platform)} · {snippet(template.name, 30)}{mark}"


def rule_line(rule: RuleInfo) -> str:
    """A rule in a list button."""
    mark = "🟢" if rule.is_active else "⚪️"
    return f"{mark} {snippet(rule.name, 26)}"


def rule_card(t: Translator, rule: RuleInfo) -> str:
    """A rule with its trigger, platform, condition, action and warnings."""
    data = rule.action_data
    detail = data.get("text") or data.get("message") or data.get("template_name") or data.get("template_id") or \
        data.get("faq") or ", ".join(data.get("tags") or ()) or "—"
    condition = ", ".join(f"{k}={v}" for k, v in rule.condition.items()) or t("rule.always")
    warnings = "\n".join(f"⚠️ {w}" for w in rule.warnings)
    if rule.error:
        warnings += f"\n❗ {rule.error}"
    return t("rule.card", name=rule.name, state=t("rule.on") if rule.is_active else t("rule.off"),
             trigger=t("trigger." + rule.trigger), platform=t("platform." + rule.platform),
             condition=condition, action=t("action." + rule.action), detail=snippet(str(detail), 300),
             warnings=warnings.strip())


def duration(seconds: float | None, t: Translator) -> str:
    """3 min, 1 h 20 min, 45 s."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return t("dur.s", n=s)
    if s < 3600:
        return t("dur.m", n=s // 60)
    return t("dur.hm", h=s // 3600, m=(s % 3600) // 60)


def stats(t: Translator, data: Stats) -> str:
    """The stats message."""
    share = f"{data.automated_share * 100:.0f}%" if data.automated_share is not None else "—"
    intents = ", ".join(f"{t('intent.' + name) if t.has('intent.' + name) else name} {n}"
                        for name, n in data.top_intents) or "—"
    leads = " · ".join(f"{quality(t, k)} {v}" for k, v in data.leads_by_quality.items())
    return t("stats.text", period=t(f"stats.period.{data.days}"), incoming=data.messages_in,
             outgoing=data.messages_out, share=share, response=duration(data.response_median_seconds, t),
             responses=data.responses, leads=Safe(leads), new_leads=data.new_leads, intents=intents,
             posts=data.posts_published)
