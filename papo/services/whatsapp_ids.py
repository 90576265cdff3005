"""WhatsApp customers known both by a business-scoped user id (BSUID) and by phone.

Since 2026 a customer's messages carry `user_id` (the BSUID) next to the phone (`wa_id`), and Papo keys the
customer's conversation on the BSUID (a phone may be absent, and may change hands). Some events still name
the customer by phone only — echoes of what the business sent from the WhatsApp Business app
(`smb_message_echoes` have `to`), older-format messages and statuses. Papo remembers, per business number,
which BSUID each phone belongs to, and files those events under it: one history per customer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import redis.asyncio as aioredis

from papo.adapters.events import InboundEvent
from papo.adapters.phone import normalize_phone
from papo.constants import PHONE_INDEX
from papo.enums import Platform


async def file_under_user_ids(redis: aioredis.Redis, events: Sequence[InboundEvent]) -> list[InboundEvent]:
    """Learn phone -> BSUID from the events that carry both; re-key phone-only events whose BSUID is known."""
    learned: dict[str, dict[str, str]] = {}
    asked: dict[str, list[tuple[int, str]]] = {}  # account -> (index, phone) of its phone-only events
    for i, event in enumerate(events):
        if event.platform != Platform.WHATSAPP or not event.remote_user_phone:
            continue
        phone = normalize_phone(event.remote_user_phone)
        if event.remote_user_id == phone:
            asked.setdefault(event.account_id, []).append((i, phone))
        elif not event.is_echo:
            learned.setdefault(event.account_id, {})[phone] = event.remote_user_id
    if not learned and not asked:
        return list(events)
    pipe = redis.pipeline(transaction=False)
    for account, phones in learned.items():
        pipe.hset(PHONE_INDEX + account, mapping=phones)
    # One HMGET per business number, after the writes: a BSUID learnt in this very batch is found too.
    for account, items in asked.items():
        pipe.hmget(PHONE_INDEX + account, [phone for _, phone in items])
    replies = (await pipe.execute())[len(learned):]
    out = list(events)
    for items, found in zip(asked.values(), replies, strict=True):
        for (i, _), user_id in zip(items, found, strict=True):
            if user_id:
                out[i] = dataclasses.replace(events[i], remote_user_id=user_id)
    return out
