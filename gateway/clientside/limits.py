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

from gateway.redisguard import bounded, outage

log = logging.getLogger("panelgate.clientside")
BACKOFF = 5.0  # seconds a failed Redis is left alone (calls count in memory meanwhile)


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
    """Shared across replicas; every call bounded by `timeout` in all, memory fallback when Redis fails (for
    BACKOFF seconds, or as long as another client of the same server finds it failing: gateway.redisguard)."""

    def __init__(self, url: str, *, prefix: str, ttl: float = 60.0, timeout: float = 0.5) -> None:
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.prefix = prefix
        self.ttl = ttl
        self.timeout = timeout
        self.outage = outage(url)
        self.local = MemoryCounter()
        self.redis_errors = 0

    def _key(self, line: str) -> str:
        return f"{self.prefix}{line}"

    def _failed(self, exc: BaseException) -> None:
        self.redis_errors += 1
        self.outage.failed(BACKOFF, exc)
        log.warning("stream counter: redis failed (%s); counting in memory", type(exc).__name__)

    async def _acquire_shared(self, lease: Lease, limit: int) -> bool:
        key, now = self._key(lease.line), time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - self.ttl)
        pipe.zadd(key, {lease.token: now})
        pipe.zcard(key)
        pipe.expire(key, int(self.ttl) + 1)
        if (await pipe.execute())[2] <= limit:
            return True
        await self.client.zrem(key, lease.token)
        return False

    async def acquire(self, line: str, limit: int) -> Lease | None:
        if not self.outage.down:
            lease, started = Lease(line, shared=True), time.monotonic()
            try:
                allowed = await bounded(self._acquire_shared(lease, limit), self.timeout)
                self.outage.answered(started)
                return lease if allowed else None
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
        return await self.local.acquire(line, limit)

    async def refresh(self, lease: Lease) -> None:
        if not lease.shared or self.outage.down:
            return
        key = self._key(lease.line)
        try:
            await bounded(self.client.zadd(key, {lease.token: time.time()}, xx=True), self.timeout)
            await bounded(self.client.expire(key, int(self.ttl) + 1), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)

    async def release(self, lease: Lease) -> None:
        if not lease.shared:
            await self.local.release(lease)
            return
        if self.outage.down:
            return  # the member expires by itself after `ttl`
        try:
            await bounded(self.client.zrem(self._key(lease.line), lease.token), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)  # the member expires by itself after `ttl`

    async def close(self) -> None:
        await self.client.aclose()
