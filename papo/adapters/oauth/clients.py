"""Build the OAuth and subscription clients from Settings, naming the variable that is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from papo.adapters.oauth.facebook_login import MetaApp, MetaOAuth
from papo.adapters.oauth.google import GOOGLE_REVOKE_URL, GOOGLE_TOKEN_URL, GoogleApp, GoogleOAuth
from papo.adapters.oauth.subscriptions import MetaSubscriptions, YouTubeHub
from papo.adapters.oauth.tiktok import TikTokApp, TikTokOAuth

if TYPE_CHECKING:
    from papo.config import Settings


class NotConfigured(Exception):
    """A platform's app credentials are not set; the message names the variables."""


def _secret(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name)
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def _url(settings: Settings, name: str, default: str | None = None) -> str:
    value = getattr(settings, name) or default
    return str(value).rstrip("/")


def _require(settings: Settings, platform: str, *names: str) -> list[str]:
    values = [_secret(settings, n) for n in names]
    missing = [f"PAPO_{n.upper()}" for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise NotConfigured(f"{platform} is not configured: set {' and '.join(missing)}")
    return [v for v in values if v]


def meta_oauth(settings: Settings, session: aiohttp.ClientSession) -> MetaOAuth:
    """The Meta login client (PAPO_META_APP_ID / PAPO_META_APP_SECRET, optional PAPO_META_LOGIN_CONFIG_ID)."""
    app_id, secret = _require(settings, "Meta", "meta_app_id", "meta_app_secret")
    return MetaOAuth(session, MetaApp(
        app_id=app_id, app_secret=secret, graph_url=_url(settings, "graph_api_url"),
        dialog_url=str(settings.oauth_meta_url), config_id=settings.meta_login_config_id,
    ))


def tiktok_oauth(settings: Settings, session: aiohttp.ClientSession) -> TikTokOAuth:
    """The TikTok Login Kit client (PAPO_TIKTOK_CLIENT_KEY / PAPO_TIKTOK_CLIENT_SECRET)."""
    key, secret = _require(settings, "TikTok", "tiktok_client_key", "tiktok_client_secret")
    return TikTokOAuth(session, TikTokApp(client_key=key, client_secret=secret,
                                          api_url=_url(settings, "tiktok_api_url"),
                                          auth_url=str(settings.oauth_tiktok_url)))


def google_oauth(settings: Settings, session: aiohttp.ClientSession) -> GoogleOAuth:
    """The Google OAuth client for YouTube (PAPO_GOOGLE_CLIENT_ID / PAPO_GOOGLE_CLIENT_SECRET)."""
    client_id, secret = _require(settings, "YouTube (Google OAuth)", "google_client_id", "google_client_secret")
    return GoogleOAuth(session, GoogleApp(
        client_id=client_id, client_secret=secret, auth_url=str(settings.oauth_google_url),
        token_url=_url(settings, "google_token_url", GOOGLE_TOKEN_URL),
        revoke_url=_url(settings, "google_revoke_url", GOOGLE_REVOKE_URL),
        youtube_api_url=_url(settings, "youtube_api_url"),
    ))


def meta_subscriptions(settings: Settings, session: aiohttp.ClientSession) -> MetaSubscriptions:
    """The Graph `subscribed_apps` client (needs the app id to recognise our own installation)."""
    app_id, secret = _require(settings, "Meta", "meta_app_id", "meta_app_secret")
    return MetaSubscriptions(session, _url(settings, "graph_api_url"), app_id, secret)


def youtube_hub(settings: Settings, session: aiohttp.ClientSession) -> YouTubeHub:
    """The PubSubHubbub client (PAPO_YOUTUBE_HUB_URL)."""
    return YouTubeHub(session, str(settings.youtube_hub_url))
