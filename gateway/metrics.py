"""Prometheus metrics, in a registry per app so several gateways (tests, workers) never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.redis.settings import RedisSettings
from gateway.redis.status import RedisCollector
from gateway.tally import Deferred, Drain, Tally

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Label values are bounded sets (catalogue names, canonical codes, config names): never client input."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._tallies: dict[tuple[str, str], Tally] = {}
        self.deferred = Deferred()  # the admin calls' own updates (gateway.tally)
        # first: every read of the registry drains them
        self.registry.register(Drain(lambda: (*self._tallies.values(), self.deferred)))
        # panelgate_redis_*: read when scraped, for the Redis of the config in force (set by gateway.app)
        self.redis_settings = RedisSettings()
        self.registry.register(RedisCollector(lambda: self.redis_settings))
        self.requests = Counter(
            "panelgate_requests_total",
            "Admin API requests by client dialect, operation and outcome",
            ["dialect", "operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "panelgate_request_seconds",
            "Admin API request latency at the gateway",
            ["dialect"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "panelgate_refusals_total",
            "Requests refused by the gateway itself, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.upstream_requests = Counter(
            "panelgate_upstream_requests_total",
            "Requests sent to upstream panels by outcome",
            ["upstream", "outcome"],
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "panelgate_upstream_breaker_open",
            "1 while the upstream's circuit breaker is open or half-open (calls fail fast, or one probe passes); "
            "set when /metrics is read",
            ["upstream"],
            registry=self.registry,
        )
        self.failovers = Counter(
            "panelgate_failovers_total",
            "Calls moved to the next upstream of a pool, by the upstream that failed",
            ["upstream"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "panelgate_upstream_seconds",
            "Upstream panel latency",
            ["upstream"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.upstream_budget_wait = Histogram(
            "panelgate_upstream_budget_wait_seconds",
            "Time calls waited for the upstream's request budget (only calls that had to wait)",
            ["upstream"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.upstream_over_budget = Counter(
            "panelgate_upstream_over_budget_total",
            "Calls refused with Retry-After because the upstream's request budget stayed used up",
            ["upstream"],
            registry=self.registry,
        )
        self.upstream_busy = Counter(
            "panelgate_upstream_busy_total",
            "HTTP 503 answers from upstreams (its rate limit or overload), by what the gateway did: retried a read, "
            "or answered it",
            ["upstream", "action"],
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "panelgate_cache_lookups_total",
            "Requests by cache result (hit, miss, stale, bypass) and operation (admin, player.*, playlist.*)",
            ["operation", "result"],
            registry=self.registry,
        )
        self.cache_invalidations = Counter(
            "panelgate_cache_invalidations_total",
            "Resource tags invalidated by writes",
            ["tag"],
            registry=self.registry,
        )
        self.cache_backend_errors = Counter(
            "panelgate_cache_backend_errors_total",
            "Failed or timed-out cache backend calls (each one answered from memory instead)",
            ["backend", "action"],
            registry=self.registry,
        )
        self.cache_fallback = Gauge(
            "panelgate_cache_fallback",
            "1 while the cache serves from process memory because its Redis backend is failing",
            registry=self.registry,
        )
        self.cache_pending_invalidations = Gauge(
            "panelgate_cache_pending_invalidations",
            "Invalidations Redis has not taken yet (replayed until it does)",
            registry=self.registry,
        )

        self.idempotent_requests = Counter(
            "panelgate_idempotent_requests_total",
            "Writes with an Idempotency-Key by what happened: stored (ran, outcome kept), replayed (answered the "
            "kept outcome), released (wrote nothing, not kept), mismatch (key reused for another request), busy "
            "(the first still ran past the wait)",
            ["result"],
            registry=self.registry,
        )

        # The client side (gateway.clientside): `kind` is a fixed set (player_api, get, xmltv, live, movie, ...)
        self.client_requests = Counter(
            "panelgate_client_requests_total",
            "Player requests (player_api, playlists, EPG, streams) by kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.active_streams = Gauge(
            "panelgate_active_streams",
            "Streams being relayed right now, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.relayed_bytes = Counter(
            "panelgate_relayed_bytes_total",
            "Bytes relayed from upstream panels to players, by kind",
            ["kind"],
            registry=self.registry,
        )

        # gateway.clientside.shared_live / hls_share / provider_lines: live channels shared by their viewers
        self.shared_channels = Gauge(
            "panelgate_shared_channels", "Live channels with an upstream connection shared by their viewers",
            registry=self.registry,
        )  # fmt: skip
        self.shared_viewers = Gauge(
            "panelgate_shared_viewers", "Viewers of shared live channels", registry=self.registry
        )
        self.upstream_saved = Gauge(
            "panelgate_upstream_connections_saved",
            "Upstream connections a relay per viewer would hold beyond the shared ones (viewers - channels)",
            registry=self.registry,
        )
        self.shared_viewer_skips = Counter(
            "panelgate_shared_viewer_skips_total",
            "Viewers that fell behind a shared channel: skipped forward to the next join point, or dropped",
            ["action"],
            registry=self.registry,
        )
        self.hls_channels = Gauge(
            "panelgate_shared_hls_channels", "Of the shared channels, the live HLS ones", registry=self.registry
        )
        self.hls_viewers = Gauge(
            "panelgate_shared_hls_viewers",
            "Of the shared channels' viewers, those of live HLS (each counts until hls_viewer_timeout after its last "
            "request)",
            registry=self.registry,
        )
        self.hls_requests = Counter(
            "panelgate_hls_shared_requests_total",
            "Requests for shared HLS playlists and segments, by what answered them: upstream (this request's fetch), "
            "or shared (another viewer's fetch, cached or in flight)",
            ["what", "source"],
            registry=self.registry,
        )
        self.provider_slots = Gauge(
            "panelgate_provider_slots_held",
            "Slots of each provider line held by this process (by the line's configured name)",
            ["line"],
            registry=self.registry,
        )
        self.provider_busy = Counter(
            "panelgate_provider_busy_total",
            "Viewers answered 503 because every provider line's slots were taken",
            registry=self.registry,
        )

        # gateway.clienttimeouts: slow clients (slowloris) closed, and kept-alive connections idle too long
        self.client_timeouts = Counter(
            "panelgate_client_timeouts_total",
            "Client connections closed by a timeout, by phase: header (no complete request header in time), "
            "body (the body not complete in time), idle (a kept-alive connection unused too long)",
            ["phase"],
            registry=self.registry,
        )

        # gateway.workers: set when a `serve --workers N` worker starts in place of one that died
        self.worker_restarts = Counter(
            "panelgate_worker_restarts_total",
            "Times this worker slot's process died and was replaced (serve --workers N)",
            ["worker"],
            registry=self.registry,
        )

    def hit_tally(self, dialect: str, operation: str) -> Tally:
        """Where cached hits of `operation` in `dialect` are counted (gateway.tally)."""
        tally = self._tallies.get((dialect, operation))
        if tally is None:
            tally = self._tallies[dialect, operation] = Tally(self.cache_lookups.labels(operation, "hit"),
                                                              self.requests.labels(dialect, operation, "ok"),
                                                              self.latency.labels(dialect))  # fmt: skip
        return tally

    def render(self) -> bytes:
        return generate_latest(self.registry)
