"""The Redis backend: entries and generation counters shared by every replica.

URLs: `redis://`, `rediss://`, `unix://` (one server); `redis+sentinel://[:password@]host:port[,host:port...]/
service[/db]` (the master of a Sentinel service; `rediss+sentinel://` for TLS to the master);
`redis+cluster://host:port` (`rediss+cluster://`; a Redis Cluster, found from any node).
Generation counters share one hash tag, so reading them all is one MGET even on a cluster.
Timeouts and the fallback to memory are the caller's (`gateway.cache.resilient`), not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

RedisClient = aioredis.Redis | RedisCluster


def _sentinel_client(url: str, timeout: float) -> aioredis.Redis:
    scheme, rest = url.split("://", 1)
    netloc, _, path = rest.partition("/")
    password: str | None = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[1] if ":" in auth else auth) or None
    hosts: list[tuple[str, int]] = []
    for item in netloc.split(","):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        hosts.append((host.strip("[]"), int(port or 26379)))
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ValueError("a redis+sentinel:// URL names the service: redis+sentinel://host:26379/mymaster[/db]")
    db = int(parts[1]) if len(parts) > 1 else 0
    socket = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    sentinel = Sentinel(hosts, sentinel_kwargs=dict(socket), **socket)
    extra: dict[str, Any] = {"ssl": True} if scheme.startswith("rediss") else {}
    client: aioredis.Redis = sentinel.master_for(parts[0], password=password, db=db, **extra)
    return client


def redis_client(url: str, timeout: float) -> RedisClient:
    """A lazily connecting client for `url` (nothing is contacted here)."""
    scheme = url.split("://", 1)[0]
    if scheme.endswith("+sentinel"):
        return _sentinel_client(url, timeout)
    if scheme.endswith("+cluster"):
        plain = scheme.removesuffix("+cluster") + url[len(scheme) :]
        return RedisCluster.from_url(plain, socket_timeout=timeout, socket_connect_timeout=timeout)
    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, *, prefix: str, timeout: float) -> None:
        self.client = redis_client(url, timeout)
        self.prefix = prefix

    def _gen_key(self, name: str) -> str:
        return f"{self.prefix}{{gen}}:{name}"

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(self.prefix + key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.client.set(self.prefix + key, value, px=max(1, int(ttl * 1000)))

    async def generations(self, names: Sequence[str]) -> list[int]:
        if not names:
            return []
        values = await self.client.mget([self._gen_key(n) for n in names])
        return [int(v) if v is not None else 0 for v in values]

    async def bump(self, names: Sequence[str]) -> None:
        for n in names:
            await self.client.incr(self._gen_key(n))

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
