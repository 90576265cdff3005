"""`papo posts create|list|show|cancel|retry|reschedule|publish`: the owner's posts from the command line.

Every command prints JSON (one object per post), except `publish --wait`, which prints each platform's
result as it arrives (one line each, or one JSON object each with --json). Times given without an offset
are read in the owner's time zone (`--timezone`, else the owner's preference, else PAPO_TIMEZONE) and
stored in UTC.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, positive_int, print_json, run_with_stores

if TYPE_CHECKING:
    from papo.config import Settings


def _print(view: Any, *, indent: int | None = None) -> None:
    print_json(view.to_dict(), indent=indent)


async def _owner(email: str) -> Any:
    from papo.services.users import get_user_by_email

    return await get_user_by_email(email)


async def _timezone(user: Any, given: str | None, settings: Settings) -> str:
    """--timezone, else the owner's own (admin bot preference), else PAPO_TIMEZONE."""
    if given:
        return given
    try:
        from papo.services.owners import get_prefs
    except ImportError:  # the admin bot's preferences are optional here
        return str(settings.timezone)
    return (await get_prefs(user, default_timezone=settings.timezone)).timezone


def _accounts(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def cmd_posts_create(args: argparse.Namespace) -> int:
    """Create a draft, a scheduled post (--at) or one published at once (--now)."""
    from papo.services.posts import NOW, PostOptions, create_post

    accounts = _accounts(args.accounts)
    if not accounts:
        raise CommandError("--accounts needs at least one account id (Papo's id or the platform's id)")
    when = NOW if args.now else args.at  # None = a draft (--draft, or nothing given)

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        return await create_post(
            user, content=args.content, title=args.title, media=args.media or [], hashtags=args.hashtag or [],
            accounts=accounts, when=when, timezone=await _timezone(user, args.timezone, settings),
            options=PostOptions.from_settings(settings), redis=stores.redis)

    _print(run_with_stores(args, work))
    return 0


def cmd_posts_list(args: argparse.Namespace) -> int:
    """The owner's posts, newest first, one JSON object per line."""
    from papo.services.posts import list_posts

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_posts(await _owner(args.user), status=args.status, limit=args.limit)

    views = run_with_stores(args, work)
    for view in views:
        _print(view)
    if not views:
        print("[]")
    return 0


def cmd_posts_show(args: argparse.Namespace) -> int:
    """One post with each platform's result (status, the platform's post id or the error)."""
    from papo.services.posts import get_post

    async def work(settings: Settings, stores: Any) -> Any:
        return await get_post(await _owner(args.user), args.post)

    _print(run_with_stores(args, work), indent=2)
    return 0


def cmd_posts_cancel(args: argparse.Namespace) -> int:
    """Take a scheduled post off the schedule (it stays as a draft)."""
    from papo.services.posts import cancel_post

    async def work(settings: Settings, stores: Any) -> Any:
        return await cancel_post(await _owner(args.user), args.post)

    _print(run_with_stores(args, work))
    return 0


def cmd_posts_retry(args: argparse.Namespace) -> int:
    """Publish a failed post again to the platforms that failed only."""
    from papo.services.posts import PostOptions, retry_failed

    async def work(settings: Settings, stores: Any) -> Any:
        return await retry_failed(stores.redis, await _owner(args.user), args.post,
                                  options=PostOptions.from_settings(settings))

    _print(run_with_stores(args, work))
    return 0


def cmd_posts_reschedule(args: argparse.Namespace) -> int:
    """Schedule a draft, or move a scheduled post to another time."""
    from papo.services.posts import PostOptions, schedule_post

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        return await schedule_post(user, args.post, args.at, options=PostOptions.from_settings(settings),
                                   timezone=args.timezone or None)

    _print(run_with_stores(args, work))
    return 0


def cmd_posts_publish(args: argparse.Namespace) -> int:
    """Publish a draft or a scheduled post now; with --wait, print each platform's result as it arrives."""
    from papo.services.posts import PostOptions, publish_now

    if not args.wait:
        if args.timeout is not None or args.json:
            raise CommandError("--timeout and --json go with --wait")

        async def work(settings: Settings, stores: Any) -> Any:
            return await publish_now(stores.redis, await _owner(args.user), args.post,
                                     options=PostOptions.from_settings(settings))

        _print(run_with_stores(args, work))
        return 0
    return _publish_and_wait(args, WAIT_TIMEOUT if args.timeout is None else args.timeout)


WAIT_TIMEOUT = 600  # seconds: Reels and TikTok videos are processed by the platform for minutes


def _publish_and_wait(args: argparse.Namespace, timeout: int) -> int:
    """`posts publish --wait`: queue the post, then print each account's result the moment it settles."""
    from papo.services.posts import PostOptions, get_post, publish_now, watch_results

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        view = await publish_now(stores.redis, user, args.post, options=PostOptions.from_settings(settings))
        if not args.json:
            print(f"publishing post {view.id} to {len(view.syncs)} account(s); waiting up to {timeout} s for "
                  "the publisher (`papo up` or `papo worker`)…", flush=True)
        async for sync in watch_results(user, str(view.id), within=timeout):
            _print_result(sync, as_json=args.json)
        return await get_post(user, str(view.id))

    try:
        final = run_with_stores(args, work)
    except KeyboardInterrupt:
        raise CommandError("stopped waiting; the post keeps publishing (see papo posts show)") from None
    pending = [_account(s) for s in final.syncs if s.status == "pending"]
    if pending:
        raise CommandError(f"no result after {timeout} s for {', '.join(pending)}: is `papo up` or `papo worker` "
                           f"running? The post keeps publishing; see papo posts show {str(final.id)[:8]}")
    failed = sum(1 for s in final.syncs if s.status == "failed")
    if not args.json:
        done = len(final.syncs) - failed
        retry = f"; papo posts retry {str(final.id)[:8]} --user {args.user} publishes again where it failed"
        print(f"published on {done} of {len(final.syncs)} account(s)" + (retry if failed else ""))
    return 1 if failed else 0


def _account(sync: Any) -> str:
    return f"{sync.platform}:{sync.platform_account_id}"


def _print_result(sync: Any, *, as_json: bool) -> None:
    """One account's result: published with the platform's post id, or failed with the reason."""
    if as_json:
        print_json({"platform": sync.platform, "platform_account_id": sync.platform_account_id,
                    "account_name": sync.account_name, "status": sync.status,
                    "platform_post_id": sync.platform_post_id, "error": sync.error_message,
                    "published_at": sync.published_at.isoformat() if sync.published_at else None,
                    "attempts": sync.attempts})
    elif sync.status == "published":
        print(f"{_account(sync)}: published, post id {sync.platform_post_id or '(not given)'}", flush=True)
    else:
        print(f"{_account(sync)}: failed: {sync.error_message or 'no reason given'}", flush=True)


def add_commands(sub: Any, add: Any) -> None:
    """Register `papo posts …` on the top-level subparsers."""
    posts = sub.add_parser("posts", help="posts published to several platforms",
                           description="Drafts, scheduled posts and their per-platform results.")
    posts_sub = posts.add_subparsers(dest="posts_command", metavar="ACTION", required=True)

    p = add("create", cmd_posts_create, "create a draft, schedule a post (--at) or publish it now (--now)", posts_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--content", required=True, help="the text (caption, message, description)")
    p.add_argument("--title", help="a title (YouTube needs one, at most 100 characters)")
    p.add_argument("--media", nargs="+", action="extend", metavar="URL",
                   help="public image/video URLs, not localhost or private IPs (video:URL or image:URL when the "
                   "extension does not say)")
    p.add_argument("--hashtag", nargs="+", action="extend", metavar="H", help="hashtags, with or without #")
    p.add_argument("--accounts", required=True, action="append", metavar="ID[,ID…]",
                   help="Papo's account ids or the platforms' account ids (platform:id when ambiguous)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="ISO-8601",
                      help="when to publish, e.g. 2026-12-01T10:00 (owner's time zone) or with an offset")
    when.add_argument("--now", action="store_true", help="publish at once")
    when.add_argument("--draft", action="store_true", help="keep it as a draft (the default)")
    p.add_argument("--timezone", help="IANA time zone for --at without offset (default: the owner's)")

    p = add("list", cmd_posts_list, "list the owner's posts, newest first", posts_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--status", help="draft, scheduled, published or failed")
    p.add_argument("--limit", type=positive_int, default=50, help="how many (default 50)")

    by_name = {}
    for name, func, help_ in (
        ("show", cmd_posts_show, "one post with each platform's result"),
        ("cancel", cmd_posts_cancel, "take a scheduled post off the schedule (it becomes a draft)"),
        ("retry", cmd_posts_retry, "publish a failed post again, to the failed platforms only"),
        ("publish", cmd_posts_publish, "publish a draft or scheduled post now"),
    ):
        p = add(name, func, help_, posts_sub)
        p.add_argument("post", metavar="POST_ID", help="the post's id (or its first 6+ characters)")
        p.add_argument("--user", required=True, help="the owner's email")
        by_name[name] = p
    publish = by_name["publish"]
    publish.add_argument("--wait", action="store_true",
                         help="print each platform's result as it arrives; exit 1 if any failed")
    publish.add_argument("--timeout", type=positive_int, metavar="SECONDS",
                         help=f"with --wait: stop waiting after this long (default {WAIT_TIMEOUT})")
    publish.add_argument("--json", action="store_true", help="with --wait: one JSON object per platform result")

    p = add("reschedule", cmd_posts_reschedule, "schedule a draft or move a scheduled post", posts_sub)
    p.add_argument("post", metavar="POST_ID", help="the post's id (or its first 6+ characters)")
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--at", required=True, metavar="ISO-8601", help="the new time")
    p.add_argument("--timezone", help="IANA time zone for --at without offset (default: the post's)")
