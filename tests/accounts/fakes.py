"""One local server speaking just enough of each documented API: Meta's Login dialog + Graph (token
exchanges, debug_token — with the app's token, or a System User's about itself —, /me/accounts, WABAs and
their phone numbers, subscribed_apps, business verification), TikTok Login Kit v2,
Google OAuth 2.0 + the YouTube Data API, and a PubSubHubbub hub that verifies intent by calling back.

Answers follow the platforms' documented shapes, errors included (Graph `{"error": {"code": 190…}}`, OAuth
`{"error": "invalid_grant", …}`), so Papo's real clients are what the tests exercise.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

APP_ID = "1234567890"
META_SECRET = "test-meta-app-secret"
TIKTOK_KEY, TIKTOK_SECRET = "test-tiktok-key", "test-tiktok-secret"
GOOGLE_ID, GOOGLE_SECRET = "papo-test.apps.googleusercontent.com", "test-google-secret"
META_USER = "10160000000000001"
BUSINESS = "5550001"
PAGE_1, PAGE_2 = "104000000000001", "104000000000002"
IG_1 = "17841400000000001"
WABA = "220000000000001"
PHONE = "106540352242922"
WABA_2 = "220000000000002"  # onboarded after WABA: debug_token names it first
PHONE_2 = "106540352200002"
WABA_NUMBERS = {WABA: (PHONE,), WABA_2: (PHONE_2,)}
SYSTEM_TOKEN = "EAAsystem-user-token"  # a System User's token: reaches both WABAs, may inspect itself
OPEN_ID = "-000bZ1kLmNoPqRsTuVwXyZ12345abcdEF"  # the user of tests/data/webhooks/tiktok/authorization_removed.json
CHANNEL = "UCpadariaNaCozinha0000001"
USER_TOKEN = "EAAlong-user-token"
TOPIC = "https://www.youtube.com/feeds/videos.xml?channel_id="


def page_token(page_id: str) -> str:
    return f"EAApage-{page_id}"


def graph_error(code: int, message: str, status: int = 400, subcode: int | None = None) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
    if subcode:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status)


@dataclass
class FakePlatforms:
    """State and switches of the fake platforms; `calls` records every request (method, path, params)."""

    server: TestServer | None = None
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    expire_codes: bool = False  # every code is answered as expired
    deny: bool = False  # the person clicks "Cancel" on the consent screen
    revoked: set[str] = field(default_factory=set)  # tokens the platforms now refuse (Graph 190 / 401)
    page_subs: dict[str, list[str]] = field(default_factory=dict)
    waba_subs: set[str] = field(default_factory=set)
    verification: dict[str, str] = field(default_factory=lambda: {BUSINESS: "verified"})
    tiktok_refresh: dict[str, int] = field(default_factory=dict)  # valid refresh token -> generation
    google_refresh: set[str] = field(default_factory=set)
    hub_requests: list[dict[str, str]] = field(default_factory=list)
    hub_verified: list[tuple[str, str, bool]] = field(default_factory=list)  # (topic, mode, echoed)
    granted_lease: int | None = None  # None: grant what was asked
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def calls_to(self, method: str, suffix: str) -> list[dict[str, str]]:
        return [params for m, p, params in self.calls if m == method and p.endswith(suffix)]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/meta/dialog", self.meta_dialog)
        app.router.add_route("*", "/graph/{tail:.*}", self.graph)
        app.router.add_get("/tiktok/auth/", self.tiktok_auth)
        app.router.add_post("/tiktok-api/v2/oauth/token/", self.tiktok_token)
        app.router.add_post("/tiktok-api/v2/oauth/revoke/", self.tiktok_revoke)
        app.router.add_get("/tiktok-api/v2/user/info/", self.tiktok_user)
        app.router.add_get("/google/auth", self.google_auth)
        app.router.add_post("/google/token", self.google_token)
        app.router.add_post("/google/revoke", self.google_revoke)
        app.router.add_get("/youtube-api/youtube/v3/channels", self.youtube_channels)
        app.router.add_post("/hub", self.hub)
        self.server = TestServer(app)
        await self.server.start_server()

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        assert self.server is not None
        await self.server.close()

    async def _record(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        self.calls.append((request.method, request.path, params))
        return params

    # ------------------------------------------------------------ consent screens

    def _consent(self, flow: str, params: dict[str, str]) -> web.Response:
        redirect = params["redirect_uri"]
        if self.deny:
            query = {"error": "access_denied", "error_description": "The user denied the request",
                     "state": params["state"]}
            raise web.HTTPFound(f"{redirect}?{urlencode(query)}")
        code = f"{flow}-code-{next(self.counter)}-{secrets.token_hex(4)}"
        self.codes[code] = {"flow": flow, "redirect_uri": redirect, "used": False}
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': params['state']})}")

    async def meta_dialog(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        assert params["client_id"] == APP_ID and params["response_type"] == "code"
        assert params.get("config_id") or "pages_messaging" in params.get("scope", "")
        return self._consent("meta", params)

    async def tiktok_auth(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        assert params["client_key"] == TIKTOK_KEY and params["response_type"] == "code"
        assert "user.info.basic" in params["scope"].split(",")
        return self._consent("tiktok", params)

    async def google_auth(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        assert params["client_id"] == GOOGLE_ID and params["access_type"] == "offline"
        assert params["prompt"] == "consent" and "youtube.force-ssl" in params["scope"]
        return self._consent("google", params)

    def _spend_code(self, flow: str, code: str, redirect_uri: str) -> str | None:
        """None when the code is good (and now used); else why it is refused."""
        found = self.codes.get(code)
        if found is None or found["flow"] != flow or found["redirect_uri"] != redirect_uri:
            return "invalid"
        if self.expire_codes:
            return "expired"
        if found["used"]:
            return "used"
        found["used"] = True
        return None

    # ------------------------------------------------------------ Meta Graph

    async def graph(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        tail = request.match_info["tail"].strip("/")
        if tail == "oauth/access_token":
            return self._meta_token(params)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        proof = hmac.new(META_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
        if token != f"{APP_ID}|{META_SECRET}" and params.get("appsecret_proof") != proof:
            return graph_error(100, "Invalid appsecret_proof provided in the API argument")
        if token in self.revoked:
            return graph_error(190, "Error validating access token: The session has been invalidated because the "
                                    "user changed their password.", subcode=460)
        if tail == "debug_token":
            return self._debug_token(token, params.get("input_token", ""))
        if tail == "me/accounts":
            return self._pages(token, params)
        object_id, _, edge = tail.partition("/")
        if edge == "subscribed_apps":
            return self._subscribed_apps(request.method, object_id, token, params)
        reaches = (object_id == WABA and token == USER_TOKEN) or (object_id in WABA_NUMBERS and token == SYSTEM_TOKEN)
        if edge == "phone_numbers" and reaches:
            return web.json_response({"data": [{
                "id": phone, "display_phone_number": "+55 11 98765-4321", "verified_name": "Padaria Pão Quente",
                "code_verification_status": "VERIFIED", "quality_rating": "GREEN",
            } for phone in WABA_NUMBERS[object_id]], "paging": {"cursors": {"before": "QVFIUk", "after": "QVFIUk"}}})
        if object_id == WABA and token == USER_TOKEN:
            return web.json_response({"id": WABA, "name": "Padaria WhatsApp",
                                      "business_verification_status": self.verification[BUSINESS],
                                      "owner_business_info": {"id": BUSINESS, "name": "Padaria Pão Quente Ltda"}})
        if object_id == BUSINESS and token in (USER_TOKEN, page_token(PAGE_1), page_token(PAGE_2)):
            return web.json_response({"id": BUSINESS, "verification_status": self.verification[BUSINESS]})
        if object_id in (PAGE_1, PAGE_2) and token == page_token(object_id):
            return web.json_response({"id": object_id})
        return graph_error(100, f"Unsupported get request. Object with ID '{object_id}' does not exist")

    def _debug_token(self, token: str, input_token: str) -> web.Response:
        """`/debug_token`, asked with the app's token or by a System User token about itself (Meta documents both:
        developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/manage-accounts)."""
        assert token in (f"{APP_ID}|{META_SECRET}", input_token)
        if input_token == SYSTEM_TOKEN and input_token not in self.revoked:
            targets = [WABA_2, WABA]  # the most recently onboarded first
            return web.json_response({"data": {
                "app_id": APP_ID, "type": "SYSTEM_USER", "application": "Papo", "expires_at": 0, "is_valid": True,
                "data_access_expires_at": 0, "user_id": "10222270944537964",
                "scopes": ["whatsapp_business_management", "whatsapp_business_messaging", "public_profile"],
                "granular_scopes": [{"scope": "whatsapp_business_management", "target_ids": targets},
                                    {"scope": "whatsapp_business_messaging", "target_ids": targets}],
            }})
        if input_token != USER_TOKEN or input_token in self.revoked:
            return web.json_response({"data": {"app_id": APP_ID, "is_valid": False, "scopes": [], "error": {
                "code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}}})
        return web.json_response({"data": {
            "app_id": APP_ID, "type": "USER", "application": "Papo", "expires_at": 1900000000, "is_valid": True,
            "scopes": ["pages_messaging", "whatsapp_business_management"], "user_id": META_USER,
            "granular_scopes": [{"scope": "pages_messaging", "target_ids": [PAGE_1, PAGE_2]},
                                {"scope": "whatsapp_business_management", "target_ids": [WABA]}],
        }})

    def _meta_token(self, params: dict[str, str]) -> web.Response:
        if params.get("client_id") != APP_ID or params.get("client_secret") != META_SECRET:
            return graph_error(101, "Error validating client secret.")
        if params.get("grant_type") == "fb_exchange_token":
            assert params["fb_exchange_token"].startswith("EAAshort")
            return web.json_response({"access_token": USER_TOKEN, "token_type": "bearer", "expires_in": 5184000})
        refused = self._spend_code("meta", params.get("code", ""), params.get("redirect_uri", ""))
        if refused == "expired":
            return graph_error(100, "This authorization code has expired.", subcode=36007)
        if refused == "used":
            return graph_error(100, "This authorization code has been used.", subcode=36009)
        if refused:
            return graph_error(100, "Invalid verification code format.", subcode=36008)
        return web.json_response({"access_token": f"EAAshort-{next(self.counter)}", "token_type": "bearer",
                                  "expires_in": 5183})

    def _pages(self, token: str, params: dict[str, str]) -> web.Response:
        assert token == USER_TOKEN and "instagram_business_account" in params["fields"]
        first = {"id": PAGE_1, "name": "Padaria Pão Quente", "access_token": page_token(PAGE_1),
                 "picture": {"data": {"url": "https://scontent.example/p1.jpg"}},
                 "business": {"id": BUSINESS, "name": "Padaria Pão Quente Ltda"},
                 "instagram_business_account": {"id": IG_1, "username": "padariapaoquente",
                                                "name": "Padaria Pão Quente",
                                                "profile_picture_url": "https://scontent.example/ig1.jpg"}}
        second = {"id": PAGE_2, "name": "Padaria Filial Centro", "access_token": page_token(PAGE_2),
                  "business": {"id": BUSINESS, "name": "Padaria Pão Quente Ltda"}}
        if params.get("after") == "cursor-2":  # the second result page
            return web.json_response({"data": [second], "paging": {"cursors": {"before": "cursor-2",
                                                                               "after": "cursor-2"}}})
        return web.json_response({"data": [first], "paging": {"cursors": {"before": "cursor-1", "after": "cursor-2"},
                                                              "next": self.url("/graph/me/accounts?after=cursor-2")}})

    def _subscribed_apps(self, method: str, object_id: str, token: str, params: dict[str, str]) -> web.Response:
        if object_id in (PAGE_1, PAGE_2):
            if token != page_token(object_id):
                return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            if method == "POST":
                self.page_subs[object_id] = params["subscribed_fields"].split(",")
                return web.json_response({"success": True})
            if method == "DELETE":
                self.page_subs.pop(object_id, None)
                return web.json_response({"success": True})
            subs = self.page_subs.get(object_id)
            data = [{"category": "Business", "name": "Papo", "id": APP_ID, "subscribed_fields": subs}] if subs else []
            return web.json_response({"data": data})
        if object_id == WABA and token == USER_TOKEN:
            if method == "POST":
                self.waba_subs.add(object_id)
                return web.json_response({"success": True})
            if method == "DELETE":
                self.waba_subs.discard(object_id)
                return web.json_response({"success": True})
            installed = object_id in self.waba_subs
            return web.json_response({"data": [{"whatsapp_business_api_data": {"id": APP_ID, "name": "Papo"}}]
                                      if installed else []})
        return graph_error(100, f"Unsupported post request. Object with ID '{object_id}' does not exist")

    # ------------------------------------------------------------ TikTok

    async def tiktok_token(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        if params.get("client_key") != TIKTOK_KEY or params.get("client_secret") != TIKTOK_SECRET:
            return web.json_response({"error": "invalid_client", "error_description": "Client key or secret is "
                                      "incorrect.", "log_id": "2026LOG1"}, status=401)
        if params.get("grant_type") == "refresh_token":
            generation = self.tiktok_refresh.pop(params.get("refresh_token", ""), None)
            if generation is None:
                return web.json_response({"error": "invalid_grant", "error_description": "Refresh token is invalid "
                                          "or expired.", "log_id": "2026LOG2"}, status=400)
            return self._tiktok_tokens(generation + 1)
        refused = self._spend_code("tiktok", params.get("code", ""), params.get("redirect_uri", ""))
        if refused:
            description = "Authorization code is expired." if refused == "expired" else "Authorization code is invalid."
            return web.json_response({"error": "invalid_grant", "error_description": description,
                                      "log_id": "2026LOG3"}, status=400)
        return self._tiktok_tokens(1)

    def _tiktok_tokens(self, generation: int) -> web.Response:
        refresh = f"rft.{generation}.{secrets.token_hex(4)}"
        self.tiktok_refresh[refresh] = generation
        return web.json_response({"access_token": f"act.{generation}", "expires_in": 86400, "open_id": OPEN_ID,
                                  "refresh_expires_in": 31536000, "refresh_token": refresh,
                                  "scope": "user.info.basic,user.info.profile,video.publish,video.upload",
                                  "token_type": "Bearer"})

    async def tiktok_user(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("act.") or token in self.revoked:
            return web.json_response({"data": {}, "error": {"code": "access_token_invalid", "message": "The access "
                                      "token is invalid or not found in the request.", "log_id": "2026LOG4"}},
                                     status=401)
        user = {"open_id": OPEN_ID, "union_id": "union-1", "avatar_url": "https://p16.tiktokcdn.example/a.jpeg",
                "display_name": "Padaria Pão Quente", "username": "padariapaoquente", "is_verified": True}
        fields = params["fields"].split(",")
        return web.json_response({"data": {"user": {k: v for k, v in user.items() if k in fields}},
                                  "error": {"code": "ok", "message": "", "log_id": "2026LOG5"}})

    async def tiktok_revoke(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        self.revoked.add(params["token"])
        return web.json_response({})

    # ------------------------------------------------------------ Google / YouTube

    async def google_token(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        if params.get("client_id") != GOOGLE_ID or params.get("client_secret") != GOOGLE_SECRET:
            return web.json_response({"error": "invalid_client", "error_description": "Unauthorized"}, status=401)
        scope = "https://www.googleapis.com/auth/youtube.force-ssl https://www.googleapis.com/auth/youtube.upload"
        n = next(self.counter)
        if params.get("grant_type") == "refresh_token":
            if params.get("refresh_token") not in self.google_refresh:
                return web.json_response({"error": "invalid_grant",
                                          "error_description": "Token has been expired or revoked."}, status=400)
            return web.json_response({"access_token": f"ya29.{n}", "expires_in": 3599, "scope": scope,
                                      "token_type": "Bearer"})
        if self._spend_code("google", params.get("code", ""), params.get("redirect_uri", "")):
            return web.json_response({"error": "invalid_grant", "error_description": "Bad Request"}, status=400)
        refresh = f"1//refresh-{n}"
        self.google_refresh.add(refresh)
        return web.json_response({"access_token": f"ya29.{n}", "expires_in": 3599, "refresh_token": refresh,
                                  "scope": scope, "token_type": "Bearer"})

    async def google_revoke(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        self.google_refresh.discard(params["token"])
        self.revoked.add(params["token"])
        return web.Response(status=200)

    async def youtube_channels(self, request: web.Request) -> web.Response:
        params = await self._record(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("ya29.") or token in self.revoked:
            return web.json_response({"error": {"code": 401, "message": "Request had invalid authentication "
                                      "credentials.", "status": "UNAUTHENTICATED",
                                      "errors": [{"reason": "authError", "message": "Invalid Credentials"}]}},
                                     status=401)
        assert params == {"part": "snippet", "mine": "true"}
        return web.json_response({"kind": "youtube#channelListResponse", "items": [{
            "kind": "youtube#channel", "id": CHANNEL,
            "snippet": {"title": "Padaria na Cozinha", "thumbnails": {
                "default": {"url": "https://yt3.example/default.jpg"}, "high": {"url": "https://yt3.example/high.jpg"}}},
        }]})

    # ------------------------------------------------------------ PubSubHubbub

    async def hub(self, request: web.Request) -> web.Response:
        form = await self._record(request)
        missing = [k for k in ("hub.callback", "hub.mode", "hub.topic") if not form.get(k)]
        if missing or not form["hub.topic"].startswith(TOPIC):
            return web.Response(status=400, text=f"Invalid request: {missing or form.get('hub.topic')}")
        self.hub_requests.append(form)
        task = asyncio.create_task(self._verify_intent(form))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.Response(status=202, text="")

    async def _verify_intent(self, form: dict[str, str]) -> None:
        challenge = secrets.token_hex(8)
        query = {"hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"], "hub.challenge": challenge}
        if form["hub.mode"] == "subscribe":
            query["hub.lease_seconds"] = str(self.granted_lease or int(form.get("hub.lease_seconds") or 432000))
        async with aiohttp.ClientSession() as session, session.get(form["hub.callback"], params=query) as resp:
            echoed = resp.status == 200 and (await resp.text()) == challenge
        self.hub_verified.append((form["hub.topic"], form["hub.mode"], echoed))
