"""`GET /healthz` (liveness) and `GET /readyz` (all three stores answer)."""

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
    if failing:
        detail = "; ".join(f"{name}: {err}" for name, err in failing.items())
        return web.json_response(
            {"error": f"not ready: {', '.join(failing)} not answering", "detail": detail, "stores": stores},
            status=503,
        )
    return web.json_response({"status": "ready", "stores": stores})


def setup(app: web.Application) -> None:
    """Register the health routes."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
