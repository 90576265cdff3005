"""Google OAuth 2.0 for web servers (offline access) and the YouTube channel behind a token.

developers.google.com/identity/protocols/oauth2/web-server: consent at PAPO_OAUTH_GOOGLE_URL with
`access_type=offline` and `prompt=consent` (so a refresh token comes back every time, even on a
re-connect); `POST` to the token endpoint (form) with `grant_type=authorization_code` or `refresh_token`
answers `access_token`, `expires_in`, `refresh_token` (first grant only), `scope`. Errors are
`{"error": "invalid_grant", "error_description": …}` — on a refresh that means the grant was revoked or
expired. YouTube Data API errors are `{"error": {"code", "message", "status", "errors"}}`;
`channels?part=snippet&mine=true` names the channel a token belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from papo.adapters.oauth.base import TokenSet, as_dict, as_list, as_str, call_json, expiry, scopes_of, status_error
from papo.adapters.oauth.errors import OAuthError

PLATFORM = "google"
YOUTUBE = "youtube"
# force-ssl: read and answer comments; upload: publish videos. Nothing wider.
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/youtube.force-ssl",
                  "https://www.googleapis.com/auth/youtube.upload")
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"


@dataclass(frozen=True, slots=True)
class GoogleApp:
    """The Google OAuth client Papo logs owners in with."""

    client_id: str
    client_secret: str = field(repr=False)
    auth_url: str
    token_url: str = GOOGLE_TOKEN_URL
    revoke_url: str = GOOGLE_REVOKE_URL
    youtube_api_url: str = "https://www.googleapis.com"
    scopes: tuple[str, ...] = DEFAULT_SCOPES


@dataclass(frozen=True, slots=True)
class YouTubeChannel:
    """The channel a token belongs to."""

    id: str
    title: str | None
    avatar: str | None


def oauth_error(status: int, body: Any, text: str) -> OAuthError:
    """The OAuthError for a token-endpoint or YouTube API error answer."""
    data = as_dict(body)
    if isinstance(data.get("error"), str):
        code = data["error"]
        return OAuthError(PLATFORM, str(data.get("error_description") or code), code=code, http_status=status,
                          revoked=code == "invalid_grant", transient=status >= 500)
    error = as_dict(data.get("error"))
    if error:
        reason = as_str(as_dict((as_list(error.get("errors")) or [{}])[0]).get("reason"))
        return OAuthError(YOUTUBE, str(error.get("message") or f"HTTP {status}"),
                          code=reason or error.get("status") or status, http_status=status,
                          revoked=status == 401, transient=status >= 500 or status == 429)
    return status_error(PLATFORM, status, text)


class GoogleOAuth:
    """Protocol calls for Google logins and the YouTube channel lookup; no business rules, no storage."""

    def __init__(self, session: aiohttp.ClientSession, app: GoogleApp) -> None:
        self.session = session
        self.app = app

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The consent screen URL the owner's browser is sent to."""
        params = {"client_id": self.app.client_id, "redirect_uri": redirect_uri, "response_type": "code",
                  "scope": " ".join(self.app.scopes), "access_type": "offline", "prompt": "consent",
                  "include_granted_scopes": "true", "state": state}
        return f"{self.app.auth_url}?{urlencode(params)}"

    async def _token(self, form: dict[str, str]) -> TokenSet:
        body = await call_json(self.session, PLATFORM, "POST", self.app.token_url,
                               data={"client_id": self.app.client_id, "client_secret": self.app.client_secret, **form},
                               on_error=oauth_error)
        token = as_str(body.get("access_token"))
        if token is None:
            raise OAuthError(PLATFORM, "the token answer has no access_token")
        return TokenSet(access_token=token, refresh_token=as_str(body.get("refresh_token")),
                        expires_at=expiry(body.get("expires_in")), scopes=scopes_of(body.get("scope")))

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Turn the consent code into an access token and (offline access) a refresh token."""
        return await self._token({"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri})

    async def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token; Google keeps the refresh token unless it answers a new one."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, token: str) -> None:
        """Revoke a token (a refresh token revokes the whole grant)."""
        await call_json(self.session, PLATFORM, "POST", self.app.revoke_url, data={"token": token},
                        on_error=oauth_error, allow_empty=True)

    async def channel(self, token: str) -> YouTubeChannel | None:
        """The YouTube channel of the signed-in account; None when the account has none."""
        body = await call_json(self.session, YOUTUBE, "GET", f"{self.app.youtube_api_url}/youtube/v3/channels",
                               params={"part": "snippet", "mine": "true"},
                               headers={"Authorization": f"Bearer {token}"}, on_error=oauth_error)
        items = as_list(body.get("items"))
        if not items or as_str(items[0].get("id")) is None:
            return None
        snippet = as_dict(items[0].get("snippet"))
        thumbs = as_dict(snippet.get("thumbnails"))
        avatar = next((as_str(as_dict(thumbs.get(size)).get("url")) for size in ("high", "medium", "default")
                       if as_str(as_dict(thumbs.get(size)).get("url"))), None)
        return YouTubeChannel(id=str(items[0]["id"]), title=as_str(snippet.get("title")), avatar=avatar)
