"""GET /healthz and /readyz through a real server on the real stores."""

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from papo.app import create_app
from papo.runtime import Stores, StoreUrls


async def _client(app) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_ready_when_all_three_stores_answer(settings, stores) -> None:
    client = await _client(create_app(settings, stores.urls, stores=stores))
    try:
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200, body
        assert body["stores"] == {"postgresql": "ok", "redis": "ok", "mongodb": "ok"}
        resp = await client.get("/nope")
        assert resp.status == 404 and (await resp.json())["error"] == "not found"
    finally:
        await client.close()


async def test_503_names_the_store_that_does_not_answer(settings, stores) -> None:
    # A Redis URL where nothing listens: PostgreSQL and MongoDB answer, Redis does not.
    broken = StoreUrls(stores.urls.database_url, "redis://127.0.0.1:1/0", stores.urls.mongo_url)
    bad = Stores(urls=broken, redis=aioredis.from_url(broken.redis_url), mongo=stores.mongo,
                 analytics=stores.analytics)
    client = await _client(create_app(settings, broken, stores=bad))
    try:
        resp = await client.get("/readyz")
        body = await resp.json()
    finally:
        await client.close()
        await bad.redis.aclose()
    assert resp.status == 503
    assert "redis" in body["error"] and "postgresql" not in body["error"]
    assert body["stores"]["redis"] == "down" and body["stores"]["postgresql"] == "ok"
    assert body["detail"] == "redis: ConnectionError"  # the kind of error: the address stays in the log
    assert "127.0.0.1" not in str(body) and ":1" not in body["detail"]
