"""A reply typed by the owner (admin bot): the OutboundMessage it goes out as, through the outbound stream."""

from __future__ import annotations

import uuid

from papo.adapters.senders.message import Button, OutboundKind, OutboundMessage
from papo.enums import Platform
from papo.models import ConnectedAccount, Conversation, Message
from papo.services import NotFound


async def manual_reply(conversation_id: str | uuid.UUID, text: str, *, buttons: tuple[Button, ...] = (),
                       outbound_id: str | None = None, conversation: Conversation | None = None) -> OutboundMessage:
    """An OutboundMessage for a reply the owner typed (admin bot): a fresh UUID unless one is given.

    `conversation`: the row the caller already loaded (it is not read again; its account is fetched
    unless it already was).
    """
    if conversation is None:
        conversation = await Conversation.get_or_none(id=conversation_id).prefetch_related("account")
    elif str(conversation.id) != str(conversation_id):
        raise ValueError(f"conversation {conversation.id} given for {conversation_id}")
    account = conversation.account if conversation is not None else None
    if account is not None and not isinstance(account, ConnectedAccount):  # not fetched yet: one query
        account = await account
    if conversation is None or account is None:
        raise NotFound(f"no conversation {conversation_id} with a connected account")
    phone = None
    if conversation.platform == Platform.WHATSAPP:
        last = await Message.filter(conversation_id=conversation.id, sender="remote").order_by("-created_at").first()
        phone = (last.metadata or {}).get("remote_user_phone") if last else None
    return OutboundMessage(
        outbound_id=outbound_id or f"manual:{uuid.uuid4()}",
        platform=Platform(conversation.platform),
        user_id=str(conversation.user_id),
        account_id=str(account.id),
        platform_account_id=account.platform_account_id,
        conversation_id=str(conversation.id),
        recipient_id=conversation.remote_user_id,
        recipient_phone=phone,
        kind=OutboundKind.REPLY,
        text=text,
        buttons=buttons,
        automated=False,
    )
