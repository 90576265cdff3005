"""What the long-running loops log while stopping: nothing for a call the stop cut short, bugs in full."""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions

from papo.resilience import every

log = logging.getLogger("papo.test.resilience")


async def test_a_read_cut_short_by_the_stop_is_not_an_outage_but_a_bug_still_is(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="papo.test")
    stop = asyncio.Event()

    async def read_interrupted_by_the_stop() -> None:
        stop.set()  # Ctrl-C arrives while the round waits on Redis, whose cancelled read closes the connection
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    await asyncio.wait_for(every("alert delivery round", read_interrupted_by_the_stop, stop, 0, log), timeout=2)
    assert caplog.records == []

    stop.clear()

    async def bug_while_stopping() -> None:
        stop.set()
        raise KeyError("payload")

    await asyncio.wait_for(every("alert delivery round", bug_while_stopping, stop, 0, log), timeout=2)
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None  # bugs keep their traceback

