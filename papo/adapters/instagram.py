"""Instagram (object "instagram"): DMs under `messaging[]`, comments and mentions under `changes[]`.

`entry.id` is the Instagram professional account id (our platform_account_id). DMs and comments
carry the same Instagram-scoped user id (IGSID), so one customer's comments and DMs share a
conversation_key. Instagram sends no webhook for follows, likes or story views; those kinds never
come from here. Comments written by the account itself (its replies) are skipped. With Business Login
for Instagram a comment may arrive flat on the entry (`entry.field`/`entry.value`), not in `changes[]`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.messaging import field_changes, parse_messaging
from papo.adapters.meta import OBJECT_INSTAGRAM, MetaAdapter, register_entry_parser
from papo.adapters.parsing import as_dict, as_dicts, as_str, first_time
from papo.enums import Platform

log = logging.getLogger(__name__)

_MEDIA_DETAIL = ("media_product_type", "ad_id", "ad_title", "original_media_id")


def _comment(
    account_id: str, field: str, value: Mapping[str, Any], entry: Mapping[str, Any]
) -> list[InboundEvent]:
    """`comments` / `live_comments`: a comment (or a reply, with parent_id) on the account's media."""
    # Business Login for Instagram names the comment `id`; Facebook Login's examples say `comment_id`.
    comment_id = as_str(value.get("id")) or as_str(value.get("comment_id"))
    author = as_dict(value.get("from"))
    author_id = as_str(author.get("id"))
    if comment_id is None or author_id is None:
        log.info("instagram: skipping comment without id or author")
        return []
    if author_id == account_id:
        log.debug("instagram: skipping the account's own comment %s", comment_id)
        return []
    media = as_dict(value.get("media"))
    return [
        InboundEvent(
            platform=Platform.INSTAGRAM,
            kind=EventKind.COMMENT,
            account_id=account_id,
            # Comment webhooks carry no timestamp of their own; entry.time is when Meta sent it.
            timestamp=first_time(value.get("timestamp"), entry.get("time")),
            remote_user_id=author_id,
            remote_user_name=as_str(author.get("username")),
            remote_user_username=as_str(author.get("username")),
            platform_message_id=comment_id,
            text=as_str(value.get("text")),
            detail_type="live_comment" if field == "live_comments" else "comment",
            post_id=as_str(media.get("id")),
            parent_comment_id=as_str(value.get("parent_id")),
            detail=_media_detail(media),
            dedupe_key=f"instagram:comment:{comment_id}",
            raw=value,
        )
    ]


def _media_detail(media: Mapping[str, Any]) -> dict[str, str] | None:
    """Where the commented media ran: its product type and, for a comment on an ad, the ad."""
    detail = {name: as_str(media.get(name)) for name in _MEDIA_DETAIL}
    return {name: value for name, value in detail.items() if value} or None


def _mention(
    account_id: str, field: str, value: Mapping[str, Any], entry: Mapping[str, Any]
) -> list[InboundEvent]:
    """`mentions`: the account was @mentioned in a caption or comment. Meta does not say by whom."""
    media_id = as_str(value.get("media_id"))
    comment_id = as_str(value.get("comment_id"))
    if media_id is None and comment_id is None:
        return []
    return [
        InboundEvent(
            platform=Platform.INSTAGRAM,
            kind=EventKind.MENTION,
            account_id=account_id,
            timestamp=first_time(entry.get("time")),
            platform_message_id=comment_id or media_id,
            post_id=media_id,
            detail_type="comment" if comment_id else "caption",
            dedupe_key=f"instagram:mention:{media_id or '-'}:{comment_id or '-'}",
            raw=value,
        )
    ]


ChangeHandler = Callable[[str, str, Mapping[str, Any], Mapping[str, Any]], list[InboundEvent]]
CHANGE_HANDLERS: dict[str, ChangeHandler] = {
    "comments": _comment,
    "live_comments": _comment,
    "mentions": _mention,
}


def parse_entry(entry: Mapping[str, Any]) -> list[InboundEvent]:
    """Every event of one Instagram entry (messaging items and changes)."""
    events = parse_messaging(Platform.INSTAGRAM, entry)
    account_id = as_str(entry.get("id"))
    for change in field_changes(entry):
        field = as_str(change.get("field")) or ""
        handler = CHANGE_HANDLERS.get(field)
        if handler is None or account_id is None:
            log.info("instagram: skipping change field %s", field)
            continue
        events.extend(handler(account_id, field, as_dict(change.get("value")), entry))
    if entry.get("standby"):
        # Standby items belong to another app holding the thread (handover protocol): not ours to handle.
        log.info("instagram: skipping %d standby items", len(as_dicts(entry.get("standby"))))
    return events


class InstagramAdapter(MetaAdapter):
    """Instagram Messaging + Instagram Graph webhooks."""

    platform = Platform.INSTAGRAM
    object_name = OBJECT_INSTAGRAM


register_entry_parser(OBJECT_INSTAGRAM, parse_entry)
