"""Photos and videos sent to the bot while composing a post: downloaded through the Bot API (getFile +
the file server), stored under the data dir, and added to the post as PAPO_PUBLIC_URL/media/… URLs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from papo.bot.dispatcher import build_dispatcher, make_bot
from papo.bot.middlewares import BotContext
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import Post
from papo.runtime import Stores
from papo.services.accounts import connect_account
from papo.services.media import MB, NAME_RE
from tests.bot.conftest import BotHarness, FakeTelegram, Person, bot_settings, make_business, screen, texts
from tests.conftest import TEST_SECRET

ANA = Person(2101, "Ana")
BIA = Person(2102, "Bia")
PUBLIC = "https://papo.example.com"
JPEG_SMALL = b"\xff\xd8\xff\xe0" + b"small-thumbnail" * 4
JPEG_LARGE = b"\xff\xd8\xff\xe0" + b"large-photo-bytes" * 500
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00video-frames" * 300


@pytest_asyncio.fixture(loop_scope="session")
async def media_harness(stores: Stores, settings: Any, telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    """A bot whose web app has a public address (uploads need one)."""
    local = bot_settings(settings, telegram, public_url=PUBLIC)
    bot = make_bot(local)
    context = BotContext(stores, local, bot_username="papo_test_bot")
    yield BotHarness(bot, build_dispatcher(context), telegram, context)
    await bot.session.close()


def upload(harness: BotHarness, person: Person, *, caption: str | None = None, **media: Any) -> dict[str, Any]:
    """A message carrying a photo, video or document instead of text."""
    update = harness.message_update(person, "x")
    del update["message"]["text"]
    update["message"].update(media)
    if caption is not None:
        update["message"]["caption"] = caption
    return update


def photo(small: str, large: str) -> dict[str, Any]:
    return {"photo": [{"file_id": small, "file_unique_id": "s", "width": 90, "height": 90, "file_size": 64},
                      {"file_id": large, "file_unique_id": "l", "width": 1280, "height": 1280, "file_size": 8504}]}


def stored_file(settings: Any, url: str) -> Path:
    name = url.split(":", 1)[1].removeprefix(PUBLIC + "/media/") if url.startswith(("image:", "video:")) \
        else url.removeprefix(PUBLIC + "/media/")
    assert NAME_RE.fullmatch(name), name
    return Path(settings.data_dir) / "media" / name


async def test_photo_and_video_become_the_posts_media(media_harness: BotHarness, telegram: FakeTelegram,
                                                      settings: Any) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    await connect_account(user=biz.user, platform=Platform.FACEBOOK, platform_account_id="pg-1",
                          access_token="tok-fb", cipher=TokenCipher(TEST_SECRET), business_name="Doceria")
    telegram.files.update({"ph-small": JPEG_SMALL, "ph-large": JPEG_LARGE, "vid-1": MP4})
    h = media_harness
    await h.say(ANA, "/posts")
    calls = await h.press(ANA, "Novo post")
    assert "envie aqui mesmo" in screen(calls).text

    calls = await h.feed(upload(h, ANA, **photo("ph-small", "ph-large")))
    assert "Foto adicionado(a) (1 neste post)" in screen(calls).text
    assert [c.params["file_id"] for c in telegram.of("getFile")] == ["ph-large"]  # the largest size
    assert telegram.of("download")[-1].params["path"] == "documents/ph-large.bin"

    video = {"file_id": "vid-1", "file_unique_id": "v", "width": 720, "height": 1280, "duration": 9,
             "mime_type": "video/mp4", "file_size": len(MP4)}
    calls = await h.feed(upload(h, ANA, caption="Bolo de pote novo!\n#bolo #doce", video=video))
    assert "Vídeo adicionado(a) (2 neste post)" in screen(calls).text
    calls = await h.press(ANA, "Próximo")  # the caption is the text
    assert "Em quais contas" in screen(calls).text
    await h.press(ANA, "Facebook")
    await h.press(ANA, "Próximo")
    calls = await h.press(ANA, "Salvar rascunho")
    assert "Post criado" in screen(calls).text and "Mídias: 2" in screen(calls).text

    post = await Post.get(user_id=biz.user.id)
    assert post.content == "Bolo de pote novo!" and post.hashtags == ["bolo", "doce"]
    assert post.media_types == ["image", "video"]
    assert all(u.startswith(PUBLIC + "/media/") for u in post.media_urls)
    image_path, video_path = (stored_file(settings, u) for u in post.media_urls)
    assert image_path.suffix == ".jpg" and image_path.read_bytes() == JPEG_LARGE
    assert video_path.suffix == ".mp4" and video_path.read_bytes() == MP4
    assert "bot" + "123456" not in " ".join(post.media_urls)  # never a Telegram URL (it holds the token)


async def test_an_album_keeps_every_photo_and_text_adds_links(media_harness: BotHarness,
                                                              telegram: FakeTelegram) -> None:
    biz = await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    telegram.files.update({f"alb-{i}": JPEG_LARGE + bytes([i]) for i in range(4)})
    h = media_harness
    await h.say(ANA, "/posts")
    await h.press(ANA, "Novo post")
    # An album arrives as several updates at once; none may be lost to another's write.
    await asyncio.gather(*(h.feed(upload(h, ANA, **photo(f"alb-{i}", f"alb-{i}"))) for i in range(4)))
    calls = await h.say(ANA, "Fornada de hoje\nhttps://cdn.example.com/extra.jpg")
    assert "Em quais contas" in screen(calls).text
    await h.press(ANA, "Próximo")
    await h.press(ANA, "Salvar rascunho")
    post = await Post.get(user_id=biz.user.id)
    assert len(post.media_urls) == 5 and post.media_urls[-1] == "https://cdn.example.com/extra.jpg"
    assert len(set(post.media_urls)) == 5 and post.content == "Fornada de hoje"
    # A new draft starts without the files of the last one.
    await h.press(ANA, data="pa:new::")
    calls = await h.say(ANA, "Só texto")
    await h.press(ANA, "Próximo")
    await h.press(ANA, "Salvar rascunho")
    newest = await Post.filter(user_id=biz.user.id, content="Só texto").first()
    assert newest is not None and newest.media_urls == []


async def test_a_link_on_a_local_address_is_refused_at_once_and_the_files_stay(media_harness: BotHarness,
                                                                               telegram: FakeTelegram) -> None:
    biz = await make_business("bia@doceria.com.br", "Doceria da Bia", BIA)
    telegram.files["loc-1"] = JPEG_LARGE
    h = media_harness
    await h.say(BIA, "/posts")
    await h.press(BIA, "Novo post")
    await h.feed(upload(h, BIA, **photo("loc-1", "loc-1")))
    calls = await h.say(BIA, "Promo\nhttp://169.254.169.254/latest/meta-data/a.jpg")
    assert "o endereço da mídia não é público" in screen(calls).text and "Em quais contas" not in texts(calls)
    calls = await h.say(BIA, "Promo\nhttps://cdn.example.com/promo.jpg")
    assert "Em quais contas" in screen(calls).text
    await h.press(BIA, "Próximo")
    await h.press(BIA, "Salvar rascunho")
    post = await Post.get(user_id=biz.user.id)
    assert len(post.media_urls) == 2 and post.media_urls[0].startswith(PUBLIC + "/media/")  # the photo was kept
    assert post.media_urls[1] == "https://cdn.example.com/promo.jpg"


async def test_uploads_refused_with_reasons(media_harness: BotHarness, harness: BotHarness,
                                            telegram: FakeTelegram) -> None:
    await make_business("ana@doceria.com.br", "Doceria da Ana", ANA)
    telegram.files.update({"pdf-1": b"%PDF-1.4", "fake-png": b"<html>not a png</html>"})
    # Without PAPO_PUBLIC_URL the platforms could not fetch a file: nothing is downloaded.
    await harness.say(ANA, "/posts")
    await harness.press(ANA, "Novo post")
    calls = await harness.feed(upload(harness, ANA, **photo("x1", "x2")))
    assert "PAPO_PUBLIC_URL" in screen(calls).text and "links públicos" in screen(calls).text
    assert telegram.of("getFile") == []

    h = media_harness
    await h.say(ANA, "/posts")
    await h.press(ANA, "Novo post")
    pdf = {"file_id": "pdf-1", "file_unique_id": "d", "file_name": "menu.pdf", "mime_type": "application/pdf"}
    calls = await h.feed(upload(h, ANA, document=pdf))
    assert "JPG, PNG ou WEBP" in screen(calls).text and telegram.of("getFile") == []
    huge = {"file_id": "big", "file_unique_id": "b", "width": 1, "height": 1, "duration": 1,
            "mime_type": "video/mp4", "file_size": 60 * MB}
    calls = await h.feed(upload(h, ANA, video=huge))
    assert "grande demais (60.0 MB; o limite é 50 MB)" in screen(calls).text and telegram.of("getFile") == []
    png = {"file_id": "fake-png", "file_unique_id": "f", "file_name": "bolo.png", "mime_type": "image/png"}
    calls = await h.feed(upload(h, ANA, document=png))
    assert "not a valid PNG" in screen(calls).text
    gone = {"file_id": "missing", "file_unique_id": "m", "file_name": "a.mov", "mime_type": "video/quicktime"}
    calls = await h.feed(upload(h, ANA, document=gone))
    assert "Não consegui baixar o arquivo do Telegram (Bad Request: invalid file_id)" in screen(calls).text
    telegram.files["expired"] = MP4
    telegram.broken.add("expired")  # getFile answers, the file server does not
    expired = {"file_id": "expired", "file_unique_id": "e", "file_name": "a.mp4", "mime_type": "video/mp4"}
    calls = await h.feed(upload(h, ANA, document=expired))
    assert "(HTTP 404)" in screen(calls).text and "TEST-token" not in screen(calls).text  # the URL holds the token
    # Nothing was added: the composer still waits for the post.
    calls = await h.say(ANA, "Só texto")
    assert "Em quais contas" in texts(calls)
