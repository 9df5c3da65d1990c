"""The gateway's state: built once from a validated config, swapped whole on a reload (what must outlive a
config is lent by the previous state)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from gateway.audit import AuditLog
from gateway.cache import ResponseCache
from gateway.catalogue import catalogue
from gateway.config import Config
from gateway.exchange import GatewayState, Live
from gateway.health import Health
from gateway.idempotency.store import IdempotencyStore
from gateway.keyuse import KeyUse
from gateway.metrics import Metrics
from gateway.quotas.counter import QuotaCounter
from gateway.ratelimit import Limiter
from gateway.redis.link import Link, warm
from gateway.upstream import UpstreamClient


class Closeable(Protocol):
    async def close(self) -> None: ...


RETIRE_AFTER = 120.0  # seconds a replaced state's resources stay open for requests still using them
_RETIRING: set[asyncio.Task[None]] = set()


def build_state(config: Config, previous: GatewayState | None = None) -> GatewayState:
    """Everything request code needs, from a validated config.

    On a reload, `previous` lends what must outlive a config: the upstream connection pools and the metrics
    registry always, the rate-limit buckets and the audit file when their settings did not change.
    """
    redis = config.redis
    if previous is not None and previous.config.redis.endpoint("rate_limits") == redis.endpoint("rate_limits"):
        limiter = previous.limiter
    else:
        limiter = Limiter(redis.endpoint("rate_limits"))
    if previous is not None and previous.config.audit_log == config.audit_log:
        audit = previous.audit
        audit.reopen_if_moved()  # logrotate renames the file, then sends SIGHUP
    else:
        audit = AuditLog(config.audit_log)
    metrics = previous.metrics if previous is not None else Metrics()
    metrics.redis_settings = redis  # what /metrics reports on (gateway.redis.status)
    idempotent = _idempotency_store(config, previous)
    quotas, keyuse = _key_counters(config, previous)
    if previous is not None:
        client = previous.upstream_client  # pools and breakers outlive a reload
        client.health.configure(config.health)
    else:
        client = UpstreamClient(health=Health(config.health))
    # request budgets are shared by replicas through the rate limiter; record locks have their own endpoint
    client.locks.configure(redis.endpoint("locks"))
    client.budget.limiter, client.budget.metrics = limiter, metrics
    return GatewayState(
        config=config,
        catalogue=catalogue(),
        keys_by_digest={k.digest: k for k in config.keys if not k.ip_only},
        ip_only_keys=tuple(k for k in config.keys if k.ip_only),
        previous_digests={p.digest: (k, p.until) for k in config.keys for p in k.lifecycle.previous},
        limiter=limiter,
        upstream_client=client,
        metrics=metrics,
        audit=audit,
        idempotency=idempotent,
        quotas=quotas,
        keyuse=keyuse,
        cache=(
            previous.cache
            if previous is not None and previous.cache is not None and previous.config.cache == config.cache
            and previous.cache.redis == redis.endpoint("cache")
            else ResponseCache(config.cache, metrics, redis.endpoint("cache"))
        ),
    )


def redis_links(state: GatewayState) -> list[Link | None]:
    """The admin side's Redis links (the client side's are its runtime's)."""
    primary = state.cache.backend.primary if state.cache is not None else None
    return [state.limiter.link, primary.link if primary is not None else None, state.upstream_client.locks.link,
            state.idempotency.link.link, state.quotas.link.link, state.keyuse.link.link]  # fmt: skip


def _idempotency_store(config: Config, previous: GatewayState | None) -> IdempotencyStore:
    """Records of idempotent writes, in the `idempotency` Redis endpoint (else memory). A reload keeps them, whatever
    it changes: a duplicate after a reload is still a duplicate, and a request running across it still holds its
    claim (its store lends the new one its memory; times apply to what is stored from now on)."""
    endpoint, settings = config.redis.endpoint("idempotency"), config.idempotency
    if previous is not None and previous.config.redis.endpoint("idempotency") == endpoint:
        store = previous.idempotency
        store.ttl, store.pending_ttl = settings.ttl, settings.pending_ttl
        store.memory.resize(settings.max_entries)
        return store
    store = IdempotencyStore(endpoint, ttl=settings.ttl, pending_ttl=settings.pending_ttl,
                             max_entries=settings.max_entries)  # fmt: skip
    if previous is not None:
        store.memory = previous.idempotency.memory  # the records made here (no Redis, or while it was out)
        store.memory.resize(settings.max_entries)
    return store


def _key_counters(config: Config, previous: GatewayState | None) -> tuple[QuotaCounter, KeyUse]:
    """Keys' quota counts and last uses, in their Redis endpoints (else memory); kept across reloads."""
    endpoints = (config.redis.endpoint("quotas"), config.redis.endpoint("keyuse"))
    if previous is not None and (previous.config.redis.endpoint("quotas"),
                                 previous.config.redis.endpoint("keyuse")) == endpoints:  # fmt: skip
        return previous.quotas, previous.keyuse
    return QuotaCounter(endpoints[0]), KeyUse(endpoints[1])


async def swap_state(live: Live, config: Config) -> None:
    """Put `config` in force. Requests already running finish with the state they started with."""
    old = live.state
    new = build_state(config, previous=old)
    await warm(redis_links(new))  # connected before it takes requests (bounded: gateway.redis.link)
    live.state = new
    retired: list[Closeable] = [
        was for was, now in ((old.limiter, new.limiter), (old.cache, new.cache), (old.idempotency, new.idempotency),
                             (old.quotas, new.quotas), (old.keyuse, new.keyuse))
        if was is not None and was is not now
    ]  # fmt: skip
    retired_audit = old.audit if new.audit is not old.audit else None
    if not retired and retired_audit is None:
        return

    async def retire() -> None:
        # Requests that started before the swap still hold the old state: give them time to finish.
        await asyncio.sleep(RETIRE_AFTER)
        for resource in retired:
            await resource.close()
        if retired_audit is not None:
            retired_audit.close()

    task = asyncio.get_running_loop().create_task(retire())
    _RETIRING.add(task)
    task.add_done_callback(_RETIRING.discard)
