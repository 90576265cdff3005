"""Signed, documented webhook bodies for `papo simulate` (demos and manual tests).

`build_webhook(platform, account=..., sender=..., text=..., kind=..., secret=...)` returns
`(body, headers)` exactly as the platform would POST them to /webhooks/{platform}. `secret` is the key
that platform signs with: the Meta app secret, the TikTok client secret, the YouTube hub secret, or
the Kwai account's own secret. SIMULATE_KINDS lists the kinds each platform can simulate.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from papo.adapters import kwai, meta, tiktok, youtube
from papo.adapters.events import EventKind
from papo.enums import Platform

K = EventKind
SIMULATE_KINDS: dict[Platform, tuple[EventKind, ...]] = {
    Platform.WHATSAPP: (K.MESSAGE,),
    Platform.INSTAGRAM: (K.MESSAGE, K.COMMENT, K.STORY_REPLY, K.STORY_MENTION),
    Platform.FACEBOOK: (K.MESSAGE, K.COMMENT, K.LIKE, K.POSTBACK),
    Platform.TIKTOK: (K.MESSAGE,),
    Platform.YOUTUBE: (K.VIDEO_PUBLISHED,),
    Platform.KWAI: (K.MESSAGE, K.COMMENT, K.LIKE, K.FOLLOW),
}
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Sim:
    """What one simulated event is made of."""

    kind: EventKind
    account: str
    sender: str
    text: str
    name: str | None
    post_id: str
    event_id: str
    now: float

    @property
    def ms(self) -> int:
        """`now` in epoch milliseconds."""
        return int(self.now * 1000)


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _whatsapp(sim: Sim) -> dict[str, Any]:
    # A sender like "BR.1502576394655843" is a business-scoped user id (users who hide their number).
    if "." in sim.sender:
        contact: dict[str, Any] = {"user_id": sim.sender}
        who: dict[str, Any] = {"from_user_id": sim.sender}
    else:
        contact, who = {"wa_id": sim.sender}, {"from": sim.sender}
    contact["profile"] = {"name": sim.name or sim.sender}
    message = {**who, "id": f"wamid.SIM{sim.event_id}", "timestamp": str(int(sim.now)), "type": "text"}
    message["text"] = {"body": sim.text}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": sim.account, "phone_number_id": sim.account},
        "contacts": [contact],
        "messages": [message],
    }
    entry = {"id": sim.account, "changes": [{"field": "messages", "value": value}]}
    return {"object": meta.OBJECT_WHATSAPP, "entry": [entry]}


def _instagram(sim: Sim) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": sim.account, "time": sim.ms}
    if sim.kind is K.COMMENT:
        value = {
            "from": {"id": sim.sender, "username": sim.name or sim.sender},
            "media": {"id": sim.post_id, "media_product_type": "FEED"},
            "id": f"179{sim.event_id}",
            "text": sim.text,
        }
        entry["changes"] = [{"field": "comments", "value": value}]
    else:
        message: dict[str, Any] = {"mid": f"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3{sim.event_id}"}
        story = {
            "id": sim.post_id,
            "url": f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={sim.post_id}",
        }
        if sim.kind is K.STORY_MENTION:
            message["attachments"] = [{"type": "story_mention", "payload": {"url": story["url"]}}]
        else:
            message["text"] = sim.text
        if sim.kind is K.STORY_REPLY:
            message["reply_to"] = {"story": story}
        item = {"sender": {"id": sim.sender}, "recipient": {"id": sim.account}, "timestamp": sim.ms}
        entry["messaging"] = [{**item, "message": message}]
    return {"object": meta.OBJECT_INSTAGRAM, "entry": [entry]}


def _facebook(sim: Sim) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": sim.account, "time": sim.ms}
    item = {"sender": {"id": sim.sender}, "recipient": {"id": sim.account}, "timestamp": sim.ms}
    post_id = f"{sim.account}_{sim.post_id}"
    author = {"id": sim.sender, "name": sim.name or sim.sender}
    if sim.kind is K.COMMENT:
        value = {
            "from": author,
            "item": "comment",
            "verb": "add",
            "post_id": post_id,
            "comment_id": f"{sim.post_id}_{sim.event_id}",
            "parent_id": post_id,
            "message": sim.text,
            "created_time": int(sim.now),
        }
        entry["changes"] = [{"field": "feed", "value": value}]
    elif sim.kind is K.LIKE:
        value = {
            "from": author,
            "item": "reaction",
            "reaction_type": "like",
            "verb": "add",
            "post_id": post_id,
            "parent_id": post_id,
            "created_time": int(sim.now),
        }
        entry["changes"] = [{"field": "feed", "value": value}]
    elif sim.kind is K.POSTBACK:
        postback = {"title": sim.text, "payload": sim.text, "mid": f"m_{sim.event_id}"}
        entry["messaging"] = [{**item, "postback": postback}]
    else:
        entry["messaging"] = [{**item, "message": {"mid": f"m_{sim.event_id}", "text": sim.text}}]
    return {"object": meta.OBJECT_PAGE, "entry": [entry]}


def _tiktok(sim: Sim) -> dict[str, Any]:
    content = {
        "conversation_id": f"conv-{sim.sender}",
        "message_id": f"msg-{sim.event_id}",
        "timestamp": sim.ms,
        "type": "text",
        "text": {"body": sim.text},
        "from": sim.name or sim.sender,
        "from_user": {"id": sim.sender, "role": "personal_account"},
        "to": sim.account,
        "to_user": {"id": sim.account, "role": "business_account"},
    }
    return {
        "client_key": "papo-simulate",
        "event": "im_receive_msg",
        "create_time": int(sim.now),
        "user_openid": sim.account,
        "content": json.dumps(content, ensure_ascii=False),
    }


def _kwai(sim: Sim) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"evt-{sim.event_id}",
        "type": sim.kind.value,
        "timestamp": int(sim.now),
        "user": {"id": sim.sender, "name": sim.name or sim.sender},
    }
    if sim.kind in (K.MESSAGE, K.COMMENT):
        event["text"] = sim.text
    if sim.kind in (K.COMMENT, K.LIKE):
        event["video_id"] = sim.post_id
    return {"version": kwai.FORMAT_VERSION, "account_id": sim.account, "events": [event]}


def _youtube_xml(sim: Sim) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(sim.now))
    video, channel, title = escape(sim.post_id), escape(sim.account), escape(sim.text or "New video")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns="http://www.w3.org/2005/Atom">'
        '<link rel="hub" href="https://pubsubhubbub.appspot.com"/>'
        f'<link rel="self" href="https://www.youtube.com/xml/feeds/videos.xml?channel_id={channel}"/>'
        f"<title>YouTube video feed</title><updated>{stamp}</updated>"
        f"<entry><id>yt:video:{video}</id><yt:videoId>{video}</yt:videoId><yt:channelId>{channel}</yt:channelId>"
        f'<title>{title}</title><link rel="alternate" href="https://www.youtube.com/watch?v={video}"/>'
        f"<author><name>{escape(sim.name or sim.account)}</name>"
        f"<uri>https://www.youtube.com/channel/{channel}</uri></author>"
        f"<published>{stamp}</published><updated>{stamp}</updated></entry></feed>"
    ).encode()


_JSON_BUILDERS: dict[Platform, Callable[[Sim], dict[str, Any]]] = {
    Platform.WHATSAPP: _whatsapp,
    Platform.INSTAGRAM: _instagram,
    Platform.FACEBOOK: _facebook,
    Platform.TIKTOK: _tiktok,
    Platform.KWAI: _kwai,
}


def signed_headers(platform: Platform, body: bytes, secret: str, now: float) -> dict[str, str]:
    """The headers that sign `body` as `platform` would (content type included)."""
    if platform is Platform.TIKTOK:
        return {**JSON, tiktok.SIGNATURE_HEADER: tiktok.sign(body, secret, int(now))}
    if platform is Platform.YOUTUBE:
        return {"Content-Type": "application/atom+xml", youtube.SIGNATURE_HEADER: youtube.sign(body, secret)}
    if platform is Platform.KWAI:
        return {**JSON, kwai.SIGNATURE_HEADER: kwai.sign(body, secret, int(now))}
    return {**JSON, meta.SIGNATURE_HEADER: meta.sign(body, secret)}


def build_webhook(
    platform: Platform | str,
    *,
    account: str,
    sender: str,
    text: str = "",
    kind: EventKind | str = EventKind.MESSAGE,
    secret: str,
    name: str | None = None,
    post_id: str | None = None,
    event_id: str | None = None,
    now: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A signed webhook (body, headers) for one simulated event; ValueError for an unsupported kind."""
    platform = Platform(platform)
    choices = SIMULATE_KINDS[platform]
    if str(kind) not in choices:
        # The value, not the enum's repr: the message names what the user typed (`comment`).
        raise ValueError(f"{platform} cannot simulate kind {str(kind)!r}; choose one of: {', '.join(choices)}")
    kind = EventKind(kind)
    if not secret:
        raise ValueError(f"a signing secret is required to simulate {platform} webhooks")
    event_id = event_id or secrets.token_hex(8).upper()
    if post_id is None:
        # YouTube video ids are 11 characters; Meta media/post ids are long numbers.
        post_id = (
            event_id[:11] if platform is Platform.YOUTUBE else str(10**16 + secrets.randbelow(9 * 10**16))
        )
    sim = Sim(
        kind=kind,
        account=account,
        sender=sender,
        text=text,
        name=name,
        post_id=post_id,
        event_id=event_id,
        now=time.time() if now is None else now,
    )
    body = _youtube_xml(sim) if platform is Platform.YOUTUBE else _dumps(_JSON_BUILDERS[platform](sim))
    return body, signed_headers(platform, body, secret, sim.now)
