"""Cached hits (a Tally) and other admin calls (Deferred) reach Prometheus whenever the registry is read
(gateway.tally)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from gateway.metrics import _BUCKETS, Metrics

# on a bound, just past one, zero, past the last: each lands where Histogram.observe() puts it
LATENCIES = [0.0, 0.001, 0.0010001, 0.0025, 0.003, 0.05, 0.7, 10.0, 11.0, 0.0004, 0.001]


def _samples(registry: CollectorRegistry, family: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "dialect"))): s.value
            for f in registry.collect() if f.name == family for s in f.samples
            if not s.name.endswith("_created")}  # fmt: skip


def test_a_read_of_the_registry_shows_every_hit_as_observe_would() -> None:
    metrics = Metrics()
    tally = metrics.hit_tally("xtream_masters", "line.list")
    assert metrics.hit_tally("xtream_masters", "line.list") is tally
    reference_registry = CollectorRegistry()
    reference = Histogram("panelgate_request_seconds", "", ["dialect"], buckets=_BUCKETS,
                          registry=reference_registry).labels("xtream_masters")  # fmt: skip
    for seconds in LATENCIES:
        tally.looked()
        tally.add(seconds)
        reference.observe(seconds)
    assert _samples(metrics.registry, "panelgate_request_seconds") == _samples(reference_registry,
                                                                               "panelgate_request_seconds")
    assert metrics.registry.get_sample_value("panelgate_requests_total", {
        "dialect": "xtream_masters", "operation": "line.list", "outcome": "ok"}) == len(LATENCIES)  # fmt: skip
    assert metrics.registry.get_sample_value("panelgate_cache_lookups_total",
                                             {"operation": "line.list", "result": "hit"}) == len(LATENCIES)


def test_each_hit_is_counted_once_across_reads() -> None:
    metrics = Metrics()
    tally = metrics.hit_tally("xtream_codes_v2", "line.list")
    labels = {"dialect": "xtream_codes_v2", "operation": "line.list", "outcome": "ok"}
    tally.add(0.002)
    metrics.render()
    metrics.render()
    assert metrics.registry.get_sample_value("panelgate_requests_total", labels) == 1
    tally.add(0.002)
    tally.add(0.2)
    assert b'panelgate_requests_total{dialect="xtream_codes_v2",operation="line.list",outcome="ok"} 3.0' in (
        generate_latest(metrics.registry))
    assert metrics.registry.get_sample_value("panelgate_request_seconds_sum",
                                             {"dialect": "xtream_codes_v2"}) == 0.002 + 0.002 + 0.2


def test_a_lookup_is_counted_apart_from_the_answer() -> None:
    """A hit found and then not answered (its rendering failed: an internal error) still counts as a hit, as the
    cache step counts one; the request and its latency are counted once answered."""
    metrics = Metrics()
    tally = metrics.hit_tally("xtream_masters", "line.list")
    tally.looked()
    tally.looked()
    tally.add(0.001)
    registry = metrics.registry
    assert registry.get_sample_value("panelgate_cache_lookups_total", {"operation": "line.list", "result": "hit"}) == 2
    assert registry.get_sample_value("panelgate_requests_total", {
        "dialect": "xtream_masters", "operation": "line.list", "outcome": "ok"}) == 1  # fmt: skip


def test_deferred_updates_read_as_the_metrics_own_would_once_each() -> None:
    metrics = Metrics()
    reference_registry = CollectorRegistry()
    reference = Histogram("panelgate_upstream_seconds", "", ["upstream"], buckets=_BUCKETS,
                          registry=reference_registry)  # fmt: skip
    for seconds in LATENCIES:
        metrics.deferred.observe(metrics.upstream_latency, ("main",), seconds)
        reference.labels("main").observe(seconds)
        metrics.deferred.inc(metrics.upstream_requests, ("main", "ok"))
    metrics.deferred.inc(metrics.upstream_requests, ("other", "upstream_error"))
    assert _samples(metrics.registry, "panelgate_upstream_seconds") == _samples(reference_registry,
                                                                                "panelgate_upstream_seconds")
    metrics.render()
    registry = metrics.registry
    assert registry.get_sample_value("panelgate_upstream_requests_total", {"upstream": "main", "outcome": "ok"}) == (
        len(LATENCIES))
    assert registry.get_sample_value("panelgate_upstream_requests_total",
                                     {"upstream": "other", "outcome": "upstream_error"}) == 1  # fmt: skip
    metrics.deferred.inc(metrics.upstream_requests, ("main", "ok"))
    assert registry.get_sample_value("panelgate_upstream_seconds_count", {"upstream": "main"}) == len(LATENCIES)
    assert registry.get_sample_value("panelgate_upstream_requests_total", {"upstream": "main", "outcome": "ok"}) == (
        len(LATENCIES) + 1)
