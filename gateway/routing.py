"""Which upstream serves a call, and failing over within a pool.

A key names an upstream or a pool (and may be allowed several); an Xtream-Masters access code in the path
may select among them. Within a pool, healthy members come first. Reads fail over to the next member when
one is unavailable; a write moves on only when the failed member never received it, so no write is made twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from gateway.catalogue import Kind, Operation, catalogue
from gateway.dialects.registry import dialect
from gateway.exchange import Exchange, Live
from gateway.health import Health
from gateway.model import Call, Code, Failure, Outcome, Reason, Refused
from gateway.plans.calls import plan
from gateway.plans.commands import Toward, single
from gateway.plans.driver import Trace, drive
from gateway.plans.transport import UpstreamTransport
from gateway.upstream_settings import Upstream

log = logging.getLogger("panelgate.routing")
FAILOVER_CODES = (Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR)


def choose_upstream(ex: Exchange) -> None:
    """Set the candidates for this call (healthy first) and the first one to try."""
    ex.candidates = healthy_first(ex.state.upstream_client.health, members_of(ex))
    ex.upstream = ex.candidates[0]


def members_of(ex: Exchange) -> tuple[Upstream, ...]:
    """The upstreams that may serve the call, in config order: the key's, or the one an access code selects
    (refused when the key may not use it). Pure: the key, the call and the config decide (gateway.hitpath)."""
    assert ex.key is not None and ex.call is not None
    config = ex.state.config
    target = ex.key.upstream
    selected = config.access_codes.get(ex.call.route) if ex.call.route else None
    if selected is not None:
        if selected not in ex.key.targets:
            raise Refused(Failure(Code.FORBIDDEN, "this key may not use that access code", reason=Reason.ROUTE))
        target = selected
    return tuple(config.upstreams[name] for name in config.members(target))


def healthy_first(health: Health, members: tuple[Upstream, ...]) -> tuple[Upstream, ...]:
    """The candidates as the breakers stand now: healthy members first."""
    if len(members) == 1:
        return members  # the one candidate, healthy or not (most upstreams are not pools; each cache hit asks)
    healthy = [u for u in members if health.breaker(u.name).available()]
    return tuple(healthy + [u for u in members if u not in healthy])


def _may_try_next(ex: Exchange, outcome: Outcome, trace: Trace) -> bool:
    if not isinstance(outcome, Failure) or outcome.code not in FAILOVER_CODES:
        return False
    assert ex.op is not None
    if ex.op.kind is Kind.READ:
        return True
    # A write is tried elsewhere only when none of its writes can have reached the panel (the plan says what it
    # sent: a lookup that failed, or a write refused before it left, never one the panel may have applied).
    writes = [o for send, o in trace.sent if send.op.kind is not Kind.READ]
    return all(isinstance(o, Failure) and o.retryable for o in writes) and (bool(writes) or outcome.retryable)


def transport(ex: Exchange, upstream: Upstream) -> UpstreamTransport:
    state = ex.state
    return UpstreamTransport(upstream, state.upstream_client, state.metrics, request_id=ex.request_id)


async def run_with_failover(ex: Exchange, call: Call | None = None, op: Operation | None = None) -> Outcome:
    """Run `call` (by default the request's own) on the request's upstreams, failing over within its pool."""
    call, op = call or ex.call, op or ex.op
    assert call is not None and op is not None
    outcome: Outcome = Failure(Code.UPSTREAM_UNAVAILABLE, "no upstream configured")
    for index, upstream in enumerate(ex.candidates):
        ex.upstream = upstream
        outcome, trace = await drive(plan(call, op, Toward(upstream)), transport(ex, upstream),
                                     ex.state.upstream_client.locks)  # fmt: skip
        ex.upstream_calls += len(trace.sent)
        ex.may_have_written = ex.may_have_written or any(
            send.op.kind is not Kind.READ and not (isinstance(o, Failure) and o.retryable) for send, o in trace.sent)
        if index + 1 < len(ex.candidates) and _may_try_next(ex, outcome, trace):
            ex.state.metrics.failovers.labels(upstream.name).inc()
            continue
        break
    return outcome


async def probe(live: Live, upstream: Upstream) -> None:
    """One active health check: the dialect's cheapest read, through the breaker like any request."""
    state = live.state
    op = catalogue().operations[dialect(upstream.dialect).probe]
    sender = UpstreamTransport(upstream, state.upstream_client, state.metrics, request_id="health-probe")
    await drive(single(Call(op.name), op), sender)


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
