"""When each gateway key was last used: in this process always, and in Redis (the `keyuse` endpoint) for every
replica.

`panelgate key list` and the status page read it. A key's time is written to Redis at most once per WRITE_EVERY
seconds per process (one HSET to a single hash), so a busy key costs nothing per request; the time shown is
exact to those seconds.
"""

from __future__ import annotations

import contextlib

from gateway.redis.link import MaybeLink, Unavailable
from gateway.redis.settings import Endpoint

WRITE_EVERY = 10.0  # seconds between writes of one key's last use to Redis, per process
HASH = "last_used"  # after the prefix: key id -> UNIX time


class KeyUse:
    def __init__(self, endpoint: Endpoint | None) -> None:
        self.link = MaybeLink(endpoint, "keyuse")
        self.name = self.link.prefix + HASH
        self.here: dict[str, float] = {}  # key id -> last use in this process
        self._written: dict[str, float] = {}

    def note(self, key_id: str, now: float) -> bool:
        """Note a use of key `key_id` (authenticated, within its dates); True when it is time to `write` it to
        Redis. Apart from write(): most uses only note, and a coroutine per request cost a cache hit 1 %."""
        self.here[key_id] = now
        if now - self._written.get(key_id, 0.0) < WRITE_EVERY:
            return False
        self._written[key_id] = now
        return True

    async def write(self, key_id: str, now: float) -> None:
        """Tell Redis (the `keyuse` endpoint) that key `key_id` was last used at `now`."""
        with contextlib.suppress(Unavailable):  # this process still knows; Redis learns at the next write
            await self.link.run(lambda r: r.hset(self.name, key_id, f"{now:.0f}"))

    async def last_used(self) -> dict[str, float]:
        """Key id -> the last use any replica reported (Redis), or this process saw, whichever is later."""
        seen = dict(self.here)
        try:
            stored = await self.stored()
        except Unavailable:
            return seen
        for name, value in stored.items():
            seen[name] = max(seen.get(name, 0.0), value)
        return seen

    async def stored(self) -> dict[str, float]:
        """Key id -> the last use the replicas wrote to Redis; Unavailable when Redis does not answer (then nothing
        is known: `panelgate key list` must not say "never")."""
        stored = await self.link.run(lambda r: r.hgetall(self.name))
        return {(key.decode() if isinstance(key, bytes) else str(key)): float(value) for key, value in stored.items()}

    async def close(self) -> None:
        await self.link.close()
