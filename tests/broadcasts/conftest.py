"""A business with WhatsApp and Instagram accounts, an approved template, and the campaign machinery running
against the fake Graph API (tests/outbound/conftest.py): the outbound worker and the campaign runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest_asyncio

from papo.config import Settings
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.pipeline.broadcast import run_broadcasts
from papo.pipeline.send import run_outbound
from papo.runtime import Stores
from papo.services.accounts import connect_account
from papo.services.templates import add_template
from papo.services.users import create_user
from tests.conftest import TEST_SECRET
from tests.outbound.conftest import fake  # noqa: F401 - the fake Graph API

PHONE_ID = "106540352242922"
IG_ID = "17841405822304914"


@dataclass
class Shop:
    """The business the broadcasts belong to."""

    user: User
    whatsapp: ConnectedAccount
    instagram: ConnectedAccount


async def make_shop(email: str = "dona@padaria.com.br", phone_id: str = PHONE_ID, ig_id: str = IG_ID) -> Shop:
    """A business with both accounts and the approved template `promo` ({first_name}, {cupom})."""
    user = await create_user(email=email, name="Padaria Pão Quente", plan="pro")
    cipher = TokenCipher(TEST_SECRET)
    wa, _ = await connect_account(user=user, platform=Platform.WHATSAPP, platform_account_id=phone_id,
                                  access_token="tok-wa", cipher=cipher)
    ig, _ = await connect_account(user=user, platform=Platform.INSTAGRAM, platform_account_id=ig_id,
                                  access_token="tok-ig", cipher=cipher)
    await add_template(user, platform="whatsapp", name="promo", content="Olá {first_name}! Cupom {cupom} hoje.",
                       meta_template_name="promo_natal", language="pt_BR", approved=True)
    return Shop(user, wa, ig)


@pytest_asyncio.fixture(loop_scope="session")
async def shop(stores: Stores) -> Shop:
    return await make_shop()


def campaign_settings(settings: Settings, fake: Any, **overrides: Any) -> Settings:  # noqa: F811
    """Settings pointing the platforms at the fake, with quick retries and rounds."""
    return settings.model_copy(update={
        "graph_api_url": fake.url("/"), "instagram_api_url": fake.url("/"), "worker_lease_ms": 3000,
        "outbound_retry_base": 0.05, "outbound_retry_max": 0.3, "broadcast_interval": 0.05, **overrides})


Machinery = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def machinery(settings: Settings, stores: Stores, fake: Any) -> AsyncIterator[Machinery]:  # noqa: F811
    """`start(**settings)` runs the outbound worker and the campaign runner; `stop()` stops them."""
    running: list[tuple[asyncio.Event, list[asyncio.Task[Any]]]] = []
    session = aiohttp.ClientSession()

    class Control:
        async def start(self, **overrides: Any) -> None:
            local = campaign_settings(settings, fake, **overrides)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(run_outbound(stores, local, stop, session, cipher=TokenCipher(TEST_SECRET),
                                                      worker_id=f"bc-{len(running)}")),
                     asyncio.create_task(run_broadcasts(stores, local, stop))]
            running.append((stop, tasks))

        async def stop(self, *, kill: bool = False) -> None:
            """Stop everything started; `kill` cancels at once instead of draining (a crash)."""
            while running:
                stop, tasks = running.pop()
                stop.set()
                for task in tasks:
                    if kill:
                        task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(task, timeout=30)

    control = Control()
    yield control
    await control.stop()
    await session.close()
