"""Webhook subscriptions: Meta's `subscribed_apps` edges and YouTube's PubSubHubbub hub. Protocol only.

Meta (developers.facebook.com/docs/graph-api/reference/page/subscribed_apps, …/whatsapp/…/
subscribed_apps): `POST /{page_id}/subscribed_apps?subscribed_fields=…` with the Page token installs the
app on the Page for those fields (Instagram accounts linked to the Page are delivered through the same
installation; their own fields — comments, mentions, messages — are chosen once for the app in the App
Dashboard); `POST /{waba_id}/subscribed_apps` does the same for a WhatsApp Business Account. `GET` on
the same edge lists the installed apps (`id`, or `whatsapp_business_api_data.id`, and
`subscribed_fields`); `DELETE` removes ours. Answers: `{"success": true}`.

YouTube (developers.google.com/youtube/v3/guides/push_notifications, PubSubHubbub 0.4): a form `POST`
to the hub with `hub.callback`, `hub.topic` (the channel's uploads feed), `hub.mode`
(subscribe|unsubscribe), `hub.verify=async`, `hub.secret` (the hub signs pushes with it) and
`hub.lease_seconds`. 202 = accepted, the hub will verify the intent by calling the callback (GET with
`hub.challenge`, which must be echoed); 204 = verified already. Leases expire: subscribe again before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from papo.adapters.oauth.base import as_dict, as_list, as_str, call_json, status_error
from papo.adapters.oauth.errors import OAuthError
from papo.adapters.oauth.facebook_login import appsecret_proof, graph_error

# The Page fields Papo's inbound adapters understand (Messenger + feed); see PLATFORMS.md.
PAGE_FIELDS = (
    "messages", "messaging_postbacks", "messaging_optins", "messaging_referrals", "message_deliveries",
    "message_reads", "message_echoes", "message_reactions", "feed",
)
TOPIC = "https://www.youtube.com/feeds/videos.xml?channel_id="


def youtube_topic(channel_id: str) -> str:
    """The PubSubHubbub topic of a channel's uploads."""
    return TOPIC + channel_id


@dataclass(frozen=True, slots=True)
class AppSubscription:
    """Our app's installation on a Page or WABA, as the GET edge reports it."""

    installed: bool
    fields: tuple[str, ...] = ()

    def missing(self, wanted: Sequence[str]) -> tuple[str, ...]:
        """The wanted fields this installation lacks (all of them when not installed)."""
        if not self.installed:
            return tuple(wanted)
        return tuple(f for f in wanted if f not in self.fields)


class MetaSubscriptions:
    """Install, check and remove the app on Pages and WhatsApp Business Accounts."""

    def __init__(self, session: aiohttp.ClientSession, graph_url: str, app_id: str, app_secret: str) -> None:
        self.session = session
        self.graph_url = graph_url.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret

    async def _call(self, method: str, path: str, token: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        query = {**(params or {}), "appsecret_proof": appsecret_proof(token, self.app_secret)}
        return await call_json(self.session, "meta", method, f"{self.graph_url}/{path}", params=query,
                               headers={"Authorization": f"Bearer {token}"}, on_error=graph_error)

    async def subscribe_page(self, page_id: str, page_token: str, fields: Sequence[str] = PAGE_FIELDS) -> None:
        """Install the app on a Page for these webhook fields."""
        body = await self._call("POST", f"{page_id}/subscribed_apps", page_token,
                                {"subscribed_fields": ",".join(fields)})
        _require_success(body, f"Page {page_id}")

    async def page_subscription(self, page_id: str, page_token: str) -> AppSubscription:
        """Whether our app is installed on a Page, and for which fields."""
        body = await self._call("GET", f"{page_id}/subscribed_apps", page_token)
        for app in as_list(body.get("data")):
            if as_str(app.get("id")) == self.app_id:
                fields = app.get("subscribed_fields")
                return AppSubscription(True, tuple(f for f in fields if isinstance(f, str))
                                       if isinstance(fields, list) else ())
        return AppSubscription(False)

    async def unsubscribe_page(self, page_id: str, page_token: str) -> None:
        """Remove the app from a Page."""
        await self._call("DELETE", f"{page_id}/subscribed_apps", page_token)

    async def subscribe_waba(self, waba_id: str, token: str) -> None:
        """Install the app on a WhatsApp Business Account (all its numbers' webhooks)."""
        _require_success(await self._call("POST", f"{waba_id}/subscribed_apps", token), f"WABA {waba_id}")

    async def waba_subscription(self, waba_id: str, token: str) -> AppSubscription:
        """Whether our app is installed on a WABA."""
        body = await self._call("GET", f"{waba_id}/subscribed_apps", token)
        for app in as_list(body.get("data")):
            app_id = as_str(as_dict(app.get("whatsapp_business_api_data")).get("id")) or as_str(app.get("id"))
            if app_id == self.app_id:
                return AppSubscription(True)
        return AppSubscription(False)

    async def unsubscribe_waba(self, waba_id: str, token: str) -> None:
        """Remove the app from a WABA."""
        await self._call("DELETE", f"{waba_id}/subscribed_apps", token)


def _require_success(body: dict[str, Any], what: str) -> None:
    if body.get("success") not in (True, "true"):
        raise OAuthError("meta", f"subscribing {what} did not answer success: {str(body)[:200]}")


class YouTubeHub:
    """Subscribe and unsubscribe channel upload feeds at a PubSubHubbub hub."""

    def __init__(self, session: aiohttp.ClientSession, hub_url: str) -> None:
        self.session = session
        self.hub_url = hub_url

    async def _post(self, mode: str, channel_id: str, callback: str, secret: str | None,
                    lease_seconds: int | None) -> bool:
        form = {"hub.callback": callback, "hub.topic": youtube_topic(channel_id), "hub.mode": mode,
                "hub.verify": "async"}
        if secret:
            form["hub.secret"] = secret
        if lease_seconds:
            form["hub.lease_seconds"] = str(lease_seconds)
        try:
            async with self.session.post(self.hub_url, data=urlencode(form),
                                         headers={"Content-Type": "application/x-www-form-urlencoded"},
                                         timeout=aiohttp.ClientTimeout(total=20)) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OAuthError("youtube", f"cannot reach the hub: {type(exc).__name__} {exc}".strip(),
                             transient=True) from None
        if status in (202, 204):
            return status == 204
        raise status_error("youtube", status, text)

    async def subscribe(self, channel_id: str, callback: str, *, secret: str | None, lease_seconds: int) -> bool:
        """Ask for (or renew) a lease on the channel's uploads; True when the hub verified it already."""
        return await self._post("subscribe", channel_id, callback, secret, lease_seconds)

    async def unsubscribe(self, channel_id: str, callback: str, *, secret: str | None = None) -> bool:
        """End the subscription (the hub verifies the intent with the callback, as for subscribe)."""
        return await self._post("unsubscribe", channel_id, callback, secret, None)
