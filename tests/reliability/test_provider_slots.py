"""A leaked provider slot is impossible to produce: viewers killed at random, the panel's streams dying mid-stream,
the gateway stopped with SIGTERM. After each, the panel holds no connection, the gateway's slot and stream counts
are empty (in memory, and in Redis for the replica that stopped), and a new viewer gets a channel at once."""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from gateway.clientside.routes import CLIENTSIDE
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import AiohttpServer
from tests.integration.live_fixtures import LiveSide, Watcher, add_line, make_live, wait_for
from tests.integration.test_cache_redis import SHARED_REDIS, own_prefix
from tests.serving import free_port, running, write_config

__all__ = ["make_live"]  # a fixture: pytest finds it by name in this module


async def assert_nothing_held(side: LiveSide) -> None:
    runtime = side.client.server.app[CLIENTSIDE]
    leases = runtime.providers.leases(side.config)
    assert leases.link is None  # no Redis: the slots are this process's
    await wait_for(lambda: not leases.local.held, 2, "the provider slots given back (after RELEASE_GRACE)")
    assert runtime.memory_counter.open == {}, runtime.memory_counter.open  # viewers' per-line counts
    assert not runtime.live.channels and not runtime.providers.held
    assert side.sim.player.refused_over_limit == 0  # the panel never saw a provider line over its limit


async def test_viewers_killed_at_random_never_leave_a_slot(make_live: Any) -> None:
    side = await make_live(providers=(2, 2), viewers=40, viewer_connections=3, live_linger=0.2)
    rng = random.Random(f"kill-{side.server.port}")
    alive: list[Watcher] = []
    for step in range(160):  # viewers join 4 channels and are killed mid-stream, at random, all the while
        if alive and rng.random() < 0.45:
            await alive.pop(rng.randrange(len(alive))).stop()
        else:
            alive.append(Watcher(side.url(side.viewer_path(step % 40, 1 + rng.randrange(4)))).start())
        await asyncio.sleep(rng.uniform(0, 0.03))
        assert side.provider_open() <= 4
    await asyncio.sleep(0.5)
    assert {w.status for w in alive} <= {200, 403}  # 403: a viewer line past its 3 connections
    for watcher in alive:
        await watcher.stop()
    await wait_for(lambda: side.upstream_open() == 0, 10, "every channel closed")
    await wait_for(lambda: not side.client.server.app[CLIENTSIDE].live.channels, 5)
    await assert_nothing_held(side)
    again = Watcher(side.url(side.viewer_path(0, 1))).start()
    await wait_for(lambda: len(again.received) > 0, 10)
    await again.stop()


async def test_the_panel_dying_mid_stream_gives_every_slot_back(make_live: Any) -> None:
    side = await make_live(providers=(1, 1), viewers=6, live_linger=30)
    watchers = [Watcher(side.url(side.viewer_path(n, 1 + n % 2))).start() for n in range(6)]
    await wait_for(lambda: all(len(w.received) > 1000 for w in watchers), 10)
    assert side.provider_open() == 2
    side.sim.player.kill_live()
    for watcher in watchers:  # every viewer's response ended (a player reconnects), none hangs
        assert watcher.task is not None
        await asyncio.wait_for(asyncio.gather(watcher.task, return_exceptions=True), 10)
        await watcher.stop()
    await wait_for(lambda: not side.client.server.app[CLIENTSIDE].live.channels, 5)
    await assert_nothing_held(side)
    assert (await side.readyz())["shared_live"]["channels"] == 0
    again = Watcher(side.url(side.viewer_path(0, 2))).start()  # the slot is there for the next viewer at once
    await wait_for(lambda: len(again.received) > 0, 10)
    await again.stop()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async for name in own_prefix("slots"):
        yield name


async def test_sigterm_gives_the_slots_back_in_redis(
    aiohttp_server: AiohttpServer, tmp_path: Path, prefix: str
) -> None:
    sim = XtreamMastersSim(access_code="panelcode", api_key="UPSTREAM-SECRET-0123456789")
    sim.player.live_rate, sim.player.enforce_max_connections = 256 * 1024, True
    add_line(sim, "provider0", "secret-provider-0", 2)
    line = add_line(sim, "viewer", "pw-viewer", 2)
    server = await aiohttp_server(sim.app())
    config, port = tmp_path / "gateway.yaml", free_port()
    side = {"live_linger": 60, "provider_lines": [{"name": "p0", "username": "provider0",
                                                   "password": "secret-provider-0", "max_connections": 2}]}
    redis_section = {"url": SHARED_REDIS, "prefixes": {"slots": prefix, "streams": prefix + "streams:"}}
    write_config(config, str(server.make_url("")).rstrip("/"), port, free_port(), [], client_side=side,
                 redis=redis_section)  # fmt: skip
    assert yaml.safe_load(config.read_text())["client_side"]["live_linger"] == 60
    redis = aioredis.Redis.from_url(SHARED_REDIS)
    try:
        async with running(config, tmp_path) as gateway:
            url = f"http://127.0.0.1:{port}/live/{line['username']}/{line['password']}/"
            watchers = [Watcher(url + f"{1 + n % 2}.ts").start() for n in range(2)]
            await wait_for(lambda: all(len(w.received) > 1000 for w in watchers), 15)
            assert await redis.zcard(f"{prefix}{{provider}}:p0") == 2
            assert sim.player.open_by_line["provider0"] == 2
            gateway.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(gateway.proc.wait(), 15)
            for watcher in watchers:
                await watcher.stop()
        # given back on the way out, not left to expire after the heartbeat's ttl; the panel let go too
        assert await redis.zcard(f"{prefix}{{provider}}:p0") == 0
        await wait_for(lambda: sim.player.open_streams == 0, 5)
    finally:
        await redis.aclose()


async def test_a_viewer_with_a_wrong_password_never_reaches_a_provider_line(make_live: Any) -> None:
    side = await make_live(providers=(1,), viewers=1)
    line = side.sim.tables["lines"][side.viewer_ids[0]]
    async with aiohttp.ClientSession() as session:
        resp = await session.get(side.url(f"/live/{line['username']}/wrong/1.ts"))
        assert resp.status == 403
    assert side.upstream_open() == 0 and side.sim.player.received == ["/player_api.php"]
    await assert_nothing_held(side)


async def test_a_viewer_zapping_while_a_slot_is_given_back_waits_for_it_not_a_503(make_live: Any) -> None:
    """The only provider slot is held by a channel whose last viewer just left: it is given back RELEASE_GRACE
    later (the panel counts a connection until it notices the close). A viewer of another channel in that moment
    gets the slot once it is back, not `503 provider busy`."""
    side = await make_live(providers=(1,), viewers=2, live_linger=0)
    first = Watcher(side.url(side.viewer_path(0, 1))).start()
    await wait_for(lambda: len(first.received) > 1000, 10)
    await first.stop()
    await wait_for(lambda: not side.client.server.app[CLIENTSIDE].live.channels, 5)  # closed; slot in its grace
    assert side.client.server.app[CLIENTSIDE].live.releasing == 1
    second = Watcher(side.url(side.viewer_path(1, 2))).start()
    await wait_for(lambda: len(second.received) > 1000, 10)
    assert second.status == 200
    await second.stop()
    await wait_for(lambda: not side.client.server.app[CLIENTSIDE].live.channels, 5)
    await assert_nothing_held(side)
