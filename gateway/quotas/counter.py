"""Quota counts: in Redis (the `quotas` endpoint, shared by replicas), else in this process's memory.

A calendar day is a counter per day (its date in the quota's time zone is part of the Redis key), expiring at the
day's end. A rolling window is a sorted set of the calls' times, older ones swept at each call: exact, and small
for the limits quotas have (tens to thousands). Both are single-key scripts, one round trip, atomic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import time
from collections import deque
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cachetools import TTLCache

from gateway.quotas.settings import Quota
from gateway.redis.link import MaybeLink, Unavailable
from gateway.redis.settings import Endpoint

# KEYS[1] the day's counter; ARGV limit, TTL (ms). {allowed, used}
_DAY = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return {0, used} end
used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, used}
"""
# KEYS[1] the window's calls; ARGV limit, window (ms), this call's member. {allowed, used, ms until one frees}
_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local allowed = 0
if used < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  used = used + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {allowed, used, tonumber(oldest[2]) + window - now}
"""
# a call counted, then refused by another of the key's quotas: given back
_GIVE_BACK = """
if ARGV[1] == '' then
  if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class Taken:
    """A quota's answer to one call."""

    allowed: bool
    used: int
    limit: int
    reset: float  # seconds until the count falls (a day's end; the oldest call leaving the window)
    redis_key: str = ""
    member: str = ""  # a window's entry for this call ("" for a day)
    shared: bool = True  # counted in Redis (else in this process's memory)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def day_of(quota: Quota, now: float) -> tuple[str, float]:
    """The calendar day `now` falls in, in the quota's zone, and the seconds left in it."""
    zone = ZoneInfo(quota.timezone)
    local = dt.datetime.fromtimestamp(now, zone)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
    return local.date().isoformat(), max(1.0, end.timestamp() - now)


class QuotaCounter:
    """Counts per key and quota."""

    def __init__(self, endpoint: Endpoint | None, *, max_entries: int = 100_000) -> None:
        self.link = MaybeLink(endpoint, "quotas")
        self.prefix = self.link.prefix
        # memory: day counters by key and windows' call times, each bounded and dropped when unused for a day
        self._days: TTLCache[str, int] = TTLCache(maxsize=max_entries, ttl=86400 * 2)
        self._windows: TTLCache[str, deque[float]] = TTLCache(maxsize=max_entries, ttl=86400 * 367)

    async def take(self, key_id: str, quota: Quota, now: float | None = None) -> Taken:
        """Count one call of `key_id` against `quota`, unless it is used up."""
        now = time.time() if now is None else now
        if quota.window:
            name, member = f"{self.prefix}{key_id}:{quota.id}", secrets.token_hex(6)
            try:
                allowed, used, wait = await self.link.run(
                    lambda r: r.eval(_WINDOW, 1, name, quota.limit, int(quota.window * 1000), member))
                return Taken(bool(allowed), int(used), quota.limit, max(0.0, int(wait) / 1000), name, member)
            except Unavailable:
                return self._window_here(name, quota, now, member)
        day, left = day_of(quota, now)
        name = f"{self.prefix}{key_id}:{quota.id}:{day}"
        try:
            allowed, used = await self.link.run(lambda r: r.eval(_DAY, 1, name, quota.limit, int(left * 1000) + 1000))
            return Taken(bool(allowed), int(used), quota.limit, left, name)
        except Unavailable:
            used = self._days.get(name, 0)
            if used >= quota.limit:
                return Taken(False, used, quota.limit, left, name, shared=False)
            self._days[name] = used + 1
            return Taken(True, used + 1, quota.limit, left, name, shared=False)

    def _window_here(self, name: str, quota: Quota, now: float, member: str) -> Taken:
        calls = self._windows.get(name) or deque()
        while calls and calls[0] <= now - quota.window:
            calls.popleft()
        allowed = len(calls) < quota.limit
        if allowed:
            calls.append(now)
        self._windows[name] = calls
        reset = calls[0] + quota.window - now if calls else quota.window
        return Taken(allowed, len(calls), quota.limit, max(0.0, reset), name, member if allowed else "", shared=False)

    async def give_back(self, taken: Taken) -> None:
        """Undo one allowed call (another quota of the same key refused it)."""
        if taken.shared:
            with contextlib.suppress(Unavailable):  # else counted once too often, for one window at most
                await self.link.run(lambda r: r.eval(_GIVE_BACK, 1, taken.redis_key, taken.member))
            return
        calls = self._windows.get(taken.redis_key)
        if taken.member and calls:
            calls.pop()
        elif not taken.member and self._days.get(taken.redis_key, 0) > 0:
            self._days[taken.redis_key] -= 1

    async def close(self) -> None:
        await self.link.close()
