"""Publishers: one module per platform behind the Publisher Protocol (protocol work only), and a registry."""

from papo.adapters.publishers.base import (
    IMAGE,
    VIDEO,
    Media,
    Metrics,
    MetricsContext,
    PublishContext,
    Publisher,
    PublishRequest,
    PublishResult,
    StillProcessing,
)
from papo.adapters.publishers.publisher_registry import PublisherRegistry, default_publishers

__all__ = [
    "IMAGE",
    "VIDEO",
    "Media",
    "Metrics",
    "MetricsContext",
    "PublishContext",
    "PublishRequest",
    "PublishResult",
    "Publisher",
    "PublisherRegistry",
    "StillProcessing",
    "default_publishers",
]
