"""One writer per panel record at a time: the read-modify-write of a whole-row edit must not lose a change.

Two concurrent edits of one line through the gateway each read the row, each overlay their own fields and each
send the whole row: without a lock the second send silently undoes the first. In one process an asyncio lock per
record serialises them; with a Redis URL the lock is a Redis key (SET NX PX, released only by its holder), so
replicas serialise too. Redis trouble degrades to the process lock (never blocks a write on Redis).

A failover can lose a lock the old master took but had not yet replicated: for that moment two replicas may each
hold one record (each process still serialises its own writers). Locks live HOLD_MS at most, so none outlasts a
dead holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator

from gateway.heartbeat import beating
from gateway.redis.link import Backlog, Link, Unavailable
from gateway.redis.settings import Endpoint

log = logging.getLogger("panelgate.locks")


class RecordBusy(TimeoutError):
    """The record stayed held by another request for the whole wait."""

# Released only by the holder that set it (its token), so a lock that expired and was taken by another is left.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
# Kept alive only by its holder (if it is still ours): a holder alive past HOLD_MS (a slow panel, a pool failing
# over, a plan of several calls) must not lose the record to another replica in the middle of its rewrite.
_KEEP = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
HOLD_MS = 30_000  # a holder that dies frees the record after this long; a live one refreshes it every third
POLL = 0.02  # seconds between tries while another replica holds the record
_CLOSING: set[asyncio.Task[None]] = set()

class RecordLocks:
    """`async with locks.hold("main:line:5", wait=10)` while reading and rewriting that record."""

    def __init__(self) -> None:
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._link: Link | None = None
        # Tokens that may hold a record in Redis although no one here holds it: a SET NX that timed out (a frozen
        # Redis runs it when it resumes) or a release that failed. Released (only if still theirs) once Redis
        # answers again, rather than leaving the record busy for every replica for HOLD_MS.
        self._stray: dict[str, str] = {}  # token -> record name
        self._releaser = Backlog(self._release_strays)  # as soon as Redis answers, with or without traffic

    def configure(self, endpoint: Endpoint | None) -> None:
        """Share the locks through Redis (None: this process only). While the Redis is out (for this client or
        another of the same deployment: gateway.redis.link), records are locked in this process only."""
        if self._link is not None and self._link.endpoint == endpoint:
            return
        old, self._link = self._link, Link(endpoint, "locks") if endpoint is not None else None
        if old is not None:
            with contextlib.suppress(RuntimeError):  # no loop running: nothing was ever connected
                task = asyncio.get_running_loop().create_task(old.close())
                _CLOSING.add(task)
                task.add_done_callback(_CLOSING.discard)

    @property
    def link(self) -> Link | None:
        return self._link

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
                if token is None:
                    yield
                else:
                    async with beating(HOLD_MS / 3000, lambda: self._keep(name, token)):
                        yield
            finally:
                if token is not None:
                    await self._release_shared(name, token)
        finally:
            lock.release()

    async def _acquire_shared(self, name: str, deadline: float) -> str | None:
        link = self._link
        if link is None:
            return None
        token = secrets.token_hex(8)
        while True:
            try:
                await self._release_strays()
                if await link.run("SET", link.prefix + name, token, "NX", "PX", HOLD_MS):
                    return token
            except (Unavailable, asyncio.CancelledError) as exc:
                if not isinstance(exc, Unavailable) or exc.asked:  # a SET that was sent may still take the lock
                    self._set_aside(token, name)
                if not isinstance(exc, Unavailable):
                    raise
                return None
            if time.monotonic() + POLL > deadline:
                raise RecordBusy(f"record {name} is being changed by another replica")
            await asyncio.sleep(POLL)

    async def _keep(self, name: str, token: str) -> None:
        link = self._link
        if link is not None:
            with contextlib.suppress(Unavailable):  # a miss costs nothing while the lock has time left
                await link.run("EVAL", _KEEP, 1, link.prefix + name, token, HOLD_MS)

    async def _release_shared(self, name: str, token: str) -> None:
        """Tried even while the deployment is out (bounded): the key would hold the record for HOLD_MS."""
        assert self._link is not None
        key = self._link.prefix + name
        try:
            await self._link.run("EVAL", _RELEASE, 1, key, token, force=True)
        except Unavailable:
            self._set_aside(token, name)

    def _set_aside(self, token: str, name: str) -> None:
        self._stray[token] = name
        self._releaser.soon()

    async def _release_strays(self) -> None:
        """Release (compare-and-delete) the tokens kept aside; Unavailable if Redis still fails."""
        link = self._link
        while self._stray:  # those set aside while this ran too
            token, name = next(iter(self._stray.items()))
            if link is not None:
                await link.run("EVAL", _RELEASE, 1, link.prefix + name, token)
            self._stray.pop(token, None)

    async def close(self) -> None:
        await self._releaser.close()
        if self._link is not None:
            await self._link.close()
