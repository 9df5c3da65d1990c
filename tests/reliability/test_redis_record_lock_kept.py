"""A record lock shared through Redis lasts as long as its holder: two replicas (two RecordLocks), one redis-server
of the test's own."""

from __future__ import annotations

import asyncio

import pytest

from gateway import record_locks
from gateway.record_locks import RecordBusy, RecordLocks
from gateway.redis.settings import Endpoint
from gateway.redis.url import parse_url
from tests.reliability.conftest import RedisProcess


async def test_a_holder_slower_than_the_locks_ttl_keeps_the_record(
    redis_process: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock expired HOLD_MS (30 s) after it was taken however long its holder still worked: an edit toward a
    slow panel (a read and a write of 10 s each, a pool failing over) lost the record half-way, and the other
    replica's edit of the same line read the row and rewrote it over the first's change."""
    monkeypatch.setattr(record_locks, "HOLD_MS", 300)
    redis_process.start()
    endpoint = Endpoint(parse_url(redis_process.url), "panelgate:lock:", 0.3)
    one, two = RecordLocks(), RecordLocks()
    one.configure(endpoint)
    two.configure(endpoint)
    try:
        async with one.hold("xm:line:5", wait=1):
            await asyncio.sleep(0.7)  # past two HOLD_MS, still rewriting the row
            with pytest.raises(RecordBusy):
                async with two.hold("xm:line:5", wait=0.1):
                    pass
        async with two.hold("xm:line:5", wait=0.5):  # released by its holder: free at once
            pass
    finally:
        await one.close()
        await two.close()
