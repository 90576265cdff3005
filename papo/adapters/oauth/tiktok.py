"""TikTok Login Kit v2 for web: consent, code → tokens, refresh, user info, revoke.

developers.tiktok.com/doc/login-kit-web, …/oauth-user-access-token-management, …/tiktok-api-v2-get-user-info:
consent at PAPO_OAUTH_TIKTOK_URL (`client_key`, comma-separated `scope`, `response_type=code`,
`redirect_uri`, `state`); `POST {api}/v2/oauth/token/` (form) with `grant_type=authorization_code` or
`refresh_token` answers `access_token`, `expires_in`, `open_id`, `refresh_token`, `refresh_expires_in`,
`scope`. Refresh tokens rotate: always keep the newest. OAuth errors are `{"error", "error_description",
"log_id"}` (sometimes with HTTP 200); API errors `{"error": {"code", "message", "log_id"}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from papo.adapters.oauth.base import TokenSet, as_dict, as_str, call_json, expiry, scopes_of, status_error
from papo.adapters.oauth.errors import OAuthError

PLATFORM = "tiktok"
DEFAULT_SCOPES = ("user.info.basic", "user.info.profile", "video.publish", "video.upload")
BASIC_FIELDS = "open_id,union_id,avatar_url,display_name"
PROFILE_FIELDS = "username,is_verified"  # need user.info.profile; asking without it is an error
REVOKED_API_CODES = frozenset({"access_token_invalid"})
TRANSIENT_API_CODES = frozenset({"internal_error", "rate_limit_exceeded"})


@dataclass(frozen=True, slots=True)
class TikTokApp:
    """The TikTok app Papo logs owners in with."""

    client_key: str
    client_secret: str = field(repr=False)
    api_url: str
    auth_url: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES


@dataclass(frozen=True, slots=True)
class TikTokUser:
    """The account behind a token."""

    open_id: str
    union_id: str | None
    display_name: str | None
    username: str | None
    avatar: str | None
    is_verified: bool


def oauth_error(status: int, body: Any, text: str) -> OAuthError:
    """The OAuthError for a token-endpoint or API error answer."""
    data = as_dict(body)
    if isinstance(data.get("error"), str):  # OAuth endpoints
        code = data["error"]
        return OAuthError(PLATFORM, str(data.get("error_description") or code), code=code, http_status=status,
                          revoked=code == "invalid_grant", transient=code == "temporarily_unavailable"
                          or status >= 500, details=data.get("log_id"))
    error = as_dict(data.get("error"))
    if error.get("code") not in (None, "ok"):  # API v2 endpoints
        code = str(error["code"])
        return OAuthError(PLATFORM, str(error.get("message") or code), code=code, http_status=status,
                          revoked=code in REVOKED_API_CODES or status == 401,
                          transient=code in TRANSIENT_API_CODES or status >= 500, details=error.get("log_id"))
    return status_error(PLATFORM, status, text)


class TikTokOAuth:
    """Protocol calls for TikTok logins; no business rules, no storage."""

    def __init__(self, session: aiohttp.ClientSession, app: TikTokApp) -> None:
        self.session = session
        self.app = app

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The consent screen URL the owner's browser is sent to."""
        params = {"client_key": self.app.client_key, "scope": ",".join(self.app.scopes), "response_type": "code",
                  "redirect_uri": redirect_uri, "state": state}
        return f"{self.app.auth_url}?{urlencode(params)}"

    async def _token(self, form: dict[str, str]) -> TokenSet:
        body = await call_json(self.session, PLATFORM, "POST", f"{self.app.api_url}/v2/oauth/token/",
                               data={"client_key": self.app.client_key, "client_secret": self.app.client_secret,
                                     **form},
                               headers={"Content-Type": "application/x-www-form-urlencoded"}, on_error=oauth_error,
                        allow_empty=True)
        token = as_str(body.get("access_token"))
        if token is None:  # TikTok may report an OAuth error with HTTP 200
            raise oauth_error(200, body, "")
        return TokenSet(
            access_token=token, refresh_token=as_str(body.get("refresh_token")),
            expires_at=expiry(body.get("expires_in")), refresh_expires_at=expiry(body.get("refresh_expires_in")),
            scopes=scopes_of(body.get("scope")), subject=as_str(body.get("open_id")),
        )

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Turn the consent code into access + refresh tokens and the user's open_id."""
        return await self._token({"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri})

    async def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token (and a new refresh token: the old one stops working)."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def user_info(self, token: str, scopes: tuple[str, ...] = ()) -> TikTokUser:
        """The account's open_id, name, avatar and (with user.info.profile) username and verified badge."""
        fields = BASIC_FIELDS + ("," + PROFILE_FIELDS if "user.info.profile" in scopes else "")
        body = await call_json(self.session, PLATFORM, "GET", f"{self.app.api_url}/v2/user/info/",
                               params={"fields": fields}, headers={"Authorization": f"Bearer {token}"},
                               on_error=oauth_error)
        error = as_dict(body.get("error"))
        if error.get("code") not in (None, "ok"):
            raise oauth_error(200, body, "")
        user = as_dict(as_dict(body.get("data")).get("user"))
        open_id = as_str(user.get("open_id"))
        if open_id is None:
            raise OAuthError(PLATFORM, "user info has no open_id")
        return TikTokUser(
            open_id=open_id, union_id=as_str(user.get("union_id")), display_name=as_str(user.get("display_name")),
            username=as_str(user.get("username")), avatar=as_str(user.get("avatar_url")),
            is_verified=user.get("is_verified") is True,
        )

    async def revoke(self, token: str) -> None:
        """Revoke an access token (the owner disconnected the account in Papo)."""
        await call_json(self.session, PLATFORM, "POST", f"{self.app.api_url}/v2/oauth/revoke/",
                        data={"client_key": self.app.client_key, "client_secret": self.app.client_secret,
                              "token": token},
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, on_error=oauth_error,
                        allow_empty=True)
