"""`papo customer export|erase` on the real stores: everything found, everything erased, totals kept, and a
second business with the same customer id never touched."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from papo.adapters.events import EventKind, InboundEvent
from papo.constants import (
    ACTIVE_BY_USER,
    ACTIVE_CONVERSATION,
    MONGO_AI_INTERACTIONS,
    MONGO_ANALYTICS,
    MONGO_RAW_WEBHOOKS,
    PRIVATE_REPLY_KEY,
    rule_state_keys,
)
from papo.enums import Platform
from papo.models import Conversation, Interaction, Lead, Message
from papo.runtime import Stores
from papo.services import NotFound, ServiceError, leads
from papo.services.account_index import AccountOwner
from papo.services.customer_data import customer, export_customer
from papo.services.customer_erase import erase_customer
from papo.services.event_store import persist_batch
from papo.services.media import find_media
from papo.services.notify import NOTIFY_STREAM
from papo.services.stats import compute_stats
from papo.services.whatsapp_ids import PHONE_INDEX
from tests.customers.seed import BSUID, PHONE, Seeded, business, seed_customer
from tests.test_cli_bad_input import _papo, env  # noqa: F401 - `env`: the test stores in PAPO_* for the CLI

ANA_WABA, BETO_WABA = "106540352242922", "200000000000001"


async def two_businesses(stores: Stores, settings: Any) -> tuple[Seeded, Seeded]:
    """Ana's and Beto's businesses, each with the same WhatsApp customer (same BSUID)."""
    ana_user, ana_account = await business("ana@doceria.com.br", "Doceria da Ana", ANA_WABA)
    beto_user, beto_account = await business("beto@oficina.com.br", "Oficina do Beto", BETO_WABA)
    ana = await seed_customer(stores, settings, ana_user, ana_account)
    beto = await seed_customer(stores, settings, beto_user, beto_account, text="Meu carro faz barulho")
    return ana, beto


async def _everything(stores: Stores, seeded: Seeded) -> dict[str, Any]:
    """What each store holds of one business's customer, read straight from the stores."""
    db, redis = stores.analytics.db, stores.redis
    fired, replies = rule_state_keys(str(seeded.conversation.id))
    return {
        "conversation": await Conversation.get(id=seeded.conversation.id),
        "messages": await Message.filter(conversation_id=seeded.conversation.id).order_by("created_at"),
        "lead": await Lead.get(id=seeded.lead.id),
        "interactions": await Interaction.filter(user_id=seeded.user.id).count(),
        "ai": await db[MONGO_AI_INTERACTIONS].find({"user_id": seeded.user.id}).to_list(length=None),
        "events": await db[MONGO_ANALYTICS].find({"user_id": seeded.user.id}).to_list(length=None),
        "raw": await db[MONGO_RAW_WEBHOOKS].count_documents({"_id": seeded.raw_id}),
        "alerts": [f for _, f in await redis.xrange(NOTIFY_STREAM) if str(seeded.user.id) in f["data"]],
        "keys": [await redis.exists(f"{ACTIVE_CONVERSATION}{seeded.conversation.id}"), await redis.exists(fired),
                 await redis.exists(replies),
                 await redis.zscore(f"{ACTIVE_BY_USER}{seeded.user.id}", str(seeded.conversation.id)) is not None,
                 await redis.hget(PHONE_INDEX + seeded.account.platform_account_id, PHONE) is not None,
                 bool(await redis.keys(f"{PRIVATE_REPLY_KEY}{seeded.account.id}:*"))],
    }


async def test_export_holds_every_kind_of_data_of_that_business_only(stores: Stores, settings: Any) -> None:
    ana, beto = await two_businesses(stores, settings)
    doc = await export_customer(stores, settings, customer(ana.user, "whatsapp", BSUID))
    json.dumps(doc, ensure_ascii=False)  # JSON as it is
    assert doc["customer"] == {"business_id": str(ana.user.id), "platform": "whatsapp", "remote_user_id": BSUID}
    [conv] = doc["conversations"]
    assert conv["id"] == str(ana.conversation.id) and conv["remote_user_name"] == "Bruna Teixeira"
    assert conv["messages"][0]["message_text"] == "Quero um bolo de pão de ló"
    assert {m["kind"] for m in conv["messages"]} == {"message", "comment"} and len(conv["messages"]) == 3
    assert doc["lead"]["email"] == "bruna@example.com" and doc["lead"]["tags"] == ["bolo", "aniversário"]
    assert doc["lead"]["next_followup"] and "prefere chocolate" in json.dumps(doc["lead"]["metadata"],
                                                                               ensure_ascii=False)
    assert [i["kind"] for i in doc["interactions"]] == ["like"]
    assert [a["user_message"] for a in doc["ai_interactions"]] == ["Quero um bolo de pão de ló"]
    assert sorted(e["event_type"] for e in doc["analytics_events"]) == ["lead_qualified", "message_sent"]
    assert [r["_id"] for r in doc["raw_webhooks"]] == [ana.raw_id]
    [media] = doc["media_files"]
    found = find_media(settings, ana.media.name)
    assert media["name"] == ana.media.name and found is not None and str(found[0]) == media["path"]
    assert doc["caches"]["active_conversations"][str(ana.conversation.id)]["remote_user_id"] == BSUID
    [alert] = doc["owner_alerts"]
    assert alert["kind"] == "hot_lead" and alert["payload"]["text"] == "Quero um bolo de pão de ló"
    # Beto's copy of the same customer is not in Ana's export
    text = json.dumps(doc, ensure_ascii=False)
    assert "Meu carro" not in text and str(beto.conversation.id) not in text and beto.raw_id not in text


async def test_erase_clears_every_store_keeps_totals_and_spares_the_other_business(
        stores: Stores, settings: Any) -> None:
    ana, beto = await two_businesses(stores, settings)
    tz, now = "America/Sao_Paulo", datetime.now(UTC)
    before = await compute_stats(ana.user, stores.analytics, days=7, timezone=tz, now=now)
    assert (before.messages_in, before.messages_out, before.leads_by_quality["hot"]) == (2, 1, 1)
    assert before.top_intents == (("purchase", 1),)
    beto_before = await _everything(stores, beto)
    report = await erase_customer(stores, settings, customer(ana.user, "whatsapp", BSUID))
    assert (report.conversations, report.messages, report.leads, report.interactions) == (1, 3, 1, 1)
    assert (report.ai_interactions, report.analytics_events, report.raw_webhooks) == (1, 2, 1)
    assert report.media_files == [ana.media.name] and report.redis_keys == 7

    after = await _everything(stores, ana)
    conv, lead = after["conversation"], after["lead"]
    assert conv.remote_user_id == f"erased:{conv.id}" and conv.remote_user_name is None and conv.tags == []
    assert all(m.message_text is None and m.media_url is None and m.platform_message_id is None
               and m.metadata is None for m in after["messages"])
    assert [str(m.sender) for m in after["messages"]] == ["remote", "remote", "user"]  # counts stay
    assert lead.remote_user_id == f"erased:{lead.id}" and (lead.email, lead.phone, lead.remote_user_name) == (
        None, None, None)
    assert lead.tags == [] and lead.next_followup is None and "note" not in lead.metadata
    assert str(lead.quality) == "hot" and lead.metadata["score"] == 0.86
    assert after["interactions"] == 0
    [ai] = after["ai"]
    assert ai["user_message"] is None and ai["conversation_id"] is None and ai["intent"] == "purchase"
    assert all("conversation_id" not in e["data"] and e["data"]["erased"] for e in after["events"])
    assert {e["event_type"] for e in after["events"]} == {"lead_qualified", "message_sent"}
    assert after["raw"] == 0 and after["keys"] == [0, 0, 0, False, False, False] and after["alerts"] == []
    assert find_media(settings, ana.media.name) is None
    # the business's numbers did not move
    assert await compute_stats(ana.user, stores.analytics, days=7, timezone=tz, now=now) == before
    # the owner's lists do not show the erased customer, and nothing is found any more
    assert (await leads.list_leads(ana.user)).total == 0 and (await leads.lead_counts(ana.user)).total == 0
    with pytest.raises(NotFound):
        await leads.get_lead(ana.user, lead.id)
    with pytest.raises(NotFound):
        await export_customer(stores, settings, customer(ana.user, "whatsapp", BSUID))
    # Beto's customer with the same id: untouched in every store
    beto_after = await _everything(stores, beto)
    assert beto_after["conversation"].remote_user_id == BSUID and beto_after["lead"].email == "bruna@example.com"
    assert [m.message_text for m in beto_after["messages"]] == [m.message_text for m in beto_before["messages"]]
    assert beto_after["ai"] == beto_before["ai"] and beto_after["events"] == beto_before["events"]
    assert (beto_after["raw"], beto_after["keys"], beto_after["interactions"]) == (1, [1, 1, 1, True, True, True], 1)
    assert len(beto_after["alerts"]) == 1
    assert find_media(settings, beto.media.name) is not None


async def test_erase_twice_is_a_no_op(stores: Stores, settings: Any) -> None:
    ana, _ = await two_businesses(stores, settings)
    who = customer(ana.user, "whatsapp", BSUID)
    assert not (await erase_customer(stores, settings, who)).nothing
    again = await erase_customer(stores, settings, who)
    assert again.nothing
    assert await Conversation.filter(user_id=ana.user.id).count() == 1  # the anonymised row, still one


def _inbound(text: str, n: int) -> InboundEvent:
    return InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id=ANA_WABA,
                        timestamp=datetime.now(UTC), remote_user_id=BSUID, remote_user_name="Bruna",
                        remote_user_phone=PHONE, platform_message_id=f"wamid.new-{n}", text=text)


async def test_a_message_during_or_after_the_erasure_starts_a_fresh_conversation(
        stores: Stores, settings: Any) -> None:
    ana, _ = await two_businesses(stores, settings)
    who = customer(ana.user, "whatsapp", BSUID)
    owners = {f"whatsapp:{ANA_WABA}": [AccountOwner(ana.account.id, ana.user.id)]}
    # concurrently: the inbound worker stores a message while the erasure runs (neither fails or deadlocks)
    await asyncio.gather(erase_customer(stores, settings, who), persist_batch([_inbound("durante", 1)], owners))
    await persist_batch([_inbound("depois", 2)], owners)
    fresh = await Conversation.get(user_id=ana.user.id, remote_user_id=BSUID)
    assert fresh.id != ana.conversation.id
    texts = [m.message_text for m in await Message.filter(conversation_id=fresh.id).order_by("created_at")]
    assert texts[-1] == "depois" and set(texts) <= {"durante", "depois"}
    # "durante" is either in the fresh conversation or was erased with the old one: never under the old one
    old = await Message.filter(conversation_id=ana.conversation.id).values_list("message_text", flat=True)
    assert set(old) == {None}


async def test_bad_customer_input_is_refused(stores: Stores, settings: Any) -> None:
    user, _ = await business("ana@doceria.com.br", "Doceria da Ana", ANA_WABA)
    with pytest.raises(ServiceError, match="must not be empty"):
        customer(user, "whatsapp", " ")
    with pytest.raises(ServiceError, match="is not a customer's platform id"):
        customer(user, "whatsapp", "erased:123")
    with pytest.raises(ServiceError, match="platform 'fax'"):
        customer(user, "fax", "1")


async def test_cli_export_to_a_file_and_erase_with_yes(env: Path, stores: Stores, settings: Any,  # noqa: F811
                                                       capsys) -> None:
    ana, _ = await two_businesses(stores, settings.model_copy(update={"data_dir": env}))
    out = env / "bruna.json"
    assert await _papo("customer", "export", "--user", "ana@doceria.com.br", "--platform", "whatsapp",
                       "--remote-id", BSUID, "--output", str(out)) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["lead"]["remote_user_name"] == "Bruna Teixeira" and "pão de ló" in out.read_text(encoding="utf-8")
    assert await _papo("customer", "erase", "--user", "ana@doceria.com.br", "--platform", "whatsapp",
                       "--remote-id", BSUID) == 1  # no terminal to confirm at, no --yes
    assert "give --yes" in capsys.readouterr().err
    assert (await Lead.get(id=ana.lead.id)).remote_user_id == BSUID
    assert await _papo("customer", "erase", "--user", "ana@doceria.com.br", "--platform", "whatsapp",
                       "--remote-id", BSUID, "--yes") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["erased"] and report["leads"] == 1
    assert (await Lead.get(id=ana.lead.id)).remote_user_id.startswith("erased:")
    assert await _papo("customer", "erase", "--user", "ana@doceria.com.br", "--platform", "whatsapp",
                       "--remote-id", BSUID, "--yes") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["erased"] is False and "nothing to erase" in captured.err


async def test_a_number_two_businesses_share_keeps_its_phone_index_entry(stores: Stores, settings: Any) -> None:
    ana_user, ana_account = await business("ana@doceria.com.br", "Doceria da Ana", ANA_WABA)
    beto_user, beto_account = await business("beto@oficina.com.br", "Oficina do Beto", ANA_WABA)  # same number
    await seed_customer(stores, settings, ana_user, ana_account)
    await seed_customer(stores, settings, beto_user, beto_account)
    await erase_customer(stores, settings, customer(ana_user, "whatsapp", BSUID))
    # Beto still talks to the customer on that number: the phone still files under the BSUID
    assert await stores.redis.hget(PHONE_INDEX + ANA_WABA, PHONE) == BSUID
    await erase_customer(stores, settings, customer(beto_user, "whatsapp", BSUID))
    assert await stores.redis.hget(PHONE_INDEX + ANA_WABA, PHONE) is None
