"""Which trigger an inbound event fires, and which triggers each platform can fire at all.

The second table mirrors papo/adapters/README-kinds.md: a rule whose trigger its platform never
reports (an Instagram "follow" rule — Instagram has no follower webhook) is accepted with a warning.
"""

from __future__ import annotations

from papo.adapters.events import EventKind, InboundEvent
from papo.enums import Platform, RulePlatform, Trigger

T = Trigger

# Kinds that fire exactly one trigger. Anything absent (reaction, mention, optin, status, echo, edits,
# deletes, account events) fires none: a reaction is not a request, and a mention carries no author.
_BY_KIND: dict[EventKind, Trigger] = {
    EventKind.MESSAGE: T.MESSAGE,
    EventKind.COMMENT: T.COMMENT,
    EventKind.STORY_REPLY: T.STORY_REPLY,
    EventKind.STORY_MENTION: T.STORY_MENTION,
    EventKind.POSTBACK: T.POSTBACK,
    EventKind.REFERRAL: T.REFERRAL,
    EventKind.LIKE: T.LIKE,
    EventKind.FOLLOW: T.FOLLOW,
    EventKind.STORY_VIEW: T.STORY_VIEW,
}
# Message detail types that mean "the customer tapped a button/quick reply the business sent".
_TAP_TYPES = frozenset({"interactive", "button", "quick_reply"})

POSSIBLE: dict[Platform, frozenset[Trigger]] = {
    # Button replies and click-to-WhatsApp ads arrive as messages (README-kinds notes 4 and 5).
    Platform.WHATSAPP: frozenset({T.MESSAGE, T.POSTBACK, T.REFERRAL}),
    # No webhook for followers, likes or story views on Instagram.
    Platform.INSTAGRAM: frozenset({T.MESSAGE, T.COMMENT, T.STORY_REPLY, T.STORY_MENTION, T.POSTBACK, T.REFERRAL}),
    Platform.FACEBOOK: frozenset({T.MESSAGE, T.COMMENT, T.LIKE, T.POSTBACK, T.REFERRAL}),
    # Business Messaging (gated): DMs, chats opened from an ad or link, comments TikTok reports
    # (API for Business); no like or follow webhook.
    Platform.TIKTOK: frozenset({T.MESSAGE, T.COMMENT, T.REFERRAL}),
    # Comments only, read by the poller; YouTube has no direct messages.
    Platform.YOUTUBE: frozenset({T.COMMENT}),
    Platform.KWAI: frozenset({T.MESSAGE, T.COMMENT, T.LIKE, T.FOLLOW, T.POSTBACK, T.REFERRAL}),
}
# Triggers whose events carry customer text (keywords, regex and classification can apply).
TEXT_TRIGGERS = frozenset({T.MESSAGE, T.COMMENT, T.STORY_REPLY, T.POSTBACK, T.REFERRAL})
# Triggers whose events name a post/media/story (the `media_id` condition can apply).
MEDIA_TRIGGERS = frozenset({T.COMMENT, T.LIKE, T.STORY_REPLY, T.STORY_MENTION})
# Triggers whose events carry a payload/ref (the `payload_in` condition can apply).
PAYLOAD_TRIGGERS = frozenset({T.POSTBACK, T.REFERRAL})


def triggers_for(event: InboundEvent) -> tuple[Trigger, ...]:
    """The triggers an event fires, most specific first; () for echoes and non-customer events.

    A direct message that is also a button tap fires `postback` then `message`; one that came from an
    ad fires `referral` then `message`; every other kind fires at most one trigger.
    """
    # The business's own messages never trigger anything: that is how two bots loop.
    if event.is_echo or event.kind is EventKind.ECHO or not event.remote_user_id or event.removed:
        return ()
    trigger = _BY_KIND.get(event.kind)
    if trigger is None:
        return ()
    if trigger is T.MESSAGE:
        if event.postback_payload and event.detail_type in _TAP_TYPES:
            return (T.POSTBACK, T.MESSAGE)
        if event.referral:
            return (T.REFERRAL, T.MESSAGE)
    return (trigger,)


def trigger_possible(trigger: Trigger | str, platform: RulePlatform | Platform | str) -> bool:
    """Whether `platform` (or any platform, for `any`) ever reports events that fire `trigger`."""
    trigger = Trigger(trigger)
    if str(platform) == RulePlatform.ANY:
        return any(trigger in fired for fired in POSSIBLE.values())
    return trigger in POSSIBLE[Platform(str(platform))]


def platforms_for(trigger: Trigger | str) -> list[Platform]:
    """The platforms that can fire `trigger` (for messages such as "only Facebook and Kwai report likes")."""
    trigger = Trigger(trigger)
    return [p for p, fired in POSSIBLE.items() if trigger in fired]
