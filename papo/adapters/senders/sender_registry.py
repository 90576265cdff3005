"""The explicit sender registry: one Sender per Platform, registered by hand, never discovered."""

from __future__ import annotations

from papo.adapters.by_platform import PlatformRegistry
from papo.adapters.senders.base import Sender
from papo.adapters.senders.facebook import FacebookSender
from papo.adapters.senders.instagram import InstagramSender
from papo.adapters.senders.kwai import KwaiSender
from papo.adapters.senders.tiktok import TikTokSender
from papo.adapters.senders.whatsapp import WhatsAppSender
from papo.adapters.senders.youtube import YouTubeSender
from papo.enums import Platform


class SenderRegistry(PlatformRegistry[Sender]):
    """Platform -> Sender; registering a platform twice raises."""

    kind = "sender"

    def get_sender(self, platform: str | Platform) -> Sender:
        """The sender for a platform; UnknownPlatformError if none."""
        return self.find(platform)


def default_senders() -> SenderRegistry:
    """A registry with the six platform senders."""
    registry = SenderRegistry()
    for sender in (WhatsAppSender(), InstagramSender(), FacebookSender(), YouTubeSender(), TikTokSender(),
                   KwaiSender()):
        registry.register(sender)
    return registry
