"""The explicit sender registry: one Sender per Platform, registered by hand, never discovered."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from papo.adapters.errors import DuplicateAdapterError, UnknownPlatformError
from papo.adapters.outbound.base import Sender
from papo.adapters.outbound.facebook import FacebookSender
from papo.adapters.outbound.instagram import InstagramSender
from papo.adapters.outbound.kwai import KwaiSender
from papo.adapters.outbound.tiktok import TikTokSender
from papo.adapters.outbound.whatsapp import WhatsAppSender
from papo.adapters.outbound.youtube import YouTubeSender
from papo.enums import Platform


class SenderRegistry(Mapping[Platform, Sender]):
    """Platform -> Sender; registering a platform twice raises."""

    def __init__(self) -> None:
        self._senders: dict[Platform, Sender] = {}

    def register(self, sender: Sender) -> None:
        """Add a sender; DuplicateAdapterError if its platform already has one."""
        platform = Platform(sender.platform)
        if platform in self._senders:
            raise DuplicateAdapterError(f"a sender for {platform} is already registered")
        self._senders[platform] = sender

    def get_sender(self, platform: str | Platform) -> Sender:
        """The sender for a platform; UnknownPlatformError if none."""
        try:
            return self._senders[Platform(platform)]
        except (ValueError, KeyError):
            raise UnknownPlatformError(f"no sender for platform {platform!r}") from None

    def __getitem__(self, platform: Platform) -> Sender:
        return self._senders[platform]

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._senders)

    def __len__(self) -> int:
        return len(self._senders)


def default_senders() -> SenderRegistry:
    """A registry with the six platform senders."""
    registry = SenderRegistry()
    for sender in (WhatsAppSender(), InstagramSender(), FacebookSender(), YouTubeSender(), TikTokSender(),
                   KwaiSender()):
        registry.register(sender)
    return registry
