"""`papo posts publish --wait`: each platform's result printed as it arrives, against the fake platform APIs
and the real publisher; the exit code says whether every account published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path

import pytest

from papo.services.posts import create_post
from tests.cli_run import papo, use_test_stores
from tests.conftest import eventually
from tests.posts.conftest import KW, PAGE

OWNER = ("--user", "dona@padaria.com.br")
BUSY = (503, {"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, stores, settings, tmp_path: Path) -> Path:
    # The publisher under test reads 2 partitions (tests.posts.conftest.FAST): the command must queue there.
    use_test_stores(monkeypatch, stores, settings, tmp_path, PAPO_STREAM_PARTITIONS="2")
    return tmp_path


async def test_publish_wait_prints_each_result_as_it_arrives_and_fails_if_one_failed(env, apis, shop, roles,
                                                                                      capsys) -> None:
    facebook = apis.hold("POST", f"/{PAGE}/feed")  # Facebook answers only when the test says so…
    apis.fail("POST", f"/{PAGE}/feed", *[BUSY] * 5)  # …and then keeps failing until the publisher gives up
    draft = await create_post(shop.user, content="Natal na padaria", accounts=[PAGE, f"kwai:{KW}"],
                              options=shop.options)
    await roles.publisher()
    printed: list[str] = []

    async def printed_so_far() -> list[str]:
        printed.extend(capsys.readouterr().out.splitlines())
        return printed

    command = asyncio.create_task(papo("posts", "publish", str(draft.id)[:8], *OWNER, "--wait", "--timeout", "60"))
    await eventually(lambda: _has(printed_so_far(), f"kwai:{KW}: published, post id kw_post_"), within=30)
    assert not command.done() and len(printed) == 2  # Kwai's result is out while Facebook's is still to come
    assert printed[0].startswith(f"publishing post {draft.id} to 2 account(s); waiting up to 60 s")
    facebook.set()

    assert await asyncio.wait_for(command, timeout=30) == 1
    lines = await printed_so_far()
    assert lines[2] == f"facebook:{PAGE}: failed: gave up after 5 attempts: 2: Service temporarily unavailable"
    assert lines[3:] == [f"published on 1 of 2 account(s); papo posts retry {str(draft.id)[:8]} --user "
                         "dona@padaria.com.br publishes again where it failed"]


async def _has(lines: Awaitable[list[str]], start: str) -> bool:
    return any(line.startswith(start) for line in await lines)


async def test_publish_wait_json_exits_zero_when_every_account_published(env, apis, shop, roles, capsys) -> None:
    draft = await create_post(shop.user, content="Pão de queijo quentinho", accounts=[PAGE, f"kwai:{KW}"],
                              options=shop.options)
    await roles.publisher()

    assert await papo("posts", "publish", str(draft.id), *OWNER, "--wait", "--json") == 0
    results = {r["platform"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(results) == {"facebook", "kwai"}
    assert {r["status"] for r in results.values()} == {"published"} and results["kwai"]["error"] is None
    assert results["facebook"]["platform_post_id"].startswith(f"{PAGE}_")
    assert results["facebook"]["platform_account_id"] == PAGE and results["facebook"]["attempts"] == 1


async def test_publish_wait_gives_up_waiting_with_one_line_when_no_publisher_runs(env, shop, capsys) -> None:
    draft = await create_post(shop.user, content="Ninguém publica", accounts=[f"kwai:{KW}"], options=shop.options)

    assert await papo("posts", "publish", str(draft.id), *OWNER, "--wait", "--timeout", "1") == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"publishing post {draft.id} to 1 account(s)")
    assert captured.err.strip().splitlines() == [
        f"papo: no result after 1 s for kwai:{KW}: is `papo up` or `papo worker` running? The post keeps "
        f"publishing; see papo posts show {str(draft.id)[:8]}"]
