"""CRM leads: a lead per (business, platform, customer), scored over the whole conversation.

A message's own lead score says how much *that message* shows intent to buy. The lead's score is a
running judgement over the conversation, so one "obrigado" does not turn a hot lead cold, while a
complaint does lower it:

- purchase / question: the lead rises to the message's score if that is higher (else it barely moves);
- info (greetings, thanks, acknowledgements): a small step towards the message's score;
- complaint: the lead loses a third of its score, and never rises on it;
- between messages, a lead cools with a 30-day half-life.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from papo.ai.base import Classification
from papo.enums import Intent, LeadQuality, quality_for_score
from papo.services.event_store import NewMessage, mark_understood

HALF_LIFE_DAYS = 30.0
LeadKey = tuple[uuid.UUID, str, str]  # (business, platform, customer)
QUALITY_RANK = {LeadQuality.COLD: 0, LeadQuality.WARM: 1, LeadQuality.HOT: 2}


def next_score(previous: float | None, message: Classification, *, idle_days: float = 0.0) -> float:
    """The lead's score after one more classified message."""
    if previous is None:
        return 0.0 if message.intent is Intent.COMPLAINT else message.lead_score
    prev = previous * math.pow(0.5, max(0.0, idle_days) / HALF_LIFE_DAYS)
    match message.intent:
        case Intent.PURCHASE | Intent.QUESTION:
            score = max(message.lead_score, 0.9 * prev + 0.1 * message.lead_score)
        case Intent.COMPLAINT:
            score = prev * 2 / 3
        case _:
            score = 0.97 * prev + 0.03 * message.lead_score
    return min(1.0, max(0.0, score))


@dataclass(slots=True)
class LeadState:
    """A lead as the pipeline sees it while scoring one batch."""

    user_id: uuid.UUID
    platform: str
    remote_user_id: str
    name: str | None
    score: float | None
    quality: LeadQuality | None
    email: str | None
    phone: str | None
    last_interaction: datetime | None
    metadata: dict[str, Any]
    exists: bool = False
    qualified_from: LeadQuality | None = None  # set when quality rose in this batch

    def apply(self, message: Classification, at: datetime, *, name: str | None, phone_hint: str | None) -> None:
        """Fold one classified customer message into the lead."""
        idle = (at - self.last_interaction).total_seconds() / 86400 if self.last_interaction else 0.0
        old_quality = self.quality
        self.score = next_score(self.score, message, idle_days=idle)
        self.quality = quality_for_score(self.score)
        if old_quality is not None and QUALITY_RANK[self.quality] > QUALITY_RANK[old_quality]:
            self.qualified_from = self.qualified_from or old_quality
        self.email = message.email or self.email  # found data replaces; nothing never erases
        self.phone = message.phone or self.phone or phone_hint
        self.name = name or self.name
        if self.last_interaction is None or at > self.last_interaction:
            self.last_interaction = at
        counts = self.metadata.setdefault("intents", {})
        counts[str(message.intent)] = counts.get(str(message.intent), 0) + 1
        self.metadata["score"] = round(self.score, 4)
        self.metadata["last_intent"] = str(message.intent)
        self.metadata["last_sentiment"] = str(message.sentiment)


async def load_leads(conn: Any, keys: list[tuple[uuid.UUID, str, str]]) -> dict[tuple[uuid.UUID, str, str], LeadState]:
    """The existing leads for these (user, platform, remote user) keys, or fresh ones."""
    found: dict[tuple[uuid.UUID, str, str], LeadState] = {}
    if keys:
        rows = await conn.execute_query_dict(
            """
            SELECT l.user_id, l.platform, l.remote_user_id, l.remote_user_name, l.quality, l.email, l.phone,
                   l.last_interaction, l.metadata
            FROM crm_leads l
            JOIN unnest($1::uuid[], $2::text[], $3::text[]) AS k(u, p, r)
              ON l.user_id = k.u AND l.platform = k.p AND l.remote_user_id = k.r
            """,
            [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]],
        )
        for row in rows:
            meta = _json(row["metadata"])
            key = (row["user_id"], row["platform"], row["remote_user_id"])
            quality = LeadQuality(row["quality"]) if row["quality"] else None
            score = meta.get("score")
            if score is None and quality is not None:  # a lead the owner graded by hand
                score = {LeadQuality.COLD: 0.2, LeadQuality.WARM: 0.55, LeadQuality.HOT: 0.8}[quality]
            found[key] = LeadState(
                user_id=row["user_id"], platform=row["platform"], remote_user_id=row["remote_user_id"],
                name=row["remote_user_name"], score=score, quality=quality, email=row["email"],
                phone=row["phone"], last_interaction=row["last_interaction"], metadata=meta, exists=True,
            )
    for key in keys:
        found.setdefault(key, LeadState(
            user_id=key[0], platform=key[1], remote_user_id=key[2], name=None, score=None, quality=None,
            email=None, phone=None, last_interaction=None, metadata={},
        ))
    return found


def _json(value: Any) -> dict[str, Any]:
    import json

    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


async def save_leads(conn: Any, leads: list[LeadState]) -> None:
    """Upsert leads (status stays the owner's: 'new' only at creation) and mirror quality on conversations."""
    import json

    if not leads:
        return
    await conn.execute_query(
        """
        INSERT INTO crm_leads (id, user_id, platform, remote_user_id, remote_user_name, email, phone, quality,
                               last_interaction, metadata)
        SELECT gen_random_uuid(), u, p, r, n, e, ph, q, li, md::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::timestamptz[], $9::text[]) AS t(u, p, r, n, e, ph, q, li, md)
        ON CONFLICT (user_id, platform, remote_user_id) DO UPDATE SET
            remote_user_name = COALESCE(EXCLUDED.remote_user_name, crm_leads.remote_user_name),
            email = COALESCE(EXCLUDED.email, crm_leads.email),
            phone = COALESCE(EXCLUDED.phone, crm_leads.phone),
            quality = EXCLUDED.quality,
            last_interaction = GREATEST(crm_leads.last_interaction, EXCLUDED.last_interaction),
            metadata = COALESCE(crm_leads.metadata, '{}'::jsonb) || EXCLUDED.metadata
        """,
        [
            [lead.user_id for lead in leads], [lead.platform for lead in leads],
            [lead.remote_user_id for lead in leads], [lead.name for lead in leads],
            [lead.email for lead in leads], [(lead.phone or "")[:20] or None for lead in leads],
            [str(lead.quality) if lead.quality else None for lead in leads],
            [lead.last_interaction for lead in leads], [json.dumps(lead.metadata) for lead in leads],
        ],
    )
    await conn.execute_query(
        """
        UPDATE conversations c SET lead_quality = t.q
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t(u, p, r, q)
        WHERE c.user_id = t.u AND c.platform = t.p AND c.remote_user_id = t.r
          AND c.lead_quality IS DISTINCT FROM t.q
        """,
        [
            [lead.user_id for lead in leads], [lead.platform for lead in leads],
            [lead.remote_user_id for lead in leads], [str(lead.quality) if lead.quality else None for lead in leads],
        ],
    )


async def score_leads(keys: list[LeadKey], scored: Sequence[tuple[NewMessage, Classification]]
                      ) -> dict[LeadKey, LeadState]:
    """The leads of `keys`, with each newly classified message folded into its lead; the leads and those
    messages' understood mark are written in one transaction (a retried batch scores nothing twice)."""
    async with in_transaction() as conn:
        leads = await load_leads(conn, keys)
        for message, classification in scored:
            event = message.event
            lead = leads[(message.user_id, str(event.platform), event.remote_user_id)]
            lead.apply(classification, event.timestamp, name=event.remote_user_name,
                       phone_hint=_phone_hint(event.remote_user_phone))
        if scored:
            await save_leads(conn, list(leads.values()))
            await mark_understood(conn, [m.message_id for m, _ in scored])  # with the leads, atomically
    return leads


def _phone_hint(phone: str | None) -> str | None:
    """A WhatsApp customer's number is their phone: record it when the text gave none."""
    return phone if phone and phone.isdigit() else None
