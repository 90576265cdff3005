"""Broadcasts on the real stores against the fake Graph API: segments, variables, windows, rate, restarts."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from papo.services import ServiceError, optout, plans
from papo.services.broadcast_send import IN_DOUBT
from papo.services.broadcasts import (
    Segment,
    cancel_broadcast,
    create_broadcast,
    get_broadcast,
    list_broadcasts,
    preview,
)
from papo.services.notify import NOTIFY_STREAM
from papo.services.plans import set_plan
from papo.services.send_ledger import SENT_KEY
from papo.streams import codec
from tests.broadcasts.conftest import PHONE_ID, make_shop
from tests.broadcasts.seed import seed_leads
from tests.conftest import eventually

CUPOM = {"cupom": "NATAL10"}


async def _finished(shop, bid: str, within: float = 60.0):
    async def done() -> bool:
        return (await get_broadcast(shop.user, bid)).status == "finished"

    await eventually(done, within=within)
    return await get_broadcast(shop.user, bid)


def _wa_calls(fake) -> list:
    return [c for c in fake.calls_to(f"/{PHONE_ID}/messages")]


async def test_segment_selects_by_quality_status_tags_platform_and_last_contact(stores, shop) -> None:
    wa, ig = shop.whatsapp.id, shop.instagram.id
    await seed_leads(shop.user.id, wa, count=3, quality="hot", tags=["vip"], last_contact=timedelta(days=2))
    await seed_leads(shop.user.id, wa, count=2, first=10, quality="warm", status="contacted",
                     last_contact=timedelta(days=20))
    await seed_leads(shop.user.id, wa, count=4, first=20, quality="cold")
    await seed_leads(shop.user.id, ig, count=2, platform="instagram", prefix="ig", quality="hot")
    # Another business with the very same customer ids: never part of this one's broadcasts.
    other = await make_shop("outra@loja.com", phone_id="999000111", ig_id="888000111")
    await seed_leads(other.user.id, other.whatsapp.id, count=3, quality="hot", tags=["vip"])

    async def count(segment: dict) -> int:
        return (await preview(shop.user, template="promo", segment=Segment.parse(segment), variables=CUPOM)).count

    assert await count({}) == 11
    assert await count({"quality": ["hot", "warm"]}) == 7
    assert await count({"quality": "hot", "platform": "whatsapp"}) == 3
    assert await count({"tags": ["VIP", "other"]}) == 3
    assert await count({"status": ["contacted"]}) == 2
    now = datetime.now(UTC)
    assert await count({"last_contact_before": (now - timedelta(days=10)).isoformat()}) == 2
    assert await count({"last_contact_after": (now - timedelta(days=3)).isoformat(), "quality": ["hot"]}) == 5

    # Opted-out customers are left out, and counted as such.
    await optout.opt_out(shop.user.id, "whatsapp", "5511900000001")
    found = await preview(shop.user, template="promo", segment=Segment.parse({"quality": ["hot"]}), variables=CUPOM)
    assert found.count == 4 and found.opted_out == 1
    assert "5511900000001" not in {r.remote_user_id for r in found.recipients}
    assert found.to_dict()["by_platform"] == {"whatsapp": 2, "instagram": 2}


@pytest.mark.parametrize(("segment", "message"), [
    ('{"quality": ["boiling"]}', "segment quality: boiling is not one of cold, warm, hot"),
    ('{"colour": "red"}', "unknown segment key(s) colour"),
    ('{"platform": "tiktok"}', "segment platform: tiktok is not one of whatsapp, instagram, facebook"),
    ('{"last_contact_before": "yesterday"}', "segment last_contact_before: 'yesterday' is not an ISO-8601"),
    ("[1]", "the segment must be a JSON object"),
    ("{", "--segment is not valid JSON"),
])
def test_bad_segments_are_refused_with_a_readable_reason(segment: str, message: str) -> None:
    with pytest.raises(ServiceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Segment.parse(segment)


async def test_variables_are_filled_per_lead_and_a_missing_one_is_refused(stores, shop) -> None:
    await seed_leads(shop.user.id, shop.whatsapp.id, count=2, name="Ana Maria")
    with pytest.raises(ServiceError, match=r"needs a value for \{cupom\}"):
        await preview(shop.user, template="promo", segment=Segment())
    with pytest.raises(ServiceError, match="has no variable 3"):
        await preview(shop.user, template="promo", segment=Segment(), variables={"3": "x"})
    found = await preview(shop.user, template="promo", segment=Segment(),
                          variables={"1": "{first_name}", "cupom": "{first_name}-10"})
    first = found.recipients[0]
    assert first.params == ["Ana", "Ana-10"]
    assert first.text == "Olá Ana! Cupom Ana-10 hoje."


async def test_a_template_that_is_not_approved_cannot_be_broadcast(stores, shop) -> None:
    from papo.services.templates import add_template

    await add_template(shop.user, platform="whatsapp", name="draft", content="Oi {name}",
                       meta_template_name="draft_one", language="pt_BR", approved=False)
    with pytest.raises(ServiceError, match="not approved by Meta yet"):
        await preview(shop.user, template="draft", segment=Segment())


async def test_a_broadcast_sends_the_template_to_each_recipient_once_within_the_rate(
    stores, shop, fake, machinery
) -> None:
    fake.calls.clear()
    fake.throttle_every = 23  # the Cloud API answers 130429 now and then
    remotes = await seed_leads(shop.user.id, shop.whatsapp.id, count=150, quality="hot")
    await seed_leads(shop.user.id, shop.whatsapp.id, count=20, first=500, quality="cold")
    view = await create_broadcast(shop.user, template="promo", segment=Segment(quality=("hot",)), variables=CUPOM)
    assert view.total == 150 and view.status == "scheduled"
    await machinery.start(outbound_broadcast_per_second=50.0)
    try:
        done = await _finished(shop, str(view.id))
    finally:
        fake.throttle_every = 0
        await machinery.stop()
    calls = _wa_calls(fake)
    accepted = Counter(c.json["to"] for c in calls)  # every call, throttled ones included
    assert set(accepted) == set(remotes)
    throttled = len(calls) - len(remotes)
    assert throttled > 0  # some 130429 answers came, and were retried
    assert done.counts == {"sent": 150} and done.done == 150
    assert fake.peak_per_second() <= 50
    body = calls[0].json
    assert body["type"] == "template" and body["template"]["name"] == "promo_natal"
    assert body["template"]["language"]["code"] == "pt_BR"
    assert body["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "Cliente"}, {"type": "text", "text": "NATAL10"}]
    rows = await stores_rows(done.id)
    assert all(r["platform_message_id"] and r["platform_message_id"].startswith("wamid.") for r in rows)


async def stores_rows(bid) -> list[dict]:
    from tortoise import Tortoise

    return await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM broadcast_recipients WHERE broadcast_id = $1 ORDER BY id", [bid])


async def test_instagram_recipients_only_inside_their_window_the_rest_skipped_with_the_reason(
    stores, shop, fake, machinery
) -> None:
    fake.calls.clear()
    inside = await seed_leads(shop.user.id, shop.instagram.id, count=2, platform="instagram", prefix="igin")
    outside = await seed_leads(shop.user.id, shop.instagram.id, count=3, first=10, platform="instagram",
                               prefix="igout", last_contact=timedelta(hours=30))
    view = await create_broadcast(shop.user, template="promo", segment=Segment(platform=("instagram",)),
                                  variables=CUPOM)
    await machinery.start()
    try:
        done = await _finished(shop, str(view.id))
    finally:
        await machinery.stop()
    sent = fake.calls_to("/messages")
    assert sorted(c.json["recipient"]["id"] for c in sent) == sorted(inside)
    assert sent[0].json["message"]["text"] == "Olá Cliente! Cupom NATAL10 hoje."
    assert done.counts == {"sent": 2, "skipped": 3}
    skipped = {r["remote_user_id"]: r["error"] for r in await stores_rows(done.id) if r["state"] == "skipped"}
    assert set(skipped) == set(outside)
    assert all("outside the 24-hour customer-service window" in e for e in skipped.values())


async def test_opted_out_after_creation_is_skipped_at_send_time(stores, shop, fake, machinery) -> None:
    fake.calls.clear()
    remotes = await seed_leads(shop.user.id, shop.whatsapp.id, count=3)
    view = await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM)
    await optout.opt_out(shop.user.id, "whatsapp", remotes[1], keyword="sair")
    await machinery.start()
    try:
        done = await _finished(shop, str(view.id))
    finally:
        await machinery.stop()
    assert sorted(c.json["to"] for c in _wa_calls(fake)) == [remotes[0], remotes[2]]
    assert done.counts == {"sent": 2, "skipped": 1}
    assert done.errors == [{"state": "skipped", "error": "the customer opted out of campaigns", "count": 1}]


async def test_a_restart_mid_campaign_resumes_and_sends_nobody_twice(stores, shop, fake, machinery) -> None:
    from tortoise import Tortoise

    fake.calls.clear()
    remotes = await seed_leads(shop.user.id, shop.whatsapp.id, count=120)
    view = await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM)
    await machinery.start(outbound_broadcast_per_second=40.0)

    async def some_sent() -> bool:
        return len(_wa_calls(fake)) >= 30

    await eventually(some_sent)
    await machinery.stop(kill=True)  # a crash: tasks cancelled wherever they were
    conn = Tortoise.get_connection("default")
    # What a crash can leave besides: a recipient claimed but never appended to the stream…
    rows = await conn.execute_query_dict(
        "UPDATE broadcast_recipients SET state = 'queued', queued_at = now() - interval '1 hour' "
        "WHERE id = (SELECT min(id) FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'pending') "
        "RETURNING outbound_id, remote_user_id", [view.id])
    never_appended = rows[0]["remote_user_id"]
    # …and one whose send was in flight when the worker died (claimed in the ledger, answer never known).
    rows = await conn.execute_query_dict(
        "UPDATE broadcast_recipients SET state = 'queued', queued_at = now() - interval '1 hour' "
        "WHERE id = (SELECT min(id) FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'pending') "
        "RETURNING outbound_id, remote_user_id", [view.id])
    in_doubt, in_doubt_id = rows[0]["remote_user_id"], rows[0]["outbound_id"]
    await stores.redis.hset(SENT_KEY + in_doubt_id, mapping={"state": "sending", "attempts": "1"})
    before = len(_wa_calls(fake))
    assert before < 120

    await machinery.start(outbound_broadcast_per_second=40.0)
    try:
        done = await _finished(shop, str(view.id))
    finally:
        await machinery.stop()
    sent_to = Counter(c.json["to"] for c in _wa_calls(fake))
    assert max(sent_to.values()) == 1  # nobody twice
    assert set(sent_to) == set(remotes) - {in_doubt}
    assert never_appended in sent_to
    rows = {r["remote_user_id"]: r for r in await stores_rows(done.id)}
    assert rows[in_doubt]["state"] == "unknown"
    assert "not resent" in rows[in_doubt]["error"] or rows[in_doubt]["error"] == IN_DOUBT
    assert done.counts == {"sent": 119, "unknown": 1}


async def test_statuses_and_replies_are_recorded_per_recipient(stores, shop, fake, machinery) -> None:
    from tortoise import Tortoise

    from papo.models import Message

    fake.calls.clear()
    remotes = await seed_leads(shop.user.id, shop.whatsapp.id, count=3)
    view = await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM)
    fake.script(f"/{PHONE_ID}/messages", (400, {"error": {
        "message": "Message undeliverable", "code": 131026, "error_data": {"details": "Receiver is incapable"}}}))
    await machinery.start()
    try:
        done = await _finished(shop, str(view.id))
    finally:
        await machinery.stop()
    assert done.counts == {"sent": 2, "failed": 1}
    rows = {r["remote_user_id"]: r for r in await stores_rows(done.id)}
    failed = next(r for r in rows.values() if r["state"] == "failed")
    assert failed["error"].startswith("131026: Message undeliverable")
    # One alert per failed customer would flood the owner: one alert says how the campaign went instead.
    alerts = [codec.decode(fields) for _, fields in await stores.redis.xrange(NOTIFY_STREAM)]
    assert [(a["kind"], a["payload"]) for a in alerts] == [("broadcast_finished", {
        "broadcast_id": str(view.id), "name": "promo", "total": 3, "sent": 2, "failed": 1, "skipped": 0})]
    # The status webhooks move the messages rows; a customer answers.
    delivered, read = (r for r in rows.values() if r["state"] == "sent")
    conn = Tortoise.get_connection("default")
    for row, status in ((delivered, "delivered"), (read, "read")):
        await conn.execute_query("UPDATE messages SET delivery_status = $2, delivery_updated_at = now() "
                                 "WHERE outbound_id = $1", [row["outbound_id"], status])
    await Message.create(conversation_id=read["conversation_id"], sender="remote", message_text="quero!",
                         platform_message_id="in-reply-1", kind="message", platform_timestamp=datetime.now(UTC))
    view = await get_broadcast(shop.user, str(view.id))
    assert view.counts == {"delivered": 1, "read": 1, "failed": 1} and view.replied == 1
    rows = {r["remote_user_id"]: r for r in await stores_rows(done.id)}
    assert rows[read["remote_user_id"]]["read_at"] and rows[read["remote_user_id"]]["replied_at"]
    assert rows[delivered["remote_user_id"]]["delivered_at"] and not rows[delivered["remote_user_id"]]["read_at"]
    assert set(rows) == set(remotes)


async def test_a_scheduled_broadcast_waits_and_a_cancelled_one_sends_nothing(stores, shop, fake, machinery) -> None:
    fake.calls.clear()
    await seed_leads(shop.user.id, shop.whatsapp.id, count=3)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    view = await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM, when=later)
    assert view.status == "scheduled" and view.counts == {"pending": 3}
    await machinery.start()
    await asyncio.sleep(0.5)
    assert not _wa_calls(fake)
    cancelled = await cancel_broadcast(shop.user, str(view.id)[:8])
    await asyncio.sleep(0.3)
    await machinery.stop()
    assert cancelled.status == "cancelled" and cancelled.counts == {"cancelled": 3}
    with pytest.raises(ServiceError, match="is cancelled"):
        await cancel_broadcast(shop.user, str(view.id))
    listed = await list_broadcasts(shop.user)
    assert [b.id for b in listed] == [view.id]
    other = await make_shop("outra@loja.com", phone_id="999000111", ig_id="888000111")
    assert await list_broadcasts(other.user) == []
    with pytest.raises(ServiceError, match="no broadcast"):
        await get_broadcast(other.user, str(view.id))
    assert json.loads(json.dumps(cancelled.to_dict()))["template"] == "promo"


async def test_recipients_count_against_the_plan_and_a_cancel_gives_the_unsent_back(stores, shop) -> None:
    await seed_leads(shop.user.id, shop.whatsapp.id, count=5)
    await set_plan(shop.user, "starter")  # 1,000 recipients a month
    assert await plans.try_take(shop.user, plans.BROADCAST_RECIPIENTS, 997)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    refused = r"plan starter allows 1000 broadcast recipients a month \(997 in use\)"
    with pytest.raises(plans.QuotaExceeded, match=refused):
        await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM, when=later)
    assert await list_broadcasts(shop.user) == []  # nothing stored, nothing counted
    assert await plans.used_this_month(shop.user, plans.BROADCAST_RECIPIENTS) == 997

    await plans.give_back(shop.user, plans.BROADCAST_RECIPIENTS, 997)
    view = await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM, when=later)
    assert await plans.used_this_month(shop.user, plans.BROADCAST_RECIPIENTS) == 5
    await cancel_broadcast(shop.user, str(view.id))
    assert await plans.used_this_month(shop.user, plans.BROADCAST_RECIPIENTS) == 0


async def test_a_cancel_gives_the_unsent_back_to_the_month_they_were_counted_in(stores, shop) -> None:
    await seed_leads(shop.user.id, shop.whatsapp.id, count=4)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    view = await create_broadcast(shop.user, template="promo", segment=Segment(), variables=CUPOM, when=later)
    # The campaign was made last month: its 4 recipients counted there, and this month has 7 of its own.
    created = datetime.now(UTC).replace(day=1) - timedelta(days=3)
    last_month = plans.current_month(created)
    from tortoise import Tortoise
    conn = Tortoise.get_connection("default")
    await conn.execute_query("UPDATE broadcasts SET created_at = $2 WHERE id = $1", [view.id, created])
    await conn.execute_query("UPDATE plan_usage SET month = $2 WHERE user_id = $1 AND metric = $3",
                             [shop.user.id, last_month, plans.BROADCAST_RECIPIENTS])
    assert await plans.try_take(shop.user, plans.BROADCAST_RECIPIENTS, 7)
    await cancel_broadcast(shop.user, str(view.id))
    assert await plans.used_this_month(shop.user, plans.BROADCAST_RECIPIENTS) == 7  # not lent 4 more
    assert await plans.used_this_month(shop.user, plans.BROADCAST_RECIPIENTS, month=last_month) == 0
