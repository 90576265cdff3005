"""The explicit adapter registry: one adapter per Platform, registered by hand, never discovered."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from papo.adapters.base import DEFAULT_TOLERANCE, WebhookAdapter
from papo.adapters.errors import DuplicateAdapterError, UnknownPlatformError
from papo.adapters.facebook import FacebookAdapter
from papo.adapters.instagram import InstagramAdapter
from papo.adapters.kwai import KwaiAdapter
from papo.adapters.tiktok import TikTokAdapter
from papo.adapters.whatsapp import WhatsAppAdapter
from papo.adapters.youtube import YouTubeAdapter
from papo.enums import Platform


class AdapterRegistry(Mapping[Platform, WebhookAdapter]):
    """A read-mostly dict Platform -> adapter; registering a platform twice raises."""

    def __init__(self) -> None:
        self._adapters: dict[Platform, WebhookAdapter] = {}

    def register(self, adapter: WebhookAdapter) -> None:
        """Add an adapter; DuplicateAdapterError if its platform already has one."""
        platform = Platform(adapter.platform)
        if platform in self._adapters:
            raise DuplicateAdapterError(
                f"an adapter for {platform} is already registered ({type(self._adapters[platform]).__name__})"
            )
        self._adapters[platform] = adapter

    def get_adapter(self, name: str | Platform) -> WebhookAdapter:
        """The adapter for a platform name as it appears in /webhooks/{name}; UnknownPlatformError if none."""
        try:
            return self._adapters[Platform(name)]
        except (ValueError, KeyError):
            known = ", ".join(sorted(self._adapters))
            raise UnknownPlatformError(f"unknown platform {name!r} (known: {known})") from None

    def __getitem__(self, platform: Platform) -> WebhookAdapter:
        return self._adapters[platform]

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._adapters)

    def __len__(self) -> int:
        return len(self._adapters)


def default_registry(
    *, tiktok_tolerance: float = DEFAULT_TOLERANCE, kwai_tolerance: float = DEFAULT_TOLERANCE
) -> AdapterRegistry:
    """A registry with the six platform adapters (freshness windows in seconds)."""
    registry = AdapterRegistry()
    registry.register(WhatsAppAdapter())
    registry.register(InstagramAdapter())
    registry.register(FacebookAdapter())
    registry.register(TikTokAdapter(tolerance=tiktok_tolerance))
    registry.register(YouTubeAdapter())
    registry.register(KwaiAdapter(tolerance=kwai_tolerance))
    return registry


_DEFAULT = default_registry()


def get_adapter(name: str | Platform) -> WebhookAdapter:
    """The default registry's adapter for `name`; UnknownPlatformError (a KeyError, HTTP 404) if none."""
    return _DEFAULT.get_adapter(name)
