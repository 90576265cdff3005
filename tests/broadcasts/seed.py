"""Leads with conversations in bulk (one SQL statement), for the broadcast tests and bench/broadcast.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from tortoise import Tortoise

_SEED = """
    WITH n AS (SELECT g, $5 || lpad(g::text, 8, '0') AS remote FROM generate_series($3::int, $4::int) g),
    conv AS (
        INSERT INTO conversations (id, user_id, account_id, platform_conversation_id, remote_user_id,
                                   remote_user_name, platform, last_message_at)
        SELECT gen_random_uuid(), $1, $2, remote, remote, $11 || ' ' || g, $6, now() - $7::interval FROM n
        RETURNING id, remote_user_id
    ), msg AS (
        INSERT INTO messages (id, conversation_id, sender, message_text, platform_message_id, kind,
                              platform_timestamp, metadata)
        SELECT gen_random_uuid(), conv.id, 'remote', 'oi, tem promoção?', 'in-' || conv.remote_user_id, 'message',
               now() - $7::interval, jsonb_build_object('remote_user_phone', conv.remote_user_id)
        FROM conv
        RETURNING 1
    )
    INSERT INTO crm_leads (id, user_id, platform, remote_user_id, remote_user_name, quality, status, tags,
                           last_interaction)
    SELECT gen_random_uuid(), $1, $6, remote, $11 || ' ' || g, $8, $9, $10::text[], now() - $7::interval FROM n
"""


async def seed_leads(user_id: uuid.UUID, account_id: uuid.UUID, *, count: int, platform: str = "whatsapp",
                     first: int = 1, prefix: str = "55119", quality: str = "hot", status: str = "new",
                     tags: Sequence[str] = (), last_contact: timedelta = timedelta(hours=1),
                     name: str = "Cliente") -> list[str]:
    """`count` customers who wrote `last_contact` ago, each with a lead; their remote ids (prefix + number)."""
    await Tortoise.get_connection("default").execute_query(_SEED, [
        user_id, account_id, first, first + count - 1, prefix, platform, last_contact, quality, status,
        list(tags), name])
    return [f"{prefix}{g:08d}" for g in range(first, first + count)]
