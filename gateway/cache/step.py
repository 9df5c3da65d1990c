"""The admin pipeline's cache step, around everything that goes upstream.

- A read with a fresh entry is answered from it (`X-Cache: HIT`); nothing inside the step runs.
- A read without one goes upstream (`MISS`). Concurrent misses for one key in this process wait for the first
  one's answer (single-flight) instead of each calling the panel.
- When that upstream call fails (UPSTREAM_UNAVAILABLE, UPSTREAM_ERROR) an entry up to `stale_if_error`
  seconds past its TTL answers instead (`STALE`).
- Anything else (writes, uncached reads) is `BYPASS`. A write that may have happened bumps the generation
  of each of its tags on every member of its upstream's pool, so every cached read sharing one of them is a miss
  from then on, on every replica.
"""

from __future__ import annotations

import asyncio
import time

from gateway.cache.store import MAYBE_APPLIED, STALE_ON, ResponseCache
from gateway.catalogue import Kind
from gateway.exchange import Exchange, Next
from gateway.model import Failure, Outcome, Result


def mark(ex: Exchange, status: str) -> None:
    ex.response_headers["X-Cache"] = status
    operation = ex.op.name if ex.op is not None else "unknown"
    ex.state.metrics.cache_lookups.labels(operation, status.lower()).inc()


async def cache(ex: Exchange, next: Next) -> Outcome:
    store = ex.state.cache
    if store is None or not store.enabled or ex.op is None or ex.call is None or ex.upstream is None:
        return await next(ex)
    ttl = store.ttl_for(ex.op)
    if ttl <= 0:
        mark(ex, "BYPASS")
        outcome = await next(ex)
        if ex.op.kind is not Kind.READ and (
            isinstance(outcome, Result) or (isinstance(outcome, Failure) and outcome.code in MAYBE_APPLIED)
        ):
            # every member of the upstream's pool: they serve one panel, and each keeps its own entries (a read
            # answered while another member was out is kept under that one)
            for member in ex.candidates or (ex.upstream,):
                await store.invalidate(member.name, ex.op.tags)
        return outcome
    reseller = ex.key.reseller_id if ex.key is not None else None
    key = await store.key_for(ex.upstream.name, ex.op, ex.call, "admin" if reseller is None else str(reseller))
    entry = await store.get(key)
    now = time.time()
    if entry is not None and entry.fresh(now):
        ex.shared = store.derived
        mark(ex, "HIT")
        return entry.result
    stale = entry.result if entry is not None and now < entry.fresh_until + store.config.stale_if_error else None
    flight = store.flights.get(key)
    if flight is None:
        async with store.leading(key) as lead:
            outcome, status = await _fetch(ex, next, store, key, ttl, stale)
            lead.result = (outcome, status)
            return outcome
    # However long the leader takes: every step of its call has a deadline, and it releases its waiters however
    # it ends (store.leading). It may take more than one upstream timeout and still be answered: retries of a busy
    # panel, a pool's next member, a budget's wait. Waiters that gave up at the upstream timeout each called the
    # panel themselves, a herd toward a panel already slow or rate-limiting.
    shared = await asyncio.shield(flight)
    if shared is None:  # the leader gave up (cancelled, or an error of its own): ask the panel ourselves
        outcome, _ = await _fetch(ex, next, store, key, ttl, stale)
        return outcome
    outcome, status = shared
    mark(ex, "STALE" if status == "STALE" else "HIT" if isinstance(outcome, Result) else "MISS")
    return outcome


async def _fetch(ex: Exchange, next: Next, store: ResponseCache, key: str, ttl: float,
                 stale: Result | None) -> tuple[Outcome, str]:  # fmt: skip
    outcome = await next(ex)
    status = "MISS"
    if isinstance(outcome, Result):
        await store.put(key, outcome, ttl)
    elif outcome.code in STALE_ON and stale is not None:
        outcome, status = stale, "STALE"
    mark(ex, status)
    return outcome, status
