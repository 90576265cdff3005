"""The seed schema's enumerated values, shared by models, adapters, engine and bot.

The database stores these as plain VARCHARs (the seed's contract); Python validates them.
"""

from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    CONSULTANCY = "consultancy"


class Platform(StrEnum):
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    WHATSAPP = "whatsapp"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    KWAI = "kwai"


class ConversationStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    MUTED = "muted"


class LeadQuality(StrEnum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    LOST = "lost"


class Sender(StrEnum):
    USER = "user"  # the business (the Papo user) — echoes and replies
    REMOTE = "remote"  # the customer


class MessageType(StrEnum):
    """The seed's five types; richer platform types are kept in `messages.kind`/raw data."""

    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"


class PostStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    FAILED = "failed"


class SyncStatus(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"


class Trigger(StrEnum):
    """The seed's triggers plus the ones issue 5 adds."""

    FOLLOW = "follow"
    LIKE = "like"
    COMMENT = "comment"
    MESSAGE = "message"
    STORY_VIEW = "story_view"
    STORY_REPLY = "story_reply"
    STORY_MENTION = "story_mention"
    POSTBACK = "postback"
    REFERRAL = "referral"


class RulePlatform(StrEnum):
    """`automation_rules.platform`: one platform or any."""

    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    WHATSAPP = "whatsapp"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    KWAI = "kwai"
    ANY = "any"


class Action(StrEnum):
    SEND_MESSAGE = "send_message"
    TAG_LEAD = "tag_lead"
    SEND_TEMPLATE = "send_template"
    AI_REPLY = "ai_reply"
    NOTIFY_OWNER = "notify_owner"
    HANDOFF = "handoff"  # issue 16: pause automation in the conversation and alert the owner


class Intent(StrEnum):
    QUESTION = "question"
    COMPLAINT = "complaint"
    PURCHASE = "purchase"
    INFO = "info"


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


def quality_for_score(score: float) -> LeadQuality:
    """Map a lead score in [0, 1] to cold < 0.4 <= warm < 0.7 <= hot (DESIGN.md)."""
    if score >= 0.7:
        return LeadQuality.HOT
    if score >= 0.4:
        return LeadQuality.WARM
    return LeadQuality.COLD
