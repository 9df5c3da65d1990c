"""The `idempotency:` config section (gateway.idempotency), beside its owner; gateway.config only calls `parse`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.settings import Reader


@dataclass(frozen=True)
class IdempotencySettings:
    """`idempotency:` in the config. Records live in Redis when there is one (the `redis:` section's, under
    `prefixes.idempotency`), else in each process's memory."""

    ttl: float = 86400.0  # seconds an outcome answers duplicates
    wait: float = 30.0  # seconds a duplicate waits for the first request before being told to retry
    pending_ttl: float = 30.0  # seconds a claim outlives a replica that died holding it (refreshed while it runs)
    max_entries: int = 100_000  # records kept in memory (without Redis, or while it is down)


def parse(data: Any, path: str) -> IdempotencySettings:
    """`idempotency: {ttl: 86400, wait: 30, pending_ttl: 30, max_entries: 100000}` (every key optional)."""
    if data is None:
        return IdempotencySettings()
    r = Reader(data, path)
    default = IdempotencySettings()
    settings = IdempotencySettings(
        ttl=r.number("ttl", default.ttl),
        wait=r.number("wait", default.wait),
        pending_ttl=r.number("pending_ttl", default.pending_ttl),
        max_entries=r.integer("max_entries", default.max_entries, low=1, high=10_000_000),
    )
    r.done()
    return settings
