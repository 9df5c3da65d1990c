"""Samples of the gateway's own metrics, kept an hour: the status page's "over the last hour" is now minus then.

Nothing on the request path changes for the page: every SAMPLE_EVERY seconds the counters and histograms of the
Prometheus registry are read (a few hundred values) and kept with their time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable

from prometheus_client import CollectorRegistry

SAMPLE_EVERY = 10.0  # seconds between samples
KEEP = 3600.0 + 60.0  # seconds of samples kept (an hour, and a margin)
Labels = tuple[tuple[str, str], ...]
Values = dict[tuple[str, Labels], float]  # (sample name, labels) -> value


def read(registry: CollectorRegistry, names: Iterable[str]) -> Values:
    """The current value of every sample of the metric families in `names`."""
    wanted = set(names)
    values: Values = {}
    for family in registry.collect():
        if family.name not in wanted:
            continue
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


class History:
    """Samples of some metric families of one registry, oldest first."""

    def __init__(self, registry: CollectorRegistry, names: Iterable[str]) -> None:
        self.registry = registry
        self.names = tuple(names)
        self.samples: deque[tuple[float, Values]] = deque()

    def now(self) -> Values:
        return read(self.registry, self.names)

    def sample(self, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self.samples.append((at, self.now()))
        while self.samples and self.samples[0][0] < at - KEEP:
            self.samples.popleft()

    def before(self, seconds: float, at: float | None = None) -> Values:
        """The values `seconds` ago (the latest sample at least that old); none (all zero) when this process has
        not run that long: its counters started at zero."""
        at = time.monotonic() if at is None else at
        older = [values for when, values in self.samples if when <= at - seconds]
        return older[-1] if older else {}

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_EVERY)


def delta(now: Values, then: Values, sample: str, by: str, **match: str) -> dict[str, float]:
    """How much each counter of `sample` grew since `then`, summed by the label `by`, among those whose labels
    include `match`."""
    grown: dict[str, float] = {}
    for (name, labels), value in now.items():
        found = dict(labels)
        if name != sample or any(found.get(k) != v for k, v in match.items()):
            continue
        key = found.get(by, "")
        grown[key] = grown.get(key, 0.0) + value - then.get((name, labels), 0.0)
    return grown


def latency(now: Values, then: Values, histogram: str, **match: str) -> dict[str, float] | None:
    """Calls, mean and bucket-bound p50/p95 (milliseconds) of a histogram's growth since `then`; None: no calls."""
    calls = sum(delta(now, then, f"{histogram}_count", "", **match).values())
    if calls <= 0:
        return None
    total = sum(delta(now, then, f"{histogram}_sum", "", **match).values())
    buckets = sorted((float(le), n) for le, n in delta(now, then, f"{histogram}_bucket", "le", **match).items())

    def quantile(q: float) -> float:
        bound = next((le for le, n in buckets if n >= q * calls), float("inf"))
        return round(bound * 1000, 1) if bound != float("inf") else -1.0  # -1: past the largest bucket

    return {"calls": calls, "mean_ms": round(total / calls * 1000, 1), "p50_ms": quantile(0.5),
            "p95_ms": quantile(0.95)}  # fmt: skip
