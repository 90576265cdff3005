"""Connecting accounts over HTTP: the owner's browser and Meta's signed callbacks.

    GET  /connect/{platform}?state=…    → a page naming the business the accounts will be connected to, whose
                                          "Continuar" goes to the platform's consent screen (meta|facebook|
                                          instagram|whatsapp, tiktok, youtube); a bad state gets a clear page
    GET  /oauth/{flow}/callback         → checks the browser, spends the state, exchanges the code, stores the
                                          accounts, and shows what was connected (flow: meta, tiktok, youtube)
    POST /oauth/meta/deauthorize        → Meta's deauthorize callback (`signed_request`): disconnect
    POST /oauth/meta/data-deletion      → Meta's data-deletion callback: disconnect, wipe tokens, answer
                                          `{"url", "confirmation_code"}`; GET /oauth/meta/deletion?id=… shows it
Pages people see are small HTML pages (pt-BR title, the reason in plain words); the callbacks Meta calls
answer JSON. Everything else happens in papo.services.connect.

A link must not work for whoever it is forwarded to (issue 21, point 2). The page that names the business
also sets a cookie (HttpOnly, SameSite=Lax so it comes back on the platform's cross-site redirect, scoped
to the callback's path, alive as long as the state) whose secret the consent URL's state is bound to. A
callback without that cookie is refused with 403 before the state is spent. So a forwarded consent URL
connects nothing, and a forwarded link shows its reader which business they would hand their accounts to.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from aiohttp import web

from papo import app_keys
from papo.adapters.oauth.facebook_login import SignedRequestError, parse_signed_request
from papo.handlers.errors import json_error
from papo.runtime import token_cipher
from papo.services import ServiceError
from papo.services import connect as connect_service
from papo.services.connect import AccountSummary, ConnectError, StateError, WrongBrowser
from papo.services.subscriptions import AccountContext

log = logging.getLogger(__name__)

FLOWS = ("meta", "tiktok", "youtube")
PLATFORM_LABELS = {"facebook": "Facebook", "instagram": "Instagram", "whatsapp": "WhatsApp", "tiktok": "TikTok",
                   "youtube": "YouTube", "kwai": "Kwai"}
_STYLE = ("body{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1d2330;margin:0}"
          "main{max-width:34rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:12px;"
          "box-shadow:0 1px 4px #0002}h1{font-size:1.4rem}li{margin:.3rem 0}.muted{color:#667}"
          ".button{display:inline-block;background:#1d5bd8;color:#fff;padding:.7rem 1.4rem;border-radius:8px;"
          "text-decoration:none;font-weight:600}")


def page(status: int, title: str, message: str, *, items: Iterable[str] = (), note: str = "",
         button: tuple[str, str] | None = None) -> web.Response:
    """A small, self-contained HTML page (`button` is a (label, URL) link); every value is escaped."""
    rows = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    link = f'<p><a class="button" href="{html.escape(button[1])}">{html.escape(button[0])}</a></p>' if button else ""
    body = (f'<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)} · Papo</title><style>{_STYLE}</style></head><body><main>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
            + (f"<ul>{rows}</ul>" if rows else "") + link
            + (f'<p class="muted">{html.escape(note)}</p>' if note else "")
            + "</main></body></html>")
    # The callback URL carries the code and state: never cache it, never leak it in a Referer.
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 # No other site may frame the page and trick a click on its Continuar.
                                 "Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"})


def _refused(exc: StateError | ConnectError) -> web.Response:
    if isinstance(exc, WrongBrowser):
        return page(exc.status, "Este navegador não iniciou a conexão · This browser did not start it", str(exc),
                    note="Abra o seu link de conexão neste navegador, confira a empresa e toque em Continuar. "
                         "Se alguém lhe mandou este endereço, não continue.")
    if isinstance(exc, StateError):
        return page(exc.status, "Link inválido · Invalid link", str(exc))
    return page(exc.status, "Não foi possível conectar · Could not connect", str(exc))


async def start(request: web.Request) -> web.StreamResponse:
    """Check the personal link's state; show which business it connects to, binding this browser to the flow."""
    try:
        flow = connect_service.flow_of(request.match_info["platform"])
    except ServiceError as exc:
        return page(404, "Plataforma desconhecida · Unknown platform", str(exc))
    try:
        begun = await connect_service.start(request.app[app_keys.SETTINGS], request.app[app_keys.STORES].redis,
                                            request.app[app_keys.HTTP], flow, request.query.get("state"))
    except (StateError, ConnectError) as exc:
        return _refused(exc)
    who = f"{begun.business} ({begun.email})"
    response = page(
        200, "Conectar contas · Connect accounts",
        f"Você está conectando contas {begun.flow_name} à empresa {who} no Papo. · "
        f"You are connecting {begun.flow_name} accounts to the business {who} on Papo.",
        note="Se esta não é a sua empresa, feche esta página: quem continuar dá a ela acesso às suas contas. · "
             "If this is not your business, close this page: continuing gives it access to your accounts.",
        button=("Continuar · Continue", begun.url))
    # Lax, not Strict: the platform sends the browser back with a cross-site top-level redirect.
    response.set_cookie(connect_service.BROWSER_COOKIE, begun.secret, max_age=begun.max_age,
                        path=begun.cookie_path, secure=begun.secure, httponly=True, samesite="Lax")
    return response


def _summary(account: AccountSummary) -> str:
    label = PLATFORM_LABELS.get(account.platform, account.platform)
    name = account.name or account.platform_account_id
    if not account.stored:
        return f"{label}: {name} — {account.error}"
    return f"{label}: {name} — webhooks {account.subscription}" + (f" ({account.error})" if account.error else "")


async def callback(request: web.Request) -> web.Response:
    """The platform sent the owner back: finish the connection and say what was connected."""
    flow = request.match_info["platform"]
    if flow not in FLOWS:
        return page(404, "Plataforma desconhecida · Unknown platform",
                    f"there is no {flow!r} sign-in: Papo connects {', '.join(FLOWS)}")
    settings = request.app[app_keys.SETTINGS]
    ctx = AccountContext(settings, request.app[app_keys.STORES].redis, request.app[app_keys.HTTP],
                         token_cipher(settings))
    query = request.query
    try:
        outcome = await connect_service.complete(
            ctx, flow, state=query.get("state"), code=query.get("code"),
            browser=request.cookies.get(connect_service.BROWSER_COOKIE), error=query.get("error"),
            error_description=query.get("error_description") or query.get("error_reason"))
    except (StateError, ConnectError) as exc:
        log.info("connection through %s refused: %s", flow, exc)
        return _refused(exc)
    items = [_summary(a) for a in outcome.accounts]
    if outcome.accounts and all(a.over_limit for a in outcome.accounts):
        return page(402, "Limite do plano · Plan limit",
                    f"Nothing was connected for {outcome.user_email}: the plan's limit of connected accounts "
                    "is reached.", items=items,
                    note="Desconecte uma conta ou mude de plano e conecte de novo · Disconnect an account or "
                         "upgrade the plan, then connect again.")
    if outcome.accounts and all(a.held for a in outcome.accounts):
        return page(409, "Nenhuma conta conectada · No account connected",
                    f"Nothing was connected for {outcome.user_email}: every account you chose is already "
                    "connected to another Papo business.", items=items,
                    note="A conta continua com a empresa que já a tem; o dono dela foi avisado e pode "
                         "desconectá-la para liberar.")
    return page(200, "Conta conectada · Account connected",
                f"Papo is now connected for {outcome.user_email}. You can close this page and go back to the bot.",
                items=items, note="Papo recebe as mensagens destas contas a partir de agora.")


async def _signed_user(request: web.Request) -> str | web.Response:
    """The Meta user id of a valid signed_request, or the error response to answer."""
    settings = request.app[app_keys.SETTINGS]
    if settings.meta_app_secret is None:
        log.error("a Meta %s callback came in, but PAPO_META_APP_SECRET is not set", request.path)
        return json_error(503, "not configured", "this callback is not set up on this server")
    form = await request.post()
    signed = form.get("signed_request")
    if not isinstance(signed, str) or not signed:
        return json_error(400, "missing signed_request", "expected a form field signed_request")
    try:
        data = parse_signed_request(signed, settings.meta_app_secret.get_secret_value())
    except SignedRequestError as exc:
        return json_error(403, "invalid signed_request", str(exc))
    user_id = data.get("user_id")
    if not user_id:
        return json_error(400, "malformed signed_request", "the payload has no user_id")
    return str(user_id)


async def meta_deauthorize(request: web.Request) -> web.Response:
    """A person removed Papo from their Facebook account: disconnect what they connected."""
    user_id = await _signed_user(request)
    if isinstance(user_id, web.Response):
        return user_id
    done = await connect_service.meta_deauthorized(
        request.app[app_keys.STORES].redis, user_id, "the owner removed Papo's access in their Facebook settings")
    return web.json_response({"disconnected": sum(d.changed for d in done)})


async def meta_data_deletion(request: web.Request) -> web.Response:
    """Meta's data-deletion request: disconnect (tokens wiped) and answer where to see the status."""
    user_id = await _signed_user(request)
    if isinstance(user_id, web.Response):
        return user_id
    redis = request.app[app_keys.STORES].redis
    done = await connect_service.meta_deauthorized(redis, user_id, "the owner asked Meta to delete Papo's data")
    code = await connect_service.record_deletion(redis, user_id, done)
    settings = request.app[app_keys.SETTINGS]
    base = str(settings.public_url).rstrip("/") if settings.public_url else ""
    return web.json_response({"url": f"{base}/oauth/meta/deletion?id={code}", "confirmation_code": code})


async def meta_deletion_status(request: web.Request) -> web.Response:
    """The status page Meta links people to after a data-deletion request."""
    found = await connect_service.deletion_status(request.app[app_keys.STORES].redis, request.query.get("id", ""))
    if found is None:
        return page(404, "Pedido não encontrado · Request not found",
                    "no data-deletion request has this confirmation code (codes are kept 90 days)")
    return page(200, "Dados removidos · Data deleted",
                f"On {found['at'][:10]} Papo disconnected {found['accounts']} account(s) and deleted their access "
                "tokens. Conversation history stays with the business that received it.")


def setup(app: web.Application) -> None:
    """Register the connect, callback and Meta callback routes."""
    app.router.add_get("/connect/{platform}", start)
    app.router.add_get("/oauth/{platform}/callback", callback)
    app.router.add_post("/oauth/meta/deauthorize", meta_deauthorize)
    app.router.add_post("/oauth/meta/data-deletion", meta_data_deletion)
    app.router.add_get("/oauth/meta/deletion", meta_deletion_status)
