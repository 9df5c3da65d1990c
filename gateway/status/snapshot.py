"""What `/status.json` answers: the gateway as an operator glances at it. No secret ever goes in."""

from __future__ import annotations

import time
from typing import Any

from gateway.exchange import GatewayState, Live
from gateway.key_lifecycle import iso
from gateway.ratelimit import Rate
from gateway.status.history import History, Values, delta, latency

HOUR = 3600.0
LATENCY_WINDOW = 300.0  # seconds of upstream calls the latency is measured over
# the metric families the page subtracts (prometheus_client names a counter's family without `_total`)
FAMILIES = ("panelgate_refusals", "panelgate_client_requests", "panelgate_cache_lookups", "panelgate_upstream_seconds",
            "panelgate_upstream_requests", "panelgate_upstream_over_budget")  # fmt: skip


def _when(moment: float | None) -> str | None:
    return iso(moment) if moment else None


async def _upstreams(state: GatewayState, now: Values, hour: Values, recent: Values) -> list[dict[str, Any]]:
    client = state.upstream_client
    rows = []
    for name, upstream in state.config.upstreams.items():
        breaker = client.health.breaker(name).report()
        outcomes = delta(now, hour, "panelgate_upstream_requests_total", "outcome", upstream=name)
        budget: dict[str, Any] | None = None
        if upstream.budget is not None:
            rate = Rate(per_second=upstream.budget.per_second, burst=upstream.budget.burst)
            left = await state.limiter.take(f"budget:{name}", rate, cost=0)  # only looks
            over = delta(now, hour, "panelgate_upstream_over_budget_total", "upstream", upstream=name)
            budget = {"per_second": rate.per_second, "burst": rate.burst, "tokens": max(0, left.remaining),
                      "waiting": client.budget.waiting(name), "refused_last_hour": int(sum(over.values()))}  # fmt: skip
        rows.append({
            "name": name, "dialect": upstream.dialect, "breaker": breaker["state"],
            "consecutive_failures": breaker["consecutive_failures"], "last_error": breaker["last_error"],
            "last_success": _when(breaker["last_success"]),  # type: ignore[arg-type]
            "latency": latency(now, recent, "panelgate_upstream_seconds", upstream=name),
            "calls_last_hour": int(sum(outcomes.values())),
            "failed_last_hour": int(sum(n for outcome, n in outcomes.items() if outcome != "ok")),
            "budget": budget,
        })  # fmt: skip
    return rows


def _refusals(now: Values, hour: Values) -> list[dict[str, Any]]:
    admin = delta(now, hour, "panelgate_refusals_total", "reason")
    players = delta(now, hour, "panelgate_client_requests_total", "outcome")
    players.pop("ok", None)
    reasons = sorted({r for r, n in (*admin.items(), *players.items()) if n > 0},
                     key=lambda r: -(admin.get(r, 0) + players.get(r, 0)))  # fmt: skip
    return [{"reason": r, "admin": int(admin.get(r, 0)), "players": int(players.get(r, 0))} for r in reasons]


async def _cache(state: GatewayState, now: Values, hour: Values) -> dict[str, Any]:
    described = await state.cache.describe() if state.cache is not None else {"backend": "off"}
    lookups = delta(now, hour, "panelgate_cache_lookups_total", "result")
    served = lookups.get("hit", 0) + lookups.get("stale", 0)
    asked = served + lookups.get("miss", 0)
    return {"backend": described.get("backend"), "state": described.get("state", "ok"),
            "hit_ratio_last_hour": round(served / asked, 3) if asked else None,
            "lookups_last_hour": {k: int(v) for k, v in sorted(lookups.items())}}  # fmt: skip


async def _keys(state: GatewayState, at: float) -> list[dict[str, Any]]:
    used = await state.keyuse.last_used()
    return [{"id": k.id, "policy": k.policy.name, "reseller_id": k.reseller_id, "state": k.lifecycle.state(at),
             "expires_at": _when(k.lifecycle.expires_at), "last_used": used.get(k.id)}
            for k in state.config.keys]  # fmt: skip


async def snapshot(live: Live, history: History) -> dict[str, Any]:
    """The whole page's data, read now."""
    state = live.state
    now = history.now()
    hour, recent = history.before(HOUR), history.before(LATENCY_WINDOW)
    at = time.time()
    return {
        "generated_at": iso(at),
        "config_loaded_at": _when(state.loaded_at),
        "upstreams": await _upstreams(state, now, hour, recent),
        "cache": await _cache(state, now, hour),
        "refusals_last_hour": _refusals(now, hour),
        "streams": live.status["streams"]() if "streams" in live.status else {"lines": [], "channels": []},
        "keys": await _keys(state, at),
        "shared": {
            "rate_limits": state.limiter.shared, "idempotency": state.idempotency.shared,
            "quotas": state.quotas.link.shared,
        },
    }
