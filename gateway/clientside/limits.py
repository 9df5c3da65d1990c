"""Concurrent streams per line, behind a tiny interface: in process memory, or shared through Redis.

The shared count is a set of leases per line (gateway.redis.leases): each open stream holds one, refreshed by a
heartbeat; a replica that dies leaves leases that stop being refreshed and are swept after `ttl` seconds, so a
crash never locks a line. While Redis is out each process counts in its own memory, and no lease leaks: one that
Redis may hold for nobody (a timed-out acquire, a failed release) is removed once Redis answers again.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
from collections.abc import AsyncIterator
from typing import Protocol

from gateway.heartbeat import beating
from gateway.redis.leases import Lease, Leases, MemoryLeases
from gateway.redis.link import Link
from gateway.redis.settings import Endpoint

__all__ = ["Lease", "MemoryCounter", "RedisCounter", "StreamCounter", "kept", "line_key"]

HEARTBEAT = 20.0  # seconds between refreshes of a stream's shared lease (swept after the counter's ttl, 60 s)


def line_key(upstream: str, username: str, password: str = "", *, secret: str = "") -> str:
    """The counter key of a line: the panel's MySQL compares usernames case-insensitively and without trailing
    spaces (utf8_unicode_ci), so `JONAS03` and `jonas03 ` are the line `jonas03` and share its slots.

    The password (read the same way, as a digest: none reaches Redis) is part of it: a slot is taken before the
    panel has checked the password, and a stranger who knows only a username must not hold the line's slots with
    wrong ones. The password that opens the line is one, so its viewers still share its slots. The digest is keyed
    by `secret` (the upstream's own key, the same in every replica's config): a plain SHA-256 of a line password,
    ten characters or so, beside its username in Redis, gave it back to anyone who could list Redis' keys."""
    key = f"{upstream}:{username.strip().casefold()}"
    if not password:
        return key
    text = password.strip().casefold().encode()
    digest = hmac.new(secret.encode(), text, hashlib.sha256) if secret else hashlib.sha256(text)
    return f"{key}:{digest.hexdigest()[:32]}"


class StreamCounter(Protocol):
    ttl: float  # seconds a shared lease outlives its last refresh

    async def acquire(self, line: str, limit: int) -> Lease | None:
        """A lease on one of `limit` stream slots of `line`, or None when all are taken."""

    async def refresh(self, lease: Lease) -> bool:
        """Still streaming (a heartbeat for shared counters)."""

    async def release(self, lease: Lease) -> None: ...

    async def close(self) -> None: ...


class MemoryCounter:
    ttl = math.inf  # a process's own leases end with it

    def __init__(self) -> None:
        self.leases = MemoryLeases()

    @property
    def open(self) -> dict[str, int]:
        return self.leases.held

    async def acquire(self, line: str, limit: int) -> Lease | None:
        return self.leases.acquire_any(line, [(line, limit)])

    async def refresh(self, lease: Lease) -> bool:
        return True

    async def release(self, lease: Lease) -> None:
        self.leases.release(lease)

    async def close(self) -> None:
        return None


class RedisCounter(Leases):
    """Shared across replicas through the `streams` endpoint (every call bounded by its timeout, memory while
    the deployment is out: gateway.redis.link)."""

    def __init__(self, endpoint: Endpoint, *, ttl: float = 60.0) -> None:
        super().__init__(Link(endpoint, "streams"), ttl=ttl)

    @property
    def redis_errors(self) -> int:
        return self.link.errors if self.link is not None else 0


@contextlib.asynccontextmanager
async def kept(counter: StreamCounter, lease: Lease) -> AsyncIterator[None]:
    """Refresh a shared `lease` while the body runs (a stream that lasts hours must not be swept as a dead
    replica's after the ttl, which would let its line open one stream more than its cap); one taken in memory
    while Redis was out too, so that it is counted in Redis once Redis answers again."""
    if math.isinf(counter.ttl):
        yield
        return
    async with beating(min(HEARTBEAT, counter.ttl / 3), lambda: counter.refresh(lease)):
        yield
