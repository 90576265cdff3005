"""`/stats`: today, 7 or 30 days as text, and a chart sent as a photo (PNG)."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from papo.bot import views
from papo.bot.charts import stats_chart
from papo.bot.keyboards import Nav, StatsCb, back, button, rows
from papo.bot.locales import Translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import Event, linked_router
from papo.services import stats
from papo.services.owners import Owner

router = linked_router("stats")


def _markup(t: Translator) -> InlineKeyboardMarkup:
    return rows([button(t(f"stats.period.{d}"), StatsCb(days=d)) for d in stats.PERIODS], [back(t, Nav(to="menu"))])


@router.message(Command("stats"))
async def stats_command(message: Message, command: CommandObject, owner: Owner, t: Translator,
                        ctx: BotContext) -> None:
    """`/stats`, `/stats 7`, `/stats 30`."""
    arg = (command.args or "").strip()
    days = int(arg) if arg.isdigit() and int(arg) in stats.PERIODS else 1
    await send_stats(message, owner, t, ctx, days)


@router.callback_query(Nav.filter(F.to == "stats"))
async def stats_menu(query: CallbackQuery, owner: Owner, t: Translator, ctx: BotContext) -> None:
    """Stats from the menu: today."""
    await send_stats(query, owner, t, ctx, 1)


@router.callback_query(StatsCb.filter())
async def stats_period(query: CallbackQuery, callback_data: StatsCb, owner: Owner, t: Translator,
                       ctx: BotContext) -> None:
    """Another period."""
    await send_stats(query, owner, t, ctx, callback_data.days)


async def send_stats(event: Event, owner: Owner, t: Translator, ctx: BotContext, days: int) -> None:
    """The numbers as a photo (the chart) with the text as its caption, and the period buttons."""
    data = await stats.compute_stats(owner.user_id, ctx.stores.analytics, days=days, timezone=owner.prefs.timezone)
    png = stats_chart(data.series, title=t("chart.title", period=t(f"stats.period.{days}")),
                      labels=(t("chart.in"), t("chart.out")))
    bot = event.bot
    assert bot is not None
    chat_id = event.chat.id if isinstance(event, Message) else event.from_user.id
    await bot.send_photo(chat_id, BufferedInputFile(png, filename=f"papo-stats-{days}d.png"),
                         caption=views.stats(t, data), reply_markup=_markup(t))
