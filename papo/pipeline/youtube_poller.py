"""YouTube comments have no webhook: poll `commentThreads.list` per connected channel, within the quota.

Each round costs 1 quota unit per page (the default daily quota is 10,000 units). Pages are read newest
first until a thread already seen; the newest `updatedAt` seen per channel is remembered in Redis, and
the comments become ordinary `comment` events on the inbound stream (so the same pipeline and the same
dedupe apply). A Redis lock per channel means one worker polls a channel at a time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp

from papo.adapters.events import InboundEvent
from papo.adapters.youtube import comment_thread_events
from papo.config import Settings
from papo.constants import YOUTUBE_LOCK, YOUTUBE_SEEN
from papo.crypto import CryptoError, TokenCipher
from papo.enums import Platform
from papo.resilience import every
from papo.runtime import Stores
from papo.services.accounts import connected_on
from papo.services.queues import Queues

if TYPE_CHECKING:
    from papo.models import ConnectedAccount

log = logging.getLogger(__name__)

MAX_PAGES = 5  # per channel and round: 5 quota units at most


class YouTubePoller:
    """Polls every connected YouTube channel for new comments every `interval` seconds."""

    def __init__(self, stores: Stores, settings: Settings, queues: Queues, cipher: TokenCipher,
                 session: aiohttp.ClientSession) -> None:
        self.stores = stores
        self.base = settings.url("youtube_api_url")
        self.interval = settings.youtube_poll_seconds
        self.queues = queues
        self.cipher = cipher
        self.session = session
        self.calls = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set."""
        await every("youtube poll round", self.poll_all, stop, self.interval, log)

    async def poll_all(self) -> int:
        """One round over every connected channel; returns how many comment events were queued."""
        queued = 0
        async for account in connected_on(Platform.YOUTUBE):
            channel = account.platform_account_id
            if not await self.stores.redis.set(YOUTUBE_LOCK + channel, "1", nx=True, ex=max(1, int(self.interval))):
                continue  # another worker polled it this round
            try:
                queued += await self.poll_channel(account)
            except (aiohttp.ClientError, TimeoutError, CryptoError) as exc:
                log.warning("youtube channel %s: poll failed: %s", channel, exc)
        return queued

    async def poll_channel(self, account: ConnectedAccount) -> int:
        """Read new comment threads of one channel, newest first, and queue them."""
        channel = account.platform_account_id
        seen = await self.stores.redis.get(YOUTUBE_SEEN + channel)
        newest = seen
        events: list[InboundEvent] = []
        page_token: str | None = None
        token = self.cipher.decrypt(account.access_token)
        for _ in range(MAX_PAGES):
            page = await self._fetch(channel, token, page_token)
            done = False
            for thread in page.get("items", []):
                updated = _thread_updated(thread)
                if seen and updated and updated <= seen:
                    done = True
                    break
                if updated and (newest is None or updated > newest):
                    newest = updated
                events.extend(comment_thread_events(thread, channel_id=channel))
            page_token = page.get("nextPageToken")
            if done or not page_token or not seen:  # first poll: one page, do not flood with history
                break
        if events:
            events.sort(key=lambda e: e.timestamp)
            await self.queues.enqueue(events, platform="youtube", raw=None)
        if newest and newest != seen:
            await self.stores.redis.set(YOUTUBE_SEEN + channel, newest)
        return len(events)

    async def _fetch(self, channel: str, token: str, page_token: str | None) -> dict[str, Any]:
        params = {
            "part": "snippet,replies",
            "allThreadsRelatedToChannelId": channel,
            "order": "time",
            "maxResults": "100",
            "textFormat": "plainText",
        }
        if page_token:
            params["pageToken"] = page_token
        self.calls += 1
        async with self.session.get(f"{self.base}/youtube/v3/commentThreads", params=params,
                                    headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status >= 400:
                raise aiohttp.ClientResponseError(resp.request_info, resp.history, status=resp.status,
                                                  message=(await resp.text())[:300])
            return await resp.json()


def _thread_updated(thread: dict[str, Any]) -> str | None:
    """The latest time anything in a thread changed (ISO 8601, comparable as text once normalised)."""
    times = []
    top = thread.get("snippet", {}).get("topLevelComment", {}).get("snippet", {})
    times.append(top.get("updatedAt") or top.get("publishedAt"))
    for reply in thread.get("replies", {}).get("comments", []):
        snip = reply.get("snippet", {})
        times.append(snip.get("updatedAt") or snip.get("publishedAt"))
    parsed = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times if t]
    return max(parsed).isoformat() if parsed else None
