"""A stream opened while Redis was out still counts once Redis is back: two replicas (two RedisCounters), one
redis-server of the test's own."""

from __future__ import annotations

import asyncio
import time

from gateway.clientside.limits import RedisCounter
from gateway.redis.settings import Endpoint
from gateway.redis.url import parse_url
from tests.reliability.conftest import RedisProcess


async def test_a_lease_taken_during_an_outage_counts_in_redis_once_it_is_back(redis_process: RedisProcess) -> None:
    """The lease a line's stream took in memory during a blip stayed in memory for as long as the stream ran:
    Redis, back, counted the line as free, and both replicas (the one holding the stream too) opened one stream
    more than the line's cap, for hours."""
    endpoint = Endpoint(parse_url(redis_process.url), "pg-test:streams:", 0.3, retry_after=0.2)
    one, two = RedisCounter(endpoint), RedisCounter(endpoint)
    try:
        lease = await one.acquire("line", 1)  # nothing listens yet: held in memory
        assert lease is not None and not lease.shared
        redis_process.start()
        assert one.link is not None
        deadline = time.monotonic() + 5
        while not one.link.available:  # the background pings find it back
            assert time.monotonic() < deadline, "the background pings did not find Redis back"
            await asyncio.sleep(0.05)
        await one.refresh(lease)  # the stream's heartbeat (gateway.clientside.limits.kept)
        assert await one.acquire("line", 1) is None
        assert await two.acquire("line", 1) is None
        await one.release(lease)
        again = await two.acquire("line", 1)
        assert again is not None and again.shared
        await two.release(again)
    finally:
        await one.close()
        await two.close()
