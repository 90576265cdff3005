"""The explicit publisher registry: one Publisher per Platform, registered by hand, never discovered."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from papo.adapters.errors import DuplicateAdapterError, UnknownPlatformError
from papo.adapters.publishers.base import Publisher
from papo.adapters.publishers.facebook import FacebookPublisher
from papo.adapters.publishers.instagram import InstagramPublisher
from papo.adapters.publishers.kwai import KwaiPublisher
from papo.adapters.publishers.tiktok import TikTokPublisher
from papo.adapters.publishers.whatsapp import WhatsAppPublisher
from papo.adapters.publishers.youtube import YouTubePublisher
from papo.enums import Platform


class PublisherRegistry(Mapping[Platform, Publisher]):
    """Platform -> Publisher; registering a platform twice raises."""

    def __init__(self) -> None:
        self._publishers: dict[Platform, Publisher] = {}

    def register(self, publisher: Publisher) -> None:
        """Add a publisher; DuplicateAdapterError if its platform already has one."""
        platform = Platform(publisher.platform)
        if platform in self._publishers:
            raise DuplicateAdapterError(f"a publisher for {platform} is already registered")
        self._publishers[platform] = publisher

    def get_publisher(self, platform: str | Platform) -> Publisher:
        """The publisher for a platform; UnknownPlatformError if none."""
        try:
            return self._publishers[Platform(platform)]
        except (ValueError, KeyError):
            raise UnknownPlatformError(f"no publisher for platform {platform!r}") from None

    def __getitem__(self, platform: Platform) -> Publisher:
        return self._publishers[platform]

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._publishers)

    def __len__(self) -> int:
        return len(self._publishers)


def default_publishers() -> PublisherRegistry:
    """A registry with the six platforms (WhatsApp refuses: it has no feed)."""
    registry = PublisherRegistry()
    for publisher in (InstagramPublisher(), FacebookPublisher(), TikTokPublisher(), YouTubePublisher(),
                      KwaiPublisher(), WhatsAppPublisher()):
        registry.register(publisher)
    return registry
