"""Meta: Facebook Login for Business, token exchanges, the assets a login granted, and signed requests.

Flow (developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow, …/facebook-login/
facebook-login-for-business): the dialog at PAPO_OAUTH_META_URL (`client_id`, `redirect_uri`, `state`,
`config_id` — the Login for Business configuration that lists the permissions and asset types — or
`scope` without one) → `GET {graph}/oauth/access_token` turns the code into a short-lived user token
→ `grant_type=fb_exchange_token` makes it long-lived (~60 days) → `/me/accounts` lists the Pages the owner
picked with their Page tokens (which do not expire when obtained from a long-lived user token) and each
Page's `instagram_business_account` → `/debug_token` names the WhatsApp Business Accounts the owner
shared (`granular_scopes[].target_ids` of `whatsapp_business_management`) → `/{waba}/phone_numbers`.
Every call carries `appsecret_proof` so the app may require it. Graph errors are
`{"error": {"message", "type", "code", "error_subcode", "is_transient"}}`; 190/102 mean a dead token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp

from papo.adapters.oauth.base import TokenSet, as_dict, as_list, as_str, call_json, expiry, status_error
from papo.adapters.oauth.errors import OAuthError

PLATFORM = "meta"
# Used when no Login for Business configuration id is set (plain Facebook Login with scopes).
DEFAULT_SCOPES = (
    "pages_show_list", "pages_manage_metadata", "pages_messaging", "pages_read_engagement",
    "pages_manage_engagement", "instagram_basic", "instagram_manage_messages", "instagram_manage_comments",
    "business_management", "whatsapp_business_management", "whatsapp_business_messaging",
)
TOKEN_CODES = frozenset({102, 190})
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})
WABA_SCOPE = "whatsapp_business_management"
PAGE_FIELDS = "id,name,access_token,picture{url},business{id,name}," \
              "instagram_business_account{id,username,name,profile_picture_url}"
PHONE_FIELDS = "id,display_phone_number,verified_name,code_verification_status,quality_rating"


@dataclass(frozen=True, slots=True)
class MetaApp:
    """The Meta app Papo logs owners in with."""

    app_id: str
    app_secret: str = field(repr=False)
    graph_url: str
    dialog_url: str
    config_id: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What `/debug_token` says about a user token."""

    user_id: str | None
    is_valid: bool
    expires_at: datetime | None
    scopes: tuple[str, ...]
    targets: dict[str, tuple[str, ...]]  # permission -> the asset ids it was granted on


@dataclass(frozen=True, slots=True)
class InstagramAccount:
    """An Instagram professional account linked to a Page."""

    id: str
    username: str | None
    name: str | None
    avatar: str | None


@dataclass(frozen=True, slots=True)
class MetaPage:
    """A Page the owner granted, with its Page token."""

    id: str
    name: str | None
    access_token: str = field(repr=False)
    avatar: str | None = None
    business_id: str | None = None
    instagram: InstagramAccount | None = None


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A WhatsApp business phone number."""

    id: str  # phone_number_id: what Papo sends from and webhooks name
    display_phone_number: str | None
    verified_name: str | None
    code_verification_status: str | None
    quality_rating: str | None


@dataclass(frozen=True, slots=True)
class WhatsAppAccount:
    """A WhatsApp Business Account (WABA) and its numbers."""

    id: str
    name: str | None
    business_id: str | None
    business_verification_status: str | None
    phone_numbers: tuple[PhoneNumber, ...]


class SignedRequestError(ValueError):
    """A Meta `signed_request` is malformed or not signed with the app secret."""


def graph_error(status: int, body: Any, text: str) -> OAuthError:
    """The OAuthError for a Graph error answer."""
    error = as_dict(as_dict(body).get("error"))
    if not error:
        return status_error(PLATFORM, status, text)
    code = error.get("code")
    subcode = error.get("error_subcode")
    code_int = code if isinstance(code, int) else None
    return OAuthError(
        PLATFORM, str(error.get("message") or f"HTTP {status}"), code=code,
        subcode=subcode if isinstance(subcode, int) else None, http_status=status,
        revoked=code_int in TOKEN_CODES,
        transient=bool(error.get("is_transient")) or code_int in TRANSIENT_CODES or status >= 500,
        details=error.get("type"),
    )


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the token keyed with the app secret (Graph's `appsecret_proof`)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


SIGNED_REQUEST_MAX_AGE = 86_400.0  # Meta calls back at once; a day covers its retries, not a replay a week on
SIGNED_REQUEST_SKEW = 300.0  # clocks differ a little


def parse_signed_request(value: str, app_secret: str, *, now: float | None = None) -> dict[str, Any]:
    """The payload of a deauthorize / data-deletion `signed_request`, after checking its HMAC-SHA256
    and that it was issued within the last day (`issued_at`, seconds since the epoch)."""
    encoded_sig, sep, payload = value.strip().partition(".")
    if not sep or not encoded_sig or not payload:
        raise SignedRequestError("signed_request must be <signature>.<payload>")
    try:
        signature = _b64url(encoded_sig)
        data = json.loads(_b64url(payload))
    except (ValueError, json.JSONDecodeError):
        raise SignedRequestError("signed_request is not base64url-encoded JSON") from None
    if not isinstance(data, dict):
        raise SignedRequestError("signed_request payload is not a JSON object")
    if str(data.get("algorithm", "")).upper() != "HMAC-SHA256":
        raise SignedRequestError(f"unsupported signed_request algorithm {data.get('algorithm')!r}")
    expected = hmac.new(app_secret.encode(), payload.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise SignedRequestError("signed_request signature does not match the app secret")
    issued = data.get("issued_at")
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        raise SignedRequestError("signed_request has no issued_at time")
    age = (time.time() if now is None else now) - issued
    if not -SIGNED_REQUEST_SKEW <= age <= SIGNED_REQUEST_MAX_AGE:
        raise SignedRequestError(f"signed_request was issued {age:.0f} s ago: too old or from the future")
    return data


def sign_request(data: dict[str, Any], app_secret: str) -> str:
    """A signed_request for `data`, exactly as Meta builds one (tests and `papo simulate`)."""
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    sig = hmac.new(app_secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(sig).rstrip(b"=").decode() + "." + payload


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MetaOAuth:
    """Protocol calls for Meta logins; no business rules, no storage."""

    def __init__(self, session: aiohttp.ClientSession, app: MetaApp) -> None:
        self.session = session
        self.app = app

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The Login dialog URL the owner's browser is sent to."""
        params = {"client_id": self.app.app_id, "redirect_uri": redirect_uri, "state": state,
                  "response_type": "code"}
        if self.app.config_id:
            params["config_id"] = self.app.config_id
        else:
            params["scope"] = ",".join(self.app.scopes)
        return f"{self.app.dialog_url}?{urlencode(params)}"

    async def _get(self, path: str, token: str | None, params: dict[str, str], *, proof: bool = True
                   ) -> dict[str, Any]:
        headers, params = {}, dict(params)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
            if proof:  # user and Page tokens; the app token already carries the secret
                params["appsecret_proof"] = appsecret_proof(token, self.app.app_secret)
        return await call_json(self.session, PLATFORM, "GET", f"{self.app.graph_url}/{path.lstrip('/')}",
                               params=params, headers=headers, on_error=graph_error)

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Turn the dialog's code into a (short-lived) user token."""
        body = await self._get("oauth/access_token", None, {
            "client_id": self.app.app_id, "redirect_uri": redirect_uri, "client_secret": self.app.app_secret,
            "code": code})
        return _token_set(body)

    async def long_lived(self, short_token: str) -> TokenSet:
        """Exchange a short-lived user token for a long-lived one (about 60 days)."""
        body = await self._get("oauth/access_token", None, {
            "grant_type": "fb_exchange_token", "client_id": self.app.app_id, "client_secret": self.app.app_secret,
            "fb_exchange_token": short_token})
        return _token_set(body)

    async def inspect(self, token: str) -> TokenInfo:
        """`/debug_token` with the app token: who granted it, until when, on which assets."""
        data = as_dict((await self._get("debug_token", f"{self.app.app_id}|{self.app.app_secret}",
                                        {"input_token": token}, proof=False)).get("data"))
        targets: dict[str, tuple[str, ...]] = {}
        for grant in as_list(data.get("granular_scopes")):
            ids = grant.get("target_ids")
            if isinstance(grant.get("scope"), str) and isinstance(ids, list):
                targets[grant["scope"]] = tuple(str(i) for i in ids)
        expires = data.get("expires_at")
        return TokenInfo(
            user_id=as_str(data.get("user_id")),
            is_valid=bool(data.get("is_valid")),
            expires_at=datetime.fromtimestamp(expires, UTC) if isinstance(expires, int) and expires > 0 else None,
            scopes=tuple(s for s in data.get("scopes", []) if isinstance(s, str)),
            targets=targets,
        )

    async def pages(self, user_token: str) -> list[MetaPage]:
        """The Pages the owner granted, with Page tokens and linked Instagram accounts (all result pages)."""
        pages: list[MetaPage] = []
        params = {"fields": PAGE_FIELDS, "limit": "100"}
        for _ in range(50):  # 5,000 Pages is far beyond a small business; stop rather than loop forever
            body = await self._get("me/accounts", user_token, params)
            for item in as_list(body.get("data")):
                page = _page(item)
                if page is not None:
                    pages.append(page)
            after = as_str(as_dict(as_dict(body.get("paging")).get("cursors")).get("after"))
            if not as_dict(body.get("paging")).get("next") or not after:
                break
            params = {**params, "after": after}
        return pages

    async def whatsapp_account(self, token: str, waba_id: str) -> WhatsAppAccount:
        """A WABA's name, owner business, verification status and phone numbers."""
        info = await self._get(waba_id, token, {"fields": "id,name,business_verification_status,owner_business_info"})
        numbers = await self._get(f"{waba_id}/phone_numbers", token, {"fields": PHONE_FIELDS, "limit": "100"})
        phones = tuple(
            PhoneNumber(id=str(p["id"]), display_phone_number=as_str(p.get("display_phone_number")),
                        verified_name=as_str(p.get("verified_name")),
                        code_verification_status=as_str(p.get("code_verification_status")),
                        quality_rating=as_str(p.get("quality_rating")))
            for p in as_list(numbers.get("data")) if as_str(p.get("id"))
        )
        return WhatsAppAccount(
            id=waba_id, name=as_str(info.get("name")),
            business_id=as_str(as_dict(info.get("owner_business_info")).get("id")),
            business_verification_status=as_str(info.get("business_verification_status")),
            phone_numbers=phones,
        )

    async def waba_verification(self, token: str, waba_id: str) -> str | None:
        """The verification status of the business that owns a WABA (e.g. "verified"), as the WABA reports it."""
        return as_str((await self._get(waba_id, token, {"fields": "business_verification_status"}))
                      .get("business_verification_status"))

    async def business_verification(self, token: str, business_id: str) -> str | None:
        """A business portfolio's `verification_status` ("verified", "pending", "not_verified"…)."""
        body = await self._get(business_id, token, {"fields": "verification_status"})
        return as_str(body.get("verification_status"))

    async def probe(self, token: str, object_id: str) -> None:
        """A cheap call that fails with a revoked OAuthError when the token is dead."""
        await self._get(object_id, token, {"fields": "id"})


def _token_set(body: dict[str, Any]) -> TokenSet:
    token = as_str(body.get("access_token"))
    if token is None:
        raise OAuthError(PLATFORM, "the token answer has no access_token")
    return TokenSet(access_token=token, expires_at=expiry(body.get("expires_in")))


def _page(item: dict[str, Any]) -> MetaPage | None:
    page_id, token = as_str(item.get("id")), as_str(item.get("access_token"))
    if page_id is None or token is None:
        return None  # a Page without a Page token cannot be used for messaging
    ig = as_dict(item.get("instagram_business_account"))
    instagram = None
    if as_str(ig.get("id")):
        instagram = InstagramAccount(id=str(ig["id"]), username=as_str(ig.get("username")),
                                     name=as_str(ig.get("name")), avatar=as_str(ig.get("profile_picture_url")))
    return MetaPage(
        id=page_id, name=as_str(item.get("name")), access_token=token,
        avatar=as_str(as_dict(as_dict(item.get("picture")).get("data")).get("url")),
        business_id=as_str(as_dict(item.get("business")).get("id")), instagram=instagram,
    )
