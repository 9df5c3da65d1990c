"""The Redis backend: entries and generations shared by every replica, through the Redis layer (gateway.redis).

Entries are single keys (`e:<hash>`), spread over a Cluster's masters. One upstream's generations share the hash
tag `{g:<upstream>}`, so a cached read gets all of its own in one MGET and a write sets its own in one MSET, on a
Cluster too. A bump sets a random value rather than incrementing: a failover that loses a bump can then never
bring a generation back to a value entries were cached under before the edit (gateway.cache.resilient).
Every call raises gateway.redis.link.Unavailable when Redis is out or fails; the fallback is the caller's.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence

from gateway.redis.link import Link, tagged
from gateway.redis.settings import Endpoint


def _upstream(name: str) -> str:
    """A generation's name is `<upstream>:<resource tag>` (tags hold no colon)."""
    return name.rpartition(":")[0]


class RedisBackend:
    name = "redis"

    def __init__(self, endpoint: Endpoint) -> None:
        self.link = Link(endpoint, "cache")

    def _gen_key(self, name: str) -> str:
        upstream, _, tag = name.rpartition(":")
        return tagged(self.link.prefix, f"g:{upstream}", f":{tag}")

    def _by_upstream(self, names: Sequence[str]) -> dict[str, list[str]]:
        """Names grouped by hash tag: a multi-key command may only span one slot."""
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(_upstream(name), []).append(name)
        return groups

    async def get(self, key: str) -> bytes | None:
        value = await self.link.run("GET", self.link.prefix + key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.link.run("SET", self.link.prefix + key, value, "PX", max(1, int(ttl * 1000)))

    async def touch(self, key: str, ttl: float) -> bool:
        # only ever lengthened, as in memory: a body shared by names of different TTLs must outlive the longest
        # pointer to it (PEXPIRE's GT would do it, but only from Redis 7)
        return bool(await self.link.run("EVAL", _LENGTHEN, 1, self.link.prefix + key, max(1, int(ttl * 1000))))

    async def generations(self, names: Sequence[str]) -> list[int]:
        found: dict[str, int] = {}
        for group in self._by_upstream(names).values():
            keys = [self._gen_key(n) for n in group]
            values = await self.link.run("MGET", *keys)
            if None in values:
                # A generation Redis does not hold (never bumped, or lost: a restart without persistence, an
                # eviction) is given a random value, the same for every replica (set only if still missing). Read
                # as 0 it would name again the entries of before every write, and a replica that still holds one
                # (gateway.hitpath's remembered entry) would answer it as fresh.
                missing = [(k, secrets.randbits(62)) for k, v in zip(keys, values, strict=True) if v is None]
                values = await self.link.run("EVAL", _INITIAL, len(keys), *keys,
                                             *(dict(missing).get(k, "") for k in keys))  # fmt: skip
            found.update((n, int(v) if v is not None else 0) for n, v in zip(group, values, strict=True))
        return [found[n] for n in names]

    async def bump(self, names: Sequence[str], *, force: bool = False) -> None:
        for group in self._by_upstream(names).values():
            pairs = itertools.chain.from_iterable((self._gen_key(n), secrets.randbits(62)) for n in group)
            await self.link.run("MSET", *pairs, force=force)

    async def ping(self) -> None:
        await self.link.call(lambda c: c.ping())

    async def close(self) -> None:
        await self.link.close()


# 0 when the key is gone; else its TTL raised to ARGV[1] ms if it was lower (a key without one keeps none)
_LENGTHEN = """
local left = redis.call('PTTL', KEYS[1])
if left == -2 then return 0 end
if left >= 0 and left < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""


# KEYS the generations; ARGV for each a value to set if it is missing ("" for one that was there): their values now
# (a key of another type, written by another tool, reads as missing, as MGET reads it)
_INITIAL = """
local found = {}
for i, key in ipairs(KEYS) do
  if ARGV[i] ~= '' and redis.call('EXISTS', key) == 0 then
    redis.call('SET', key, ARGV[i])
  end
  local value = redis.pcall('GET', key)
  if type(value) == 'table' then value = false end
  found[i] = value
end
return found
"""
