"""`papo posts …` as a process: create (in the owner's time zone), cancel by id prefix, and clear errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime

from papo.enums import Platform
from papo.models import Post
from tests.conftest import TEST_SECRET
from tests.posts.conftest import PAGE

# The parser exactly as papo/cli/__init__.py builds it, with the posts commands added.
RUNNER = """
import sys
import argparse
from papo.cli.posts import add_commands
from papo.cli.common import CommandError, print_error

parser = argparse.ArgumentParser(prog="papo")
sub = parser.add_subparsers(dest="command", required=True)

def add(name, func, help_, parent=sub):
    p = parent.add_parser(name, help=help_, description=help_)
    p.set_defaults(func=func)
    p.add_argument("--data-dir")
    return p

add_commands(sub, add)
args = parser.parse_args(sys.argv[1:])
from papo.config import ConfigError
from papo.services import ServiceError
try:
    sys.exit(args.func(args))
except (CommandError, ConfigError, ServiceError) as exc:
    print_error(str(exc))
    sys.exit(1)
"""


async def _papo(settings, *argv: str) -> tuple[int, str, str]:
    env = {**os.environ, "PAPO_DATABASE_URL": settings.database_url, "PAPO_REDIS_URL": settings.redis_url,
           "PAPO_MONGO_URL": settings.mongo_url, "PAPO_SECRET_KEY": TEST_SECRET,
           "PAPO_DATA_DIR": str(settings.data_dir), "PAPO_TIMEZONE": "America/Sao_Paulo"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", RUNNER, *argv, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_posts_commands_end_to_end(stores, settings, apis, shop) -> None:
    fb = str(shop.accounts[Platform.FACEBOOK].id)
    code, out, err = await _papo(settings, "posts", "create", "--user", "dona@padaria.com.br", "--content",
                                 "Natal na padaria", "--hashtag", "#natal", "panetone", "--accounts", f"{fb},kwai:"
                                 "kwai-150009988776", "--at", "2031-12-20T09:30")
    assert code == 0, err
    created = json.loads(out)
    assert created["status"] == "scheduled" and created["hashtags"] == ["natal", "panetone"]
    assert created["scheduled_for"] == "2031-12-20T12:30:00+00:00"  # 09:30 in São Paulo
    assert created["scheduled_local"] == "2031-12-20 09:30 (America/Sao_Paulo)"
    assert sorted(s["platform"] for s in created["syncs"]) == ["facebook", "kwai"]
    post = await Post.get(id=created["id"])
    assert post.scheduled_for == datetime(2031, 12, 20, 12, 30, tzinfo=UTC)

    code, out, _ = await _papo(settings, "posts", "cancel", created["id"][:8], "--user", "dona@padaria.com.br")
    assert code == 0 and json.loads(out)["status"] == "draft"
    assert (await Post.get(id=created["id"])).scheduled_for is None

    code, out, err = await _papo(settings, "posts", "create", "--user", "dona@padaria.com.br", "--content", "oi",
                                 "--accounts", "whatsapp:106540352242922," + PAGE, "--now")
    assert code == 1 and out == ""
    assert err.startswith("papo: the post cannot be published as it is:") and "whatsapp: WhatsApp has no feed" in err
    assert await Post.all().count() == 1

    code, out, err = await _papo(settings, "posts", "create", "--user", "dona@padaria.com.br", "--content", "oi",
                                 "--media", "http://169.254.169.254/latest/meta-data/a.jpg", "--accounts", PAGE)
    assert code == 1 and out == ""
    assert err.strip() == ("papo: media 'http://169.254.169.254/latest/meta-data/a.jpg' is not a public address "
                           "(localhost or a private IP); use a public http(s) URL")
    assert await Post.all().count() == 1
