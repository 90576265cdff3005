"""The explicit publisher registry: one Publisher per Platform, registered by hand, never discovered."""

from __future__ import annotations

from papo.adapters.by_platform import PlatformRegistry
from papo.adapters.publishers.base import Publisher
from papo.adapters.publishers.facebook import FacebookPublisher
from papo.adapters.publishers.instagram import InstagramPublisher
from papo.adapters.publishers.kwai import KwaiPublisher
from papo.adapters.publishers.tiktok import TikTokPublisher
from papo.adapters.publishers.whatsapp import WhatsAppPublisher
from papo.adapters.publishers.youtube import YouTubePublisher
from papo.enums import Platform


class PublisherRegistry(PlatformRegistry[Publisher]):
    """Platform -> Publisher; registering a platform twice raises."""

    kind = "publisher"

    def get_publisher(self, platform: str | Platform) -> Publisher:
        """The publisher for a platform; UnknownPlatformError if none."""
        return self.find(platform)


def default_publishers() -> PublisherRegistry:
    """A registry with the six platforms (WhatsApp refuses: it has no feed)."""
    registry = PublisherRegistry()
    for publisher in (InstagramPublisher(), FacebookPublisher(), TikTokPublisher(), YouTubePublisher(),
                      KwaiPublisher(), WhatsAppPublisher()):
        registry.register(publisher)
    return registry
