"""What the request path adds to the metrics, kept as plain numbers and moved into Prometheus whenever it is read.

prometheus_client's `inc()` takes a lock and checks its metric on each call, and a Histogram's `observe()` walks
its buckets in Python: the three a hit made cost about 5 % of its instructions (bench/notes.md, change 16). A hit
adds to its Tally instead (two numbers and one list slot found by bisect); `Drain`, the first collector of the
registry, moves what accumulated into the metrics before every full read of the registry (a scrape of /metrics,
the status page's samples), so those see exact values. A read of one metric alone (a restricted registry, a
child's `_value`) does not drain, and a Tally is not locked: everything here runs on the event loop's thread.
`Deferred` does the same for the four updates of every admin call that is not a hit (its request and latency,
its upstream call and latency: ~6 us a call, bench/notes.md change 20).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class _Observed:
    """Observations of one histogram child not yet in it: a latency goes where observe() would put it, the first
    bucket whose upper bound (the histogram's own, +Inf last) it does not exceed."""

    __slots__ = ("bounds", "buckets", "count", "seconds")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(bounds)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.buckets[bisect_left(self.bounds, seconds)] += 1

    def move_into(self, child: Histogram) -> None:
        """Add what was observed to `child` (a histogram's labelled child), and start again from nothing."""
        seconds, buckets = self.seconds, self.buckets
        self.count, self.seconds, self.buckets = 0, 0.0, [0] * len(self.bounds)
        child._sum.inc(seconds)
        for value, n in zip(child._buckets, buckets, strict=True):
            if n:
                value.inc(n)


class Tally:
    """Answers of one (dialect, operation) from the cache: each a cache hit (`looked`, once the entry is found
    fresh and the stateful steps passed), then a successful request and its latency (`add`, once answered)."""

    __slots__ = ("_latency", "_lookups", "_observed", "_requests", "lookups")

    def __init__(self, lookups: Counter, requests: Counter, latency: Histogram) -> None:
        self._lookups, self._requests, self._latency = lookups, requests, latency
        self._observed = _Observed(list(latency._upper_bounds))
        self.lookups = 0

    def looked(self) -> None:
        self.lookups += 1

    def add(self, seconds: float) -> None:
        self._observed.add(seconds)

    def drain(self) -> None:
        """Move the counts into the metrics (each addition once)."""
        if self.lookups:
            lookups, self.lookups = self.lookups, 0
            self._lookups.inc(lookups)
        if self._observed.count:
            self._requests.inc(self._observed.count)
            self._observed.move_into(self._latency)


class Deferred:
    """Counter increments and histogram observations by label values, moved into the metrics by `drain`."""

    def __init__(self) -> None:
        self._counts: dict[tuple[Counter, tuple[str, ...]], float] = {}
        self._observed: dict[tuple[Histogram, tuple[str, ...]], _Observed] = {}

    def inc(self, counter: Counter, labels: tuple[str, ...]) -> None:
        """`counter.labels(*labels).inc()`, later."""
        key = (counter, labels)
        self._counts[key] = self._counts.get(key, 0) + 1

    def observe(self, histogram: Histogram, labels: tuple[str, ...], seconds: float) -> None:
        """`histogram.labels(*labels).observe(seconds)`, later."""
        observed = self._observed.get((histogram, labels))
        if observed is None:
            observed = self._observed[histogram, labels] = _Observed(list(histogram._upper_bounds))
        observed.add(seconds)

    def drain(self) -> None:
        counts, self._counts = self._counts, {}
        for (counter, labels), n in counts.items():
            counter.labels(*labels).inc(n)
        for (histogram, labels), observed in self._observed.items():
            if observed.count:
                observed.move_into(histogram.labels(*labels))


class Drain(Collector):
    """Registered first, so each collection of the registry drains the tallies before the metrics are read."""

    def __init__(self, drainers: Callable[[], Iterable[Tally | Deferred]]) -> None:
        self._drainers = drainers

    def collect(self) -> Iterable[Metric]:
        for drainer in self._drainers():
            drainer.drain()
        return ()

    def describe(self) -> Iterable[Metric]:
        return ()  # no metric of its own (and registering it must not drain)
