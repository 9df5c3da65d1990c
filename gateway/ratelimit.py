"""Token-bucket rate limits: in memory by default, in Redis when replicas must share them.

Every Redis call goes through the Redis layer (gateway.redis.link): bounded by the timeout in all, and sent to
the local buckets while the deployment is out (each replica then limits on its own) until it answers again, so
an outage or a failover never hangs a request.

What a failover costs. Each Redis answer is mirrored into this process's bucket for that key, so a fallback goes
on from the tokens Redis last reported here (a full bucket only for a key this process never asked about). While
Redis is out for T seconds, P processes each grant at most burst + rate x T; so a bucket grants at most
(P - 1) x (burst + rate x T) more than its limit, and nothing more with one process. A failover can also lose
the master's last writes (replication is asynchronous): at most one more burst per bucket when the promoted
replica answers. Both are stated in docs/deploy.md.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import NamedTuple

from gateway.rate import Rate
from gateway.redis.link import Link, Unavailable
from gateway.redis.settings import Endpoint

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


class Decision(NamedTuple):  # a NamedTuple, not a frozen dataclass: made twice per request, built at half the cost
    allowed: bool
    remaining: int
    retry_after: float  # seconds until one token is back (0 when allowed)


def _decision(allowed: bool, tokens: float, rate: Rate, cost: float) -> Decision:
    wait = 0.0 if allowed else max(0.0, (cost - tokens) / rate.per_second)
    return Decision(allowed, int(tokens), wait)


BUCKET_TTL = 3600.0  # seconds a bucket nobody took from is kept (then it reads as full)


class LocalBuckets:
    """Per-process buckets, bounded so a flood of distinct client IPs cannot grow memory without limit: the
    least recently taken from go first, and one untouched for BUCKET_TTL is gone. An OrderedDict in the order
    of the last take (a take moves its bucket to the end): cachetools' TTLCache did the same with a timer and a
    linked list, a visible share of a cache hit's time (bench/notes.md)."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self.max_buckets = max_buckets
        # OrderedDict, not a dict: evicting a plain dict's first entry scans the holes earlier evictions left
        # (a flood of new addresses made each take ~15x dearer); popitem(last=False) is O(1)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _get(self, key: str, now: float) -> tuple[float, float] | None:
        found = self._buckets.get(key)
        return None if found is None or now - found[1] >= BUCKET_TTL else found

    def _set(self, key: str, value: tuple[float, float]) -> None:
        buckets = self._buckets
        if key in buckets:
            buckets.move_to_end(key)
        else:
            while len(buckets) >= self.max_buckets:
                buckets.popitem(last=False)  # the least recently taken from
        buckets[key] = value

    def look(self, key: str, rate: Rate) -> float:
        """The tokens in bucket `key` now. Nothing is stored: a bucket never taken from is full, and refilling
        one without writing it back reads the same later (refill is capped alike)."""
        if key not in self._buckets:
            return float(rate.burst)  # the common case (the auth throttle's look, on every request): no clock
        now = time.monotonic()
        found = self._get(key, now)
        return float(rate.burst) if found is None else min(float(rate.burst),
                                                           found[0] + (now - found[1]) * rate.per_second)

    def take(self, key: str, rate: Rate, cost: float) -> Decision:
        if cost == 0:
            return _decision(True, self.look(key, rate), rate, cost)
        now = time.monotonic()
        found = self._get(key, now)
        tokens, ts = found if found is not None else (float(rate.burst), now)
        tokens = min(float(rate.burst), tokens + (now - ts) * rate.per_second)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._set(key, (tokens, now))
        return _decision(allowed, tokens, rate, cost)

    def mirror(self, key: str, tokens: float) -> None:
        """What Redis holds for `key` now: where this process goes on from if Redis fails."""
        self._set(key, (tokens, time.monotonic()))

    def __len__(self) -> int:
        return len(self._buckets)


class Limiter:
    """Takes tokens from named buckets; `cost=0` only looks. `endpoint` None: this process's buckets only."""

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self.local = LocalBuckets()
        self.link = Link(endpoint, "rate_limits") if endpoint is not None else None

    @property
    def shared(self) -> bool:
        """True while limits are shared through Redis (False: no Redis configured, or it is out)."""
        return self.link is not None and self.link.available

    @property
    def redis_errors(self) -> int:
        return self.link.errors if self.link is not None else 0

    def look_here(self, key: str, rate: Rate) -> int | None:
        """The whole tokens left in bucket `key` when this process's buckets decide (no Redis configured), as
        `take(key, rate, cost=0)` would say them; None: ask take(). Without a coroutine: the auth throttle looks
        on every request, cache hits included."""
        return int(self.local.look(key, rate)) if self.link is None else None

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        if self.link is not None:
            bucket = self.link.prefix + key
            try:
                allowed, tokens = await self.link.run("EVAL", _TAKE, 1, bucket, rate.per_second, rate.burst, cost)
            except Unavailable:
                pass
            else:
                self.local.mirror(key, float(tokens))
                return _decision(bool(allowed), float(tokens), rate, cost)
        return self.local.take(key, rate, cost)

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
