"""What /readyz and /metrics say about each Redis deployment: up or out, how many outages, the last one's span.

Read from the outages this process keeps (gateway.redis.link), at the moment of the request or the scrape: an
outage that began and ended between two scrapes still shows in `panelgate_redis_outages_total` and in
/readyz's `last_outage`. Only redacted URLs are shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.redis.link import outage
from gateway.redis.settings import RedisSettings


def describe(settings: RedisSettings) -> list[dict[str, Any]]:
    """One entry per deployment in use (none without Redis)."""
    found: list[dict[str, Any]] = []
    for url, features in settings.deployments().items():
        out = outage(url)
        entry: dict[str, Any] = {"url": url.redacted(), "kind": url.kind, "features": list(features),
                                 "state": "ok" if out.up else "out", "outages": out.outages,
                                 "errors": {f: out.errors[f] for f in features if out.errors[f]}}  # fmt: skip
        if not out.up:
            entry["down_since"] = out.down_since
            entry["retry_in"] = round(max(0.0, out.until - time.monotonic()), 3)
            entry["last_error"] = out.last_error
        if out.last is not None:
            began, ended = out.last
            entry["last_outage"] = {"began": began, "ended": ended, "seconds": round(ended - began, 3)}
        found.append(entry)
    return found


class RedisCollector(Collector):
    """`panelgate_redis_up`, `panelgate_redis_outages_total` and `panelgate_redis_errors_total`, by feature."""

    def __init__(self, settings: Callable[[], RedisSettings]) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily("panelgate_redis_up", "1 while the feature's Redis answers, 0 during an outage",
                               labels=["feature"])  # fmt: skip
        outages = CounterMetricFamily("panelgate_redis_outages", "Outages of the feature's Redis deployment "
                                      "(failovers included) this process saw begin", labels=["feature"])  # fmt: skip
        errors = CounterMetricFamily("panelgate_redis_errors", "Redis calls of the feature that failed",
                                     labels=["feature"])  # fmt: skip
        for url, features in self.settings().deployments().items():
            out = outage(url)
            for feature in features:
                up.add_metric([feature], 1.0 if out.up else 0.0)
                outages.add_metric([feature], out.outages)
                errors.add_metric([feature], out.errors[feature])
        yield up
        yield outages
        yield errors

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return iter(())  # labels come from the config in force: nothing to declare ahead
