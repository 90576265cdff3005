"""Webhooks through the real server and the real worker, into PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from papo.adapters.adapter_registry import get_adapter
from papo.adapters.events import MESSAGE_KINDS
from papo.constants import RAW_STREAM
from papo.models import Conversation, Interaction, Message
from papo.services import subscriptions
from papo.services.event_store import stored_message_id
from papo.services.queues import inbound_spec, webhook_spec
from tests.conftest import eventually
from tests.inbound.conftest import connect_fixture_accounts, outcomes, sign

WEBHOOKS = Path(__file__).parent.parent / "data" / "webhooks"
ALL_FIXTURES = sorted(
    (p.parent.name, p.name) for p in WEBHOOKS.glob("*/*") if p.suffix in {".json", ".xml"}
    and p.name != "comment_threads.json"  # an API response for the YouTube poller, not a webhook
)


async def post(web, settings, platform: str, body: bytes, headers: dict | None = None):
    return await web.post(f"/webhooks/{platform}", data=body,
                          headers=headers if headers is not None else sign(settings, platform, body))


async def queued_total(stores, settings) -> int:
    """Entries on the webhook stream and the inbound stream (a worker deletes those it settled)."""
    specs = [webhook_spec(settings.stream_partitions), inbound_spec(settings.stream_partitions)]
    return sum([await stores.redis.xlen(spec.key(p)) for spec in specs for p in range(spec.partitions)])


@pytest.mark.parametrize(("platform", "name"), ALL_FIXTURES)
async def test_every_fixture_lands_as_the_messages_its_events_describe(
    web, worker, settings, stores, connect, platform, name
) -> None:
    body = (WEBHOOKS / platform / name).read_bytes()
    await connect_fixture_accounts(connect, platform, body)
    events = get_adapter(platform).parse(body)
    expected = {
        (e.remote_user_id, stored_message_id(e))
        for e in events if e.kind in MESSAGE_KINDS and e.remote_user_id
    }
    resp = await post(web, settings, platform, body)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"queued": True}

    async def stored() -> bool:
        return await Message.all().count() == len(expected)

    await eventually(stored)
    await asyncio.sleep(0.2)  # nothing more arrives later
    rows = await Message.all().prefetch_related("conversation")
    assert {(m.conversation.remote_user_id, m.platform_message_id) for m in rows} == expected
    for m in rows:
        assert m.conversation.platform == platform


async def test_whatsapp_text_becomes_a_conversation_keyed_on_the_business_scoped_id(
    web, worker, settings, stores, connect, owner
) -> None:
    body = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_bytes()
    account = await connect("whatsapp", "106540352242922")
    assert (await post(web, settings, "whatsapp", body)).status == 200
    await eventually(lambda: Message.exists())
    conv = await Conversation.get(account=account)
    assert (conv.remote_user_id, conv.remote_user_name, str(conv.platform)) == (
        "BR.1502576394655843", "Ana Souza", "whatsapp")
    assert conv.user_id == owner.id and conv.last_message_at is not None
    msg = await Message.get(conversation=conv)
    assert msg.message_text == "Oi! Vocês têm o bolo de cenoura hoje?"
    assert (str(msg.sender), str(msg.message_type), msg.kind) == ("remote", "text", "message")
    assert msg.platform_message_id.startswith("wamid.")
    cached = await stores.redis.hgetall(f"papo:active:{conv.id}")
    assert cached["remote_user_id"] == "BR.1502576394655843" and "last_inbound_at" in cached
    # The raw body is archived to MongoDB for `papo replay`.
    raw = stores.analytics.db["raw_webhooks"]
    await eventually(lambda: raw.count_documents({"platform": "whatsapp"}))
    doc = await raw.find_one({"platform": "whatsapp"})
    assert json.loads(doc["body"]) == json.loads(body)


async def test_concurrent_deliveries_share_round_trips_and_each_body_is_archived(
    web, worker, settings, stores, connect
) -> None:
    template = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_text()
    await connect_fixture_accounts(connect, "whatsapp", template.encode())
    bodies = [template.replace("wamid.", f"wamid.C{n:02d}").encode() for n in range(12)]
    responses = await asyncio.gather(*(post(web, settings, "whatsapp", b) for b in bodies))
    assert [r.status for r in responses] == [200] * 12
    assert [await r.json() for r in responses] == [{"queued": True}] * 12
    await eventually(lambda: _outcome_is("whatsapp", "queued", 12, stores))
    assert await stores.redis.xlen(RAW_STREAM) < 12  # the fan-out archives the bodies of a batch as one entry
    raw = stores.analytics.db["raw_webhooks"]

    async def archived() -> bool:
        return await raw.count_documents({"platform": "whatsapp"}) == 12

    await eventually(archived)
    stored = sorted([doc["body"] async for doc in raw.find({"platform": "whatsapp"})])
    assert stored == sorted(b.decode() for b in bodies)
    await eventually(lambda: _count_is(12))


async def _count_is(n: int) -> bool:
    return await Message.all().count() == n


async def test_a_whatsapp_business_app_echo_by_phone_joins_the_customers_bsuid_conversation(
    web, worker, settings, stores, connect
) -> None:
    # Ana writes with her BSUID and her old 8-digit phone; the owner answers from the WhatsApp Business app,
    # whose echo names her by the 9-digit phone only.
    customer = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_bytes()
    echo = (WEBHOOKS / "whatsapp" / "smb_echoes.json").read_bytes()
    await connect_fixture_accounts(connect, "whatsapp", customer)
    assert (await post(web, settings, "whatsapp", customer)).status == 200
    await eventually(lambda: Message.exists())
    assert (await post(web, settings, "whatsapp", echo)).status == 200
    await eventually(lambda: _count_is(2))
    [conv] = await Conversation.all()
    assert conv.remote_user_id == "BR.1502576394655843"
    senders = sorted(str(m.sender) for m in await Message.filter(conversation=conv))
    assert senders == ["remote", "user"]


async def test_echo_is_the_business_speaking_and_statuses_update_what_papo_sent(
    web, worker, settings, stores, connect
) -> None:
    echo = (WEBHOOKS / "instagram" / "echo.json").read_bytes()
    await connect_fixture_accounts(connect, "instagram", echo)
    assert (await post(web, settings, "instagram", echo)).status == 200
    await eventually(lambda: Message.exists())
    msg = await Message.get()
    assert (str(msg.sender), msg.kind) == ("user", "echo")
    assert msg.message_text.startswith("O brigadeiro gourmet")

    # A message Papo sent earlier on WhatsApp, then its sent/delivered/read statuses (in any order).
    statuses = (WEBHOOKS / "whatsapp" / "statuses.json").read_bytes()
    account = await connect("whatsapp", "106540352242922")
    events = get_adapter("whatsapp").parse(statuses)
    read_event = next(e for e in events if e.status == "read")
    conv = await Conversation.create(user_id=account.user_id, account=account, platform="whatsapp",
                                     platform_conversation_id=read_event.remote_user_id,
                                     remote_user_id=read_event.remote_user_id)
    sent = await Message.create(conversation=conv, sender="user", message_text="Temos sim!",
                                platform_message_id=read_event.platform_message_id, is_automated=True)
    assert (await post(web, settings, "whatsapp", statuses)).status == 200

    async def status_is(expected: str) -> bool:
        return (await Message.get(id=sent.id)).delivery_status == expected

    await eventually(lambda: status_is("read"))
    # WhatsApp reports a voice note "played" after "read": it moves the message on, never back.
    played = statuses.replace(b'"status": "read"', b'"status": "played"')
    assert (await post(web, settings, "whatsapp", played)).status == 200
    await eventually(lambda: status_is("played"))


async def test_likes_and_follows_are_interactions_not_messages(web, worker, settings, stores, connect) -> None:
    body = (WEBHOOKS / "facebook" / "feed_reactions.json").read_bytes()
    await connect_fixture_accounts(connect, "facebook", body)
    likes = [e for e in get_adapter("facebook").parse(body) if e.kind == "like"]
    assert likes
    assert (await post(web, settings, "facebook", body)).status == 200
    await eventually(lambda: Interaction.exists())
    await asyncio.sleep(0.2)
    assert await Interaction.filter(kind__in=["like", "unlike"]).count() == len(likes)


@pytest.mark.parametrize("platform", ["whatsapp", "tiktok", "youtube", "kwai"])
async def test_forged_missing_or_stale_signatures_get_403_and_store_nothing(
    web, worker, settings, stores, connect, platform
) -> None:
    name = {"whatsapp": "batch.json", "tiktok": "im_receive_msg_text.json", "youtube": "new_video.xml",
            "kwai": "batch.json"}[platform]
    body = (WEBHOOKS / platform / name).read_bytes()
    await connect_fixture_accounts(connect, platform, body)
    good = sign(settings, platform, body)
    forged = {k: (v[:-4] + "0000" if "ignature" in k else v) for k, v in good.items()}
    missing = {k: v for k, v in good.items() if "ignature" not in k}
    tampered_body = body.replace(b"e", b"E", 1)
    for headers, payload in ((forged, body), (missing, body), (good, tampered_body)):
        resp = await post(web, settings, platform, payload, headers)
        assert resp.status == 403, (headers, await resp.text())
        assert (await resp.json())["error"] == "invalid signature"
    if platform in ("tiktok", "kwai"):
        from papo.adapters.simulate import signed_headers
        from papo.enums import Platform
        from tests.inbound.conftest import secret_for

        stale = signed_headers(Platform(platform), body, secret_for(settings, platform), 1_700_000_000)
        assert (await post(web, settings, platform, body, stale)).status == 403
    assert await queued_total(stores, settings) == 0
    assert await stores.redis.xlen(RAW_STREAM) == 0
    # …and the server still serves a correct delivery.
    assert (await post(web, settings, platform, body)).status == 200


async def test_bad_requests_get_clear_json_errors_and_the_server_keeps_serving(
    web, worker, settings, stores, connect
) -> None:
    nested = b"[" * 5000 + b"]" * 5000  # deeper than orjson's limit and than Python's stack
    deep_object = b'{"object": "page", "entry": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001
    for body in (b"{not json", b"[1, 2]", b'{"object": "whatsapp_business_account", "entry": 5}', nested,
                 deep_object, b"\xff\xfe{\x00}"):
        resp = await post(web, settings, "whatsapp", body)
        assert resp.status == 400, body
        payload = await resp.json()
        assert payload["error"] == "malformed body" and payload["detail"]
    resp = await post(web, settings, "myspace", b"{}", {})
    assert resp.status == 404 and "myspace" in (await resp.json())["detail"]
    huge = b'{"object": "page", "entry": [], "pad": "' + b"x" * (settings.webhook_max_body + 10) + b'"}'
    resp = await post(web, settings, "facebook", huge)
    assert resp.status == 413 and (await resp.json())["error"]
    assert await queued_total(stores, settings) == 0
    body = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_bytes()
    await connect_fixture_accounts(connect, "whatsapp", body)
    assert (await post(web, settings, "whatsapp", body)).status == 200


async def _total_is(expected: int, stores, settings) -> bool:
    return await queued_total(stores, settings) == expected


async def _outcome_is(platform: str, outcome: str, expected: int, stores) -> bool:
    return (await outcomes(stores, platform))[outcome] == expected


async def test_unknown_account_is_answered_200_counted_and_dropped(web, worker, settings, stores) -> None:
    body = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_bytes()
    resp = await post(web, settings, "whatsapp", body)
    assert resp.status == 200 and await resp.json() == {"queued": True}
    await eventually(lambda: _outcome_is("whatsapp", "unknown_account", 1, stores))
    await eventually(lambda: _total_is(0, stores, settings))  # the body settled, no event queued
    assert await outcomes(stores, "whatsapp") == {"queued": 0, "duplicate": 0, "unknown_account": 1, "malformed": 0}
    text = await (await web.get("/metrics")).text()
    assert 'papo_webhook_events_total{outcome="unknown_account",platform="whatsapp"}' in text


async def test_handshakes(web, settings, stores, connect) -> None:
    ok = await web.get("/webhooks/whatsapp", params={
        "hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    bad = await web.get("/webhooks/instagram", params={
        "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"})
    assert bad.status == 403
    channel = "UCabcdefghijklmnopqrstuv"
    topic = f"https://www.youtube.com/feeds/videos.xml?channel_id={channel}"

    async def hub(mode: str, lease: str = "432000") -> aiohttp.ClientResponse:
        return await web.get("/webhooks/youtube", params={
            "hub.mode": mode, "hub.topic": topic, "hub.challenge": "abc123", "hub.lease_seconds": lease})

    # PubSubHubbub: confirm only what Papo asked for — a feed of a connected channel — else 404.
    refused = await hub("subscribe")
    assert refused.status == 404 and channel in (await refused.json())["detail"]
    await connect("youtube", channel)
    # Connected, but the route is anonymous: without a request of Papo's pending, nobody can set a lease.
    unasked = await hub("subscribe", lease=str(10**12))
    assert unasked.status == 404 and "no subscription request pending" in (await unasked.json())["detail"]
    assert not await stores.redis.hexists(subscriptions.HUB_VERIFIED, channel)
    await stores.redis.set(subscriptions.HUB_SUBSCRIBING + channel, "432000")  # what subscribing records
    yt = await hub("subscribe", lease=str(10**12))
    assert yt.status == 200 and await yt.text() == "abc123"
    verified = json.loads(await stores.redis.hget(subscriptions.HUB_VERIFIED, channel))
    assert verified["mode"] == "subscribe" and verified["lease"] == 432000  # no longer than Papo asked for
    assert (await hub("subscribe")).status == 404  # the request is answered: a replay is not confirmed
    assert (await hub("unsubscribe")).status == 404  # still connected, and Papo did not ask
    await stores.redis.set(subscriptions.HUB_UNSUBSCRIBING + channel, "1")  # what disconnecting records
    assert (await hub("unsubscribe")).status == 200
    assert (await web.get("/webhooks/whatsapp")).status == 400


async def test_fifty_concurrent_deliveries_of_one_event_make_one_message(
    web, worker, settings, stores, connect
) -> None:
    body = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_bytes()
    await connect_fixture_accounts(connect, "whatsapp", body)
    headers = sign(settings, "whatsapp", body)
    responses = await asyncio.gather(*(post(web, settings, "whatsapp", body, headers) for _ in range(50)))
    assert all(r.status == 200 for r in responses)
    assert [await r.json() for r in responses] == [{"queued": True}] * 50
    await eventually(lambda: _outcome_is("whatsapp", "duplicate", 49, stores))
    assert (await outcomes(stores, "whatsapp"))["queued"] == 1
    await eventually(lambda: Message.exists())
    await asyncio.sleep(0.3)
    assert await Message.all().count() == 1 and await Conversation.all().count() == 1


async def test_same_message_queued_twice_is_stored_once(web, worker, settings, stores, connect) -> None:
    """Even past the dedupe marker (e.g. `papo replay`), the database keeps one copy."""
    body = (WEBHOOKS / "whatsapp" / "batch.json").read_bytes()
    await connect_fixture_accounts(connect, "whatsapp", body)
    assert (await post(web, settings, "whatsapp", body)).status == 200
    await eventually(lambda: Message.exists())
    await asyncio.sleep(0.3)
    count = await Message.all().count()
    await stores.redis.delete(*[k async for k in stores.redis.scan_iter("papo:{in:*}:seen:*")])
    assert (await post(web, settings, "whatsapp", body)).status == 200
    await asyncio.sleep(1.0)
    assert await Message.all().count() == count


async def test_metrics_show_webhook_latency_and_the_queues_of_the_whole_deployment(
        web, settings, stores, connect) -> None:
    from papo.services.queues import inbound_spec

    body = (WEBHOOKS / "whatsapp" / "text_bsuid.json").read_bytes()
    await connect_fixture_accounts(connect, "whatsapp", body)
    assert (await post(web, settings, "whatsapp", body)).status == 200  # queued; no worker reads it here
    spec = inbound_spec(settings.stream_partitions)
    await stores.redis.xadd(spec.dead_key(3), {"error": "gave up"})  # one dead letter waiting for the owner

    text = await (await web.get("/metrics")).text()

    count = next(line for line in text.splitlines()
                 if line.startswith('papo_webhook_seconds_count{platform="whatsapp",status="2xx"}'))
    assert float(count.rsplit(" ", 1)[1]) >= 1
    assert 'papo_webhook_seconds_bucket{platform="whatsapp",status="2xx",le="+Inf"}' in text
    assert f'papo_dead_letters{{stream="{spec.name}",partition="3"}} 1' in text
    queued = [line for line in text.splitlines() if line.startswith("papo_stream_") and 'stream="' + spec.name in line]
    assert len([q for q in queued if q.startswith("papo_stream_pending")]) == spec.partitions
    if any(q.startswith("papo_stream_lag") for q in queued):  # Redis 7 reports what no worker has read
        assert sum(int(q.rsplit(" ", 1)[1]) for q in queued if q.startswith("papo_stream_lag")) >= 1
