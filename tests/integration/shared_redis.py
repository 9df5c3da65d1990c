"""A Redis for tests of state replicas share: the machine's (127.0.0.1:6379), else a redis-server of the test's own.

Each test gets a key prefix of its own, deleted afterwards. Skipped, with the reason, only when there is neither a
server nor the redis-server binary (CI, which must run them, fails instead).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.reliability.conftest import RedisProcess

MACHINE_REDIS = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class SharedRedis:
    url: str
    prefix: str  # every key a test makes starts with it
    client: aioredis.Redis


async def _answers(url: str) -> aioredis.Redis | None:
    client = aioredis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception:  # any failure: no usable server there
        await client.aclose()
        return None
    return client


@pytest.fixture
async def shared_redis(tmp_path: Path) -> AsyncIterator[SharedRedis]:
    own: RedisProcess | None = None
    client = await _answers(MACHINE_REDIS)
    url = MACHINE_REDIS
    if client is None:
        if shutil.which("redis-server") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("CI requires redis-server (make test installs it)")
            pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server binary to start one")
        own = RedisProcess(tmp_path)
        own.start()
        url = own.url
        client = await _answers(url)
        assert client is not None, "the redis-server started for this test does not answer"
    prefix = f"pgtest:ops:{uuid.uuid4().hex}:"
    try:
        yield SharedRedis(url, prefix, client)
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        if own is not None:
            own.kill()
