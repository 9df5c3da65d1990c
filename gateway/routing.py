"""Which upstream serves a call, and failing over within a pool.

A key names an upstream or a pool (and may be allowed several); an Xtream-Masters access code in the path
may select among them. Within a pool, healthy members come first. Reads fail over to the next member when
one is unavailable; a write moves on only when the failed member never received it, so no write is made twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from gateway import planner
from gateway.catalogue import Kind, catalogue
from gateway.config import Upstream
from gateway.exchange import Exchange, Live
from gateway.health import PROBES
from gateway.model import Call, Code, Failure, Outcome, Refused

log = logging.getLogger("panelgate.routing")
FAILOVER_CODES = (Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR)


def choose_upstream(ex: Exchange) -> None:
    """Set the candidates for this call (healthy first) and the first one to try."""
    assert ex.key is not None and ex.call is not None
    config = ex.state.config
    target = ex.key.upstream
    selected = config.access_codes.get(ex.call.route) if ex.call.route else None
    if selected is not None:
        if selected not in ex.key.targets:
            raise Refused(Failure(Code.FORBIDDEN, "this key may not use that access code", reason="route"))
        target = selected
    members = [config.upstreams[name] for name in config.members(target)]
    health = ex.state.upstream_client.health
    healthy = [u for u in members if health.breaker(u.name).available()]
    ex.candidates = tuple(healthy + [u for u in members if u not in healthy])
    ex.upstream = ex.candidates[0]


def _may_try_next(ex: Exchange, outcome: Outcome) -> bool:
    if not isinstance(outcome, Failure) or outcome.code not in FAILOVER_CODES:
        return False
    assert ex.op is not None and ex.call is not None
    if ex.op.kind is Kind.READ:
        return True
    # A write is tried elsewhere only when it was one call that never reached the panel.
    assert ex.upstream is not None
    plan = planner.plan_for(ex.op, ex.call.target.kind, ex.upstream.dialect, client=ex.call.dialect)
    return outcome.retryable and plan.kind == "direct"


async def run_with_failover(ex: Exchange) -> Outcome:
    assert ex.call is not None and ex.op is not None
    outcome: Outcome = Failure(Code.UPSTREAM_UNAVAILABLE, "no upstream configured")
    for index, upstream in enumerate(ex.candidates):
        ex.upstream = upstream
        outcome = await planner.execute(
            ex.call, ex.op, upstream, ex.state.upstream_client, ex.state.metrics, request_id=ex.request_id
        )
        if index + 1 < len(ex.candidates) and _may_try_next(ex, outcome):
            ex.state.metrics.failovers.labels(upstream.name).inc()
            continue
        break
    return outcome


async def probe(live: Live, upstream: Upstream) -> None:
    """One active health check: the dialect's cheapest read, through the breaker like any request."""
    state = live.state
    op = catalogue().operations[PROBES[upstream.dialect]]
    runner = planner.Runner(upstream, state.upstream_client, state.metrics, request_id="health-probe")
    await runner.send(Call(op.name), op)


async def probe_forever(live: Live) -> None:
    """Probe every configured upstream every `health.interval` seconds (re-reading config after reloads)."""
    while True:
        interval = live.state.config.health.interval
        await asyncio.sleep(interval if interval > 0 else 5)
        config = live.state.config
        if config.health.interval <= 0:
            continue
        for upstream in config.upstreams.values():
            with suppress(Exception):  # a probe must never kill the loop; failures land in the breaker
                await probe(live, upstream)
