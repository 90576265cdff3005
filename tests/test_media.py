"""Uploaded post media: stored with unguessable names, served at GET /media/{name}, nothing else reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from papo.app import create_app
from papo.handlers import media as media_handler
from papo.services import ServiceError
from papo.services.media import MB, NAME_RE, media_dir, store_media

PUBLIC = "https://papo.example.com/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"pixels" * 100
MOV = b"\x00\x00\x00\x14ftypqt  " + b"frames" * 2000


async def client_for(settings: Any, stores: Any) -> TestClient:
    app = create_app(settings, stores.urls, stores=stores)
    if not any(r.canonical == "/media/{name}" for r in app.router.resources()):
        media_handler.setup(app)  # until app.py registers the route itself
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_stored_file_is_served_with_its_type(settings: Any, stores: Any) -> None:
    local = settings.model_copy(update={"public_url": PUBLIC})
    stored = await store_media(local, PNG, mime="image/png")
    assert NAME_RE.fullmatch(stored.name) and stored.name.endswith(".png")
    assert stored.url == f"https://papo.example.com/media/{stored.name}" and stored.ref == "image:" + stored.url
    video = await store_media(local, MOV, filename="Bolo.MOV")
    assert video.kind == "video" and video.content_type == "video/quicktime" and video.name != stored.name
    assert not list(media_dir(local).glob(".*"))  # no partial files left behind
    client = await client_for(local, stores)
    try:
        resp = await client.get(f"/media/{stored.name}")
        assert resp.status == 200 and await resp.read() == PNG
        assert resp.headers["Content-Type"] == "image/png" and resp.headers["X-Content-Type-Options"] == "nosniff"
        resp = await client.get(f"/media/{video.name}", headers={"Range": "bytes=4-11"})
        assert resp.status == 206 and await resp.read() == b"ftypqt  "  # platforms fetch videos in parts
        assert resp.headers["Content-Type"] == "video/quicktime"
        resp = await client.head(f"/media/{video.name}")
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(MOV)
    finally:
        await client.close()


async def test_unknown_and_traversal_names_are_404(settings: Any, stores: Any, tmp_path: Path) -> None:
    local = settings.model_copy(update={"public_url": PUBLIC, "data_dir": tmp_path / "data"})
    stored = await store_media(local, PNG, mime="image/png")
    (tmp_path / "data" / "secret.key").write_text("do not serve")
    (media_dir(local) / "notes.txt").write_text("not an upload")
    (media_dir(local) / f".{stored.name}.part").write_bytes(PNG)
    client = await client_for(local, stores)
    try:
        for path in (f"/media/{'A' * 32}.png",  # well-formed but never stored
                     "/media/notes.txt", f"/media/.{stored.name}.part",
                     "/media/..%2Fsecret.key", "/media/%2E%2E%2Fsecret.key", "/media/../secret.key",
                     f"/media/{stored.name[:-4]}.txt", f"/media/{stored.name}/", "/media/"):
            resp = await client.get(path)
            assert resp.status == 404, path
            assert b"do not serve" not in await resp.read()
        assert (await client.get(f"/media/{stored.name}")).status == 200
    finally:
        await client.close()


async def test_refusals_name_what_is_wrong(settings: Any) -> None:
    with pytest.raises(ServiceError, match="PAPO_PUBLIC_URL is not set"):
        await store_media(settings.model_copy(update={"public_url": None}), PNG, mime="image/png")
    local = settings.model_copy(update={"public_url": PUBLIC})
    with pytest.raises(ServiceError, match=r"'application/pdf' is not accepted \(allowed: JPG, PNG, WEBP, MP4, MOV\)"):
        await store_media(local, b"%PDF-1.4", mime="application/pdf")
    with pytest.raises(ServiceError, match="not a valid JPG"):
        await store_media(local, b"<script>alert(1)</script>", mime="image/jpeg")
    with pytest.raises(ServiceError, match=r"the file has 50\.0 MB; the limit is 50 MB"):
        await store_media(local, b"\xff\xd8\xff" + b"\x00" * (50 * MB), mime="image/jpeg")
    with pytest.raises(ServiceError, match="the file is empty"):
        await store_media(local, b"", mime="video/mp4")


async def test_uploads_no_post_uses_are_swept_after_the_keep_time(settings: Any, stores: Any, tmp_path: Path) -> None:
    import os
    import time

    from papo.models import Post, User
    from papo.services.media import sweep_media

    local = settings.model_copy(update={"public_url": PUBLIC, "media_keep_hours": 48.0, "data_dir": tmp_path})
    used, abandoned, recent = [await store_media(local, PNG, mime="image/png") for _ in range(3)]
    owner = await User.create(email="dona@padaria.com.br", name="Padaria", plan="pro")
    await Post.create(user_id=owner.id, content="Bolo de cenoura!", media_urls=[used.url], media_types=["image"],
                      hashtags=[], timezone="America/Sao_Paulo")
    three_days_ago = time.time() - 72 * 3600
    for stored in (used, abandoned):
        os.utime(media_dir(local) / stored.name, (three_days_ago, three_days_ago))

    assert await sweep_media(local) == [abandoned.name]
    assert sorted(p.name for p in media_dir(local).iterdir()) == sorted([used.name, recent.name])
    assert await sweep_media(local) == []  # the draft's file stays while a post uses it; the new one is young
