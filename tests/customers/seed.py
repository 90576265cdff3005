"""A customer with data in every store, as the pipeline, the outbound stage and the bot would have left it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from papo.constants import ACTIVE_BY_USER, ACTIVE_CONVERSATION, MONGO_RAW_WEBHOOKS, PRIVATE_REPLY_KEY, rule_state_keys
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, Conversation, Interaction, Lead, Message, User
from papo.runtime import Stores
from papo.services.accounts import connect_account
from papo.services.media import StoredMedia, store_media
from papo.services.notify import HOT_LEAD, notify_owner
from papo.services.users import create_user
from papo.services.whatsapp_ids import PHONE_INDEX
from tests.conftest import TEST_SECRET

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"pixels" * 50
PUBLIC = "https://papo.example.com"
BSUID = "BR.1234567890abcdef"  # the customer's WhatsApp user id (the same id at both businesses)
PHONE = "5511987654321"


@dataclass
class Seeded:
    """One business and its customer's rows."""

    user: User
    account: ConnectedAccount
    conversation: Conversation
    lead: Lead
    media: StoredMedia
    raw_id: str


async def business(email: str, name: str, waba: str) -> tuple[User, ConnectedAccount]:
    """A business with a WhatsApp number."""
    user = await create_user(email=email, name=name)
    account, _ = await connect_account(user=user, platform=Platform.WHATSAPP, platform_account_id=waba,
                                       access_token="tok", cipher=TokenCipher(TEST_SECRET), business_name=name)
    return user, account


async def seed_customer(stores: Stores, settings: Any, user: User, account: ConnectedAccount, *,
                        customer: str = BSUID, name: str = "Bruna Teixeira", text: str = "Quero um bolo de pão de ló",
                        at: datetime | None = None) -> Seeded:
    """Rows, documents, keys and a media file for one customer of `user`."""
    at = at or datetime.now(UTC) - timedelta(hours=2)
    local = settings.model_copy(update={"public_url": PUBLIC})
    media = await store_media(local, PNG, mime="image/png")
    conv = await Conversation.create(user=user, account=account, platform_conversation_id=customer,
                                     remote_user_id=customer, remote_user_name=name, platform=Platform.WHATSAPP,
                                     last_message_at=at + timedelta(minutes=5), lead_quality="hot", tags=["vip"])
    await Message.create(conversation=conv, sender="remote", message_text=text, kind="message",
                         platform_message_id=f"wamid.{uuid.uuid4().hex}", platform_timestamp=at,
                         created_at=at, metadata={"remote_user_phone": PHONE})
    await Message.create(conversation=conv, sender="user", message_text="Temos sim! Veja a foto", kind="message",
                         message_type="image", media_url=media.url, is_automated=True, delivery_status="read",
                         platform_message_id=f"wamid.{uuid.uuid4().hex}", outbound_id=f"out-{uuid.uuid4().hex}",
                         platform_timestamp=at + timedelta(minutes=5), created_at=at + timedelta(minutes=5))
    comment_id = f"c-{uuid.uuid4().hex[:8]}"
    await Message.create(conversation=conv, sender="remote", message_text="Lindo!", kind="comment",
                         platform_message_id=comment_id, created_at=at + timedelta(minutes=1),
                         platform_timestamp=at + timedelta(minutes=1))
    lead = await Lead.create(user=user, remote_user_id=customer, remote_user_name=name, platform=Platform.WHATSAPP,
                             phone=PHONE, email="bruna@example.com", quality="hot", status="contacted",
                             last_interaction=at, tags=["bolo", "aniversário"],
                             next_followup=datetime.now(UTC) + timedelta(days=1),
                             metadata={"score": 0.86, "intents": {"purchase": 1}, "note": "prefere chocolate"})
    await Interaction.create(user=user, account=account, platform=Platform.WHATSAPP, kind="like",
                             remote_user_id=customer, remote_user_name=name, dedupe_key=f"{account.id}:like:{customer}",
                             occurred_at=at)
    await stores.analytics.log_ai_interaction(
        user_id=user.id, conversation_id=conv.id, platform="whatsapp", user_message=text, ai_response=None,
        sentiment="positive", intent="purchase", lead_score=0.86, created_at=at)
    await stores.analytics.log_event(user_id=user.id, event_type="lead_qualified", platform="whatsapp",
                                     data={"conversation_id": conv.id, "lead_quality": "hot", "from": "warm",
                                           "lead_score": 0.86}, created_at=at)
    await stores.analytics.log_event(user_id=user.id, event_type="message_sent", platform="whatsapp",
                                     data={"conversation_id": str(conv.id), "outbound_id": "out-1", "kind": "reply",
                                           "automated": True, "attempts": 1}, created_at=at)
    body = {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": account.platform_account_id},
        "contacts": [{"wa_id": PHONE, "user_id": customer, "profile": {"name": name}}],
        "messages": [{"from": PHONE, "text": {"body": text}}]}}]}]}
    raw_id = f"{uuid.uuid4().hex}-0"
    await stores.analytics.db[MONGO_RAW_WEBHOOKS].insert_one(
        {"_id": raw_id, "platform": "whatsapp", "body": json.dumps(body, ensure_ascii=False), "received_at": at})
    redis = stores.redis
    await redis.hset(f"{ACTIVE_CONVERSATION}{conv.id}", mapping={
        "user_id": str(user.id), "remote_user_id": customer, "last_inbound_at": at.isoformat()})
    await redis.zadd(f"{ACTIVE_BY_USER}{user.id}", {str(conv.id): at.timestamp()})
    fired, replies = rule_state_keys(str(conv.id))
    await redis.hset(fired, "rule-1", f"{at.timestamp()}|a1")
    await redis.zadd(replies, {"a1": at.timestamp()})
    await redis.hset(PHONE_INDEX + account.platform_account_id, PHONE, customer)
    await redis.set(f"{PRIVATE_REPLY_KEY}{account.id}:{comment_id}", "out-2")
    await notify_owner(redis, user.id, HOT_LEAD, {"conversation_id": conv.id, "remote_user_id": customer,
                                                  "customer": name, "platform": "whatsapp", "text": text})
    return Seeded(user, account, conv, lead, media, raw_id)
