"""Per-process token buckets (gateway.ratelimit.LocalBuckets): bounded by count, least recently taken from
first; a bucket untouched for BUCKET_TTL reads as full; a look (cost 0) stores nothing."""

from __future__ import annotations

import pytest

from gateway import ratelimit
from gateway.rate import Rate

RATE = Rate(per_second=1 / 60, burst=3)


def test_bounded_least_recently_taken_from_first() -> None:
    buckets = ratelimit.LocalBuckets(max_buckets=3)
    for name in ("a", "b", "c"):
        buckets.take(name, RATE, 1)
    buckets.take("a", RATE, 1)  # a is now the most recent
    buckets.take("d", RATE, 1)  # full: b goes
    assert len(buckets) == 3
    assert buckets.take("b", RATE, 0).remaining == 3  # forgotten: full again
    assert buckets.take("a", RATE, 0).remaining == 1
    assert buckets.take("c", RATE, 0).remaining == 2


def test_a_look_stores_nothing_and_an_old_bucket_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    buckets = ratelimit.LocalBuckets()
    assert buckets.take("auth:192.0.2.1", RATE, 0).remaining == 3 and len(buckets) == 0
    for _ in range(3):
        assert buckets.take("key:x", RATE, 1).allowed
    assert not buckets.take("key:x", RATE, 1).allowed
    now[0] += ratelimit.BUCKET_TTL - 1
    assert buckets.take("key:x", RATE, 0).remaining == 3  # refilled by then anyway (3 tokens in 3 minutes)
    slow = Rate(per_second=1 / 86400, burst=2)
    buckets.take("key:slow", slow, 2)
    now[0] += ratelimit.BUCKET_TTL - 1
    assert not buckets.take("key:slow", slow, 1).allowed
    now[0] += ratelimit.BUCKET_TTL
    assert buckets.take("key:slow", slow, 1).allowed  # untouched for the TTL: gone, full
