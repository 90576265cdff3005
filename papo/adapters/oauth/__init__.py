"""OAuth clients, one module per platform, and the webhook subscription clients (subscriptions.py): protocol
only (URLs, token exchanges, asset lookups, subscription edges, errors).

Which accounts to store, how to encrypt tokens and when to refresh them is `papo.services.connect` and
`papo.pipeline.lifecycle`; these modules only speak the platforms' documented APIs.
"""

from papo.adapters.oauth.base import TokenSet
from papo.adapters.oauth.errors import OAuthError
from papo.adapters.oauth.facebook_login import MetaApp, MetaOAuth, MetaPage, SignedRequestError, WhatsAppAccount
from papo.adapters.oauth.google import GoogleApp, GoogleOAuth, YouTubeChannel
from papo.adapters.oauth.tiktok import TikTokApp, TikTokOAuth, TikTokUser

__all__ = [
    "GoogleApp",
    "GoogleOAuth",
    "MetaApp",
    "MetaOAuth",
    "MetaPage",
    "OAuthError",
    "SignedRequestError",
    "TikTokApp",
    "TikTokOAuth",
    "TikTokUser",
    "TokenSet",
    "WhatsAppAccount",
    "YouTubeChannel",
]
