"""What each platform accepts in a post, checked before a post is scheduled (pure functions, no I/O).

Limits, from the platforms' documentation (papo/services/POSTS.md lists the sources):
- Instagram: caption ≤ 2,200 characters, ≤ 20 @mentions, hashtags ≤ 5 (Instagram cut the old 30 to 5 in
  December 2025; the API reference still says 30 — the safer value is used, `posts_instagram_max_hashtags`
  changes it); at least one image or video; a carousel has at most 10 items; images must be JPEG.
- Facebook Page: ≤ 63,206 characters; text only, photos, or one video (photos and a video cannot mix).
- TikTok (Content Posting API): exactly one video; the caption (`post_info.title`) ≤ 2,200 UTF-16 units.
- YouTube (`videos.insert`): exactly one video; a title of 1–100 characters; a description ≤ 5,000 bytes;
  neither may contain `<` or `>`.
- Kwai (custom channel): text and/or media; the connector decides the rest.
- WhatsApp: no feed, so no posts (Status has no API).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from papo.adapters.media_fetch import host_allowed, local_host
from papo.adapters.publishers.base import IMAGE, VIDEO, Media
from papo.enums import Platform
from papo.services import ServiceError

MEDIA_TYPES = (IMAGE, VIDEO)
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic", "bmp", "tif", "tiff"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm", "avi", "wmv", "flv", "3gp", "mkv", "mpeg", "mpg"})
JPEG_EXTENSIONS = frozenset({"jpg", "jpeg"})

INSTAGRAM_CAPTION = 2200
INSTAGRAM_HASHTAGS = 5
INSTAGRAM_MENTIONS = 20
INSTAGRAM_CAROUSEL = 10
FACEBOOK_TEXT = 63_206
TIKTOK_TITLE = 2200  # UTF-16 code units ("runes" in TikTok's docs)
YOUTUBE_TITLE = 100
YOUTUBE_DESCRIPTION = 5000  # bytes, as the Data API counts it

HASHTAG_RE = re.compile(r"(?<![\w&])#(\w+)")
MENTION_RE = re.compile(r"(?<![\w.])@([\w.]+)")


@dataclass(frozen=True, slots=True)
class PostContent:
    """What validation looks at: the owner's text, title, hashtags and media."""

    content: str
    title: str | None = None
    hashtags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()

    @property
    def caption(self) -> str:
        """The text sent as caption/message/description: the content, then the hashtags not already in it."""
        return compose_caption(self.content, self.hashtags)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a platform cannot take the post."""

    platform: Platform | None
    message: str

    def __str__(self) -> str:
        return f"{self.platform}: {self.message}" if self.platform else self.message


class PostInvalid(ServiceError):
    """The post cannot be published as it is; `problems` name each platform and what to change."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n  ".join(str(p) for p in self.problems)
        super().__init__(f"the post cannot be published as it is:\n  {lines}")


class MediaNotPublicError(ServiceError):
    """A media URL names `localhost` or a private, loopback or link-local IP: nobody outside could fetch it,
    and Papo must not (the full check, with DNS, happens when Papo fetches: papo/adapters/media_fetch.py)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"media {url!r} is not a public address (localhost or a private IP); use a public "
                         "http(s) URL")


# ------------------------------------------------------------------ normalising input


def normalize_hashtags(values: Iterable[str]) -> tuple[str, ...]:
    """Hashtags without '#', de-duplicated case-insensitively, in order; refuses ones with spaces or symbols."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in values:
        tag = raw.strip().lstrip("#").strip()
        if not tag:
            continue
        if not re.fullmatch(r"\w+", tag):
            raise ServiceError(f"hashtag {raw!r} may contain only letters, digits and _ (no spaces)")
        if tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return tuple(out)


def media_type_of(url: str) -> str | None:
    """'image' or 'video' from the URL's file extension (query string ignored), None when it does not say."""
    path = urlsplit(url).path.lower()
    ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    if ext in IMAGE_EXTENSIONS:
        return IMAGE
    if ext in VIDEO_EXTENSIONS:
        return VIDEO
    return None


def parse_media(values: Iterable[str], types: Iterable[str | None] | None = None, *, own_base: str | None = None,
                allow_hosts: frozenset[str] = frozenset()) -> tuple[Media, ...]:
    """Media from URLs; 'video:URL' / 'image:URL' (or `types`) say the type when the extension does not.

    A URL on a local host is refused (MediaNotPublicError), except Papo's own uploads (under `own_base`) and
    the `allow_hosts` of tests and development (PAPO_MEDIA_FETCH_ALLOW_HOSTS).
    """
    given = list(types) if types is not None else []
    out = []
    for index, raw in enumerate(values):
        value = raw.strip()
        kind = given[index] if index < len(given) else None
        for prefix in MEDIA_TYPES:
            if value.lower().startswith(prefix + ":") and not value.lower().startswith(prefix + "://"):
                kind, value = prefix, value[len(prefix) + 1:].strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ServiceError(f"media {value!r} must be a public http(s) URL (platforms fetch it themselves)")
        if not (own_base and value.startswith(own_base + "/")):
            _refuse_local(value, parts, allow_hosts)
        kind = kind or media_type_of(value)
        if kind not in MEDIA_TYPES:
            raise ServiceError(
                f"cannot tell whether {value!r} is an image or a video: use a URL ending in .jpg/.mp4…, "
                "or write image:URL / video:URL")
        out.append(Media(value, kind))
    return tuple(out)


def _refuse_local(url: str, parts: SplitResult, allow_hosts: frozenset[str]) -> None:
    try:
        port = parts.port
    except ValueError:  # not a number: no allow-list entry can match it
        port = None
    host = parts.hostname or ""
    if local_host(host) and not host_allowed(allow_hosts, host, port):
        raise MediaNotPublicError(url)


def compose_caption(content: str, hashtags: Sequence[str]) -> str:
    """The content followed by the hashtags it does not already contain."""
    present = {tag.lower() for tag in HASHTAG_RE.findall(content)}
    extra = [f"#{tag}" for tag in hashtags if tag.lower() not in present]
    text = content.rstrip()
    if not extra:
        return text
    return f"{text}\n\n{' '.join(extra)}" if text else " ".join(extra)


def utf16_units(text: str) -> int:
    """Length as JavaScript/TikTok count it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


# ------------------------------------------------------------------ the rules


def _extension(url: str) -> str:
    last = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    return last.rsplit(".", 1)[-1] if "." in last else ""


def _instagram(post: PostContent, max_hashtags: int) -> list[str]:
    out = []
    caption = post.caption
    if len(caption) > INSTAGRAM_CAPTION:
        out.append(f"the caption is {len(caption):,} characters; Instagram allows {INSTAGRAM_CAPTION:,}")
    tags = len({t.lower() for t in HASHTAG_RE.findall(caption)})
    if tags > max_hashtags:
        out.append(f"{tags} hashtags; Instagram allows {max_hashtags} per post")
    mentions = len(set(MENTION_RE.findall(caption)))
    if mentions > INSTAGRAM_MENTIONS:
        out.append(f"{mentions} @mentions; Instagram allows {INSTAGRAM_MENTIONS}")
    if not post.media:
        out.append("Instagram needs at least one image or video (it has no text-only posts)")
    elif len(post.media) > INSTAGRAM_CAROUSEL:
        out.append(f"{len(post.media)} media items; an Instagram carousel takes at most {INSTAGRAM_CAROUSEL}")
    for item in post.media:
        ext = _extension(item.url)
        if item.type == IMAGE and ext and ext not in JPEG_EXTENSIONS:
            out.append(f"{item.url}: Instagram accepts only JPEG images (this one is .{ext})")
    return out


def _facebook(post: PostContent) -> list[str]:
    out = []
    if len(post.caption) > FACEBOOK_TEXT:
        out.append(f"the text is {len(post.caption):,} characters; a Facebook post allows {FACEBOOK_TEXT:,}")
    videos = [m for m in post.media if m.type == VIDEO]
    if videos and (len(videos) > 1 or len(post.media) > 1):
        out.append("a Facebook Page post takes photos or one video, not several videos or a mix")
    if not post.caption.strip() and not post.media:
        out.append("the post is empty")
    return out


def _one_video(post: PostContent, name: str) -> list[str]:
    videos = [m for m in post.media if m.type == VIDEO]
    if len(videos) != 1 or len(post.media) != 1:
        return [f"{name} needs exactly one video (this post has {len(videos)} video(s) and "
                f"{len(post.media) - len(videos)} image(s))"]
    return []


def _tiktok(post: PostContent) -> list[str]:
    out = _one_video(post, "TikTok")
    units = utf16_units(post.caption)
    if units > TIKTOK_TITLE:
        out.append(f"the caption is {units:,} characters; TikTok allows {TIKTOK_TITLE:,}")
    return out


def _youtube(post: PostContent) -> list[str]:
    out = _one_video(post, "YouTube")
    title = (post.title or "").strip()
    if not title:
        out.append("YouTube needs a title (at most 100 characters)")
    elif len(title) > YOUTUBE_TITLE:
        out.append(f"the title is {len(title)} characters; YouTube allows {YOUTUBE_TITLE}")
    size = len(post.caption.encode("utf-8"))
    if size > YOUTUBE_DESCRIPTION:
        out.append(f"the description is {size:,} bytes; YouTube allows {YOUTUBE_DESCRIPTION:,}")
    if any(c in (title + post.caption) for c in "<>"):
        out.append("YouTube titles and descriptions cannot contain < or >")
    return out


def _kwai(post: PostContent) -> list[str]:
    return [] if post.caption.strip() or post.media else ["the post is empty"]


def problems_for(platform: Platform, post: PostContent, *, instagram_max_hashtags: int = INSTAGRAM_HASHTAGS
                 ) -> list[Problem]:
    """Every reason `platform` cannot take `post` (empty when it can)."""
    match platform:
        case Platform.INSTAGRAM:
            found = _instagram(post, instagram_max_hashtags)
        case Platform.FACEBOOK:
            found = _facebook(post)
        case Platform.TIKTOK:
            found = _tiktok(post)
        case Platform.YOUTUBE:
            found = _youtube(post)
        case Platform.KWAI:
            found = _kwai(post)
        case Platform.WHATSAPP:
            found = ["WhatsApp has no feed: posts cannot be published there (choose another account)"]
        case _:  # pragma: no cover - every Platform is listed above
            found = [f"Papo cannot publish posts to {platform}"]
    return [Problem(platform, message) for message in found]


def validate(post: PostContent, platforms: Iterable[Platform], *,
             instagram_max_hashtags: int = INSTAGRAM_HASHTAGS) -> None:
    """Raise PostInvalid naming every platform that cannot take the post and why."""
    problems: list[Problem] = []
    targets = list(dict.fromkeys(platforms))
    if not targets:
        problems.append(Problem(None, "choose at least one connected account to publish to"))
    for platform in targets:
        problems += problems_for(platform, post, instagram_max_hashtags=instagram_max_hashtags)
    if problems:
        raise PostInvalid(problems)
