"""A broadcast end to end: customers written in by webhook, the campaign sent by the running roles, the platform's
status webhooks and the customer's answer recorded on the recipient."""

from __future__ import annotations

import asyncio
import json
import time

from papo.models import Lead, Message
from papo.pipeline.broadcast import run_broadcasts
from papo.services.broadcasts import Segment, create_broadcast, get_broadcast
from papo.services.templates import add_template
from tests.automation.conftest import automation_worker  # noqa: F401 - every worker role, against the fake
from tests.automation.test_automation_e2e import _post
from tests.conftest import eventually
from tests.inbound.conftest import connect, owner, sign, web  # noqa: F401 - server, owner, accounts
from tests.outbound.conftest import fake  # noqa: F401 - the fake Graph API

PHONE_ID = "106540352242922"


def _statuses(wamid: str, to: str, *names: str) -> bytes:
    """A WhatsApp statuses webhook for one message Papo sent."""
    now = int(time.time())
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511940028922", "phone_number_id": PHONE_ID},
            "statuses": [{"id": wamid, "status": name, "timestamp": str(now + i), "recipient_id": to}
                         for i, name in enumerate(names)]}}]}]}).encode()


async def test_sent_delivered_read_and_replied_come_from_the_real_webhooks(
    web, automation_worker, settings, stores, connect, owner, fake  # noqa: F811
) -> None:
    fake.calls.clear()
    await connect("whatsapp", PHONE_ID)
    await add_template(owner, platform="whatsapp", name="promo", content="Oi {first_name}, chegou o panetone!",
                       meta_template_name="promo_panetone", language="pt_BR", approved=True)
    customers = ["5511911110001", "5511911110002"]
    for n, customer in enumerate(customers):
        await _post(web, settings, "whatsapp", sender=customer, text="bom dia", event_id=f"B{n}", name=f"Cliente {n}")

    async def leads_in() -> bool:
        return await Lead.filter(user_id=owner.id).count() == 2

    await eventually(leads_in)
    view = await create_broadcast(owner, template="promo", segment=Segment(platform=("whatsapp",)))
    assert view.total == 2
    stop = asyncio.Event()
    runner = asyncio.create_task(run_broadcasts(stores, automation_worker, stop))
    try:
        async def sent() -> bool:
            return (await get_broadcast(owner, str(view.id))).counts.get("sent") == 2

        await eventually(sent)
        calls = [c for c in fake.calls_to(f"/{PHONE_ID}/messages") if c.json.get("type") == "template"]
        assert sorted(c.json["to"] for c in calls) == customers
        rows = await Message.filter(outbound_id__startswith=f"broadcast:{view.id}:").values(
            "platform_message_id", "metadata")
        by_customer = {r["metadata"]["recipient"]: r["platform_message_id"] for r in rows}
        first, second = customers
        for body in (_statuses(by_customer[first], first, "sent", "delivered", "read"),
                     _statuses(by_customer[second], second, "sent", "delivered")):
            resp = await web.post("/webhooks/whatsapp", data=body, headers=sign(settings, "whatsapp", body))
            assert resp.status == 200
        await _post(web, settings, "whatsapp", sender=first, text="quero dois!", event_id="B9", name="Cliente 0")

        async def followed() -> bool:
            found = await get_broadcast(owner, str(view.id))
            return found.counts == {"delivered": 1, "read": 1} and found.replied == 1

        await eventually(followed)
    finally:
        stop.set()
        await runner
