"""Redis faults under load: down at start, killed mid-load, frozen (SIGSTOP). Cache and rate limits share one
redis-server of the test's own; the gateway keeps serving from its fallbacks, never waits past the Redis timeout
for long, recovers when Redis is back, and makes every write exactly once throughout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.app import LIVE, build_admin_app
from gateway.clientside.hosts import HostBook, Shared
from gateway.clientside.limits import Lease, RedisCounter
from gateway.keys import digest_of
from gateway.ratelimit import Limiter, Rate
from gateway.record_locks import RecordLocks
from gateway.redis.link import Link
from gateway.redis.settings import Endpoint
from gateway.redis.url import parse_url
from tests.conftest import AiohttpClient
from tests.reliability import workload
from tests.reliability.conftest import KEYS, Gateway, MakeGateway, RedisProcess

REDIS_TIMEOUT = 0.2
RETRY_AFTER = 0.4
# Per request: a Redis call for the auth throttle, the rate limit and the cache, each bounded by REDIS_TIMEOUT,
# until the first failure sends the next requests to the fallbacks.
SLOWEST = 2.0


async def _stack(make_gateway: MakeGateway, aiohttp_client: AiohttpClient, redis: RedisProcess,
                 monkeypatch: pytest.MonkeyPatch, *, timeout: float = REDIS_TIMEOUT,
                 retry_after: float = RETRY_AFTER) -> tuple[Gateway, Any]:  # fmt: skip
    keys = [{"id": f"{name}-admin", "digest": digest_of(key), "policy": "admin",
             "upstream": {"cross": "xm"}.get(name, name), "rate": {"per_second": 100_000, "burst": 100_000}}
            for name, key in KEYS.items()]  # fmt: skip
    gw = await make_gateway(
        timeout=5, keys=keys,
        cache={"ttl": 30}, redis={"url": redis.url, "timeout": timeout, "retry_after": retry_after},
    )  # fmt: skip
    admin = await aiohttp_client(build_admin_app(gw.client.app[LIVE]))
    return gw, admin


def _endpoint(redis: RedisProcess, prefix: str, timeout: float, *, retry_after: float = 5.0) -> Endpoint:
    return Endpoint(parse_url(redis.url), prefix, timeout, retry_after)


async def _back(link: Link) -> None:
    """Until the link's background pings find its Redis answering again (5 s at most)."""
    deadline = time.monotonic() + 5
    while not link.available:
        assert time.monotonic() < deadline, "the background pings did not find Redis back"
        await asyncio.sleep(0.05)


async def _ready(admin: Any) -> dict[str, Any]:
    body: dict[str, Any] = await (await admin.get("/readyz")).json()
    return body


async def _redis_keys(redis: RedisProcess) -> list[bytes]:
    client = aioredis.Redis.from_url(redis.url, socket_timeout=1)
    try:
        return [k async for k in client.scan_iter(match="panelgate:*")]
    finally:
        await client.aclose()


async def _recovers(gw: Gateway, admin: Any, redis: RedisProcess) -> list[workload.Report]:
    """Redis answers again: within a few retry periods the cache and the limits use it again."""
    deadline = time.monotonic() + 10 * RETRY_AFTER + 2
    reports: list[workload.Report] = []
    while True:
        report = await workload.run(gw, 16, 4, run_id=f"rec{len(reports)}_")
        reports.append(report)
        assert not report.failures, report.failures[:3]
        ready = await _ready(admin)
        if ready["cache"]["state"] == "ok" and ready["rate_limits"]["shared"]:
            break
        assert time.monotonic() < deadline, f"no recovery: {ready}"
        await asyncio.sleep(RETRY_AFTER / 2)
    reports.append(await workload.run(gw, 16, 4, run_id="after"))
    keys = await _redis_keys(redis)
    assert any(k.startswith(b"panelgate:rl:") for k in keys), "rate-limit buckets are in Redis again"
    assert any(k.startswith(b"panelgate:cache:") for k in keys), "cache entries are in Redis again"
    return reports


async def test_redis_down_at_start(
    make_gateway: MakeGateway, aiohttp_client: AiohttpClient, redis_process: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw, admin = await _stack(make_gateway, aiohttp_client, redis_process, monkeypatch)
    report = await workload.run(gw, 200, 16, run_id="down")  # nothing listens on the Redis port
    assert not report.failures, report.failures[:5]
    assert report.slowest < SLOWEST
    ready = await _ready(admin)
    assert ready["status"] == "ok" and ready["cache"]["state"] == "fallback"
    assert not ready["rate_limits"]["shared"]
    (redis,) = ready["redis"]
    assert redis["state"] == "out" and redis["outages"] == 1 and sum(redis["errors"].values()) >= 1
    redis_process.start()
    recovery = await _recovers(gw, admin, redis_process)
    workload.assert_writes_made_once(gw, report, *recovery)


async def test_redis_killed_mid_load_then_back(
    make_gateway: MakeGateway, aiohttp_client: AiohttpClient, redis_process: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis_process.start()
    gw, admin = await _stack(make_gateway, aiohttp_client, redis_process, monkeypatch)
    total = 900

    async def chaos(i: int) -> None:
        if i == total // 3:
            redis_process.kill()
        if i == 2 * total // 3:
            redis_process.start()

    report = await workload.run(gw, total, 24, run_id="kill", between=chaos)
    assert not report.failures, report.failures[:5]
    assert report.slowest < SLOWEST, f"a request waited {report.slowest:.2f}s"
    recovery = await _recovers(gw, admin, redis_process)
    workload.assert_writes_made_once(gw, report, *recovery)


async def test_redis_frozen_costs_at_most_its_timeout(
    make_gateway: MakeGateway, aiohttp_client: AiohttpClient, redis_process: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis_process.start()
    gw, admin = await _stack(make_gateway, aiohttp_client, redis_process, monkeypatch)
    warm = await workload.run(gw, 64, 8, run_id="warm")
    assert not warm.failures
    redis_process.freeze()  # accepts connections, answers nothing
    report = await workload.run(gw, 300, 24, run_id="frozen")
    assert not report.failures, report.failures[:5]
    assert report.slowest < SLOWEST, f"a request waited {report.slowest:.2f}s on a frozen Redis"
    ready_started = time.monotonic()
    ready = await _ready(admin)
    assert time.monotonic() - ready_started < SLOWEST, "/readyz must not hang on a frozen Redis"
    assert ready["cache"]["state"] == "fallback"
    redis_process.cont()
    recovery = await _recovers(gw, admin, redis_process)
    workload.assert_writes_made_once(gw, warm, report, *recovery)


async def test_a_frozen_redis_costs_a_request_one_timeout_not_one_per_client(
    make_gateway: MakeGateway, aiohttp_client: AiohttpClient, redis_process: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The auth throttle, the rate limit and the cache each call Redis: the first to find it frozen sends the
    others to their fallbacks at once (they waited one timeout each: 400 ms against a 200 ms timeout). A long
    timeout makes one wait and two waits far apart (a loaded machine added 0.6 s to one wait of 1 s: the margin is
    half a timeout, two waits would take twice as long); the back-off outlasts the test, so nothing probes."""
    redis_process.start()
    timeout = 2.0
    gw, _ = await _stack(make_gateway, aiohttp_client, redis_process, monkeypatch, timeout=timeout, retry_after=60)
    assert not (await workload.run(gw, 32, 8, run_id="warm")).failures
    redis_process.freeze()
    report = await workload.run(gw, 120, 24, run_id="frozen")
    assert not report.failures, report.failures[:5]
    assert report.slowest < timeout * 1.5, f"a request waited {report.slowest:.2f}s on a {timeout}s timeout"


async def test_every_client_of_a_frozen_redis_waits_one_timeout_in_all(redis_process: RedisProcess) -> None:
    """Each call is bounded by its timeout in all, a fresh connection's connect and handshake included; after
    one client's failure the other clients of the same server (the stream counter here) do not try."""
    redis_process.start()
    timeout = 0.5
    limiter = Limiter(_endpoint(redis_process, "panelgate:rl:", timeout))
    counter, fresh = (RedisCounter(_endpoint(redis_process, "pg-test:", timeout)) for _ in range(2))
    try:
        assert (await counter.acquire("warm", 5)) is not None  # connected before the freeze
        redis_process.freeze()
        started = time.monotonic()
        lease = await counter.acquire("line", 5)
        assert lease is not None and not lease.shared
        assert time.monotonic() - started < timeout + 0.3
        started = time.monotonic()
        assert not (await fresh.acquire("line", 5) or Lease("x")).shared  # another client: memory at once
        assert (await limiter.take("k", Rate(10, 10))).allowed
        assert time.monotonic() - started < timeout / 2
        assert limiter.redis_errors == 0 and fresh.redis_errors == 0 and counter.redis_errors == 1
    finally:
        redis_process.cont()
        for client in (limiter, counter, fresh):
            await client.close()


async def test_a_fresh_connection_to_a_frozen_redis_is_bounded_in_all(redis_process: RedisProcess) -> None:
    redis_process.start()
    redis_process.freeze()  # the kernel accepts the connection; the handshake and the command get no answer
    counter = RedisCounter(_endpoint(redis_process, "pg-test:", 0.5))
    try:
        started = time.monotonic()
        assert not (await counter.acquire("line", 5) or Lease("x")).shared
        assert time.monotonic() - started < 0.5 + 0.3
    finally:
        redis_process.cont()
        await counter.close()


async def _gone(peek: aioredis.Redis, key: str) -> None:
    """Until `key` is gone from Redis, with no call of the test's (5 s at most)."""
    deadline = time.monotonic() + 5
    while await peek.exists(key) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not await peek.exists(key), f"{key} is still held: set by a timed-out call, never given back"


async def test_a_record_lock_set_by_a_timed_out_call_is_released_when_redis_is_back(
    redis_process: RedisProcess, peek: aioredis.Redis
) -> None:
    """A SET NX that timed out on a frozen Redis runs when Redis resumes: the record would stay held (by no one)
    for HOLD_MS, and every edit of it from any replica refused. The token is released in the background once
    Redis answers, whether or not the record is asked for again."""
    redis_process.start()
    locks = RecordLocks()
    locks.configure(_endpoint(redis_process, "panelgate:lock:", 0.3, retry_after=0.2))
    try:
        async with locks.hold("xm:line:1", wait=2):
            pass
        redis_process.freeze()
        async with locks.hold("xm:line:1", wait=2):  # the SET times out: held in this process only
            pass
        assert locks._stray, "the scenario: a SET sent, its answer not seen"
        redis_process.cont()  # the frozen SET runs now: the record is held by no one
        await _gone(peek, "panelgate:lock:xm:line:1")
        async with locks.hold("xm:line:1", wait=1):
            assert await peek.get("panelgate:lock:xm:line:1") is not None  # held in Redis again, by this one
    finally:
        await locks.close()


@pytest.fixture
async def peek(redis_process: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's redis-server, to look at what the gateway left there (the fixture thaws and kills
    the server after the test)."""
    client = aioredis.Redis.from_url(redis_process.url, socket_timeout=2)
    yield client
    await client.aclose()


async def test_a_stream_slot_taken_by_a_timed_out_call_is_released_when_redis_is_back(
    redis_process: RedisProcess, peek: aioredis.Redis
) -> None:
    """A lease script that timed out on a frozen Redis runs when Redis resumes: the slot would stay taken (by no
    one) until its heartbeat expired, and a line with one slot refused. The token is removed once Redis answers."""
    redis_process.start()
    counter = RedisCounter(_endpoint(redis_process, "pg-test:", 0.3))
    try:
        await counter.release(await counter.acquire("line", 1) or Lease("x"))  # connected
        redis_process.freeze()
        lease = await counter.acquire("line", 1)  # times out: a slot in this process's memory
        assert lease is not None and not lease.shared
        await counter.release(lease)
        assert counter._stray, "the scenario: a lease script sent, its answer not seen"
        redis_process.cont()  # the frozen script runs now: the line's one slot is held by no one
        await _gone(peek, "pg-test:{line}")  # given back in the background, no acquire needed
        again = await counter.acquire("line", 1)
        assert again is not None and again.shared
        await counter.release(again)
        assert await peek.zcard("pg-test:{line}") == 0
    finally:
        await counter.close()


async def test_a_host_name_learned_while_redis_is_out_is_published_once_it_is_back(
    redis_process: RedisProcess, peek: aioredis.Redis
) -> None:
    link = Link(_endpoint(redis_process, "pg-test:hosts:", 0.3), "hosts")
    shared, book = Shared(link, "pg-test:hosts:names"), HostBook()
    try:
        book.learn(["panel-lb.example.net"], shared)  # nothing listens yet: kept aside
        await asyncio.gather(*book._tasks)
        assert book.unpublished == {"panel-lb.example.net"}
        redis_process.start()
        await _back(link)
        await book.sync(shared)
        assert await peek.smembers("pg-test:hosts:names") == {b"panel-lb.example.net"}  # type: ignore[misc]
        assert not book.unpublished
    finally:
        await book.close()
        await link.close()


async def test_no_redis_server_binary_is_a_skip_or_a_ci_failure() -> None:
    """The fixture's contract, stated where it is used: CI=true never skips these tests (see conftest)."""
    import inspect

    from tests.reliability import conftest

    source = inspect.getsource(conftest.need_redis_server)
    assert 'os.environ.get("CI") == "true"' in source and "pytest.fail" in source
    assert "need_redis_server()" in inspect.getsource(conftest.redis_process)


async def test_a_full_redis_is_served_around_and_counted(
    make_gateway: MakeGateway, aiohttp_client: AiohttpClient, redis_process: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis at its maxmemory with the default policy (noeviction) answers every write `OOM`: it is up, so no
    outage, and each rate limit, cache store and lock goes to its fallback. Every request is served; the errors
    are counted where operators look (/readyz said the limits shared, with no Redis error, while each process
    limited on its own: with N replicas a key got N times its rate)."""
    redis_process.start()
    gw, admin = await _stack(make_gateway, aiohttp_client, redis_process, monkeypatch)
    assert not (await workload.run(gw, 20, 4, run_id="pre")).failures
    client = aioredis.Redis.from_url(redis_process.url, socket_timeout=1)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1")
        report = await workload.run(gw, 100, 8, run_id="oom")
        ready = await _ready(admin)
    finally:
        await client.config_set("maxmemory", "0")
        await client.aclose()
    assert not report.failures, report.failures[:5]
    assert report.slowest < SLOWEST
    assert ready["rate_limits"]["redis_errors"] > 0, ready["rate_limits"]
    (redis,) = ready["redis"]
    assert redis["errors"].get("rate_limits", 0) > 0, redis
