"""The `cache` section: which backend, the TTL of each read (operation globs), how long an entry may answer
stale when the upstream fails, how much the process keeps. The client side's cached reads are named here too,
since `cache.ttl` globs may match them."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from gateway.catalogue import catalogue
from gateway.redis.settings import RedisSettings, legacy_seen
from gateway.settings import ConfigError, Reader

# The client-side reads cached per line (gateway.clientside.cached): player_api.php actions and get.php types.
PLAYER_ACTIONS = frozenset({
    "get_live_categories", "get_vod_categories", "get_series_categories", "get_live_streams", "get_vod_streams",
    "get_series",
})  # fmt: skip
PLAYLIST_TYPES = frozenset({"m3u", "m3u_plus"})
# ...under the names `cache.ttl` globs match (`player.*`, `playlist.m3u_plus`, ...) beside the catalogue's reads
CLIENT_SIDE_READS = (*(f"player.{action}" for action in sorted(PLAYER_ACTIONS)),
                     *(f"playlist.{kind}" for kind in sorted(PLAYLIST_TYPES)))  # fmt: skip


@dataclass(frozen=True)
class CacheConfig:
    """Caching of read operations. Without a `cache` section nothing is cached (`backend: off`)."""

    backend: str = "off"  # off | memory | redis (the `redis:` section's)
    ttl: tuple[tuple[str, float], ...] = ()  # (operation glob, seconds): exact names first, then longest glob
    default_ttl: float = 30.0
    stale_if_error: float = 300.0  # seconds past its TTL an entry may answer when the upstream fails
    max_entries: int = 10_000  # in-process entries (the memory backend, and the fallback when Redis fails)
    max_megabytes: int = 256  # and their size: a cached playlist can be megabytes, and lines are many

    def ttl_for(self, operation: str) -> float:
        return next((s for p, s in self.ttl if fnmatch.fnmatchcase(operation, p)), self.default_ttl)


def parse_cache(data: Any, path: str, redis: RedisSettings) -> CacheConfig:
    """`{backend: redis, ttl: {default: 30, "package.*": 300}, stale_if_error: 300}`; redis is the `redis:`
    section's (the default when there is one)."""
    if data is None:
        return CacheConfig()
    r = Reader(data, path)
    legacy_seen(r, "cache")
    shared = redis.endpoint("cache") is not None
    backend = r.choice("backend", ("off", "memory", "redis"), "redis" if shared else "memory")
    if backend == "redis" and not shared:
        raise ConfigError(r.at("backend"), "redis needs a Redis: set redis.url")
    ttl_raw = r.get("ttl", {})
    if not isinstance(ttl_raw, dict):
        ttl_raw = {"default": ttl_raw}
    ttl_reader = Reader(ttl_raw, r.at("ttl"))
    reads = [op for op in catalogue().operations.values() if op.kind.value == "read"]
    globs: list[tuple[str, float]] = []
    for pattern in ttl_raw:
        seconds = ttl_reader.seconds(str(pattern), 0.0)
        names = (*(op.name for op in reads), *CLIENT_SIDE_READS)
        if pattern != "default" and not any(fnmatch.fnmatchcase(n, str(pattern)) for n in names):
            raise ConfigError(ttl_reader.at(str(pattern)), "matches no read operation")
        if pattern != "default":
            globs.append((str(pattern), seconds))
    # An exact name beats any glob; among globs the longest (most specific) pattern wins.
    globs.sort(key=lambda g: (any(c in g[0] for c in "*?["), -len(g[0])))
    cache = CacheConfig(
        backend=backend,
        ttl=tuple(globs),
        default_ttl=ttl_reader.seconds("default", 30.0),
        stale_if_error=r.seconds("stale_if_error", 300.0),
        max_entries=r.integer("max_entries", 10_000, low=1, high=10_000_000),
        max_megabytes=r.integer("max_megabytes", 256, low=1, high=1_000_000),
    )
    r.done()
    return cache
