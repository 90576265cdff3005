"""Platform adapters: one module per platform behind the WebhookAdapter Protocol (see base.py).

Adapters do protocol work only — verify, parse, (later) send — and never touch the stores.
"""

from papo.adapters.base import (
    AdapterError,
    EventKind,
    InboundEvent,
    PayloadError,
    SignatureError,
    UnknownPlatformError,
    WebhookAdapter,
    WebhookSecrets,
)

__all__ = [
    "AdapterError",
    "EventKind",
    "InboundEvent",
    "PayloadError",
    "SignatureError",
    "UnknownPlatformError",
    "WebhookAdapter",
    "WebhookSecrets",
]
