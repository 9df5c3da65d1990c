"""Pooled provider lines: the panel lines the gateway opens shared live channels with, and their slots.

`client_side.provider_lines` lists lines of the provider's panel, each with its `max_connections`. A channel's
upstream connection takes a slot on the first line (in config order) that has one free, and gives it back when
that connection closes (its last viewer gone and the linger over). A line the panel refuses (expired, or its slots
taken by something outside the gateway) is skipped for that channel and the next one tried.

Slots are leases of the Redis layer (gateway.redis.leases), under the `slots` prefix of the `redis:` section: the
first line with a free slot is chosen by one script over every line of the pool (their keys share the hash tag
`{provider}`), atomically across replicas. Each slot is refreshed by its channel's heartbeat, so a replica that
dies leaves slots that expire after the leases' ttl; a slot a failed Redis call may have taken is given back once
Redis answers. While Redis is out (or without one) the slots are counted in this process's memory.

A provider line is named in metrics, logs and Redis keys by its `name`, never by its username or password.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from gateway.config import Config, ProviderLine
from gateway.redis.leases import Lease, Leases
from gateway.redis.link import Link
from gateway.redis.settings import Endpoint

RETRY_AFTER = 10  # seconds a viewer refused for want of a slot is told to wait (a zap, or a channel's linger)
POOL = "provider"  # the leases' group: every provider line's key carries this hash tag (one Cluster slot)


@dataclass(frozen=True)
class Slot:
    line: ProviderLine
    lease: Lease
    leases: Leases  # the ones it was taken from (a reload may have made others since)

    def path(self, kind: str, stream: str, ext: str) -> str:
        """The upstream path of a stream on this line (its credentials inside: never logged, never answered)."""
        user, password = quote(self.line.username, safe=""), quote(self.line.password, safe="")
        return f"/{kind}/{user}/{password}/{stream}.{ext}"


class ProviderPool:
    """The slots of the configured provider lines, in Redis when the config has one, else in memory."""

    def __init__(self) -> None:
        self._leases = Leases(None)
        self._endpoint: Endpoint | None = None
        self.held: Counter[str] = Counter()  # slots this process holds, by line name (for /readyz and metrics)

    def leases(self, config: Config) -> Leases:
        endpoint = config.redis.endpoint("slots")
        if endpoint != self._endpoint:
            # a reload that changes Redis starts new leases; slots already held release through their own
            self._endpoint = endpoint
            self._leases = Leases(Link(endpoint, "slots") if endpoint is not None else None)
        return self._leases

    async def take(self, config: Config, skip: frozenset[str] = frozenset()) -> Slot | None:
        """A slot on the first line with one free (lines named in `skip` left out), None when all are taken."""
        leases = self.leases(config)
        lines = [line for line in config.client_side.provider_lines if line.name not in skip]
        lease = await leases.acquire_any(POOL, [(line.name, line.max_connections) for line in lines])
        if lease is None:
            return None
        self.held[lease.name] += 1
        return Slot(next(line for line in lines if line.name == lease.name), lease, leases)

    async def refresh(self, slot: Slot) -> None:
        await slot.leases.refresh(slot.lease)

    async def release(self, slot: Slot) -> None:
        self.held[slot.line.name] -= 1
        if self.held[slot.line.name] <= 0:
            del self.held[slot.line.name]
        await slot.leases.release(slot.lease)

    def report(self, config: Config) -> dict[str, dict[str, int]]:
        return {line.name: {"held_here": self.held.get(line.name, 0), "max_connections": line.max_connections}
                for line in config.client_side.provider_lines}  # fmt: skip

    async def close(self) -> None:
        await self._leases.close()
