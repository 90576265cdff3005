"""Tortoise models: the nine tables of the user's seed schema (the contract), plus migrations."""

from papo.models.automation import AutomationRule, MessageTemplate
from papo.models.bot import OwnerSettings, TelegramLink, TelegramLinkCode  # migration 0007
from papo.models.conversations import Conversation, Interaction, Message
from papo.models.crm import Lead
from papo.models.posts import Post, PostSync
from papo.models.users import ConnectedAccount, User

__all__ = [
    "AutomationRule",
    "ConnectedAccount",
    "Conversation",
    "Interaction",
    "Lead",
    "Message",
    "MessageTemplate",
    "OwnerSettings",
    "Post",
    "PostSync",
    "TelegramLink",
    "TelegramLinkCode",
    "User",
]
