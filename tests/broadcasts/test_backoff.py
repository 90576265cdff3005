"""WhatsApp 130429 on a campaign send pauses every campaign send of that number; 131056 only that customer's."""

from __future__ import annotations

import asyncio
import time

import pytest

from papo.constants import CAMPAIGN_PAUSE
from papo.enums import Platform
from papo.pipeline.ratelimit import campaign_bucket, send_buckets
from papo.pipeline.send import RetryLater
from tests.conftest import eventually
from tests.outbound.conftest import entry_for, fake, http, make_pipeline, scene  # noqa: F401 - fixtures

WABA = "106540352242922"
THROUGHPUT = (400, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}})
PAIR = (400, {"error": {"message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                        "code": 131056}})


async def test_130429_pauses_the_numbers_other_campaign_sends_but_not_its_replies(
    stores, fake, make_pipeline, scene  # noqa: F811
) -> None:
    pipeline = make_pipeline(retry_base=0.6, retry_max=0.6)
    first = await scene(Platform.WHATSAPP, remote="5511900000001", phone="5511900000001")
    other = await scene(Platform.WHATSAPP, remote="5511900000002", phone="5511900000002")
    fake.script(f"/{WABA}/messages", THROUGHPUT)
    # The throttled send backs off (0.3-0.6 s); while it waits, the number's campaign sends are paused.
    throttled = asyncio.create_task(pipeline.handle([entry_for(first.request(outbound_id="broadcast:b1:1",
                                                                             campaign_id="b1"))]))

    async def answered() -> bool:
        return len(fake.calls_to("/messages")) == 1 and await stores.redis.exists(
            CAMPAIGN_PAUSE + str(first.account.id)) == 1

    await eventually(answered, within=5)
    left = await stores.redis.pttl(CAMPAIGN_PAUSE + str(first.account.id))
    assert 100 < left <= 600
    # A reply to a customer is not a campaign send: it goes at once.
    started = time.monotonic()
    await pipeline.handle([entry_for(other.request(outbound_id="reply-1"), "2-0")])
    assert time.monotonic() - started < 0.25
    # Another campaign send of the same number waits for the pause to end.
    await pipeline.handle([entry_for(other.request(outbound_id="broadcast:b1:2", campaign_id="b1"), "3-0")])
    assert time.monotonic() - started >= (left - 50) / 1000
    assert [c.json["to"] for c in fake.calls_to("/messages")] == ["5511900000001", "5511900000002", "5511900000002"]
    with pytest.raises(RetryLater):
        await throttled


async def test_131056_backs_off_for_that_customer_only(stores, fake, make_pipeline, scene) -> None:  # noqa: F811
    pipeline = make_pipeline(retry_base=0.6, retry_max=0.6)
    s = await scene(Platform.WHATSAPP, remote="5511900000003", phone="5511900000003")
    fake.script(f"/{WABA}/messages", PAIR)
    throttled = asyncio.create_task(pipeline.handle([entry_for(s.request(outbound_id="broadcast:b2:1",
                                                                         campaign_id="b2"))]))

    async def answered() -> bool:
        return len(fake.calls_to("/messages")) == 1

    await eventually(answered, within=5)
    await asyncio.sleep(0.05)
    assert await stores.redis.exists(CAMPAIGN_PAUSE + str(s.account.id)) == 0  # the number is not paused
    with pytest.raises(RetryLater):
        await throttled


def test_campaign_sends_draw_from_their_own_bucket_at_90_percent_of_the_limit() -> None:
    from dataclasses import replace

    from papo.adapters.senders import OutboundMessage
    from papo.pipeline.send import OutboundSettings

    request = OutboundMessage(outbound_id="broadcast:b:1", platform=Platform.WHATSAPP, user_id="u", account_id="a",
                              platform_account_id="p", conversation_id="c", recipient_id="r", text="x",
                              campaign_id="b")
    settings = replace(OutboundSettings(), broadcast_per_second=80.0)
    names = [b.key.rsplit(":", 1)[-1] if "pair" not in b.key else "pair" for b in send_buckets(request, settings)]
    assert names == ["send", "campaign", "pair"]
    bucket = campaign_bucket("a", 80.0)
    assert bucket.limit.burst + bucket.limit.rate == pytest.approx(72.0)
    assert "campaign" not in str(send_buckets(replace(request, campaign_id=None), settings))


async def test_campaign_pause_is_waited_out_not_counted_as_attempts(stores, fake, make_pipeline, scene) -> None:  # noqa: F811
    pipeline = make_pipeline()
    s = await scene(Platform.WHATSAPP, remote="5511900000004", phone="5511900000004")
    await stores.redis.set(CAMPAIGN_PAUSE + str(s.account.id), "130429", px=300)
    started = time.monotonic()
    state = await pipeline.process(s.request(outbound_id="broadcast:b3:1", campaign_id="b3"))
    assert state == "sent" and time.monotonic() - started >= 0.25
    await asyncio.sleep(0)
