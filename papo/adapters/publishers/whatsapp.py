"""WhatsApp has no feed: there is nothing to publish a post to (Status has no API), so it is refused."""

from __future__ import annotations

from papo.adapters.publishers.base import Metrics, MetricsContext, PublishContext, PublishRequest, PublishResult
from papo.adapters.senders.errors import NotSupported
from papo.enums import Platform

REASON = "WhatsApp has no feed: posts cannot be published there"


class WhatsAppPublisher:
    """Refuses clearly (validation refuses WhatsApp before scheduling; this is the backstop)."""

    platform = Platform.WHATSAPP

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """Always NotSupported."""
        raise NotSupported(REASON, code="not_supported")

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """Nothing to read."""
        return {}
