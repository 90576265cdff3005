"""The webhook stream's fan-out stage on real Redis and MongoDB: order per conversation, a batch read again after a
crash (the worker died before its ack), unknown accounts, and the archive."""

from __future__ import annotations

import asyncio

from papo.adapters.adapter_registry import default_registry
from papo.adapters.simulate import build_webhook
from papo.constants import MONGO_RAW_WEBHOOKS
from papo.pipeline.archive import RawArchiver
from papo.pipeline.fanout import WebhookFanout
from papo.services.queues import inbound_spec, webhook_spec
from papo.streams import codec
from papo.streams.consumer import Entry
from tests.conftest import eventually
from tests.inbound.conftest import outcomes, secret_for

PHONE_ID = "106540352242922"


async def test_a_batch_read_again_appends_nothing_twice_keeps_order_and_archives_each_body_once(
    web, settings, stores, connect
) -> None:
    await connect("whatsapp", PHONE_ID)
    secret = secret_for(settings, "whatsapp")
    deliveries = [("whatsapp", PHONE_ID, f"wamid.ORDER{n}", f"mensagem {n}") for n in range(3)]
    deliveries.insert(1, ("whatsapp", "999000111", "wamid.NOBODY", "para ninguém"))  # no business connected it
    for platform, account, event_id, text in deliveries:
        body, headers = build_webhook(platform, account=account, sender="5511987654321", text=text, secret=secret,
                                      name="Ana Souza", event_id=event_id)
        resp = await web.post(f"/webhooks/{platform}", data=body, headers=headers)
        assert resp.status == 200 and await resp.json() == {"queued": True}

    hooks = webhook_spec(settings.stream_partitions)
    partition = hooks.partition_for("whatsapp")
    rows = await stores.redis.xrange(hooks.key(partition))
    assert len(rows) == 4  # the bodies as they came, in the order they came
    entries = [Entry(entry_id, partition, codec.decode(fields)) for entry_id, fields in rows]
    stage = WebhookFanout(stores.redis, default_registry(), settings.stream_partitions)
    await stage.handle(entries)
    await stage.handle(entries)  # the same batch again: its worker died after the appends, before the ack

    inbound = inbound_spec(settings.stream_partitions)
    queued = [codec.decode(fields) for p in range(inbound.partitions)
              for _, fields in await stores.redis.xrange(inbound.key(p))]
    assert [q["text"] for q in queued] == ["mensagem 0", "mensagem 1", "mensagem 2"]  # one partition, in order
    assert len({q["conversation_key"] for q in queued}) == 1
    assert await outcomes(stores, "whatsapp") == {"queued": 3, "duplicate": 3, "unknown_account": 2, "malformed": 0}

    stop = asyncio.Event()
    archiver = RawArchiver(stores, worker_id="test-archiver", linger=0.0)
    task = asyncio.create_task(archiver.run(stop))
    try:
        raw = stores.analytics.db[MONGO_RAW_WEBHOOKS]

        async def archived_twice() -> bool:  # both fan-out calls' archive entries taken (one per call)
            return archiver.archived == 2

        await eventually(archived_twice)
        assert await raw.count_documents({}) == 4  # each body once, though both calls archived all four
        texts = sorted([doc["body"] async for doc in raw.find({})])
        assert texts == sorted(codec.decode(fields)["body"] for _, fields in rows)
    finally:
        stop.set()
        await task
