"""`GET|POST /webhooks/{platform}`: check the size, verify the signature, check the envelope, queue, answer.

The request does only what only it can do. The body is made durable as it came, with one XADD to the
platform's partition of the webhook stream that the requests of one loop iteration share
(papo.services.queues), and a worker stage parses it into events, drops unknown accounts and Meta's
retries, archives it and fans the events out to their conversations' partitions (papo.pipeline.fanout).
No database, AI or outbound work here; the only I/O is that write (and, for Kwai, the account's secret).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from papo import app_keys, metrics
from papo.adapters.adapter_registry import default_registry
from papo.adapters.base import PayloadError, SignatureError, WebhookAdapter, WebhookSecrets
from papo.adapters.errors import UnknownPlatformError
from papo.constants import account_key
from papo.crypto import CryptoError
from papo.handlers.errors import json_error
from papo.runtime import token_cipher
from papo.services import account_index, subscriptions

log = logging.getLogger(__name__)

# One answer for every refused signature: which account is connected, which setting is unset or which
# check failed is for the operator's log, not for an anonymous caller.
SIGNATURE_REFUSED = "the request is not signed with the secret Papo holds for it"
VERIFICATION_REFUSED = "the verify token does not match"
# The answer to an accepted body: it is durable in Redis (appendfsync always by default) and will be parsed,
# deduplicated and stored by a worker; `papo_webhook_events_total` counts what became of its events.
QUEUED = b'{"queued":true}'

async def verify_handshake(request: web.Request) -> web.StreamResponse:
    """Answer the platform's subscription handshake (Meta hub.*, YouTube PubSubHubbub)."""
    try:
        adapter = request.app[app_keys.ADAPTERS].get_adapter(request.match_info["platform"])
        body = adapter.handshake(request.query, request.app[app_keys.WEBHOOK_SECRETS])
    except UnknownPlatformError as exc:
        return json_error(404, "unknown platform", str(exc))
    except SignatureError as exc:
        log.warning("%s verification refused: %s", request.match_info["platform"], exc)
        return json_error(403, "verification refused", VERIFICATION_REFUSED)
    except PayloadError as exc:
        return json_error(400, "bad verification request", str(exc))
    if body is None:
        return json_error(400, "not a verification request", "expected the platform's hub.* query parameters")
    platform = request.match_info["platform"]
    refusal = await subscriptions.hub_intent_refusal(request.app[app_keys.STORES].redis, platform, request.query)
    if refusal is not None:
        log.warning("%s hub verification refused: %s", platform, refusal)
        return json_error(404, "unknown subscription", refusal)
    # Redis only: remember a YouTube hub verification (and the lease it grants) for `papo webhooks status`.
    await subscriptions.note_hub_verification(request.app[app_keys.STORES].redis, platform, request.query)
    return web.Response(text=body, content_type="text/plain")


async def receive(request: web.Request) -> web.Response:
    """Verify the signature over the raw bytes, check the envelope, and queue the body durably."""
    platform = request.match_info["platform"]
    try:
        adapter = request.app[app_keys.ADAPTERS].get_adapter(platform)
    except UnknownPlatformError as exc:
        return json_error(404, "unknown platform", str(exc))
    return await _receive(request, platform, adapter)


def _receiver(platform: str, adapter: WebhookAdapter) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The POST handler of one known platform (a static route: no pattern matching per request)."""
    async def receive_platform(request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await _receive(request, platform, adapter)
        metrics.WEBHOOK_SECONDS.observe(time.perf_counter() - started, platform=platform,
                                        status=f"{response.status // 100}xx")
        return response
    return receive_platform


async def _receive(request: web.Request, platform: str, adapter: WebhookAdapter) -> web.Response:
    body = await request.read()  # aiohttp answers 413 itself past client_max_size
    try:
        secret = await _secret_for(request, adapter, platform, body)
        adapter.verify(request.headers, body, secret or "", now=time.time())
    except SignatureError as exc:
        metrics.WEBHOOK_REJECTED.inc(platform=platform, reason="signature")
        log.warning("webhook %s refused: %s", platform, exc)
        return json_error(403, "invalid signature", SIGNATURE_REFUSED)
    except PayloadError as exc:  # the body is too broken to even find the signing account
        metrics.WEBHOOK_REJECTED.inc(platform=platform, reason="payload")
        return json_error(400, "malformed body", str(exc))
    try:
        adapter.check_envelope(body)
        await request.app[app_keys.QUEUES].accept(platform, body)
    except PayloadError as exc:
        metrics.WEBHOOK_REJECTED.inc(platform=platform, reason="payload")
        return json_error(400, "malformed body", str(exc))
    return web.Response(body=QUEUED, content_type="application/json")


async def _secret_for(request: web.Request, adapter: object, platform: str, body: bytes) -> str | None:
    """The app-wide signing secret, or the account's own (encrypted at rest) for per-account channels."""
    # getattr, not isinstance(…, PerAccountSigning): runtime Protocol checks are slow on the hot path.
    signing_account = getattr(adapter, "signing_account", None)
    if signing_account is not None:
        account = signing_account(body)
        stored = await account_index.signing_secret(request.app[app_keys.STORES].redis, account_key(platform, account))
        if stored is None:
            raise SignatureError(f"no signing secret for {platform} account {account!r}")
        try:
            return token_cipher(request.app[app_keys.SETTINGS]).decrypt(stored)
        except CryptoError as exc:
            raise SignatureError(f"cannot read the signing secret of {account!r}: {exc}") from None
    return request.app[app_keys.WEBHOOK_SECRETS].signing_secret(platform)


def setup(app: web.Application) -> None:
    """Register the webhook routes and what they need."""
    settings = app[app_keys.SETTINGS]
    app[app_keys.WEBHOOK_SECRETS] = WebhookSecrets.from_settings(settings)
    tolerance = settings.tiktok_signature_tolerance
    adapters = app[app_keys.ADAPTERS] = default_registry(tiktok_tolerance=tolerance, kwai_tolerance=tolerance)
    for platform in adapters:
        app.router.add_post(f"/webhooks/{platform}", _receiver(str(platform), adapters.get_adapter(platform)))
    app.router.add_get("/webhooks/{platform}", verify_handshake)
    app.router.add_post("/webhooks/{platform}", receive)  # unknown platforms: a JSON 404

