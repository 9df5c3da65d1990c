"""The status page's arithmetic (gateway.status.history): "over the last hour" is now minus an hour ago."""

from __future__ import annotations

from gateway.metrics import Metrics
from gateway.status.history import History, delta, latency


def test_refusals_over_the_last_hour_drop_older_ones() -> None:
    metrics = Metrics()
    history = History(metrics.registry, ("panelgate_refusals",))
    metrics.refusals.labels("bad_key").inc(5)
    history.sample(at=1000.0)
    metrics.refusals.labels("bad_key").inc(2)
    metrics.refusals.labels("scope").inc()
    now = history.now()
    # an hour after the sample: only what came since it
    assert delta(now, history.before(3600, at=4600.0), "panelgate_refusals_total", "reason") == {"bad_key": 2,
                                                                                                 "scope": 1}
    # a process younger than an hour: everything since it started (its counters started at zero)
    assert delta(now, history.before(3600, at=2000.0), "panelgate_refusals_total", "reason") == {"bad_key": 7,
                                                                                                 "scope": 1}


def test_old_samples_are_dropped() -> None:
    history = History(Metrics().registry, ("panelgate_refusals",))
    for at in range(0, 8000, 10):
        history.sample(at=float(at))
    assert history.samples[0][0] >= 7990 - 3660


def test_latency_from_histogram_buckets() -> None:
    metrics = Metrics()
    history = History(metrics.registry, ("panelgate_upstream_seconds",))
    metrics.upstream_latency.labels("main").observe(3.0)  # before the window: not counted
    history.sample(at=0.0)
    for seconds in (0.004, 0.004, 0.02, 0.2):
        metrics.upstream_latency.labels("main").observe(seconds)
    metrics.upstream_latency.labels("other").observe(9.0)
    found = latency(history.now(), history.before(300, at=300.0), "panelgate_upstream_seconds", upstream="main")
    assert found == {"calls": 4, "mean_ms": 57.0, "p50_ms": 5.0, "p95_ms": 250.0}
    assert latency(history.now(), history.now(), "panelgate_upstream_seconds", upstream="main") is None
