"""Redis when it answers, memory when it does not, and invalidations that are not lost on the way.

Every Redis call goes through the Redis layer (gateway.redis.link): bounded by the timeout in all, and answered
from memory while the deployment is out, until a background ping finds it back (at most PROBE_EVERY + timeout
after it answers). The memory backend is emptied when a fallback starts, so it never answers with entries kept
from an earlier outage that writes made through other replicas have since made stale.

Read-your-write across replicas, when Redis fails or fails over (docs/deploy.md states the figures):
- An invalidation Redis did not take is kept, and replayed in the background every RETRY_EVERY seconds until Redis
  takes it (gateway.redis.link.Backlog); no read is answered from Redis by this process before its own replay
  succeeded.
- Replication is asynchronous: a failover may lose an invalidation the old master had acknowledged. Those
  acknowledged in the JOURNAL seconds before this process saw the outage are replayed too.
- Generations are set to random values, not incremented: after a failover that lost a bump, a replayed or later
  bump can never bring back a value (and the entries cached under it) from before the edit.
- While Redis is out each replica caches alone, and a write through one cannot reach another's memory: entries
  stored in memory during an outage are fresh for at most FALLBACK_TTL seconds (gateway.cache.store).
So read-your-write holds again, through every replica, at most RETRY_EVERY + timeout after the new master answers
(0.5 s with the default 0.25 s timeout): by then every replica has replayed what Redis missed and reads from Redis
again. During the outage itself a read is at most FALLBACK_TTL older than a write made through another replica.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from gateway.cache.backend import MemoryBackend
from gateway.cache.redis_backend import RedisBackend
from gateway.redis.link import Backlog, Unavailable

log = logging.getLogger("panelgate.cache")
T = TypeVar("T")
ErrorHook = Callable[[str, str], None]  # (backend, action)
JOURNAL = 10.0  # seconds an acknowledged invalidation is kept to replay after a failover
FALLBACK_TTL = 1.0  # seconds an entry cached in memory during an outage stays fresh


class ResilientBackend:
    """Routes each call to the primary (Redis) or, while it is out, to memory."""

    def __init__(self, primary: RedisBackend | None, memory: MemoryBackend, *,
                 on_error: ErrorHook | None = None) -> None:  # fmt: skip
        self.primary = primary
        self.memory = memory
        self.on_error = on_error
        self.up = primary is not None
        self.errors = 0
        self.last_error = ""
        self.down_since: float | None = None
        self.pending: set[str] = set()  # generations bumped while Redis did not take them
        self._recent: dict[str, float] = {}  # generation -> when Redis acknowledged its last bump (monotonic)
        self._replayer = Backlog(self._replay)

    @property
    def name(self) -> str:
        return self.primary.name if self.primary is not None else self.memory.name

    @property
    def using_fallback(self) -> bool:
        return self.primary is not None and not self.up

    async def _primary(self, call: Callable[[RedisBackend], Awaitable[T]]) -> T:
        """`call` on Redis (Unavailable when it is out or fails). Coming back, the outage's invalidations are
        replayed before anything is read from Redis again."""
        assert self.primary is not None
        was_up = self.up
        if not was_up and self.pending:
            await self._flush(force=False)
        value = await call(self.primary)
        # Only a call begun during the fallback ends it: on a Cluster a call begun before the failure may still
        # succeed after it (its key on another master), and must not bring back a Redis that just failed.
        if not was_up and not self.up:
            self.up, self.down_since = True, None
            log.warning("cache: %s answers again; memory fallback ends", self.primary.name)
        return value

    def _failed(self, action: str, exc: Unavailable) -> None:
        assert self.primary is not None
        if exc.asked:  # a call that was refused without asking is no error of this cache's
            self.errors += 1
            self.last_error = f"{action}: {exc}"[:200]
            if self.on_error is not None:
                self.on_error(self.primary.name, action)
        if self.up:
            self.up, self.down_since = False, time.time()
            self.memory.clear()
            now = time.monotonic()
            self.pending.update(n for n, at in self._recent.items() if now - at <= JOURNAL)
            if self.pending:
                self._replayer.soon()
            log.warning("cache: %s is out (%s); serving from memory", self.primary.name, self.last_error or exc)

    async def _route(self, action: str, call: Callable[[Any], Awaitable[T]]) -> T:
        if self.primary is not None:
            try:
                return await self._primary(call)
            except Unavailable as exc:
                self._failed(action, exc)
        return await call(self.memory)

    async def get(self, key: str) -> bytes | None:
        if self.primary is None:  # memory only: every hit comes here, without a closure to route
            return await self.memory.get(key)
        return await self._route("get", lambda b: b.get(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if self.primary is not None and self.up:
            try:
                await self._primary(lambda b: b.set(key, value, ttl))
            except Unavailable as exc:
                # Not kept in memory either: it was made fresh for Redis' TTL, and a fallback's entries must live
                # FALLBACK_TTL at most (gateway.cache.store.fresh_for). The next read makes it again.
                self._failed("set", exc)
            return
        await self._route("set", lambda b: b.set(key, value, ttl))

    async def touch(self, key: str, ttl: float) -> bool:
        return await self._route("touch", lambda b: b.touch(key, ttl))

    def generations_here(self, names: Sequence[str]) -> tuple[str, list[int]] | None:
        """generations() when this process's memory alone holds them (no Redis configured), without a coroutine
        (every cache hit asks); None: ask generations()."""
        return None if self.primary is not None else ("m", self.memory.generations_now(names))

    async def generations(self, names: Sequence[str]) -> tuple[str, list[int]]:
        """The counters, and which backend gave them (keys computed from either never meet)."""
        if self.primary is not None:
            try:
                return "r", await self._primary(lambda b: b.generations(names))
            except Unavailable as exc:
                self._failed("generations", exc)
        return "m", await self.memory.generations(names)

    async def bump(self, names: Sequence[str]) -> None:
        # Memory always: a fallback that starts later must not serve what this write made stale.
        await self.memory.bump(names)
        if self.primary is None:
            return
        try:
            await self._primary(lambda b: b.bump(names))
        except Unavailable as exc:
            self.pending.update(names)
            self._failed("bump", exc)
            self._replayer.soon()
        else:
            now = time.monotonic()
            for old in [n for n, at in self._recent.items() if now - at > JOURNAL]:
                del self._recent[old]
            self._recent.update(dict.fromkeys(names, now))

    async def _flush(self, *, force: bool) -> None:
        """Bump every pending generation in Redis (Unavailable if it does not take them)."""
        assert self.primary is not None
        names = sorted(self.pending)
        await self.primary.bump(names, force=force)
        self.pending.difference_update(names)
        now = time.monotonic()
        self._recent.update(dict.fromkeys(names, now))

    async def _replay(self) -> None:
        """The background replay (Unavailable until Redis takes them). Forced: a replica that reads the promoted
        master must find these bumps there as soon as it answers, whatever this process's back-off."""
        while self.pending:  # bumps that failed while this ran are in it too
            await self._flush(force=True)
            log.warning("cache: invalidations replayed into %s", self.name)

    async def check(self) -> dict[str, Any]:
        """The state for /readyz; probes Redis (bounded) when it is due."""
        if self.primary is None:
            return {"backend": "memory", "state": "ok", "entries": len(self.memory),
                    "megabytes": round(self.memory.value_bytes() / 1e6, 1)}
        try:
            await self._primary(lambda b: b.ping())
        except Unavailable as exc:
            self._failed("ping", exc)
        detail: dict[str, Any] = {"backend": self.primary.name, "state": "ok" if self.up else "fallback"}
        if not self.up:
            detail["serving_from"] = "memory"
            detail["down_since"] = self.down_since
        detail["errors"] = self.errors
        detail["pending_invalidations"] = len(self.pending)
        if self.last_error:
            detail["last_error"] = self.last_error
        return detail

    async def close(self) -> None:
        await self._replayer.close()
        await self.memory.close()
        if self.primary is not None:
            await self.primary.close()
