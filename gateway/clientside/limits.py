"""Concurrent streams per line, behind a tiny interface: in process memory, or shared through Redis.

With Redis each open stream is a member of a sorted set per line, scored by its last heartbeat: a replica that
dies leaves members that stop being refreshed and are swept after `ttl` seconds, so a crash never locks a line.
When Redis fails the count falls back to this process's memory (and says so in `redis_errors`).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("panelgate.clientside")


def line_key(upstream: str, username: str) -> str:
    """The counter key of a line: the panel's MySQL compares usernames case-insensitively and without trailing
    spaces (utf8_unicode_ci), so `JONAS03` and `jonas03 ` are the line `jonas03` and share its slots."""
    return f"{upstream}:{username.strip().casefold()}"


@dataclass(frozen=True)
class Lease:
    line: str
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    shared: bool = False  # held in Redis (else in process memory)


class StreamCounter(Protocol):
    async def acquire(self, line: str, limit: int) -> Lease | None:
        """A lease on one of `limit` stream slots of `line`, or None when all are taken."""

    async def refresh(self, lease: Lease) -> None:
        """Still streaming (a heartbeat for shared counters)."""

    async def release(self, lease: Lease) -> None: ...

    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self.open: dict[str, int] = {}

    async def acquire(self, line: str, limit: int) -> Lease | None:
        if self.open.get(line, 0) >= limit:
            return None
        self.open[line] = self.open.get(line, 0) + 1
        return Lease(line)

    async def refresh(self, lease: Lease) -> None:
        return None

    async def release(self, lease: Lease) -> None:
        left = self.open.get(lease.line, 0) - 1
        if left > 0:
            self.open[lease.line] = left
        else:
            self.open.pop(lease.line, None)

    async def close(self) -> None:
        return None


class RedisCounter:
    """Shared across replicas; every call bounded by `timeout`, memory fallback when Redis fails."""

    def __init__(self, url: str, *, prefix: str, ttl: float = 60.0, timeout: float = 0.5) -> None:
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.prefix = prefix
        self.ttl = ttl
        self.local = MemoryCounter()
        self.redis_errors = 0

    def _key(self, line: str) -> str:
        return f"{self.prefix}{line}"

    async def acquire(self, line: str, limit: int) -> Lease | None:
        lease = Lease(line, shared=True)
        key, now = self._key(line), time.time()
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.zremrangebyscore(key, "-inf", now - self.ttl)
            pipe.zadd(key, {lease.token: now})
            pipe.zcard(key)
            pipe.expire(key, int(self.ttl) + 1)
            count = (await pipe.execute())[2]
            if count > limit:
                await self.client.zrem(key, lease.token)
                return None
            return lease
        except (RedisError, OSError) as exc:
            self.redis_errors += 1
            log.warning("stream counter: redis failed (%s); counting in memory", type(exc).__name__)
            return await self.local.acquire(line, limit)

    async def refresh(self, lease: Lease) -> None:
        if not lease.shared:
            return
        try:
            await self.client.zadd(self._key(lease.line), {lease.token: time.time()}, xx=True)
            await self.client.expire(self._key(lease.line), int(self.ttl) + 1)
        except (RedisError, OSError):
            self.redis_errors += 1

    async def release(self, lease: Lease) -> None:
        if not lease.shared:
            await self.local.release(lease)
            return
        try:
            await self.client.zrem(self._key(lease.line), lease.token)
        except (RedisError, OSError):
            self.redis_errors += 1  # the member expires by itself after `ttl`

    async def close(self) -> None:
        await self.client.aclose()
