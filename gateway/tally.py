"""What cached hits add to the metrics, kept as plain numbers and moved into Prometheus whenever it is read.

prometheus_client's `inc()` takes a lock and checks its metric on each call, and a Histogram's `observe()` walks
its buckets in Python: the three a hit made cost about 5 % of its instructions (bench/notes.md, change 16). A hit
adds to its Tally instead (two numbers and one list slot found by bisect); `Drain`, the first collector of the
registry, moves what accumulated into the metrics before every full read of the registry (a scrape of /metrics,
the status page's samples), so those see exact values. A read of one metric alone (a restricted registry, a
child's `_value`) does not drain, and a Tally is not locked: everything here runs on the event loop's thread.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class Tally:
    """Answers of one (dialect, operation) from the cache: each a cache hit (`looked`, once the entry is found
    fresh and the stateful steps passed), then a successful request and its latency (`add`, once answered)."""

    __slots__ = ("_bounds", "_latency", "_lookups", "_requests", "buckets", "count", "lookups", "seconds")

    def __init__(self, lookups: Counter, requests: Counter, latency: Histogram) -> None:
        self._lookups, self._requests, self._latency = lookups, requests, latency
        # the histogram's own upper bounds (+Inf last): a latency goes where observe() would put it, the first
        # bucket whose bound it does not exceed
        self._bounds: list[float] = list(latency._upper_bounds)
        self.lookups = 0
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(self._bounds)

    def looked(self) -> None:
        self.lookups += 1

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.buckets[bisect_left(self._bounds, seconds)] += 1

    def drain(self) -> None:
        """Move the counts into the metrics (each addition once)."""
        if self.lookups:
            lookups, self.lookups = self.lookups, 0
            self._lookups.inc(lookups)
        if not self.count:
            return
        count, seconds, buckets = self.count, self.seconds, self.buckets
        self.count, self.seconds, self.buckets = 0, 0.0, [0] * len(self._bounds)
        self._requests.inc(count)
        latency = self._latency
        latency._sum.inc(seconds)
        for value, n in zip(latency._buckets, buckets, strict=True):
            if n:
                value.inc(n)


class Drain(Collector):
    """Registered first, so each collection of the registry drains the tallies before the metrics are read."""

    def __init__(self, tallies: Iterable[Tally]) -> None:
        self._tallies = tallies

    def collect(self) -> Iterable[Metric]:
        for tally in self._tallies:
            tally.drain()
        return ()

    def describe(self) -> Iterable[Metric]:
        return ()  # no metric of its own (and registering it must not drain)
