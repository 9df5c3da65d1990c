"""The response cache: keys, entries, invalidation by generation, single-flight and stale-if-error.

An entry is the canonical Result of a read (data, total, filtered, extra) as JSON, so clients of every dialect
share it; each renders it in its own dialect. The key hashes the upstream, the operation, the canonical args
(sorted JSON), the target Ref, the tenant (the key's reseller, or "admin") and the generations of the
operation's resource tags (plus "*") on that upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from gateway import jsonio
from gateway.cache.backend import MemoryBackend
from gateway.cache.derived import DerivedMemo
from gateway.cache.redis_backend import RedisBackend
from gateway.cache.resilient import FALLBACK_TTL, ResilientBackend
from gateway.cache.settings import CacheConfig
from gateway.catalogue import Kind, Operation
from gateway.metrics import Metrics
from gateway.model import Call, Code, Outcome, Ref, Result
from gateway.redis.settings import Endpoint

log = logging.getLogger("panelgate.cache")
EVERYTHING = "*"
STALE_ON = (Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR)
# A write whose answer says it may have happened: invalidate rather than risk serving what it changed.
MAYBE_APPLIED = (Code.PARTIAL_FAILURE, Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR)


@dataclass(frozen=True)
class Entry:
    result: Result
    fresh_until: float  # wall clock (epoch seconds): replicas share entries

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until


@dataclass
class Lead:
    """What the leader of a flight hands its waiters: its outcome and cache status (None: it had none)."""

    result: tuple[Outcome, str] | None = None


def _canonical(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _ref_fields(ref: Ref) -> dict[str, Any]:
    # what dataclasses.asdict gives for this flat record, without its recursive copy (it was on every hit)
    return {"id": ref.id, "ids": list(ref.ids), "username": ref.username, "password": ref.password, "mac": ref.mac}


def _decoded_size(slot: tuple[bytes, Entry]) -> int:
    # decoded JSON takes several times its text in Python objects
    return len(slot[0]) * 4 + 200


def encode_entry(result: Result, fresh_until: float) -> bytes:
    body = {"data": result.data, "total": result.total, "filtered": result.filtered, "extra": result.extra}
    return jsonio.dumps({"f": fresh_until, "r": body})


def decode_entry(raw: bytes) -> Entry | None:
    try:
        doc = jsonio.loads(raw)
        body = doc["r"]
        result = Result(data=body["data"], total=body["total"], filtered=body["filtered"], extra=body["extra"] or {})
        return Entry(result=result, fresh_until=float(doc["f"]))
    except (ValueError, KeyError, TypeError):
        return None


class ResponseCache:
    def __init__(self, config: CacheConfig, metrics: Metrics, redis: Endpoint | None = None) -> None:
        """`redis`: the cache's Redis (config.redis.endpoint("cache")); None keeps entries in this process."""
        self.config = config
        self.metrics = metrics
        self.redis = redis
        primary = RedisBackend(redis) if redis is not None and config.backend == "redis" else None
        self.backend = ResilientBackend(
            primary, MemoryBackend(config.max_entries, config.max_megabytes << 20), on_error=self._on_error
        )
        # read when scraped: the fallback also starts when another client of the same Redis failed (gateway.redis)
        metrics.cache_fallback.set_function(lambda: 1.0 if self.backend.using_fallback else 0.0)
        metrics.cache_pending_invalidations.set_function(lambda: float(len(self.backend.pending)))
        self.flights: dict[str, asyncio.Future[tuple[Outcome, str] | None]] = {}
        # the last decoded entry per key, with its bytes: a hit on unchanged bytes skips json.loads (bench/notes.md)
        self._decoded: LRUCache[str, tuple[bytes, Entry]] = LRUCache(
            maxsize=config.max_megabytes << 20, getsizeof=_decoded_size
        )
        self.derived = DerivedMemo()  # what hits derive from those shared entries: pages, rendered answers

    @property
    def enabled(self) -> bool:
        return self.config.backend != "off"

    def _on_error(self, backend: str, action: str) -> None:
        self.metrics.cache_backend_errors.labels(backend, action).inc()

    def ttl_for(self, op: Operation) -> float:
        return self.config.ttl_for(op.name) if self.enabled and op.kind is Kind.READ else 0.0

    @staticmethod
    def generation_names(upstream: str, tags: tuple[str, ...]) -> list[str]:
        return sorted({f"{upstream}:{t}" for t in (*tags, EVERYTHING)})

    async def key_for(self, upstream: str, op: Operation, call: Call, tenant: str) -> str:
        return await self.key_at(self.key_base(upstream, op, call, tenant), self.generation_names(upstream, op.tags))

    @staticmethod
    def key_base(upstream: str, op: Operation, call: Call, tenant: str) -> Any:
        """The digest of everything in a key but the generations: a pure function of the call, which a
        remembered hit plan (gateway.hitpath, kept by gateway.hitmemo) keeps and copies instead of serialising the
        call again."""
        material = {
            "upstream": upstream,
            "operation": op.name,
            "args": call.args,
            "target": _ref_fields(call.target),
            "tenant": tenant,
        }
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=_canonical)
        return hashlib.sha256(text.encode())

    async def key_at(self, base: Any, names: list[str]) -> str:
        """The key: `base` (key_base's digest, not changed) with the generations of `names` now."""
        return self.key_from(base, await self.backend.generations(names))

    @staticmethod
    def key_from(base: Any, generations: tuple[str, list[int]]) -> str:
        """The key for `base` at `generations` (the backend that gave them, and their values)."""
        source, values = generations
        digest = base.copy()
        digest.update(f"|{source}:{','.join(map(str, values))}".encode())
        return "e:" + digest.hexdigest()

    async def get(self, key: str) -> Entry | None:
        """The entry under `key`. Decoding is remembered per key with the bytes it came from (the memory backend
        hands back the same object, Redis equal bytes), so a hit does not parse the same JSON again. Entries are
        shared read-only, as single-flight waiters already share one outcome."""
        raw = await self.backend.get(key)
        if raw is None:
            return None
        seen = self._decoded.get(key)
        if seen is not None and seen[0] == raw:
            return seen[1]
        entry = decode_entry(raw)
        if entry is not None:
            self._decoded[key] = (raw, entry)
        return entry

    def fresh_for(self, ttl: float) -> float:
        """How long an entry stored now stays fresh: its TTL, but at most FALLBACK_TTL while Redis is out (each
        replica caches alone then, and another's write cannot reach this memory: gateway.cache.resilient)."""
        return min(ttl, FALLBACK_TTL) if self.backend.using_fallback else ttl

    async def put(self, key: str, result: Result, ttl: float) -> None:
        ttl = self.fresh_for(ttl)
        try:
            raw = encode_entry(result, time.time() + ttl)
        except (TypeError, ValueError):
            log.warning("cache: a result that is not JSON is not cached (%s)", key)
            return
        await self.backend.set(key, raw, ttl + self.config.stale_if_error)

    async def invalidate(self, upstream: str, tags: tuple[str, ...]) -> None:
        await self.backend.bump(sorted({f"{upstream}:{t}" for t in tags}))
        for tag in tags:
            self.metrics.cache_invalidations.labels(tag).inc()

    @contextlib.asynccontextmanager
    async def leading(self, key: str) -> AsyncIterator[Lead]:
        """Lead the flight for `key`: concurrent misses wait for what this one sets on the Lead. However the
        leader ends (an answer, an exception, a cancellation), its waiters are released when it leaves."""
        future: asyncio.Future[tuple[Outcome, str] | None] = asyncio.get_running_loop().create_future()
        self.flights[key] = future
        lead = Lead()
        try:
            yield lead
        finally:
            if self.flights.get(key) is future:
                del self.flights[key]
            if not future.done():
                future.set_result(lead.result)

    async def describe(self) -> dict[str, Any]:
        if not self.enabled:
            return {"backend": "off"}
        return await self.backend.check()

    async def close(self) -> None:
        await self.backend.close()
