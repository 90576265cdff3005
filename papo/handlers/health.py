"""`GET /healthz` (liveness) and `GET /readyz` (all three stores answer).

Both are anonymous: /readyz says which store is down and the kind of error, never the address or the
message (which may name internal hosts and ports); the whole message goes to the log when it changes.
"""

import logging

from aiohttp import web

from papo import app_keys
from papo.runtime import check_stores


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when PostgreSQL, Redis and MongoDB answer; 503 naming the ones that do not."""
    results = await check_stores(request.app[app_keys.STORES])
    failing = {name: err for name, err in results.items() if err is not None}
    stores = {name: ("ok" if err is None else "down") for name, err in results.items()}
    _log_changes(request.app, {name: _message(err) for name, err in failing.items()})
    if failing:
        detail = "; ".join(f"{name}: {type(err).__name__}" for name, err in failing.items())
        return web.json_response(
            {"error": f"not ready: {', '.join(failing)} not answering", "detail": detail, "stores": stores},
            status=503,
        )
    return web.json_response({"status": "ready", "stores": stores})


log = logging.getLogger(__name__)
_LAST_FAILURES = web.AppKey("readyz_last_failures", dict)


def _message(exc: Exception) -> str:
    """The whole error, for the operator's log: its type, and its message when it has one."""
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]


def _log_changes(app: web.Application, failing: dict[str, str]) -> None:
    """Log each store's error once when it appears or changes, and once when the store answers again."""
    last = app[_LAST_FAILURES]
    for name, err in failing.items():
        if last.get(name) != err:
            log.warning("readyz: %s is not answering: %s", name, err)
    for name in last.keys() - failing.keys():
        log.warning("readyz: %s answers again", name)
    last.clear()
    last.update(failing)


def setup(app: web.Application) -> None:
    """Register the health routes."""
    app[_LAST_FAILURES] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
