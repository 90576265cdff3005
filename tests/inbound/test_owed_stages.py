"""A batch committed but not carried through its stages (the worker died, a store went away) is finished
on its next delivery: classified and scored once, answered, and then owes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from tortoise import Tortoise

from papo.adapters.events import EventKind, InboundEvent
from papo.ai.openai_classifier import make_classifier
from papo.enums import Platform
from papo.pipeline.persist import InboundPipeline
from papo.pipeline.understand import UnderstandStage
from papo.services.event_store import BatchResult
from papo.streams.consumer import Entry

ACCOUNT = "106540352242922"


class Flaky:
    """A later stage (automation's place) that fails the first time it sees a batch."""

    def __init__(self) -> None:
        self.seen: list[list[tuple[str, bool]]] = []

    async def __call__(self, result: BatchResult) -> None:
        self.seen.append([(m.event.platform_message_id or "", m.understood) for m in result.new_messages])
        assert all(m.message_id in result.classifications for m in result.new_messages)  # rules can use them
        if len(self.seen) == 1:
            raise ConnectionError("Redis went away before the reply was queued")


async def _owed() -> int:
    _, rows = await Tortoise.get_connection("default").execute_query("SELECT count(*) AS n FROM inbound_pending")
    return rows[0]["n"]


async def test_a_batch_whose_stages_failed_after_commit_is_finished_on_redelivery(stores, settings, connect) -> None:
    await connect("whatsapp", ACCOUNT)
    events = [InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id=ACCOUNT,
                           timestamp=datetime(2026, 12, 6, 12, n, tzinfo=UTC), remote_user_id="5511987654321",
                           platform_message_id=f"wamid.owed{n}", text=text)
              for n, text in enumerate(["Quanto custa o bolo de pote?", "Quero 3, como faço o pedido?"])]
    entries = [Entry(f"1-{n}", 0, e.to_dict()) for n, e in enumerate(events)]
    later = Flaky()
    pipeline = InboundPipeline(stores, [UnderstandStage(stores, make_classifier(settings)), later])

    with pytest.raises(ConnectionError):
        await pipeline.handle(entries)  # stored and understood; the next stage never finished
    assert await _owed() == 2
    conn = Tortoise.get_connection("default")
    _, (lead,) = await conn.execute_query("SELECT metadata FROM crm_leads")
    score_once = _score(lead)

    await pipeline.handle(entries)  # the redelivery
    assert later.seen[1] == [("wamid.owed0", True), ("wamid.owed1", True)]  # owed, and already understood
    assert await _owed() == 0
    _, (again,) = await conn.execute_query("SELECT metadata FROM crm_leads")
    assert _score(again) == score_once  # the lead was not scored twice
    assert await stores.analytics.ai_interactions.count_documents({}) == 2  # logged once each

    await pipeline.handle(entries)  # once more: nothing is owed, nothing runs again
    assert later.seen[2] == []


def _score(row) -> float:
    meta = row["metadata"]
    return float((json.loads(meta) if isinstance(meta, str) else meta)["score"])
