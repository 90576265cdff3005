"""Posts: compose (text, photos and videos sent to the bot or as links, hashtags), choose accounts, publish
now / schedule / draft; the list with per-platform results; cancel, reschedule, retry the failed platforms."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime
from io import BytesIO
from typing import TYPE_CHECKING, Any

from aiogram import Bot, F
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiohttp import ClientError, ClientResponseError

from papo.bot import views
from papo.bot.dates import DateParseError, parse_when
from papo.bot.filters import TextInput
from papo.bot.keyboards import Nav, PostAct, back, button, rows, short
from papo.bot.locales import Translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.constants import POST_UPLOADS
from papo.services import ServiceError, media, owners, posts
from papo.services.media import MB
from papo.services.owners import Owner
from papo.services.post_rules import MediaNotPublicError
from papo.services.post_views import PostView, SyncView

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)
router = linked_router("posts")
UPLOADS_TTL = 24 * 3600  # as long as the composer's question is remembered
TELEGRAM_CLOUD_LIMIT = 20 * MB  # getFile on api.telegram.org serves bots files up to 20 MB
STATE_ICON = {"draft": "📝", "scheduled": "📅", "publishing": "⏳", "published": "✅", "failed": "❌"}
_URL = re.compile(r"^https?://\S+$")
_HASHTAGS = re.compile(r"^(#\w+\s*)+$")
NO_FEED = frozenset({"whatsapp"})  # WhatsApp has no feed to publish to


class PostStates(StatesGroup):
    """Typed answers the posts menu asks for."""

    content = State()
    when = State()
    reschedule = State()


def compose(text: str) -> dict[str, Any]:
    """Split a composed message: lines that are links are media, a last line of #tags is the hashtags."""
    lines = [line.strip() for line in text.strip().splitlines()]
    media = [line for line in lines if _URL.match(line)]
    body = [line for line in lines if not _URL.match(line)]
    hashtags: list[str] = []
    while body and (not body[-1] or _HASHTAGS.match(body[-1])):
        hashtags = re.findall(r"#(\w+)", body.pop()) + hashtags
    return {"content": "\n".join(body).strip(), "media": media, "hashtags": hashtags}


def sync_detail(t: Translator, sync: SyncView) -> str:
    """A platform's result on the card: the post id or the error (a refused media URL in the owner's words)."""
    if media.not_public_error(sync.error_message):
        return t("post.error.media_not_public")
    return views.snippet(sync.error_message or sync.platform_post_id or "", 120)


def post_card(t: Translator, post: PostView, tz: str) -> str:
    """A post with its per-platform results."""
    results = "\n".join(
        t("post.sync", platform=views.platform_name(s.platform), account=s.account_name or s.platform_account_id or "",
          status=t("post.sync." + s.status), detail=sync_detail(t, s))
        for s in post.syncs) or t("post.no_accounts")
    return t("post.card", icon=STATE_ICON.get(post.state, ""), state=t("post.state." + post.state),
             when=views.when(post.scheduled_for, tz, t) if post.scheduled_for else "—",
             content=views.snippet(post.content, 600), hashtags=" ".join("#" + h for h in post.hashtags) or "—",
             media=len(post.media_urls), results=results)


def card_markup(t: Translator, post: PostView) -> InlineKeyboardMarkup:
    """What can still be done with a post."""
    pid = short(post.id)
    actions = []
    if post.state == "draft":
        actions = [button(t("post.publish_now"), PostAct(act="now", id=pid)),
                   button(t("post.schedule"), PostAct(act="resched", id=pid))]
    elif post.state == "scheduled":
        actions = [button(t("post.reschedule"), PostAct(act="resched", id=pid)),
                   button(t("post.cancel"), PostAct(act="cancel", id=pid))]
    elif post.state == "failed":
        actions = [button(t("post.retry"), PostAct(act="retry", id=pid))]
    return rows(actions, [back(t, PostAct(act="list"))])


@router.message(Command("posts"))
@router.callback_query(Nav.filter(F.to == "posts"))
@router.callback_query(PostAct.filter(F.act == "list"))
async def list_(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """The newest posts (scheduled, published, failed, drafts)."""
    await state.clear()
    found = await posts.list_posts(owner.user_id, limit=10)
    lines = [[button(f"{STATE_ICON.get(p.state, '')} {views.snippet(p.title or p.content, 40)}",
                     PostAct(act="open", id=short(p.id)))] for p in found]
    await show(event, t("post.title") if found else t("post.none"),
               rows(*lines, [button(t("post.new"), PostAct(act="new"))], [back(t, Nav(to="menu"))]))


async def _open(event: Event, owner: Owner, t: Translator, post_id: uuid.UUID, note: str = "") -> None:
    post = await posts.get_post(owner.user_id, str(post_id))
    text = (note + "\n\n" if note else "") + post_card(t, post, owner.prefs.timezone)
    await show(event, text, card_markup(t, post))


@router.callback_query(PostAct.filter(F.act == "open"))
async def open_(query: CallbackQuery, callback_data: PostAct, owner: Owner, t: Translator, state: FSMContext) -> None:
    """A post with its per-platform results."""
    await state.clear()
    await _open(query, owner, t, need_id(callback_data.id))


@router.callback_query(PostAct.filter(F.act == "new"))
async def new(query: CallbackQuery, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """Step 1: the post itself."""
    await state.set_state(PostStates.content)
    await state.set_data({})
    await ctx.redis.delete(_uploads_key(query.from_user.id))  # files of an abandoned draft
    await show(query, t("post.ask_content"), rows([back(t, PostAct(act="list"))]))


@router.message(PostStates.content, F.photo | F.video | F.document)
async def media_upload(message: Message, bot: Bot, t: Translator, ctx: BotContext) -> None:
    """A photo or video for the post: fetched from Telegram, stored, and served at Papo's public URL."""
    try:
        media.public_base(ctx.settings)
    except ServiceError:
        await message.answer(t("post.media_no_public_url"))
        return
    file_id, size, mime, filename = _upload_of(message)
    try:
        media.extension_for(mime=mime, filename=filename)
    except ServiceError:
        await message.answer(t("post.media_bad_type"))
        return
    limit = download_limit(ctx.settings)
    if size and size > limit:
        await message.answer(t("post.media_too_big", size=f"{size / MB:.1f}", limit=f"{limit / MB:.0f}"))
        return
    buffer = BytesIO()
    try:
        await bot.download(file_id, destination=buffer)
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        reason = _failure(exc)
        log.info("could not download post media from Telegram: %s", reason)
        await message.answer(t("post.media_failed", reason=reason))
        return
    try:
        stored = await media.store_media(ctx.settings, buffer.getvalue(), mime=mime, filename=filename)
    except ServiceError as exc:
        await message.answer(t("error", message=views.problem(t, exc)))
        return
    key = _uploads_key(message.from_user.id if message.from_user else message.chat.id)
    # A Redis list, not the FSM data: an album arrives as several updates handled at once, and an
    # append is atomic where a read-modify-write of the draft would lose photos.
    count = await ctx.redis.rpush(key, json.dumps({"media": stored.ref, "caption": message.caption or ""}))
    await ctx.redis.expire(key, UPLOADS_TTL)
    await message.answer(t("post.media_added", kind=t("post.media_kind." + stored.kind), count=count),
                         reply_markup=rows([button(t("post.next"), PostAct(act="cdone"))]))


def _failure(exc: BaseException) -> str:
    """Why a download failed, without the file URL: it contains the bot token."""
    if isinstance(exc, TelegramAPIError):
        return exc.message
    if isinstance(exc, ClientResponseError):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _upload_of(message: Message) -> tuple[str, int | None, str | None, str | None]:
    """file_id, size, MIME type and file name of the photo (largest size), video or document sent."""
    if message.photo:
        largest = message.photo[-1]  # Telegram lists a photo's sizes smallest first
        return largest.file_id, largest.file_size, "image/jpeg", None  # Telegram re-encodes photos as JPEG
    item = message.video or message.document
    assert item is not None  # the handler's filter
    mime = item.mime_type or ("video/mp4" if message.video else None)
    return item.file_id, item.file_size, mime, item.file_name


def download_limit(settings: Settings) -> int:
    """The largest file the bot can take: the media limit, and Telegram's own 20 MB for its cloud Bot API."""
    limit = media.max_bytes(settings)
    api = str(settings.telegram_api_url)
    return min(limit, TELEGRAM_CLOUD_LIMIT) if "api.telegram.org" in api else limit


def _uploads_key(telegram_id: int) -> str:
    return f"{POST_UPLOADS}{telegram_id}"


async def _take_uploads(redis: Any, telegram_id: int) -> list[dict[str, str]]:
    """The files uploaded for the draft being composed (and forget them: they move into the draft)."""
    key = _uploads_key(telegram_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        raw, _ = await pipe.execute()
    return [json.loads(item) for item in raw]


@router.message(PostStates.content, TextInput())
async def got_content(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """Step 2: the accounts."""
    await _content_done(message, owner, t, ctx, state, message.text or "")


@router.callback_query(PostAct.filter(F.act == "cdone"))
async def uploads_done(query: CallbackQuery, owner: Owner, t: Translator, ctx: BotContext,
                       state: FSMContext) -> None:
    """Step 2 after uploads: their captions are the text."""
    if await state.get_state() != PostStates.content.state:
        await show(query, t("post.start_over"), rows([button(t("post.new"), PostAct(act="new"))]))
        return
    await _content_done(query, owner, t, ctx, state, "")


def _local_link(links: list[str], settings: Settings) -> str | None:
    """The first link on a local host (creating the post would refuse it), None when there is none."""
    try:
        posts.PostOptions.from_settings(settings).parse_media(links)
    except MediaNotPublicError as exc:
        return exc.url
    except ServiceError:
        return None  # other problems (a link that is neither image nor video…) are told when the post is created
    return None


async def _content_done(event: Event, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext,
                        text: str) -> None:
    local = _local_link(compose(text)["media"], ctx.settings)
    if local:  # said now, before the uploads are taken: the owner sends the text again, the files stay
        await show(event, t("post.media_not_public", url=views.snippet(local, 80)))
        return
    telegram_id = event.from_user.id if event.from_user else 0
    uploads = await _take_uploads(ctx.redis, telegram_id)
    captions = [u["caption"] for u in uploads if u.get("caption")]
    draft = compose("\n".join([*captions, text]))
    draft["media"] = [u["media"] for u in uploads] + draft["media"]
    if not draft["content"] and not draft["media"]:
        await show(event, t("post.empty"))
        return
    await state.update_data(**draft, accounts=[])
    await state.set_state(None)
    await _accounts(event, owner, t, state)


async def _accounts(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    data = await state.get_data()
    chosen = set(data.get("accounts") or ())
    lines = [[button(("✅ " if short(a.id) in chosen else "⬜️ ") + f"{views.platform_name(a.platform)} · "
                     f"{views.snippet(a.name or a.platform_account_id, 24)}", PostAct(act="acc", v=short(a.id)))]
             for a in await owners.connected_accounts(owner.user_id) if a.platform not in NO_FEED]
    await show(event, t("post.choose_accounts"),
               rows(*lines, [button(t("post.next"), PostAct(act="when"))], [back(t, PostAct(act="list"))]))


@router.callback_query(PostAct.filter(F.act == "acc"))
async def toggle_account(query: CallbackQuery, callback_data: PostAct, owner: Owner, t: Translator,
                         state: FSMContext) -> None:
    """Add or remove one account."""
    chosen = list((await state.get_data()).get("accounts") or ())
    chosen = [a for a in chosen if a != callback_data.v] if callback_data.v in chosen else [*chosen, callback_data.v]
    await state.update_data(accounts=chosen)
    await _accounts(query, owner, t, state)


@router.callback_query(PostAct.filter(F.act == "when"))
async def choose_when(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """Step 3: now, later or a draft."""
    if "content" not in await state.get_data():
        await show(query, t("post.start_over"), rows([button(t("post.new"), PostAct(act="new"))]))
        return
    await show(query, t("post.choose_when"),
               rows([button(t("post.publish_now"), PostAct(act="go", v="now"))],
                    [button(t("post.schedule"), PostAct(act="go", v="sched"))],
                    [button(t("post.save_draft"), PostAct(act="go", v="draft"))]))


@router.callback_query(PostAct.filter(F.act == "go"))
async def go(query: CallbackQuery, callback_data: PostAct, owner: Owner, t: Translator, ctx: BotContext,
             state: FSMContext) -> None:
    """Publish now, save a draft, or ask when."""
    if callback_data.v == "sched":
        await state.set_state(PostStates.when)
        await show(query, t("post.ask_when", tz=owner.prefs.timezone), rows([back(t, PostAct(act="when"))]))
        return
    await _create(query, owner, t, ctx, state, "now" if callback_data.v == "now" else None)


@router.message(PostStates.when, TextInput())
async def got_when(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """The publication time, in the owner's words and time zone."""
    try:
        when = parse_when(message.text or "", timezone=owner.prefs.timezone, now=datetime.now(UTC))
    except DateParseError as exc:
        await message.answer(t(exc.key))
        return
    await _create(message, owner, t, ctx, state, when)


async def _create(event: Event, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext,
                  when: str | datetime | None) -> None:
    data = await state.get_data()
    if "content" not in data:
        await show(event, t("post.start_over"), rows([button(t("post.new"), PostAct(act="new"))]))
        return
    accounts = [str(need_id(a)) for a in data.get("accounts") or ()]
    try:
        post = await posts.create_post(owner.user_id, content=data["content"], media=data.get("media") or (),
                                       hashtags=data.get("hashtags") or (), accounts=accounts, when=when,
                                       timezone=owner.prefs.timezone, redis=ctx.redis,
                                       options=posts.PostOptions.from_settings(ctx.settings))
    except ServiceError as exc:
        await show(event, t("error", message=views.problem(t, exc)),
                   rows([button(t("post.choose_again"), PostAct(act="when"))]))
        return
    await state.clear()
    await _open(event, owner, t, post.id, t("post.created"))


@router.callback_query(PostAct.filter(F.act.in_({"now", "cancel", "retry"})))
async def act(query: CallbackQuery, callback_data: PostAct, owner: Owner, t: Translator, ctx: BotContext) -> None:
    """Publish a draft now, cancel a scheduled post, or retry the platforms that failed."""
    post_id = str(need_id(callback_data.id))
    options = posts.PostOptions.from_settings(ctx.settings)
    try:
        if callback_data.act == "now":
            await posts.publish_now(ctx.redis, owner.user_id, post_id, options=options)
        elif callback_data.act == "cancel":
            await posts.cancel_post(owner.user_id, post_id)
        else:
            await posts.retry_failed(ctx.redis, owner.user_id, post_id, options=options)
    except ServiceError as exc:
        await _open(query, owner, t, uuid.UUID(post_id), t("error", message=views.problem(t, exc)))
        return
    await _open(query, owner, t, uuid.UUID(post_id), t(f"post.done.{callback_data.act}"))


@router.callback_query(PostAct.filter(F.act == "resched"))
async def ask_reschedule(query: CallbackQuery, callback_data: PostAct, owner: Owner, t: Translator,
                         state: FSMContext) -> None:
    """Ask for the new time."""
    await state.set_state(PostStates.reschedule)
    await state.update_data(post=callback_data.id)
    await show(query, t("post.ask_when", tz=owner.prefs.timezone),
               rows([back(t, PostAct(act="open", id=callback_data.id))]))


@router.message(PostStates.reschedule, TextInput())
async def got_reschedule(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """Schedule a draft, or move a scheduled post."""
    post_id = need_id((await state.get_data()).get("post", ""))
    try:
        when = parse_when(message.text or "", timezone=owner.prefs.timezone, now=datetime.now(UTC))
        await posts.schedule_post(owner.user_id, str(post_id), when, timezone=owner.prefs.timezone,
                                  options=posts.PostOptions.from_settings(ctx.settings))
    except DateParseError as exc:
        await message.answer(t(exc.key))
        return
    except ServiceError as exc:
        await message.answer(t("error", message=views.problem(t, exc)))
        return
    await state.clear()
    await _open(message, owner, t, post_id, t("post.done.resched"))
