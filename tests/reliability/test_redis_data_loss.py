"""A Redis that restarts without its data (`--save ''`, as docs/deploy.md runs it), between two calls: no call
fails, so no replica sees an outage, and every shared state is simply gone. Two replicas, one redis-server of the
test's own, real sockets: what they must still agree on afterwards."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.clientside.limits import RedisCounter
from gateway.clientside.routes import CLIENTSIDE
from gateway.sim.faults import FaultInjector
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.integration.test_cache_gateway import PATH, cache_keys, call
from tests.reliability.conftest import RedisProcess


async def _lines(client: TestClient[Any, Any]) -> tuple[list[str], str | None]:
    """The line names of a get_lines GET (a GET: what a remembered hit plan answers), and X-Cache."""
    resp = await client.get(PATH, params={"api_key": KEYS["admin"], "action": "get_lines", "limit": "500"})
    assert resp.status == 200
    body = await resp.json(content_type=None)
    return [row["username"] for row in body["data"]], resp.headers.get("X-Cache")


def _restart_empty(redis: RedisProcess) -> None:
    redis.kill()
    redis.start()  # the same port, nothing kept


async def _settles(redis: RedisProcess, pattern: str, within: float = 3.0) -> None:
    """Until a key matching `pattern` is in Redis again (put back by a heartbeat), or `within` seconds: a heartbeat
    that met the restart itself started an outage, which must be over (retry_after 0.2 s) before the other replica
    asks."""
    peek = aioredis.Redis.from_url(redis.url, socket_timeout=1)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not [k async for k in peek.scan_iter(match=pattern)]:
            await asyncio.sleep(0.05)
    finally:
        await peek.aclose()


async def test_a_write_before_a_restart_is_not_undone_by_a_remembered_hit(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    """The generations lost with the restart read 0 again, the values they had before every write: a replica that
    still remembered the entry it answered under them (gateway.hitpath) answered it, as a fresh HIT, without the
    line another replica had created."""
    redis_process.start()
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, keys=cache_keys(),
                         cache={"backend": "redis", "ttl": 60}, redis={"url": redis_process.url})  # fmt: skip
    first, second = await aiohttp_client(build_app(config)), await aiohttp_client(build_app(config))
    assert (await _lines(first))[1] == "MISS"
    assert (await _lines(first))[1] == "HIT"  # answered by `first`'s remembered plan
    created, _ = await call(second, action="create_line", username="after_restart", password="pw_after_restart")
    assert created["status"] == "STATUS_SUCCESS"
    _restart_empty(redis_process)
    names, _ = await _lines(first)
    assert "after_restart" in names


async def test_open_streams_count_against_the_cap_again_after_a_restart(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    """The restart dropped every lease; the open stream's heartbeat found its lease gone and left it so: the line
    with one slot opened a second stream on the other replica, for as long as the first one ran."""
    redis_process.start()
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    sim.player.live_rate = 400_000.0  # bytes/s: a live channel that keeps coming
    server = await aiohttp_server(sim.app())
    side = {"max_streams_per_line": 1}
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, client_side=side,
                         redis={"url": redis_process.url, "retry_after": 0.2})  # fmt: skip
    one, two = await aiohttp_client(build_app(config)), await aiohttp_client(build_app(config))
    counter = one.server.app[CLIENTSIDE].counter(config)
    assert isinstance(counter, RedisCounter)
    counter.ttl = 0.6  # heartbeats every 0.2 s
    line = sim.tables["lines"][3]
    path = f"/live/{line['username']}/{line['password']}/1.ts"
    async with aiohttp.ClientSession() as session:
        first = await session.get(one.make_url(path))
        assert first.status == 200
        await first.content.read(16384)
        _restart_empty(redis_process)
        settled = asyncio.ensure_future(_settles(redis_process, "panelgate:streams:*"))
        while not settled.done():  # heartbeats every 0.2 s, reading all the while
            await first.content.read(16384)
        for _ in range(10):
            await first.content.read(16384)
        second = await session.get(two.make_url(path))
        assert second.status == 403  # the first stream still holds the line's one slot
        second.close()
        first.close()


async def test_a_write_running_through_a_restart_is_not_made_again_by_its_retry_on_another_replica(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    """The restart dropped the running write's claim, and its heartbeat found nothing to keep alive: the client's
    retry, sent to the other replica, claimed the key afresh and charged the reseller a second time."""
    redis_process.start()
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    faults = FaultInjector(delay=2.5)
    faults.set("adjust_credits", "slow")
    server = await aiohttp_server(faults.wrap(sim.app()))
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         redis={"url": redis_process.url, "retry_after": 0.2},
                         idempotency={"pending_ttl": 0.6})  # fmt: skip
    one, two = await aiohttp_client(build_app(config)), await aiohttp_client(build_app(config))
    before = float(sim.state.table("users")[88]["credits"])
    form = {"api_key": KEYS["admin"], "action": "adjust_credits", "id": "88", "credits": "-5", "reason": "order 7"}
    headers = {"Idempotency-Key": "charge-7"}
    path = f"/{ACCESS_CODE}/admin/index.php"
    first = asyncio.ensure_future(one.post(path, data=form, headers=headers))
    while faults.hits["adjust_credits"] == 0:  # claimed, and at the panel
        await asyncio.sleep(0.02)
    _restart_empty(redis_process)
    await _settles(redis_process, "panelgate:idem:*", within=1.0)  # a heartbeat or two (every 0.2 s)
    await asyncio.sleep(0.3)  # and the outage a heartbeat may have met is over
    retry = await two.post(path, data=form, headers=headers)
    answer = await retry.json(content_type=None)
    assert (await first).status == 200
    assert faults.hits["adjust_credits"] == 1  # charged once
    assert float(sim.state.table("users")[88]["credits"]) == before - 5
    assert answer["status"] == "STATUS_SUCCESS" and retry.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.xfail(strict=True, reason="an idempotent write's record lives only in Redis (and in the memory of the "
                   "replica that made it): a Redis restarted without its data (docs/deploy.md runs it with --save '' "
                   "--appendonly no) forgets it, and a retry on another replica makes the write again; needs Redis "
                   "persistence (appendonly) for the idempotency prefix, or the deploy guide saying so")  # fmt: skip
async def test_a_write_done_before_a_restart_is_not_made_again_by_its_retry_on_another_replica(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    redis_process.start()
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         redis={"url": redis_process.url})  # fmt: skip
    one, two = await aiohttp_client(build_app(config)), await aiohttp_client(build_app(config))
    before = float(sim.state.table("users")[88]["credits"])
    form = {"api_key": KEYS["admin"], "action": "adjust_credits", "id": "88", "credits": "-5", "reason": "order 8"}
    headers = {"Idempotency-Key": "charge-8"}
    path = f"/{ACCESS_CODE}/admin/index.php"
    assert (await one.post(path, data=form, headers=headers)).status == 200
    _restart_empty(redis_process)
    retry = await two.post(path, data=form, headers=headers)
    assert retry.status == 200
    assert float(sim.state.table("users")[88]["credits"]) == before - 5  # charged once
