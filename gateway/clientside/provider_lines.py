"""Pooled provider lines: the panel lines the gateway opens shared live channels with, and their slots.

`client_side.provider_lines` lists lines of the provider's panel, each with its `max_connections`. A channel's
upstream connection takes a slot on the first line (in config order) that has one free, and gives it back when
that connection closes (its last viewer gone and the linger over). A line the panel refuses (expired, or its slots
taken by something outside the gateway) is skipped for that channel and the next one tried.

Slots are counted where the per-line stream caps are (gateway.clientside.limits): with `client_side.redis_url` a
sorted set per provider line shared by every replica, each slot a member refreshed by its channel's heartbeat, so
a replica that dies leaves slots that expire after the counter's ttl; when Redis fails, counted in this process's
memory (and Redis' members expire meanwhile). This module is the only user of that counter for provider slots:
the Redis layer can take it over here, in one place.

A provider line is named in metrics, logs and Redis keys by its `name`, never by its username or password.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from gateway.clientside.limits import Lease, MemoryCounter, RedisCounter, StreamCounter
from gateway.config import ClientSide, ProviderLine

RETRY_AFTER = 10  # seconds a viewer refused for want of a slot is told to wait (a zap, or a channel's linger)


@dataclass(frozen=True)
class Slot:
    line: ProviderLine
    lease: Lease
    counter: StreamCounter  # the one it was taken from (a reload may have made another since)

    def path(self, kind: str, stream: str, ext: str) -> str:
        """The upstream path of a stream on this line (its credentials inside: never logged, never answered)."""
        user, password = quote(self.line.username, safe=""), quote(self.line.password, safe="")
        return f"/{kind}/{user}/{password}/{stream}.{ext}"


class ProviderPool:
    """The slots of the configured provider lines, in Redis when `redis_url` is set, else in memory."""

    def __init__(self) -> None:
        self._counter: StreamCounter = MemoryCounter()
        self._key: tuple[str, str] | None = None
        self.held: Counter[str] = Counter()  # slots this process holds, by line name (for /readyz and metrics)

    def counter(self, cs: ClientSide) -> StreamCounter:
        key = (cs.redis_url or "", cs.redis_prefix)
        if key != self._key:
            # a reload that changes Redis starts a new counter; slots already held release through their lease
            self._key = key
            self._counter = (
                RedisCounter(cs.redis_url, prefix=f"{cs.redis_prefix}provider:") if cs.redis_url else MemoryCounter()
            )
        return self._counter

    async def take(self, cs: ClientSide, skip: frozenset[str] = frozenset()) -> Slot | None:
        """A slot on the first line with one free (lines named in `skip` left out), None when all are taken."""
        counter = self.counter(cs)
        for line in cs.provider_lines:
            if line.name in skip:
                continue
            lease = await counter.acquire(line.name, line.max_connections)
            if lease is not None:
                self.held[line.name] += 1
                return Slot(line, lease, counter)
        return None

    async def refresh(self, slot: Slot) -> None:
        await slot.counter.refresh(slot.lease)

    async def release(self, slot: Slot) -> None:
        self.held[slot.line.name] -= 1
        if self.held[slot.line.name] <= 0:
            del self.held[slot.line.name]
        await slot.counter.release(slot.lease)

    def report(self, cs: ClientSide) -> dict[str, dict[str, int]]:
        return {line.name: {"held_here": self.held.get(line.name, 0), "max_connections": line.max_connections}
                for line in cs.provider_lines}  # fmt: skip

    async def close(self) -> None:
        await self._counter.close()
