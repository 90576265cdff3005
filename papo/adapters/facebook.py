"""Facebook Pages (object "page"): Messenger under `messaging[]`, the Page feed under `changes[]`.

`entry.id` is the Page id (our platform_account_id). Feed changes (`field: "feed"`) are routed on
`value.item` and `value.verb`:

    comment  add -> comment · edited/edit/update -> comment_edit · remove/delete -> comment_delete
    reaction add/edit(ed) -> like (reaction_type "like") or reaction · remove -> the same, removed=True
    like     add -> like · remove -> like with removed=True
    status/post/photo/video/share by a visitor -> comment on the Page (edit/remove as for comments)

Anything the Page itself wrote (`from.id` == Page id) is skipped: its replies and posts are Papo's or
the owner's own actions. Older feed payloads name the author `sender_id`/`sender_name` instead of
`from`. Note Meta gives feed authors an app-scoped user id, not the Messenger PSID, so a person's
comments and DMs on a Page land in two conversations (Instagram has one id for both).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.messaging import field_changes, parse_messaging
from papo.adapters.meta import OBJECT_PAGE, MetaAdapter, register_entry_parser
from papo.adapters.parsing import as_dict, as_dicts, as_list, as_str, first_time, short_digest
from papo.enums import MessageType, Platform

log = logging.getLogger(__name__)

_CONTENT_VERBS = {
    "add": EventKind.COMMENT,
    "edited": EventKind.COMMENT_EDIT,
    "edit": EventKind.COMMENT_EDIT,
    "update": EventKind.COMMENT_EDIT,
    "remove": EventKind.COMMENT_DELETE,
    "delete": EventKind.COMMENT_DELETE,
}
_VISITOR_POST_ITEMS = ("status", "post", "photo", "video", "share")


def _content(page_id: str, value: Mapping[str, Any], entry: Mapping[str, Any]) -> list[InboundEvent]:
    """A comment or a visitor post, added, edited or removed."""
    item = as_str(value.get("item")) or ""
    verb = as_str(value.get("verb")) or ""
    kind = _CONTENT_VERBS.get(verb)
    post_id = as_str(value.get("post_id")) or as_str(as_dict(value.get("post")).get("id"))
    target = as_str(value.get("comment_id")) if item == "comment" else post_id
    if kind is None or target is None:
        log.info("facebook: skipping feed %s with verb %s", item, verb)
        return []
    user_id, user_name = _author(value)
    parent = as_str(value.get("parent_id"))
    message_type, media_url = _media(value)
    text = as_str(value.get("message"))
    version = {
        EventKind.COMMENT: "",
        EventKind.COMMENT_EDIT: f":edit:{short_digest(text)}",
        EventKind.COMMENT_DELETE: ":delete",
    }[kind]
    return [
        InboundEvent(
            platform=Platform.FACEBOOK,
            kind=kind,
            account_id=page_id,
            timestamp=first_time(value.get("created_time"), entry.get("time")),
            remote_user_id=user_id,
            remote_user_name=user_name,
            platform_message_id=target,
            text=text,
            message_type=message_type,
            detail_type="comment" if item == "comment" else f"visitor_{item}",
            media_url=media_url,
            post_id=post_id,
            # A top-level comment's parent is the post itself; only a reply has a parent comment.
            parent_comment_id=parent if item == "comment" and parent and parent != post_id else None,
            dedupe_key=f"facebook:{item}:{target}{version}",
            raw=value,
        )
    ]


def _author(value: Mapping[str, Any]) -> tuple[str, str | None]:
    """(id, name) of who did it: `from`, or the `sender_id`/`sender_name` older feed payloads carry."""
    author = as_dict(value.get("from"))
    user_id = as_str(author.get("id")) or as_str(value.get("sender_id")) or ""
    return user_id, as_str(author.get("name")) or as_str(value.get("sender_name"))


def _media(value: Mapping[str, Any]) -> tuple[MessageType, str | None]:
    """The attached photo or video (or link) of a comment or post, and the message type it makes."""
    photos = [url for url in (as_str(p) for p in as_list(value.get("photos"))) if url]
    photo = as_str(value.get("photo")) or (photos[0] if photos else None)
    if photo:
        return MessageType.IMAGE, photo
    video = as_str(value.get("video"))
    if video:
        return MessageType.VIDEO, video
    return MessageType.TEXT, as_str(value.get("link"))


def _reaction(page_id: str, value: Mapping[str, Any], entry: Mapping[str, Any]) -> list[InboundEvent]:
    """A like or reaction on a post or comment (or its removal)."""
    verb = as_str(value.get("verb")) or "add"
    if verb not in ("add", "edit", "edited", "remove"):
        log.info("facebook: skipping feed reaction with verb %s", verb)
        return []
    reaction_type = as_str(value.get("reaction_type")) or "like"
    user, user_name = _author(value)
    post_id = as_str(value.get("post_id"))
    comment_id = as_str(value.get("comment_id"))
    stamp = as_str(value.get("created_time")) or as_str(entry.get("time"))
    return [
        InboundEvent(
            platform=Platform.FACEBOOK,
            kind=EventKind.LIKE if reaction_type == "like" else EventKind.REACTION,
            account_id=page_id,
            timestamp=first_time(value.get("created_time"), entry.get("time")),
            remote_user_id=user,
            remote_user_name=user_name,
            reaction=reaction_type,
            removed=verb == "remove",
            post_id=post_id,
            reply_to=comment_id,
            detail_type="comment" if comment_id else "post",
            dedupe_key=(f"facebook:reaction:{comment_id or post_id}:{user}:{verb}:{reaction_type}:{stamp}"),
            raw=value,
        )
    ]


FEED_HANDLERS: dict[str, Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[InboundEvent]]] = {
    "comment": _content,
    "reaction": _reaction,
    "like": _reaction,
    **dict.fromkeys(_VISITOR_POST_ITEMS, _content),
}


def _feed(page_id: str, value: Mapping[str, Any], entry: Mapping[str, Any]) -> list[InboundEvent]:
    item = as_str(value.get("item")) or ""
    author_id = as_str(as_dict(value.get("from")).get("id")) or as_str(value.get("sender_id"))
    if author_id == page_id:
        log.debug("facebook: skipping the Page's own feed %s", item)
        return []
    handler = FEED_HANDLERS.get(item)
    if handler is None:
        log.info("facebook: skipping feed item %s", item)
        return []
    return handler(page_id, value, entry)


def parse_entry(entry: Mapping[str, Any]) -> list[InboundEvent]:
    """Every event of one Page entry (Messenger items and feed changes)."""
    events = parse_messaging(Platform.FACEBOOK, entry)
    page_id = as_str(entry.get("id"))
    for change in field_changes(entry):
        field = as_str(change.get("field")) or ""
        if field != "feed" or page_id is None:
            log.info("facebook: skipping change field %s", field)
            continue
        events.extend(_feed(page_id, as_dict(change.get("value")), entry))
    if entry.get("standby"):
        # Standby items belong to another app holding the thread (handover protocol): not ours to handle.
        log.info("facebook: skipping %d standby items", len(as_dicts(entry.get("standby"))))
    return events


class FacebookAdapter(MetaAdapter):
    """Messenger + Page feed webhooks."""

    platform = Platform.FACEBOOK
    object_name = OBJECT_PAGE


register_entry_parser(OBJECT_PAGE, parse_entry)
