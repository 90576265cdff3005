"""What the automation stage reads and writes in PostgreSQL: the facts its rules need about each
conversation, and the tags the rules add to a customer's lead and conversation."""

from __future__ import annotations

import uuid
from typing import Any

from tortoise import Tortoise

from papo.services.event_store import NewMessage


async def conversation_facts(todo: list[NewMessage]) -> dict[uuid.UUID, dict[str, Any]]:
    """Per conversation: its first customer message, tags, the lead's tags and the business name."""
    ids = list({m.conversation_id for m in todo})
    rows = await Tortoise.get_connection("default").execute_query_dict(
        """
        SELECT c.id, c.tags, a.business_name, l.tags AS lead_tags,
               (SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.sender = 'remote'
                ORDER BY m.created_at LIMIT 1) AS first_message_id
        FROM conversations c
        LEFT JOIN connected_accounts a ON a.id = c.account_id
        LEFT JOIN crm_leads l ON l.user_id = c.user_id AND l.platform = c.platform
                              AND l.remote_user_id = c.remote_user_id
        WHERE c.id = ANY($1::uuid[])
        """,
        [ids],
    )
    return {row["id"]: dict(row) for row in rows}


async def tag_customer(new: NewMessage, tags: tuple[str, ...]) -> None:
    """Add tags (once each) to the customer's lead and conversation."""
    if not tags:
        return
    conn = Tortoise.get_connection("default")
    await conn.execute_query(
        "UPDATE conversations SET tags = ARRAY(SELECT DISTINCT unnest(COALESCE(tags, '{}') || $2::text[])) "
        "WHERE id = $1",
        [new.conversation_id, list(tags)],
    )
    await conn.execute_query(
        "INSERT INTO crm_leads (id, user_id, platform, remote_user_id, remote_user_name, tags) "
        "VALUES (gen_random_uuid(), $1, $2, $3, $4, $5::text[]) "
        "ON CONFLICT (user_id, platform, remote_user_id) DO UPDATE SET "
        "tags = ARRAY(SELECT DISTINCT unnest(COALESCE(crm_leads.tags, '{}') || EXCLUDED.tags))",
        [new.user_id, str(new.event.platform), new.event.remote_user_id, new.event.remote_user_name, list(tags)],
    )
