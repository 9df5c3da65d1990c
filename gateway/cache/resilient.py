"""Redis when it answers, memory when it does not: every Redis call is bounded by a timeout in all.

After a failure Redis is left alone for `retry_after` seconds; then one request probes it while the others keep
using memory, and the first success puts Redis back in use. Invalidations made while Redis was away are
replayed into it on recovery, so entries stored in Redis before the outage are not served after it.
The memory backend is emptied when the fallback starts, so it never answers with entries kept from an
earlier outage that writes made through other replicas have since made stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.exceptions import RedisError

from gateway.cache.backend import Backend, MemoryBackend
from gateway.redisguard import Outage, bounded

log = logging.getLogger("panelgate.cache")
T = TypeVar("T")
ErrorHook = Callable[[str, str], None]  # (backend, action)
FAILURES = (RedisError, OSError, TimeoutError, ValueError, asyncio.TimeoutError)


class ResilientBackend:
    """Routes each call to the primary (Redis) or, while it is failing, to memory."""

    def __init__(
        self,
        primary: Backend | None,
        memory: MemoryBackend,
        *,
        timeout: float,
        retry_after: float,
        on_error: ErrorHook | None = None,
        outage: Outage | None = None,
    ) -> None:
        self.primary = primary
        self.outage = outage or Outage()  # the server's health, shared with its other clients in this process
        self.memory = memory
        self.timeout = timeout
        self.retry_after = retry_after
        self.on_error = on_error
        self.up = primary is not None
        self.errors = 0
        self.last_error = ""
        self.down_since: float | None = None
        self._down_until = 0.0
        self._probing = False
        self._pending: set[str] = set()  # generations bumped in memory while Redis was away

    @property
    def name(self) -> str:
        return self.primary.name if self.primary is not None else self.memory.name

    @property
    def using_fallback(self) -> bool:
        return self.primary is not None and not self.up

    def _use_primary(self) -> bool:
        if self.primary is None:
            return False
        if self.outage.down:  # failed for another client of this server (or for this one) a moment ago
            self._fall_back(self.outage.until)
            return False
        if self.up:
            return True
        if self._probing or time.monotonic() < self._down_until:
            return False
        self._probing = True  # this caller probes; the others stay on memory until it is done
        return True

    async def _call(self, action: str, call: Callable[[Backend], Awaitable[T]]) -> tuple[bool, T | None]:
        """(True, value) from the primary, or (False, None) after a failure (already recorded)."""
        assert self.primary is not None
        was_up = self.up
        started = time.monotonic()
        try:
            if not was_up:
                # Replay the outage's invalidations before anything is read from Redis again.
                await bounded(self.primary.ping(), self.timeout)
                await bounded(self.primary.bump(sorted(self._pending)), self.timeout)
                self._pending.clear()
                self.up, self.down_since = True, None
                log.warning("cache: %s answers again; memory fallback ends", self.primary.name)
            value = await bounded(call(self.primary), self.timeout)
            self.outage.answered(started)
            return True, value
        except FAILURES as exc:
            self._failed(action, exc)
            return False, None
        finally:
            if not was_up:
                self._probing = False

    def _failed(self, action: str, exc: BaseException) -> None:
        assert self.primary is not None
        self.errors += 1
        self.last_error = f"{action}: {type(exc).__name__}: {exc}"[:200]
        if self.on_error is not None:
            self.on_error(self.primary.name, action)
        self.outage.failed(self.retry_after, exc)
        self._fall_back(time.monotonic() + self.retry_after)

    def _fall_back(self, until: float) -> None:
        """Memory until `until` (monotonic); Redis is probed again after it."""
        assert self.primary is not None
        self._down_until = max(self._down_until, until)
        if self.up:
            self.up, self.down_since = False, time.time()
            self.memory.clear()
            reason = self.last_error or "another client of this Redis failed"
            log.warning("cache: %s failed (%s); memory for %.1fs", self.primary.name, reason,
                        self._down_until - time.monotonic())  # fmt: skip

    async def _route(self, action: str, call: Callable[[Backend], Awaitable[T]]) -> T:
        if self._use_primary():
            ok, value = await self._call(action, call)
            if ok:
                return value  # type: ignore[return-value]
        return await call(self.memory)

    async def get(self, key: str) -> bytes | None:
        return await self._route("get", lambda b: b.get(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._route("set", lambda b: b.set(key, value, ttl))

    async def generations(self, names: Sequence[str]) -> tuple[str, list[int]]:
        """The counters, and which backend gave them (keys computed from either never meet)."""
        if self._use_primary():
            ok, value = await self._call("generations", lambda b: b.generations(names))
            if ok and value is not None:
                return "r", value
        return "m", await self.memory.generations(names)

    async def bump(self, names: Sequence[str]) -> None:
        # Memory always: a fallback that starts later must not serve what this write made stale.
        await self.memory.bump(names)
        if self._use_primary():
            ok, _ = await self._call("bump", lambda b: b.bump(names))
            if ok:
                return
        if self.primary is not None:
            self._pending.update(names)

    async def check(self) -> dict[str, Any]:
        """The state for /readyz; probes Redis (bounded) when it is due."""
        if self.primary is None:
            return {"backend": "memory", "state": "ok", "entries": len(self.memory)}
        if self._use_primary():
            await self._call("ping", lambda b: b.ping())
        detail: dict[str, Any] = {"backend": self.primary.name, "state": "ok" if self.up else "fallback"}
        if not self.up:
            detail["serving_from"] = "memory"
            detail["down_since"] = self.down_since
            detail["retry_in"] = round(max(0.0, self._down_until - time.monotonic()), 3)
        detail["errors"] = self.errors
        if self.last_error:
            detail["last_error"] = self.last_error
        return detail

    async def close(self) -> None:
        await self.memory.close()
        if self.primary is not None:
            with contextlib.suppress(*FAILURES):
                await asyncio.wait_for(self.primary.close(), self.timeout * 4)
