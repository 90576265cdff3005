"""What the long-running loops log while stopping: nothing for a call the stop cut short, bugs in full."""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions

from papo.resilience import Backoff, Outage, every

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



def test_an_outage_of_hours_keeps_its_backoff_at_the_cap(caplog) -> None:
    # A stream consumer retries every lease/3 (0.5 s by default): ten minutes of Redis down is over 1,024 failures.
    # The bound once doubled without end, and at the 1,024th 2 ** attempt overflowed a float: the role died of it.
    caplog.set_level(logging.WARNING, logger="papo.test")
    outage = Outage(log, "stream 'in' consumer", backoff=Backoff(first=0.1, cap=5.0))
    down = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    waits = [outage.failed(down) for _ in range(5000)]
    assert max(waits) <= 5.0
    assert min(waits[-100:]) >= 0.05
    assert sum(waits[-100:]) / 100 > 1.0  # still spread up to the cap, not stuck at the first delay
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # one outage, logged once
    outage.ok()
    assert outage.failed(down) <= 0.1  # after a recovery, the next outage starts again from `first`
