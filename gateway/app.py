"""The gateway's aiohttp applications. The admin request pipeline's order is written here, once."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from gateway import hitpath, paging, routing, security, tenancy, whole_answer
from gateway.audit import AuditEntry
from gateway.cache.step import cache
from gateway.catalogue import Kind, Operation
from gateway.clientside import routes as clientside_routes
from gateway.config import Config
from gateway.dialects.base import ClientFace, Dialect, Rendered
from gateway.dialects.registry import BY_NAME, client_face
from gateway.exchange import Exchange, Live, Next, Step, check, compose
from gateway.httpserver import hide_server_banner
from gateway.idempotency import step as idempotency
from gateway.ingress import read_request
from gateway.model import Code, Failure, Outcome, Reason, Refused, Result
from gateway.quotas import step as quotas
from gateway.redis.link import warm
from gateway.redis.status import describe as redis_status
from gateway.state import build_state, redis_links
from gateway.status import routes as status_routes

log = logging.getLogger("panelgate")

LIVE: web.AppKey[Live] = web.AppKey("live", Live)


async def decode_request(ex: Exchange) -> None:
    ex.raw = await read_request(ex.request, max_body_bytes=ex.state.config.max_body_bytes)


async def route_upstream(ex: Exchange) -> None:
    routing.choose_upstream(ex)


async def forward(ex: Exchange, _: Next) -> Outcome:
    return await routing.run_with_failover(ex)


# The admin API pipeline, outermost first: each step gets the request and the rest of the pipeline (an onion:
# it may act before, after or around the rest, or answer instead of it); `check` steps only look, and raise
# Refused to stop the request.
ADMIN_PIPELINE: tuple[Step, ...] = (
    check(decode_request),  # bounded body, PHP-style params, ambiguity refused
    check(security.resolve_client_ip),  # socket peer, or X-Forwarded-For behind trusted proxies
    check(security.throttle_auth_failures),  # an address guessing keys is stopped before its next guess
    check(security.authenticate),  # gateway key by digest (or an ip_only key by address)
    check(security.check_key_dates),  # the key's not_before and expires_at, to the second; its last use noted
    check(security.check_ip_allowlist),  # the key's CIDR list
    check(security.rate_limit),  # the key's token bucket
    check(idempotency.take_key),  # an Idempotency-Key header or idempotency_key param: out before any dialect reads
    check(security.resolve_operation),  # dialect parse into a canonical Call; unknown actions stop here
    check(security.check_scope),  # the key's policy: allow/deny globs, danger only by full name
    check(route_upstream),  # the key's upstream or pool (an access code may select), healthy members first
    tenancy.tenancy,  # reseller keys: forced owner, others' records not found; after: own rows, paged
    check(security.check_guards),  # the policy's limits on values (max_connections, exp_date, ...)
    idempotency.idempotent,  # writes with an Idempotency-Key: a duplicate answered the first's outcome (or waits)
    quotas.counted,  # the key's quotas (calls a day or a window by operation glob); a replay never counts, nor a
    #                  call that did nothing (refused as unsupported, never sent)
    paging.page_whole_list,  # after: a list the client's panel pages, from an upstream that answers it whole
    cache,  # reads: a fresh entry answers (HIT), concurrent misses share one call, STALE on failure; writes:
    #         invalidate their tags' cached reads
    forward,  # the call's plan (gateway.plans), driven to its outcome; reads fail over within a pool
)
RUN_PIPELINE = compose(ADMIN_PIPELINE)


def _record(ex: Exchange, latency: float) -> None:
    outcome = ex.outcome
    assert outcome is not None
    state = ex.state
    label = "ok" if isinstance(outcome, Result) else outcome.code.value.lower()
    operation = ex.op.name if ex.op is not None else "unknown"
    metrics = state.metrics
    metrics.deferred.inc(metrics.requests, (ex.face.NAME, operation, label))
    metrics.deferred.observe(metrics.latency, (ex.face.NAME,), latency)
    refused = isinstance(outcome, Failure) and bool(outcome.reason)
    if refused:
        assert isinstance(outcome, Failure)
        metrics.refusals.labels(outcome.reason).inc()
    if refused or (ex.op is not None and ex.op.kind is not Kind.READ):
        target = ex.call.target.id if ex.call is not None else None
        state.audit.write(
            AuditEntry(
                request_id=ex.request_id,
                key_id=ex.key.id if ex.key else None,
                client_ip=str(ex.client_ip or ex.request.remote or ""),
                dialect=ex.face.NAME,
                operation=ex.op.name if ex.op else None,
                target=target,
                upstream=ex.upstream.name if ex.upstream else None,
                outcome=label,
                reason=outcome.reason if isinstance(outcome, Failure) else "",
                latency_ms=latency * 1000,
                upstream_calls=ex.upstream_calls,
                idempotency_key=ex.raw.idempotency_key if ex.raw is not None else None,
                idempotency=ex.idempotency,
            )
        )


def _echoes(failure: Failure, op: Operation | None) -> bool:
    """Whether the panel echoes its input with this failure: a create or an edit that it refused (XUI.one's
    process* functions), not a record it did not find."""
    return op is not None and op.kind is not Kind.READ and bool(op.fields) and failure.code is not Code.NOT_FOUND


def _render(ex: Exchange, http_status_codes: bool) -> Rendered:
    outcome, op, face = ex.outcome, ex.op, ex.face
    assert outcome is not None
    if isinstance(outcome, Failure) and ex.call is not None and ex.call.echo is not None and _echoes(outcome, op):
        # the client's own input, as its panel echoes it (not what the gateway sent, nor another panel's echo)
        outcome = replace(outcome, echo=ex.call.echo)

    def render() -> Rendered:
        assert outcome is not None
        return face.render(outcome, op, http_status_codes=http_status_codes)

    if ex.shared is None or not isinstance(outcome, Result):
        return render()
    # a cache hit: the same shared Result renders to the same bytes for every client of this dialect
    return ex.shared.rendered(outcome, (face.NAME, op.name if op else "", http_status_codes), render)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def admin_handler(dialect: str) -> Handler:
    face = client_face(dialect)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _handle(request, face)

    return handle


def shared_handler(dialects: list[Dialect]) -> Handler:
    """One path shape served by several dialects (XUI.one's `/{code}/`: its admin API or its Reseller API, as the
    access code's type says): the access code's configured dialect answers, else the first that declares it."""
    faces = {d.name: d.client for d in dialects}

    async def handle(request: web.Request) -> web.StreamResponse:
        chosen = request.app[LIVE].state.config.code_dialects.get(request.match_info.get("code", ""))
        return await _handle(request, faces.get(chosen or "", dialects[0].client))

    return handle


async def _handle(request: web.Request, face: ClientFace) -> web.StreamResponse:
    state = request.app[LIVE].state
    ex = Exchange(request=request, state=state, face=face, request_id=Exchange.request_id_of(request))
    at = hitpath.request_key(request, face.NAME) if state.cache is not None else None
    plan = state.hits.get(at) if at is not None else None
    hit: Rendered | None = None
    try:
        if plan is not None:
            hit = await hitpath.answer(ex, plan, lambda: _render(ex, state.config.http_status_codes))
        if hit is None:
            ex.outcome = await RUN_PIPELINE(ex)
            if at is not None:
                hitpath.remember(ex, at)
    except Refused as refused:
        ex.outcome = refused.failure
    except Exception:
        # A bug must not become a traceback for the client; the log keeps it with the request id.
        log.exception("internal error handling request %s", ex.request_id)
        ex.outcome = Failure(Code.FAILURE, "internal gateway error", reason=Reason.INTERNAL)
    if hit is not None and plan is not None:
        rendered = hit
        hitpath.record(plan, time.perf_counter() - ex.started)
    else:
        rendered = _render(ex, state.config.http_status_codes)
        if isinstance(ex.outcome, Failure) and ex.outcome.retry_after > 0:
            ex.response_headers["Retry-After"] = str(max(1, math.ceil(ex.outcome.retry_after)))
        _record(ex, time.perf_counter() - ex.started)
    return whole_answer.answer(request, rendered.status, rendered.body, rendered.content_type,
                               {"X-Request-Id": ex.request_id, **ex.response_headers})


def _add_admin_routes(app: web.Application, *, late: bool) -> None:
    """Each dialect's paths for its clients; a path several dialects declare is served by one shared handler."""
    paths: dict[str, list[Dialect]] = {}
    for dialect in BY_NAME.values():
        for path in dialect.late_routes if late else dialect.routes:
            paths.setdefault(path, []).append(dialect)
    for path, dialects in paths.items():
        handler = admin_handler(dialects[0].name) if len(dialects) == 1 else shared_handler(dialects)
        app.router.add_route("GET", path, handler)
        app.router.add_route("POST", path, handler)


def build_app(config: Config, live: Live | None = None) -> web.Application:
    """The public gateway application."""
    # Bodies are read by ingress with the configured limit; aiohttp's own cap is set just above it.
    app = web.Application(client_max_size=config.max_body_bytes + 1)
    hide_server_banner()
    live = live or Live(build_state(config))
    app[LIVE] = live
    _add_admin_routes(app, late=False)
    clientside_routes.add_routes(app, live)  # players: player_api, playlists, EPG, streams (after the admin routes)
    _add_admin_routes(app, late=True)  # paths that would shadow a player's, after them

    async def start_probes(_: web.Application) -> None:
        await warm(redis_links(live.state))  # on_startup runs before the listener opens
        health = live.state.upstream_client.health
        health.tasks.append(asyncio.get_running_loop().create_task(routing.probe_forever(live)))

    async def close(_: web.Application) -> None:
        state = live.state
        await state.upstream_client.health.stop()
        await state.upstream_client.close()
        await state.limiter.close()
        await state.idempotency.close()
        await state.quotas.close()
        await state.keyuse.close()
        state.audit.close()
        if state.cache is not None:
            await state.cache.close()

    app.on_startup.append(start_probes)
    app.on_cleanup.append(close)
    return app


def build_admin_app(live: Live) -> web.Application:
    """The operator listener: metrics, health and the status page, never exposed with the public API."""
    app = web.Application()
    hide_server_banner()
    app[LIVE] = live

    async def metrics(request: web.Request) -> web.Response:
        state = request.app[LIVE].state
        health = state.upstream_client.health
        for name in state.config.upstreams:  # read from the breakers as they are now
            state.metrics.breaker_open.labels(name).set(0 if health.breaker(name).state == "closed" else 1)
        body = state.metrics.render()
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        state = request.app[LIVE].state
        config = state.config
        cache = await state.cache.describe() if state.cache is not None else {"backend": "off"}
        health = state.upstream_client.health
        upstreams = {name: health.breaker(name).report() for name in config.upstreams}
        # Ready while at least one upstream can take calls; Redis trouble degrades, it does not stop serving.
        ready = any(u["state"] != "open" for u in upstreams.values())
        limits = {"backend": "redis" if config.redis.endpoint("rate_limits") else "memory",
                  "shared": state.limiter.shared, "redis_errors": state.limiter.redis_errors}
        body = {
            "status": "ok" if ready else "unavailable",
            "config": {"source": config.source or "inline", "loaded_at": state.loaded_at},
            "upstreams": upstreams,
            "rate_limits": limits,
            "idempotency": {"backend": limits["backend"], "shared": state.idempotency.shared,
                            "redis_errors": state.idempotency.link.link.errors if state.idempotency.link.link else 0},
            "cache": cache,
            "redis": redis_status(config.redis),  # each deployment: up or out, outages, the last one's span
        }
        body.update({name: report() for name, report in request.app[LIVE].readiness.items()})
        return web.json_response(body, status=200 if ready else 503)

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    status_routes.add_routes(app, live)  # /status: the page operators look at (gateway.status)
    return app
