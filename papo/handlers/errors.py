"""JSON error bodies for every HTTP error: {"error": "...", "detail": "..."}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, error: str, detail: str = "") -> web.Response:
    """A JSON error response."""
    return web.json_response({"error": error, "detail": detail}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's HTTP exceptions and unexpected crashes into JSON error bodies."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        default_text = f"{exc.status}: {exc.reason}"
        return json_error(exc.status, exc.reason.lower(), "" if exc.text == default_text else exc.text or "")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error", "the error was logged")
