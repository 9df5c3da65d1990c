"""One feature's Redis: a client built in one small function, and calls that fall back when the server fails.

Idempotency records, key quotas and keys' last use (gateway.idempotency, gateway.quotas, gateway.keyuse) share
state across replicas through the Redis their rate limits use. Each gets a `Link`: every call is bounded by one
deadline (gateway.redisguard.bounded), and a failure sends it, and every other client of the same server in this
process, to its memory fallback for BACKOFF seconds (gateway.redisguard.outage). `connect` is the one place these
features build a client, so moving them onto a shared Redis layer is a change here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.redisguard import bounded, outage

log = logging.getLogger("panelgate.redis")
T = TypeVar("T")
BACKOFF = 5.0  # seconds a failed server is left alone (the features answer from memory meanwhile)


def connect(url: str, timeout: float) -> aioredis.Redis:
    """A lazily connecting client (nothing is contacted here), as gateway.ratelimit builds its own."""
    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class Unavailable(Exception):
    """Redis is not configured, is known to be down, or just failed: use the memory fallback."""


class Link:
    """A feature's calls to one Redis server (or none: every call is Unavailable)."""

    def __init__(self, url: str | None, *, timeout: float, feature: str) -> None:
        self.client = connect(url, timeout) if url else None
        self.timeout = timeout
        self.feature = feature
        self._outage = outage(url or "")
        self.errors = 0

    @property
    def shared(self) -> bool:
        """True while state is shared through Redis (False: none configured, or it is down)."""
        return self.client is not None and not self._outage.down

    async def run(self, call: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """`call(client)` within the deadline; Unavailable (after noting the failure) when it cannot be."""
        if self.client is None or self._outage.down:
            raise Unavailable(self.feature)
        started = time.monotonic()
        try:
            result = await bounded(call(self.client), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self.errors += 1
            self._outage.failed(BACKOFF, exc)
            log.warning("%s falls back to this process's memory for %.0fs: %s", self.feature, BACKOFF, exc)
            raise Unavailable(self.feature) from exc
        self._outage.answered(started)
        return result

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
