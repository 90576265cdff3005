"""What WhatsApp, Instagram and Messenger/Pages share: signature, handshake and the envelope.

Envelope: `{"object": ..., "entry": [{"id": ..., "time": ..., "changes"|"messaging": [...]}]}`.
Meta lets an app point several products at one callback URL, so each Meta adapter accepts all three
objects and routes each to its own parser: events always carry the platform the payload belongs to.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from papo.adapters.base import WebhookSecrets
from papo.adapters.errors import PayloadError, SignatureError
from papo.adapters.events import InboundEvent
from papo.adapters.parsing import (
    as_dicts,
    get_header,
    hmac_hex,
    load_json_object,
    require_secret,
)
from papo.enums import Platform

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
OBJECT_WHATSAPP = "whatsapp_business_account"
OBJECT_INSTAGRAM = "instagram"
OBJECT_PAGE = "page"

EntryParser = Callable[[Mapping[str, Any]], list[InboundEvent]]


def sign(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header value Meta would send for this body."""
    return "sha256=" + hmac_hex(app_secret, body)


def verify_signature(headers: Mapping[str, str], body: bytes, app_secret: str) -> None:
    """Check X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the app secret) in constant time."""
    secret = require_secret(app_secret, "PAPO_META_APP_SECRET")
    value = get_header(headers, SIGNATURE_HEADER)
    if not value:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    algorithm, _, digest = value.partition("=")
    if algorithm.strip().lower() != "sha256" or not digest:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header (expected sha256=<hex>)")
    if not hmac.compare_digest(hmac_hex(secret, body).encode(), digest.strip().lower().encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def handshake(query: Mapping[str, str], verify_token: str | None) -> str | None:
    """Meta's GET verification: `hub.mode=subscribe` and the right `hub.verify_token` -> the challenge."""
    mode = query.get("hub.mode")
    if mode is None:
        return None
    if mode != "subscribe":
        raise SignatureError(f"unsupported hub.mode {mode!r}")
    token = require_secret(verify_token, "PAPO_META_VERIFY_TOKEN")
    given = query.get("hub.verify_token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise SignatureError("hub.verify_token does not match PAPO_META_VERIFY_TOKEN")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise PayloadError("hub.challenge is missing")
    return challenge


def load_envelope(body: bytes) -> tuple[str, list[Mapping[str, Any]]]:
    """(object, entries) of a Meta webhook body, or PayloadError if the top level is not that shape."""
    data = load_json_object(body, what="Meta webhook body")
    obj = data.get("object")
    if not isinstance(obj, str) or not obj:
        raise PayloadError("Meta webhook body has no 'object' string")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("Meta webhook body has no 'entry' array")
    return obj, as_dicts(entries)


# Each Meta platform module registers its entry parser here when it is imported; the package's __init__
# imports all three, so the table is full whichever Meta adapter receives a body (this module never
# imports them: they import it).
_PARSERS: dict[str, EntryParser] = {}


def register_entry_parser(obj: str, parser: EntryParser) -> None:
    """Route entries of Meta `object` value `obj` to `parser`; a second, different parser for it raises."""
    if _PARSERS.setdefault(obj, parser) is not parser:
        raise ValueError(f"an entry parser for Meta object {obj!r} is registered already")


def entry_parser(obj: str) -> EntryParser | None:
    """The entry parser for a Meta `object` value, None for objects Papo does not handle."""
    return _PARSERS.get(obj)


class MetaAdapter:
    """Base for the three Meta adapters; subclasses set `platform` and `object_name`."""

    platform: ClassVar[Platform]
    object_name: ClassVar[str]

    def handshake(self, query: Mapping[str, str], secrets: WebhookSecrets) -> str | None:
        """Meta's hub.* verification with PAPO_META_VERIFY_TOKEN."""
        return handshake(query, secrets.meta_verify_token)

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> None:
        """X-Hub-Signature-256 with PAPO_META_APP_SECRET (`now` is unused: Meta signs no timestamp)."""
        verify_signature(headers, body, secret)

    def check_envelope(self, body: bytes) -> None:
        """A JSON object with an `object` string and an `entry` array."""
        load_envelope(body)

    def parse(self, body: bytes) -> list[InboundEvent]:
        """Every event of every entry; entries of another Meta object are routed to their own parser."""
        obj, entries = load_envelope(body)
        parser = entry_parser(obj)
        if parser is None:
            log.warning("skipping Meta webhook for unhandled object %s (%d entries)", obj, len(entries))
            return []
        if obj != self.object_name:
            log.info("%s webhook carried object %s; parsed as that platform", self.platform, obj)
        events: list[InboundEvent] = []
        for entry in entries:
            events.extend(parser(entry))
        return events
