"""Owner alerts: read `papo:notify` (a Redis consumer group), render each alert in the owner's language with
buttons to act on it, and send it to every linked Telegram account of the business.

Per owner: switches per kind (off = acknowledged, not sent) and quiet hours (sent silently, so nothing is
lost and nothing rings at night); muted conversations send no alerts. While Telegram cannot be reached the
entries stay pending, uncounted, and are tried again with a backoff (the outage is logged once, by the
bot's reachability middleware). Each (entry, chat) is sent once: a
marker is written after a successful send and checked before it, and an entry is acknowledged only
after every chat is done, so a crash redelivers only what did not go out. Entries older than a day are
dropped with a log line rather than delivered stale; an entry that keeps failing is dropped after
`max_attempts` deliveries.

`FollowUpScanner` turns due follow-ups into `follow_up_due` notifications (deduplicated, so several bot
processes alert once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup
from redis.exceptions import ResponseError

from papo.bot import views
from papo.bot.keyboards import BcAct, ConvAct, LeadAct, PostAct, button, rows, short
from papo.bot.locales import Translator, translator
from papo.bot.middlewares import BotContext
from papo.bot.reachability import UNREACHABLE
from papo.constants import ALERT_ATTEMPTS, alert_sent_key
from papo.resilience import Backoff, every, pause, until_done
from papo.services import conversations, leads, notify, owners
from papo.streams import codec

log = logging.getLogger(__name__)

MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Alert:
    """A rendered alert."""

    text: str
    markup: InlineKeyboardMarkup | None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def _targets(user_id: uuid.UUID, payload: dict[str, Any]) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The lead and conversation an alert is about (found from the customer when not given)."""
    lead_id, conv_id = _uuid(payload.get("lead_id")), _uuid(payload.get("conversation_id"))
    platform, remote = payload.get("platform"), payload.get("remote_user_id")
    if platform and remote:
        if lead_id is None:
            lead_id = await leads.find_lead(user_id, str(platform), str(remote))
        if conv_id is None:
            conv_id = await conversations.conversation_for_lead(user_id, str(platform), str(remote))
    return lead_id, conv_id


def _buttons(t: Translator, kind: str, lead_id: uuid.UUID | None, conv_id: uuid.UUID | None,
             payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    reply = [button(t("alert.reply"), ConvAct(act="reply", id=short(conv_id)))] if conv_id else []
    lead = [button(t("alert.open_lead"), LeadAct(act="open", id=short(lead_id)))] if lead_id else []
    contacted = [button(t("alert.contacted"), LeadAct(act="contacted", id=short(lead_id)))] if lead_id else []
    post_id = _uuid(payload.get("post_id"))
    if kind == notify.POST_FAILED and post_id:
        return rows([button(t("alert.open_post"), PostAct(act="open", id=short(post_id))),
                     button(t("post.retry"), PostAct(act="retry", id=short(post_id)))])
    message_id = _uuid(payload.get("message_id"))
    if kind == notify.REPLY_FAILED and conv_id and message_id:  # send it again, or answer by hand
        retry = button(t("alert.retry"), ConvAct(act="retry", id=short(conv_id), v=short(message_id)))
        return rows([retry, *reply], lead)
    if kind == notify.HANDOFF and conv_id:
        return rows([button(t("alert.resume"), ConvAct(act="resume", id=short(conv_id)))],
                    [*reply, button(t("alert.open_conversation"), ConvAct(act="open", id=short(conv_id)))])
    broadcast_id = _uuid(payload.get("broadcast_id"))
    if kind == notify.BROADCAST_FINISHED and broadcast_id:
        return rows([button(t("alert.open_broadcast"), BcAct(act="open", id=short(broadcast_id))),
                     button(t("bc.chart_btn"), BcAct(act="chart", id=short(broadcast_id)))])
    if kind in (notify.HOT_LEAD, notify.FOLLOW_UP_DUE):
        return rows(reply + lead, contacted) if (reply or lead) else None
    if reply or lead:
        return rows(reply + lead)
    return None


async def render(t: Translator, user_id: uuid.UUID, kind: str, payload: dict[str, Any], tz: str) -> Alert:
    """The text and buttons of one alert."""
    lead_id, conv_id = await _targets(user_id, payload)
    name = payload.get("name") or payload.get("customer")
    if not name and conv_id is not None:  # the outbound stage knows the conversation, not the customer's name
        name = await conversations.customer_name(user_id, conv_id)
    name = name or payload.get("remote_user_id") or "—"
    platform = views.platform_name(payload.get("platform")) if payload.get("platform") else "—"
    text = views.snippet(str(payload.get("text") or ""), 500)
    values = {"name": str(name), "platform": platform, "text": text}
    if kind == notify.HOT_LEAD:
        score = payload.get("score")
        body = t("alert.hot_lead", score=f"{float(score):.2f}" if isinstance(score, int | float) else "—", **values)
    elif kind == notify.COMPLAINT:
        body = t("alert.complaint", **values)
    elif kind == notify.FOLLOW_UP_DUE:
        due = payload.get("due_at")
        when = views.when(datetime.fromisoformat(due), tz, t) if isinstance(due, str) else "—"
        body = t("alert.follow_up_due", when=when, **values)
    elif kind == notify.POST_FAILED:
        body = t("alert.post_failed", title=views.snippet(str(payload.get("title") or payload.get("text") or ""), 80),
                 error=views.snippet(str(payload.get("error") or ""), 600))
    elif kind == notify.TOKEN_EXPIRING:
        expires = payload.get("expires_at")
        date = views.when(datetime.fromisoformat(expires), tz, t) if isinstance(expires, str) else "—"
        body = t("alert.token_expiring", date=date, **values)
    elif kind == notify.ACCOUNT_DISCONNECTED:
        body = t("alert.account_disconnected", error=views.snippet(str(payload.get("error") or ""), 300), **values)
    elif kind == notify.ACCOUNT_CLAIMED:
        body = t("alert.account_claimed", claimant=str(payload.get("claimant") or "—"),
                 account_id=str(payload.get("account_id") or ""), **values)
    elif kind == notify.REPLY_FAILED:
        body = t("alert.reply_failed", error=views.snippet(str(payload.get("error") or ""), 300), **values)
    elif kind == notify.HANDOFF:
        until = payload.get("paused_until")
        until_text = views.when(datetime.fromisoformat(until), tz, t) if isinstance(until, str) else "—"
        message = payload.get("message") or t("alert.rule_default", **values)
        body = t("alert.handoff", rule=str(payload.get("rule") or ""), message=views.snippet(str(message), 800),
                 until=until_text)
    elif kind == notify.BROADCAST_FINISHED:
        body = t("alert.broadcast_finished", broadcast=str(payload.get("name") or ""), total=payload.get("total", 0),
                 sent=payload.get("sent", 0), failed=payload.get("failed", 0), skipped=payload.get("skipped", 0))
    elif kind == notify.QUOTA_REACHED:
        body = _quota_alert(t, payload)
    elif kind == notify.RULE:
        message = payload.get("message") or t("alert.rule_default", **values)
        body = t("alert.rule", rule=str(payload.get("rule") or ""), message=views.snippet(str(message), 800))
    else:
        body = t("alert.generic", kind=kind, text=text or str(payload.get("message") or ""))
    return Alert(body, _buttons(t, kind, lead_id, conv_id, payload))


def _quota_alert(t: Translator, payload: dict[str, Any]) -> str:
    """An automatic extra stopped at the plan's monthly limit: what stopped, what goes on, how to get more."""
    metric, next_plan = str(payload.get("metric") or ""), payload.get("next_plan")
    more = (t("quota.upgrade", command=f"papo user plan --user {payload.get('email')} --plan {next_plan}")
            if next_plan else t("quota.top"))
    return t("alert.quota_reached", plan=str(payload.get("plan") or ""), limit=payload.get("limit", "—"),
             what=t(f"quota.metric.{metric}"), month=str(payload.get("month") or "")) + "\n" + more


class AlertConsumer:
    """Delivers owner notifications to linked Telegram accounts (one consumer per bot process)."""

    def __init__(self, bot: Bot, context: BotContext, *, consumer: str, batch: int = 50, block_ms: int = 2000,
                 claim_idle_ms: int = 30_000, max_attempts: int = 5) -> None:
        self.bot = bot
        self.context = context
        self.redis = context.redis
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.delivered = 0
        settings = context.settings
        self.backoff = Backoff(first=settings.telegram_backoff_min, cap=settings.telegram_backoff_max)
        self.held = False  # Telegram was unreachable: this consumer's pending entries go first next round

    async def ensure_group(self) -> None:
        """Create the consumer group (from the stream's start: alerts queued before the bot ran count)."""
        try:
            await self.redis.xgroup_create(notify.NOTIFY_STREAM, notify.NOTIFY_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set."""
        if await until_done("alert consumer group", self.ensure_group, log, stop=stop) is None and stop.is_set():
            return
        await every("alert delivery round", lambda: self._round(stop), stop, 0, log)  # it blocks on its read

    async def _round(self, stop: asyncio.Event) -> int:
        """One round; when Telegram could not be reached, wait the backoff before the next one."""
        done = await self.run_once()
        if self.held:
            await pause(stop, self.backoff.next())
        else:
            self.backoff.reset()
        return done

    async def run_once(self, *, block_ms: int | None = None) -> int:
        """Retry what Telegram's outage held back, else reclaim stalled entries and read new ones; deliver them.

        Returns how many were settled.
        """
        entries: list[Any] = []
        if self.held:  # this consumer's own pending entries ("0"), in order
            read = await self.redis.xreadgroup(notify.NOTIFY_GROUP, self.consumer, {notify.NOTIFY_STREAM: "0"},
                                               count=self.batch)
            entries = [e for _, batch in read or [] for e in batch]
            self.held = False
        if not entries:
            claimed = await self.redis.xautoclaim(notify.NOTIFY_STREAM, notify.NOTIFY_GROUP, self.consumer,
                                                  min_idle_time=self.claim_idle_ms, start_id="0-0", count=self.batch)
            entries = list(claimed[1]) if claimed else []
        if not entries:
            read = await self.redis.xreadgroup(notify.NOTIFY_GROUP, self.consumer, {notify.NOTIFY_STREAM: ">"},
                                               count=self.batch, block=self.block_ms if block_ms is None else block_ms)
            entries = [e for _, batch in read or [] for e in batch]
        done = 0
        for entry_id, fields in entries:
            if fields is None:  # trimmed away while pending
                await self._ack(entry_id)
                continue
            if await self.handle(entry_id, fields):
                done += 1
            elif self.held:  # Telegram is unreachable: the rest of the batch stays pending with this one
                break
        return done

    async def _ack(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(notify.NOTIFY_STREAM, notify.NOTIFY_GROUP, entry_id)
        pipe.hdel(ALERT_ATTEMPTS, entry_id)
        await pipe.execute()

    async def handle(self, entry_id: str, fields: dict[str, str]) -> bool:
        """Deliver one entry to every linked chat; True when it is settled (acknowledged)."""
        attempts = int(await self.redis.hincrby(ALERT_ATTEMPTS, entry_id, 1))
        try:
            data = codec.decode(fields)
            user_id = uuid.UUID(str(data["user_id"]))
        except (codec.CodecError, KeyError, ValueError) as exc:
            log.warning("dropping undecodable notification %s: %s", entry_id, exc)
            await self._ack(entry_id)
            return True
        if attempts > self.max_attempts:
            log.error("dropping notification %s (%s) after %d attempts", entry_id, data.get("kind"), attempts - 1)
            await self._ack(entry_id)
            return True
        try:
            await self._deliver(entry_id, user_id, str(data.get("kind") or ""), data.get("payload") or {},
                                data.get("at"))
        except TelegramRetryAfter as exc:
            log.warning("Telegram asks to wait %ss; notification %s stays pending", exc.retry_after, entry_id)
            await asyncio.sleep(min(float(exc.retry_after), 30.0))
            return False
        except UNREACHABLE:  # not this alert's fault: the delivery is not counted, and it is tried again
            await self.redis.hincrby(ALERT_ATTEMPTS, entry_id, -1)
            self.held = True
            return False
        await self._ack(entry_id)
        return True

    async def _deliver(self, entry_id: str, user_id: uuid.UUID, kind: str, payload: dict[str, Any],
                       at: str | None) -> None:
        now = datetime.now(UTC)
        if at:
            with contextlib.suppress(ValueError):
                if now - datetime.fromisoformat(at) > MAX_AGE:
                    log.info("dropping stale notification %s (%s from %s)", entry_id, kind, at)
                    return
        prefs = await owners.get_prefs(user_id, default_timezone=self.context.default_timezone)
        if not prefs.alert_on(kind):
            return
        if await conversations.is_muted(payload.get("conversation_id")):
            return
        chats = await owners.linked_chats(user_id)
        if not chats:
            return
        t = translator(prefs.language)
        alert = await render(t, user_id, kind, payload, prefs.timezone)
        silent = prefs.in_quiet_hours(now)
        business = await owners.business_name(user_id) if any(c.businesses > 1 for c in chats) else ""
        for chat in chats:
            mark = alert_sent_key(entry_id, chat.chat_id)
            if await self.redis.exists(mark):
                continue
            # An account running several businesses (a consultancy's) is told whose alert this is.
            text = t("alert.for_business", business=business) + alert.text if chat.businesses > 1 else alert.text
            try:
                await self.bot.send_message(chat.chat_id, text, reply_markup=alert.markup,
                                            disable_notification=silent)
            except TelegramForbiddenError:
                log.info("Telegram user %s blocked the bot; alerts paused for them", chat.telegram_user_id)
                await owners.mark_blocked(chat.telegram_user_id)
                continue
            except (TelegramRetryAfter, *UNREACHABLE):
                raise
            except TelegramAPIError as exc:  # a refused message will not pass on a retry either
                log.warning("alert %s to chat %s refused: %s", entry_id, chat.chat_id, exc)
                continue
            await self.redis.set(mark, "1", ex=int(MAX_AGE.total_seconds() * 2))
            self.delivered += 1


class FollowUpScanner:
    """Every `every` seconds, queue a `follow_up_due` alert for each follow-up that came due."""

    def __init__(self, context: BotContext, *, every: float = 60.0) -> None:
        self.context = context
        self.every = every

    async def scan(self, now: datetime | None = None) -> int:
        """Queue alerts for due follow-ups; how many were new."""
        queued = 0
        for due in await leads.due_followups(now):
            entry = await notify.notify_owner(
                self.context.redis, due.user_id, notify.FOLLOW_UP_DUE,
                {"lead_id": str(due.lead_id), "name": due.name, "platform": due.platform,
                 "due_at": due.due_at.isoformat()},
                dedupe_key=f"{notify.FOLLOW_UP_DUE}:{due.lead_id}:{due.due_at.isoformat()}",
            )
            queued += entry is not None
        return queued

    async def run(self, stop: asyncio.Event) -> None:
        """Scan until `stop` is set."""
        await every("follow-up scan", self.scan, stop, self.every, log)  # follow-ups stay due for a day
