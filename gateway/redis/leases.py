"""Leases: up to `limit` holders of a name at once, shared by every replica, never leaking a slot.

Used for the concurrent streams per line (gateway.clientside.limits) and for the provider slot pool
(gateway.clientside.provider_lines): a pool of provider lines, each with its own number of slots, where a lease
takes a slot on the first line that has one (`acquire_any`, one script over the pool's keys, which share the
pool's hash tag).

In Redis each name is a sorted set of lease tokens scored by their last heartbeat, on Redis' clock (replicas'
clocks may differ). A holder refreshes its lease at least every `ttl` seconds; a holder that dies (a replica
killed) stops refreshing, and its token is swept by the next acquire after `ttl`: a crash never locks a slot
for longer than that. A token Redis may hold without anyone here holding it (an acquire that timed out, which a
frozen server may still run, or a release that failed) is kept aside and removed, in the background, at most
RETRY_EVERY + timeout after Redis answers again.

While Redis is out the leases are this process's (`MemoryLeases`), so every replica grants up to `limit` on its
own until Redis answers again; leases taken then are released in memory, and put into Redis by their first
heartbeat once it answers (a stream opened during a blip must not be invisible to every replica for hours).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.redis.link import Backlog, Link, Unavailable, tagged

MAX_STRAY = 10_000  # tokens kept aside during a long outage; older ones are left to the `ttl` sweep
# KEYS: the candidates' sorted sets, in order of preference; ARGV: ttl (s), token, then each candidate's limit.
# Returns the 1-based index of the candidate that took the token, or 0 when every candidate is full.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - ttl)
  if redis.call('ZCARD', key) < tonumber(ARGV[i + 2]) then
    redis.call('ZADD', key, now, ARGV[2])
    redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
    return i
  end
end
return 0
"""
# KEYS[1]; ARGV ttl, token. 1 when the token was still there (and is refreshed), 0 when it had been lost (swept,
# or a restarted Redis that kept no data): put back either way, since its holder is still streaming and must count
# against the cap (else every slot of every open stream would be free again after a restart).
_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = redis.call('ZSCORE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
if held then return 1 end
return 0
"""
# KEYS[1]; ARGV ttl: how many hold it now (expired holders swept first).
_COUNT = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""


@dataclass(frozen=True)
class Lease:
    name: str  # the name it holds a slot of (with acquire_any, the candidate that had one)
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    shared: bool = False  # held in Redis (else in this process's memory)
    group: str = ""  # acquire_any's group ("" for a plain acquire)


class MemoryLeases:
    """This process's leases: the fallback, and the whole story without Redis."""

    def __init__(self) -> None:
        self.held: dict[str, int] = {}

    def acquire_any(self, group: str, candidates: Sequence[tuple[str, int]]) -> Lease | None:
        for name, limit in candidates:
            if self.held.get(name, 0) < limit:
                self.held[name] = self.held.get(name, 0) + 1
                return Lease(name, group=group)
        return None

    def release(self, lease: Lease) -> None:
        left = self.held.get(lease.name, 0) - 1
        if left > 0:
            self.held[lease.name] = left
        else:
            self.held.pop(lease.name, None)


class Leases:
    """`link` None: memory only. Names are free text (a line's name); keys are built here, tagged per group."""

    def __init__(self, link: Link | None, *, ttl: float = 60.0) -> None:
        self.link = link
        self.ttl = ttl
        self.local = MemoryLeases()
        # (token, group, name) Redis may hold for nobody, oldest first; bounded (`ttl` sweeps what is dropped)
        self._stray: dict[tuple[str, str, str], None] = {}
        self._sweeper = Backlog(self._sweep)  # removes them as soon as Redis answers, with or without traffic
        self._published: dict[str, None] = {}  # tokens of memory leases that refresh put into Redis

    def _key(self, group: str, name: str) -> str:
        assert self.link is not None
        return tagged(self.link.prefix, group, "" if name == group else f":{name}")

    async def acquire(self, name: str, limit: int) -> Lease | None:
        """A slot of `name` (one of `limit`), or None when all are taken."""
        return await self.acquire_any(name, [(name, limit)])

    async def acquire_any(self, group: str, candidates: Sequence[tuple[str, int]]) -> Lease | None:
        """A slot on the first of `candidates` (name, limit) that has one, chosen atomically across replicas, or
        None when every one is full. All candidates of one group share a hash tag (one Cluster slot)."""
        if not candidates:
            return None
        if self.link is not None:
            lease = Lease(candidates[0][0], shared=True, group=group)
            keys = [self._key(group, name) for name, _ in candidates]
            args: list[str | float] = [self.ttl, lease.token, *(limit for _, limit in candidates)]
            try:
                if self._stray:
                    await self._sweep()
                index = int(await self.link.run("EVAL", _ACQUIRE, len(keys), *keys, *args))
            except (Unavailable, asyncio.CancelledError) as exc:
                # a script that was sent may have run (a frozen server runs it when it resumes), even for a
                # request cancelled while it waited
                if not isinstance(exc, Unavailable) or exc.asked:
                    for name, _ in candidates:
                        self._set_aside(lease.token, group, name)
                if not isinstance(exc, Unavailable):
                    raise
            else:
                return Lease(candidates[index - 1][0], lease.token, True, group) if index else None
        return self.local.acquire_any(group, candidates)

    async def refresh(self, lease: Lease) -> bool:
        """Still held (a heartbeat, at least every `ttl` seconds). False when Redis had lost it (the holder was
        silent past `ttl`, or Redis restarted without its data): it is counted again from now on, so the cap
        holds again, though another may have taken the slot meanwhile. A lease taken in memory while Redis was
        out is put into Redis by its first heartbeat once Redis answers: every replica counts it from then on."""
        if self.link is None or not self.link.available:
            return True
        if not lease.shared and lease.token not in self._published:
            if self.local.held.get(lease.name, 0) <= 0:
                return True  # released already
            self._published[lease.token] = None
        key = self._key(lease.group or lease.name, lease.name)
        try:
            return bool(await self.link.run("EVAL", _REFRESH, 1, key, self.ttl, lease.token))
        except Unavailable:
            return True  # kept until Redis answers; a heartbeat missed for less than `ttl` costs nothing

    async def release(self, lease: Lease) -> None:
        if not lease.shared or self.link is None:
            self.local.release(lease)
            if lease.token not in self._published:
                return
            del self._published[lease.token]  # put into Redis by refresh: taken out of it too
        self._set_aside(lease.token, lease.group or lease.name, lease.name)
        # this lease's token with any kept aside before; if Redis fails, in the background once it answers
        # (and by any replica's acquire after `ttl` anyway)
        with contextlib.suppress(Unavailable):
            await self._sweep()

    async def holders(self, name: str, group: str = "") -> int:
        """How many hold a slot of `name` (of `group`, for acquire_any's) now; memory's count while Redis is out."""
        if self.link is not None:
            key = self._key(group or name, name)
            try:
                return int(await self.link.run("EVAL", _COUNT, 1, key, self.ttl))
            except Unavailable:
                pass
        return self.local.held.get(name, 0)

    async def _sweep(self) -> None:
        """Remove the tokens kept aside (Unavailable, at once while the deployment is out, if Redis fails)."""
        assert self.link is not None
        while self._stray:  # those set aside while this ran too
            stray = next(iter(self._stray))
            token, group, name = stray
            await self.link.run("ZREM", self._key(group, name), token)
            self._stray.pop(stray, None)

    def _set_aside(self, token: str, group: str, name: str) -> None:
        self._stray[(token, group, name)] = None
        if len(self._stray) > MAX_STRAY:
            del self._stray[next(iter(self._stray))]
        self._sweeper.soon()

    async def close(self) -> None:
        await self._sweeper.close()
        if self.link is not None:
            await self.link.close()
