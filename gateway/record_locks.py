"""One writer per panel record at a time: the read-modify-write of a whole-row edit must not lose a change.

Two concurrent edits of one line through the gateway each read the row, each overlay their own fields and each
send the whole row: without a lock the second send silently undoes the first. In one process an asyncio lock per
record serialises them; with a Redis URL the lock is a Redis key (SET NX PX, released only by its holder), so
replicas serialise too. Redis trouble degrades to the process lock (never blocks a write on Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.redisguard import bounded, outage

log = logging.getLogger("panelgate.locks")


class RecordBusy(TimeoutError):
    """The record stayed held by another request for the whole wait."""

# Released only by the holder that set it (its token), so a lock that expired and was taken by another is left.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
HOLD_MS = 30_000  # a holder that dies frees the record after this long
POLL = 0.02  # seconds between tries while another replica holds the record
BACKOFF = 5.0  # seconds without Redis after it failed
_CLOSING: set[asyncio.Task[None]] = set()

class RecordLocks:
    """`async with locks.hold("main:line:5", wait=10)` while reading and rewriting that record."""

    def __init__(self) -> None:
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._redis: aioredis.Redis | None = None
        self._url: str | None = None
        self.prefix = "panelgate:lock:"
        self.timeout = 0.25
        # After a Redis failure (this client's or another's of the same server: gateway.redisguard), locks stay in
        # process for the back-off (no wait per write).
        self._outage = outage("")
        # Tokens that may hold a record in Redis although no one here holds it: a SET NX that timed out (a frozen
        # Redis runs it when it resumes) or a release that failed. Released (only if still theirs) once Redis
        # answers again, rather than leaving the record busy for every replica for HOLD_MS.
        self._stray: dict[str, str] = {}  # token -> record name

    def configure(self, redis_url: str | None, *, prefix: str = "panelgate:lock:", timeout: float = 0.25) -> None:
        """Share the locks through Redis at `redis_url` (None: this process only)."""
        if redis_url != self._url:
            old, self._redis = self._redis, None
            if old is not None:
                with contextlib.suppress(RuntimeError):  # no loop running: nothing was ever connected
                    task = asyncio.get_running_loop().create_task(old.aclose())
                    _CLOSING.add(task)
                    task.add_done_callback(_CLOSING.discard)
            if redis_url:
                self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=timeout,
                                                      socket_connect_timeout=timeout)  # fmt: skip
            self._url = redis_url
            self._outage = outage(redis_url or "")
        self.prefix, self.timeout = prefix, timeout

    @contextlib.asynccontextmanager
    async def hold(self, name: str, *, wait: float) -> AsyncIterator[None]:
        """Hold record `name`, waiting up to `wait` seconds for it (RecordBusy past that)."""
        lock = self._local.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._local[name] = lock
        deadline = time.monotonic() + wait
        try:
            async with asyncio.timeout(wait):
                await lock.acquire()
        except TimeoutError:
            raise RecordBusy(f"record {name} is being changed by another request") from None
        try:
            token = await self._acquire_shared(name, deadline)
            try:
                yield
            finally:
                if token is not None:
                    await self._release_shared(name, token)
        finally:
            lock.release()

    async def _acquire_shared(self, name: str, deadline: float) -> str | None:
        if self._redis is None or self._outage.down:
            return None
        token = secrets.token_hex(8)
        while True:
            started = time.monotonic()
            try:
                for stray_token, stray in list(self._stray.items()):
                    await bounded(self._redis.eval(_RELEASE, 1, self.prefix + stray, stray_token), self.timeout)
                    del self._stray[stray_token]
                if await bounded(self._redis.set(self.prefix + name, token, nx=True, px=HOLD_MS), self.timeout):
                    self._outage.answered(started)
                    return token
            except (RedisError, OSError, TimeoutError) as exc:
                self._stray[token] = name
                self._outage.failed(BACKOFF, exc)
                log.warning("record locks held in this process only for %.0fs: %s", BACKOFF, exc)
                return None
            if time.monotonic() + POLL > deadline:
                raise RecordBusy(f"record {name} is being changed by another replica")
            await asyncio.sleep(POLL)

    async def _release_shared(self, name: str, token: str) -> None:
        """Tried even while the server is marked down (the key would hold the record for HOLD_MS), bounded."""
        assert self._redis is not None
        try:
            await bounded(self._redis.eval(_RELEASE, 1, self.prefix + name, token), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._stray[token] = name
            self._outage.failed(BACKOFF, exc)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
