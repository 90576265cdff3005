"""Stats: the numbers (PostgreSQL + MongoDB ai_interactions) per owner day, the text and the chart."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from papo.bot.charts import IN_COLOR, OUT_COLOR, stats_chart
from papo.models import Message, Post
from papo.services import stats
from papo.services.stats import DayCount
from tests.bot.conftest import BotHarness, Person, make_business
from tests.bot.test_session import png_size

ANA = Person(4001, "Ana")


def midday_zone() -> str:
    """A fixed-offset zone where it is about noon now, so 'today' holds the last hour whenever the test runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # POSIX Etc zones have the sign inverted


async def test_numbers_for_today_and_seven_days(harness: BotHarness, stores: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA, last_inbound=timedelta(minutes=30))
    conv = biz.conversation
    now = datetime.now(UTC)
    # today: the customer wrote 30 min ago (make_business) and again 20 min ago; replies 10 and 5 min ago
    await Message.create(conversation=conv, sender="remote", message_text="e a entrega?", kind="message",
                         platform_timestamp=now - timedelta(minutes=20))
    await Message.create(conversation=conv, sender="user", message_text="Entregamos!", is_automated=True,
                         platform_timestamp=now - timedelta(minutes=10), delivery_status="sent")
    await Message.create(conversation=conv, sender="user", message_text="Qualquer coisa chama", is_automated=False,
                         platform_timestamp=now - timedelta(minutes=5), delivery_status="delivered")
    await Message.create(conversation=conv, sender="user", message_text="falhou", delivery_status="failed",
                         platform_timestamp=now - timedelta(minutes=4))
    # three days ago (counted in 7 days, not today)
    old = await Message.create(conversation=conv, sender="remote", message_text="oi", kind="message",
                               platform_timestamp=now - timedelta(days=3))
    await Message.filter(id=old.id).update(created_at=now - timedelta(days=3))
    await Post.create(user=biz.user, content="Promo", status="published", published_at=now - timedelta(hours=1))
    for intent, n in (("purchase", 3), ("question", 2), ("complaint", 1)):
        for _ in range(n):
            await stores.analytics.log_ai_interaction(user_id=biz.user.id, conversation_id=conv.id,
                                                      platform="whatsapp", user_message="x", ai_response=None,
                                                      sentiment="neutral", intent=intent, lead_score=0.5)
    await stores.analytics.log_ai_interaction(user_id="00000000-0000-0000-0000-000000000001", conversation_id=None,
                                              platform="whatsapp", user_message="other business", ai_response=None,
                                              sentiment="neutral", intent="info", lead_score=0.1)

    tz = midday_zone()
    today = await stats.compute_stats(biz.user.id, stores.analytics, days=1, timezone=tz)
    assert (today.messages_in, today.messages_out, today.automated_out) == (2, 2, 1)
    assert today.automated_share == 0.5
    # one wait (the first customer message after nothing) answered 20 minutes later
    assert today.responses == 1 and abs(today.response_median_seconds - 20 * 60) < 5
    assert today.top_intents == (("purchase", 3), ("question", 2), ("complaint", 1))
    assert today.posts_published == 1 and today.leads_by_quality["hot"] == 1
    week = await stats.compute_stats(biz.user.id, stores.analytics, days=7, timezone=tz)
    assert week.messages_in == 3 and len(week.series) == 7
    assert week.series[-1].day == datetime.now(ZoneInfo(tz)).date() and week.series[-1].incoming == 2
    assert sum(d.incoming for d in week.series) == 3


async def test_stats_buttons_send_a_new_chart(harness: BotHarness) -> None:
    await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await harness.say(ANA, "/menu")
    calls = await harness.press(ANA, "Estatísticas")
    photo = next(c for c in calls if c.method == "sendPhoto")
    assert "Hoje" in photo.text and png_size(photo.file("photo")) == (800, 420)
    calls = await harness.press(ANA, "30 dias")
    assert "30 dias" in next(c for c in calls if c.method == "sendPhoto").text


def _pixels(png: bytes) -> tuple[int, int, bytes]:
    """Decode our own PNG (8-bit RGB, filter 0 on every row) to raw pixels."""
    width, height = png_size(png)
    pos, idat = 8, b""
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        crc = int.from_bytes(png[pos + 8 + length:pos + 12 + length], "big")
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        if kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    rows = [raw[y * (width * 3 + 1):(y + 1) * (width * 3 + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, b"".join(row[1:] for row in rows)


def test_chart_bars_are_drawn_in_proportion() -> None:
    day = datetime(2026, 11, 1).date()
    png = stats_chart([DayCount(day, 10, 5)], title="Test", width=200, height=200)
    width, height, pixels = _pixels(png)

    def column_height(color: tuple[int, int, int]) -> int:
        best = 0
        for x in range(width):
            count = sum(1 for y in range(height) if pixels[(y * width + x) * 3:(y * width + x) * 3 + 3] == bytes(color))
            best = max(best, count)
        return best

    incoming, outgoing = column_height(IN_COLOR), column_height(OUT_COLOR)
    # the legend squares are 14 px tall; the bars are 90 px (10 of 10) and 45 px (5 of 10) — plot height 90
    assert incoming >= 90 and 45 <= outgoing < 60
