"""`GET /metrics` in Prometheus' text format."""

from aiohttp import web

from papo import metrics


async def metrics_view(request: web.Request) -> web.Response:
    """This process's counters."""
    return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")


def setup(app: web.Application) -> None:
    """Register /metrics."""
    app.router.add_get("/metrics", metrics_view)
