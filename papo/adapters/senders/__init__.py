"""Senders, the outbound adapters: one Sender per platform (protocol work only), the request type and the error tree."""

from papo.adapters.senders.base import Sender
from papo.adapters.senders.errors import (
    InDoubt,
    InvalidRequest,
    InvalidToken,
    NotSupported,
    OutsideWindow,
    PairRateLimited,
    PermanentError,
    PermissionDenied,
    RateLimited,
    RecipientUnavailable,
    RetryableError,
    SendError,
    TemplateError,
    TemplateParamMismatch,
    Transient,
)
from papo.adapters.senders.message import (
    Button,
    OutboundKind,
    OutboundMessage,
    SendResult,
    TemplateMessage,
    count_placeholders,
)
from papo.adapters.senders.sender_registry import SenderRegistry, default_senders

__all__ = [
    "Button",
    "InDoubt",
    "InvalidRequest",
    "InvalidToken",
    "NotSupported",
    "OutboundKind",
    "OutboundMessage",
    "OutsideWindow",
    "PairRateLimited",
    "PermanentError",
    "PermissionDenied",
    "RateLimited",
    "RecipientUnavailable",
    "RetryableError",
    "SendError",
    "SendResult",
    "Sender",
    "SenderRegistry",
    "TemplateError",
    "TemplateMessage",
    "TemplateParamMismatch",
    "Transient",
    "count_placeholders",
    "default_senders",
]
