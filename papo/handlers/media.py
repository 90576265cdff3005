"""`GET /media/{name}`: the photos and videos uploaded for posts, for the platforms to fetch."""

from __future__ import annotations

from aiohttp import web

from papo import app_keys
from papo.services.media import find_media

# Names are random and never reused: a file never changes, so caches may keep it.
CACHE = "public, max-age=31536000, immutable"


async def serve(request: web.Request) -> web.StreamResponse:
    """The stored file (Range requests work: platforms fetch videos in parts); 404 for any other name."""
    found = find_media(request.app[app_keys.SETTINGS], request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    path, content_type = found
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": CACHE,
                                           "X-Content-Type-Options": "nosniff"})


def setup(app: web.Application) -> None:
    """Register the media route (GET, and HEAD)."""
    app.router.add_get("/media/{name}", serve)
