"""The admin pipeline's cache steps: `cache_lookup` before `forward`, `cache_store` after it.

- A read with a fresh entry is answered from it (`X-Cache: HIT`); `forward` sees the outcome and does nothing.
- A read without one goes upstream (`MISS`). Concurrent misses for one key in this process wait for the first
  one's answer (single-flight) instead of each calling the panel.
- When that upstream call fails (UPSTREAM_UNAVAILABLE, UPSTREAM_ERROR) an entry up to `stale_if_error`
  seconds past its TTL answers instead (`STALE`).
- Anything else (writes, uncached reads) is `BYPASS`. A write that may have happened bumps the generation
  of each of its tags, so every cached read sharing one of them is a miss from then on, on every replica.
"""

from __future__ import annotations

import asyncio
import time

from gateway.cache.store import MAYBE_APPLIED, STALE_ON, Ticket
from gateway.catalogue import Kind
from gateway.exchange import Exchange
from gateway.model import Failure, Result

WAIT_MARGIN = 1.0  # seconds a waiter allows past the upstream timeout before calling the panel itself


def _mark(ex: Exchange, status: str, *, count: bool = True) -> None:
    ex.cache_status = status
    ex.response_headers["X-Cache"] = status
    if count:  # a leader's miss is counted by cache_store, once it knows whether it became STALE
        operation = ex.op.name if ex.op is not None else "unknown"
        ex.state.metrics.cache_lookups.labels(operation, status.lower()).inc()


async def cache_lookup(ex: Exchange) -> None:
    cache = ex.state.cache
    if cache is None or not cache.enabled or ex.op is None or ex.call is None or ex.upstream is None:
        return
    ttl = cache.ttl_for(ex.op)
    if ttl <= 0:
        _mark(ex, "BYPASS")
        return
    reseller = ex.key.reseller_id if ex.key is not None else None
    tenant = "admin" if reseller is None else str(reseller)
    key = await cache.key_for(ex.upstream.name, ex.op, ex.call, tenant)
    entry = await cache.get(key)
    now = time.time()
    if entry is not None and entry.fresh(now):
        ex.outcome = entry.result
        ex.shared = cache.derived
        _mark(ex, "HIT")
        return
    ticket = Ticket(key=key, ttl=ttl)
    if entry is not None and now < entry.fresh_until + cache.config.stale_if_error:
        ticket.stale = entry.result
    flight = cache.flights.get(key)
    if flight is not None:
        try:
            shared = await asyncio.wait_for(asyncio.shield(flight), ex.upstream.timeout + WAIT_MARGIN)
        except TimeoutError:
            shared = None
        if shared is not None:
            outcome, status = shared
            ex.outcome = outcome
            _mark(ex, "STALE" if status == "STALE" else "HIT" if isinstance(outcome, Result) else "MISS")
            return
    else:
        cache.lead(ticket, ex)
    ex.cache = ticket
    _mark(ex, "MISS", count=False)


async def cache_store(ex: Exchange) -> None:
    cache = ex.state.cache
    if cache is None or not cache.enabled or ex.op is None or ex.upstream is None or ex.outcome is None:
        return
    ticket = ex.cache
    if ticket is not None:
        outcome = ex.outcome
        if isinstance(outcome, Result):
            await cache.put(ticket.key, outcome, ticket.ttl)
        status = "MISS"
        if isinstance(outcome, Failure) and outcome.code in STALE_ON and ticket.stale is not None:
            ex.outcome, status = ticket.stale, "STALE"
        _mark(ex, status)
        cache.finish(ticket, ex.outcome, status)
        return
    if ex.op.kind is Kind.READ:
        return
    outcome = ex.outcome
    if isinstance(outcome, Result) or (isinstance(outcome, Failure) and outcome.code in MAYBE_APPLIED):
        await cache.invalidate(ex.upstream.name, ex.op.tags)
