"""The adapter contract: the WebhookAdapter Protocol, the secrets it needs, and the shared types.

The HTTP handler drives every adapter the same way:

    GET  /webhooks/{p}: body = adapter.handshake(query, secrets)
           str  -> 200 with exactly that body (text/plain)
           None -> 400: the query is not a verification request this platform sends
           SignatureError -> 403 (wrong verify token, unexpected topic) · PayloadError -> 400
    POST /webhooks/{p}: secret = secrets.signing_secret(p)          (app-wide secret), or for adapters
           that are PerAccountSigning (Kwai): secret = <account's secret>(adapter.signing_account(body))
           adapter.verify(headers, body, secret or "", now=time.time())   SignatureError -> 403
           events = adapter.parse(body)                                    PayloadError  -> 400
`verify` always runs over the raw request bytes, before any parsing, and fails closed when the
secret is empty. `parse` never raises for unknown or new payload types: it logs and skips them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from papo.adapters.errors import (
    AdapterError,
    DuplicateAdapterError,
    PayloadError,
    SignatureError,
    UnknownPlatformError,
)
from papo.adapters.events import (
    ACCOUNT_KINDS,
    EVENT_VERSION,
    INTERACTION_KINDS,
    MESSAGE_KINDS,
    UPDATE_KINDS,
    DeliveryStatus,
    EventKind,
    InboundEvent,
    PublishState,
)
from papo.enums import Platform

if TYPE_CHECKING:
    from papo.config import Settings

__all__ = [
    "ACCOUNT_KINDS",
    "DEFAULT_TOLERANCE",
    "EVENT_VERSION",
    "INTERACTION_KINDS",
    "MESSAGE_KINDS",
    "UPDATE_KINDS",
    "AdapterError",
    "DeliveryStatus",
    "DuplicateAdapterError",
    "EventKind",
    "InboundEvent",
    "PayloadError",
    "PerAccountSigning",
    "PublishState",
    "SignatureError",
    "UnknownPlatformError",
    "WebhookAdapter",
    "WebhookSecrets",
]

DEFAULT_TOLERANCE = 300  # seconds a signed timestamp may differ from our clock (TikTok, Kwai)


def _secret_value(value: Any) -> str | None:
    """Unwrap a pydantic SecretStr (or pass a plain string through) without importing pydantic."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    text = getter() if callable(getter) else value
    return str(text) or None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSecrets:
    """The app-wide secrets verify() and handshake() need; hidden from repr."""

    meta_app_secret: str | None = field(default=None, repr=False)
    meta_verify_token: str | None = field(default=None, repr=False)
    tiktok_client_secret: str | None = field(default=None, repr=False)
    youtube_hub_secret: str | None = field(default=None, repr=False)
    tiktok_tolerance: int = DEFAULT_TOLERANCE

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSecrets:
        """Build from papo.config.Settings (imported for typing only: adapters never import the config layer)."""
        return cls(
            meta_app_secret=_secret_value(settings.meta_app_secret),
            meta_verify_token=_secret_value(settings.meta_verify_token),
            tiktok_client_secret=_secret_value(settings.tiktok_client_secret),
            youtube_hub_secret=_secret_value(settings.youtube_hub_secret),
            tiktok_tolerance=settings.tiktok_signature_tolerance,
        )

    def signing_secret(self, platform: Platform | str) -> str | None:
        """The app-wide key that signs this platform's webhooks; None for Kwai (per-account secrets)."""
        match Platform(platform):
            case Platform.WHATSAPP | Platform.INSTAGRAM | Platform.FACEBOOK:
                return self.meta_app_secret
            case Platform.TIKTOK:
                return self.tiktok_client_secret
            case Platform.YOUTUBE:
                return self.youtube_hub_secret
            case _:
                return None


@runtime_checkable
class WebhookAdapter(Protocol):
    """One platform's inbound side. (Outbound `send`/`publish` join this Protocol in the outbound issue.)"""

    @property
    def platform(self) -> Platform:
        """The platform this adapter speaks for."""
        ...

    def handshake(self, query: Mapping[str, str], secrets: WebhookSecrets) -> str | None:
        """Answer the GET verification: the body to return with 200, None if not a handshake."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> None:
        """Check the signature over the raw body; raise SignatureError if forged, missing or stale."""
        ...

    def check_envelope(self, body: bytes) -> None:
        """Raise PayloadError if the body is not the platform's envelope (the top level `parse` would refuse).

        The webhook request checks only this and queues the body; a worker parses it (papo.pipeline.fanout).
        """
        ...

    def parse(self, body: bytes) -> list[InboundEvent]:
        """Turn a verified body into events; raise PayloadError only for a malformed top level."""
        ...


@runtime_checkable
class PerAccountSigning(Protocol):
    """Adapters whose webhooks are signed with the connected account's own secret (Kwai)."""

    def signing_account(self, body: bytes) -> str:
        """The platform account id whose secret signs this body (read before verification)."""
        ...
