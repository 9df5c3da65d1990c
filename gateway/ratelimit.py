"""Token-bucket rate limits: in memory by default, in Redis when replicas must share them.

Every Redis call has a short timeout in all; when Redis fails the limiter falls back to its local buckets (each
replica then limits on its own) and retries Redis after a back-off, so a Redis outage never hangs a request. The
back-off is shared with every other client of the same server (gateway.redisguard).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError

from gateway.redisguard import bounded, outage

log = logging.getLogger("panelgate.ratelimit")

# KEYS[1] bucket; ARGV rate (tokens/s), burst, cost. Redis' own clock keeps replicas consistent.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(data[1]), tonumber(data[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""
BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float  # seconds until one token is back (0 when allowed)


def _decision(allowed: bool, tokens: float, rate: Rate, cost: float) -> Decision:
    wait = 0.0 if allowed else max(0.0, (cost - tokens) / rate.per_second)
    return Decision(allowed, int(tokens), wait)


class LocalBuckets:
    """Per-process buckets, bounded so a flood of distinct client IPs cannot grow memory without limit."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(maxsize=max_buckets, ttl=3600)

    def take(self, key: str, rate: Rate, cost: float) -> Decision:
        now = time.monotonic()
        tokens, ts = self._buckets.get(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - ts) * rate.per_second)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        return _decision(allowed, tokens, rate, cost)


class Limiter:
    """Takes tokens from named buckets; `cost=0` only looks."""

    def __init__(self, redis_url: str | None = None, *, prefix: str = "panelgate:rl:", timeout: float = 0.25) -> None:
        self.local = LocalBuckets()
        self.prefix = prefix
        self.timeout = timeout
        self._redis: aioredis.Redis | None = (
            aioredis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
            if redis_url
            else None
        )
        self._outage = outage(redis_url or "")  # shared with the cache and stream counts on the same server
        self.redis_errors = 0

    @property
    def shared(self) -> bool:
        """True while limits are shared through Redis (False: no Redis configured, or it is down)."""
        return self._redis is not None and not self._outage.down

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        if self._redis is not None and self.shared:
            started = time.monotonic()
            try:
                allowed, tokens = await bounded(
                    self._redis.eval(_TAKE, 1, self.prefix + key, rate.per_second, rate.burst, cost),
                    self.timeout,
                )
                self._outage.answered(started)
                return _decision(bool(allowed), float(tokens), rate, cost)
            except (RedisError, OSError, TimeoutError) as exc:
                self.redis_errors += 1
                self._outage.failed(BACKOFF_SECONDS, exc)
                log.warning("rate limits fall back to local buckets for %.0fs: %s", BACKOFF_SECONDS, exc)
        return self.local.take(key, rate, cost)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
