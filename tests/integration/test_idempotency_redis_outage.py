"""Idempotent writes while Redis goes away and comes back: a record is claimed in Redis and kept in this process's
memory too, and memory is asked after Redis. Before, a retry on the same replica while Redis was out ran the write
again (its claim was only in Redis), and so did a retry once Redis was back of a write done while it was out (its
outcome was only in memory)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import LIVE, build_app
from tests.conftest import AiohttpClient, AiohttpServer, make_config
from tests.integration.idem_fixtures import create, slow_panel
from tests.reliability.conftest import RedisProcess


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(tmp_path)
    try:
        yield redis
    finally:
        redis.kill()


def _redis_config(redis: RedisProcess) -> dict[str, Any]:
    return {"url": redis.url, "timeout": 0.2, "retry_after": 0.2}


async def _redis_back(client: TestClient[Any, Any]) -> None:
    link = client.server.app[LIVE].state.idempotency.link.link
    deadline = time.monotonic() + 5
    while not link.available:
        assert time.monotonic() < deadline, "the idempotency store never found Redis again"
        await asyncio.sleep(0.05)


async def test_an_outcome_kept_while_redis_was_out_answers_the_retry_once_it_is_back(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    _, faults, url = await slow_panel(aiohttp_server, 0.0)
    config = make_config(url, policies_dir, tmp_path, redis=_redis_config(redis_process))
    client = await aiohttp_client(build_app(config))  # Redis is not running yet: records are kept in memory
    first, _ = await create(client, "order-o1", "outage1")
    assert first["status"] == "STATUS_SUCCESS"
    redis_process.start()
    await _redis_back(client)
    again, headers = await create(client, "order-o1", "outage1")
    assert again == first and headers.get("Idempotent-Replayed") == "true", again
    assert faults.hits["create_line"] == 1


async def test_a_retry_while_redis_is_out_waits_for_the_first_claimed_in_redis(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    _, faults, url = await slow_panel(aiohttp_server, 1.0)
    redis_process.start()
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path,
                                                        redis=_redis_config(redis_process))))  # fmt: skip
    running = asyncio.create_task(create(client, "order-o2", "outage2"))
    await asyncio.sleep(0.3)  # claimed in Redis, at the panel
    redis_process.kill()
    again, headers = await create(client, "order-o2", "outage2")
    first, _ = await running
    assert first["status"] == "STATUS_SUCCESS" and again == first, again
    assert headers.get("Idempotent-Replayed") == "true"
    assert faults.hits["create_line"] == 1
