"""The per-line stream cap shared through Redis: two gateway replicas in front of one panel count together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import build_app
from gateway.clientside.limits import RedisCounter
from gateway.clientside.routes import CLIENTSIDE
from gateway.redis.settings import Endpoint
from gateway.redis.url import parse_url
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.integration.test_cache_redis import SHARED_REDIS, own_prefix


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async for name in own_prefix("streams"):
        yield name


async def test_two_replicas_share_the_cap(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                                          policies_dir: Path, tmp_path: Path, prefix: str) -> None:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    side = {"max_streams_per_line": 1}
    redis = {"url": SHARED_REDIS, "prefixes": {"streams": prefix}}
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, client_side=side, redis=redis)
    one, two = await aiohttp_client(build_app(config)), await aiohttp_client(build_app(config))
    line = sim.tables["lines"][3]
    path = f"/live/{line['username']}/{line['password']}/1.ts"
    async with aiohttp.ClientSession() as session:
        first = await session.get(one.make_url(path))
        assert first.status == 200
        await first.content.read(65536)
        refused = await session.get(two.make_url(path))
        assert refused.status == 403
        first.close()
        for _ in range(250):
            if sim.player.open_streams == 0:
                break
            await asyncio.sleep(0.02)
        again = await session.get(two.make_url(path))
        assert again.status == 200
        again.close()


async def test_a_dead_redis_falls_back_to_memory(prefix: str) -> None:
    counter = RedisCounter(Endpoint(parse_url("redis://127.0.0.1:1/0"), prefix, timeout=0.2))
    try:
        lease = await counter.acquire("line", 1)
        assert lease is not None and not lease.shared
        assert await counter.acquire("line", 1) is None
        await counter.release(lease)
        assert counter.redis_errors == 1  # then memory without trying, for the back-off
    finally:
        await counter.close()


async def test_stale_members_expire(prefix: str) -> None:
    counter = RedisCounter(Endpoint(parse_url(SHARED_REDIS), prefix), ttl=0.3)
    try:
        assert await counter.acquire("crashy", 1) is not None  # never released: a replica died
        assert await counter.acquire("crashy", 1) is None
        await asyncio.sleep(0.4)
        assert await counter.acquire("crashy", 1) is not None
    finally:
        await counter.close()


@pytest.mark.parametrize("shared_live", [True, False], ids=["shared-channel", "relay-per-viewer"])
async def test_a_long_stream_keeps_its_lease_past_the_ttl(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, prefix: str,
    shared_live: bool,
) -> None:
    """A stream outliving the lease's ttl is still counted: its lease is refreshed while it runs, else the line
    could open one stream more than its cap once the first had run for a minute."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    sim.player.live_rate = 400_000.0  # bytes/s: a live channel that keeps coming
    server = await aiohttp_server(sim.app())
    side = {"max_streams_per_line": 1, "shared_live": shared_live}
    redis = {"url": SHARED_REDIS, "prefixes": {"streams": prefix}}
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, client_side=side, redis=redis)
    client = await aiohttp_client(build_app(config))
    runtime = client.server.app[CLIENTSIDE]
    counter = runtime.counter(config)
    assert isinstance(counter, RedisCounter)
    counter.ttl = 0.6  # swept 0.6 s after its last refresh: the heartbeat must come every 0.2 s
    line = sim.tables["lines"][3]
    path = f"/live/{line['username']}/{line['password']}/1.ts"
    async with aiohttp.ClientSession() as session:
        first = await session.get(client.make_url(path))
        assert first.status == 200
        deadline = asyncio.get_running_loop().time() + 1.5  # past two ttls, reading all the while
        while asyncio.get_running_loop().time() < deadline:
            await first.content.read(16384)
        second = await session.get(client.make_url(path))
        assert second.status == 403  # the first stream still holds the line's one slot
        second.close()
        first.close()
