"""Kwai custom channel: Papo POSTs each post to the account's callback URL, signed like the inbound events.

Body (version 1): `{"version": 1, "account_id", "posts": [{"id": <post_sync id>, "type": "post", "post_id",
"timestamp", "title", "text", "hashtags", "media": [{"type": "image"|"video", "url"}]}]}`, with
`X-Papo-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 of "{t}.{body}" with the account's webhook secret) and
`Idempotency-Key: <post_sync id>`. The connector answers 2xx, optionally `{"post_id": "<Kwai's id>"}`.
Because the connector must honour the idempotency key, a retry after a lost answer simply sends again.
Kwai has no insights API, so engagement is not refreshed for Kwai.
"""

from __future__ import annotations

import json
import time
from typing import Any

from papo.adapters.kwai import SIGNATURE_HEADER, sign
from papo.adapters.publishers.base import Metrics, MetricsContext, PublishContext, PublishRequest, PublishResult
from papo.adapters.senders.base import post_json
from papo.adapters.senders.errors import PermanentError
from papo.adapters.senders.kwai import IDEMPOTENCY_HEADER, callback_error
from papo.enums import Platform

FORMAT_VERSION = 1


def build_body(request: PublishRequest, *, now: int) -> dict[str, Any]:
    """The JSON body of one post in Papo's Kwai outbound format."""
    post: dict[str, Any] = {
        "id": request.sync_id, "type": "post", "post_id": request.post_id, "timestamp": now,
        "text": request.caption, "hashtags": list(request.hashtags),
        "media": [{"type": m.type, "url": m.url} for m in request.media],
    }
    if request.title:
        post["title"] = request.title
    return {"version": FORMAT_VERSION, "account_id": request.platform_account_id, "posts": [post]}


class KwaiPublisher:
    """Hands posts to the Kwai connector."""

    platform = Platform.KWAI

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """Sign and POST (again, after a lost answer: the idempotency key makes that safe)."""
        if not ctx.base_url:
            raise PermanentError("this Kwai account has no callback URL (connected_accounts.callback_url)")
        now = int(time.time())
        body = json.dumps(build_body(request, now=now), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {SIGNATURE_HEADER: sign(body, ctx.token, now), IDEMPOTENCY_HEADER: request.sync_id}
        answer = await post_json(ctx.session, ctx.base_url, body, headers=headers)
        if not answer.ok:
            raise callback_error(answer)
        return PublishResult(str(answer.body.get("post_id") or request.sync_id), raw=answer.body)

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """Nothing: Kwai has no insights API."""
        return {}
