"""Platform adapters: one module per platform behind the WebhookAdapter Protocol (see base.py).

Adapters do protocol work only — verify, parse, (later) send — and never touch the stores.
"""

# The Meta platform modules register their entry parsers with papo.adapters.meta when imported: importing
# them here fills that table before any Meta body is parsed (one Meta callback carries all three objects).
from papo.adapters import facebook, instagram, whatsapp  # noqa: F401  (imported for their registration)
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
