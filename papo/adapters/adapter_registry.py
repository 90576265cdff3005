"""The explicit adapter registry: one adapter per Platform, registered by hand, never discovered."""

from __future__ import annotations

from papo.adapters.base import DEFAULT_TOLERANCE, WebhookAdapter
from papo.adapters.by_platform import PlatformRegistry
from papo.adapters.facebook import FacebookAdapter
from papo.adapters.instagram import InstagramAdapter
from papo.adapters.kwai import KwaiAdapter
from papo.adapters.tiktok import TikTokAdapter
from papo.adapters.whatsapp import WhatsAppAdapter
from papo.adapters.youtube import YouTubeAdapter
from papo.enums import Platform


class AdapterRegistry(PlatformRegistry[WebhookAdapter]):
    """A read-mostly dict Platform -> adapter; registering a platform twice raises."""

    kind = "adapter"

    def get_adapter(self, name: str | Platform) -> WebhookAdapter:
        """The adapter for a platform name as it appears in /webhooks/{name}; UnknownPlatformError if none."""
        return self.find(name)

    def unknown(self, platform: object) -> str:
        """The webhook path's 404 names the platforms it knows."""
        return f"unknown platform {platform!r} (known: {', '.join(sorted(self))})"


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
