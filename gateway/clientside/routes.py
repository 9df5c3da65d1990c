"""The client side's routes on the public app: `add_routes(app, live)` from gateway.app.build_app.

Every handler reads the state in force (`live.state`), checks the blocked lists first, and counts its outcome in
`panelgate_client_requests_total{kind,outcome}`; `kind` is one of a fixed set, never client input.

The routes are the ones XUI-derived panels serve (XC_VM `src/bin/nginx/conf/nginx.conf`), in the same order of
precedence: token forms before the bare `/{username}/{password}/{id}` form, which comes last. Streams are relayed
under their own path (the panel reads its tokens itself); the aliases of player_api, get.php and xmltv.php go to
those scripts (player_api.py, playlist.py); the MAG portal is portal.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

from aiohttp import web

from gateway.accesslog import redact
from gateway.clientside import hls_live, player_api, playlist, portal
from gateway.clientside import live as live_channels
from gateway.clientside.hosts import DISCOVER_TIMEOUT, REDISCOVER
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import Broken, check_client, relay
from gateway.clientside.rewrite import ORIGIN_PREFIX
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.config import Config
from gateway.exchange import GatewayState, Live
from gateway.model import Reason
from gateway.security import auth_bucket, request_client_ip

log = logging.getLogger("panelgate.clientside")

CLIENTSIDE: web.AppKey[ClientSideRuntime] = web.AppKey("clientside", ClientSideRuntime)
Handler = Callable[[web.Request, ClientSideRuntime, GatewayState], Awaitable[web.StreamResponse]]


def traverses(raw_path: str) -> bool:
    """True for a path that could name something other than what it seems once a server decodes it: a `.` or
    `..` segment (even percent-encoded, once or twice), an encoded slash or backslash, a backslash, a NUL.
    Stream paths never need any of these, and the relay forwards paths to the panel, so they are refused."""
    decoded = raw_path
    for _ in range(3):
        decoded = unquote(decoded)
    if "\\" in decoded or "\x00" in decoded or re.search(r"%(2f|5c|00)", raw_path, re.IGNORECASE):
        return True
    return any(segment in (".", "..") for segment in decoded.split("/"))


def _wrap(live: Live, runtime: ClientSideRuntime, kind: str, fn: Handler) -> Callable[
    [web.Request], Awaitable[web.StreamResponse]
]:  # fmt: skip
    async def handle(request: web.Request) -> web.StreamResponse:
        state = live.state
        if traverses(request.rel_url.raw_path):
            state.metrics.client_requests.labels(kind, "traversal").inc()
            return web.Response(status=404, text="")
        try:
            check_client(request, state.config)
            response = await fn(request, runtime, state)
        except Refusal as refusal:
            state.metrics.client_requests.labels(kind, refusal.reason).inc()
            return web.Response(status=refusal.status, text="", headers=refusal.headers)
        except Broken as broken:  # ended already, as it stood
            state.metrics.client_requests.labels(kind, broken.reason).inc()
            return broken.response
        except Exception as exc:
            if isinstance(exc, ConnectionError) and _player_gone(request):
                # the player closed its connection before its answer could start or while it was written
                # (zapping while the panel was slow): an everyday event, not the gateway failing. Nothing can be
                # sent; aiohttp drops this answer quietly (a raised error it logs as "Error handling request").
                state.metrics.client_requests.labels(kind, "player_gone").inc()
                return web.Response(status=499, text="")
            log.exception("client side: internal error on %s", redact(request.rel_url.raw_path, ""))
            state.metrics.client_requests.labels(kind, "internal").inc()
            if request.writer.output_size > 0:
                raise  # a response is under way: aiohttp closes the connection (a 500 would land inside the body)
            return web.Response(status=500, text="")
        state.metrics.client_requests.labels(kind, "ok").inc()
        return response

    return handle


def _player_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _target(config: Config, request: web.Request) -> str:
    url = upstream_of(config).url + request.rel_url.raw_path
    return f"{url}?{request.rel_url.raw_query_string}" if request.rel_url.raw_query_string else url


def _stream(kind: str) -> Handler:
    """A stream named by the line: `/{kind}/{username}/{password}/...` or `/{kind}/{access-token}/...`."""

    async def handle(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
        info = request.match_info
        shared = kind == "live" and state.config.client_side.shared_live
        want = live_channels.wanted(request, ("ts", "m3u8")) if shared else None
        if want is not None and want.ext == "m3u8":  # one upstream fetch per segment for all its viewers
            return await hls_live.playlist(request, runtime, state.config, state.metrics, want)
        if want is not None:  # one upstream connection per channel for all its viewers
            url = _target(state.config, request)
            return await live_channels.serve(request, runtime, state.config, state.metrics, url, want)
        scope = live_channels.line_scope(request) if runtime.live.channels or runtime.hls.channels else None
        if scope is not None:
            await runtime.close_idle(scope)  # this line's lingering channels would hold its panel slots
        return await relay(
            request, runtime=runtime, config=state.config, metrics=state.metrics, url=_target(state.config, request),
            kind=kind, line=info.get("u") or info["token"], rewrite_hls=request.path.endswith(".m3u8"),
            token=not info.get("u"), password=info.get("p", "") if info.get("u") else "",
        )  # fmt: skip

    return handle


def _file(kind: str) -> Handler:
    """Relayed under its own path, counted against no line: HLS segments and keys, `/play/` tokens (their line is
    sealed inside), images, thumbnails, subtitles, the portal's web app. A playlist among them is rewritten."""

    async def handle(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
        return await relay(
            request, runtime=runtime, config=state.config, metrics=state.metrics, url=_target(state.config, request),
            kind=kind, line=None, rewrite_hls=request.path.endswith(".m3u8"),
        )  # fmt: skip

    return handle


STREAMING_KINDS = {"live": "live", "timeshift": "timeshift", "vod": "movie"}


async def _streaming(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    """`/streaming/live.php|timeshift.php|vod.php?username=&password=&stream=...`: the panel answers a 302 to
    `stream/auth.php`, followed here like any redirect."""
    query = request.query
    return await relay(
        request, runtime=runtime, config=state.config, metrics=state.metrics, url=_target(state.config, request),
        kind=STREAMING_KINDS[request.match_info["script"]], line=query.get("username") or query.get("token"),
        rewrite_hls=query.get("extension") == "m3u8", token=not query.get("username"),
        password=query.get("password", "") if query.get("username") else "",
    )  # fmt: skip


async def _origin(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    """HLS URIs on a load balancer: `/_o/{id}/name`, the id sealed by this gateway (or a replica) for exactly one
    upstream URL; the name and any query the player adds change nothing."""
    url = runtime.origins(state.config).url(request.match_info["oid"])
    if url is None:
        raise Refusal(404, Reason.UNKNOWN_ORIGIN)
    return await relay(request, runtime=runtime, config=state.config, metrics=state.metrics, url=url, kind="hls",
                       line=None, rewrite_hls=urlsplit(url).path.endswith(".m3u8"))  # fmt: skip


async def _shared_hls(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    """`/_h/{id}/{name}`: a segment or key of a shared live HLS channel, under the viewer's sealed id."""
    return await hls_live.segment(request, runtime, state.config, state.metrics)


async def _player_api(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    return await player_api.answer(request, runtime, state.config, state.cache)


_LINE_REFUSED = (401, 403, 404)  # how the panel refuses a line on get.php and xmltv.php (XC_VM: generate404)


def _login_bucket(request: web.Request, state: GatewayState) -> str:
    """The throttle's bucket for a login: the client's address and the line it names. Per address alone, the
    players of one household or one carrier's NAT would share it, and one device polling with an expired line
    would shut out every other line behind that address; a guesser is held per line it guesses at."""
    bucket = auth_bucket(request_client_ip(request, state.config.trusted_proxies))
    username = request.match_info.get("u") or request.query.get("username") or ""
    if not username:
        return bucket
    # the panel compares usernames without regard to case (MySQL): so does the bucket; no name is kept
    return f"{bucket}:line:{hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:16]}"


def _login(fn: Handler) -> Handler:
    """A script that logs the line in (player_api, get.php, xmltv.php): a login the panel refuses is charged to
    the client's address and that line (`auth_throttle`, as wrong API keys are), and past it the address's next
    logins of that line are refused before anything reaches the panel. Every player reaches the panel from the
    gateway's address, so the panel's own flood limit on bad passwords cannot tell a stranger guessing a line's
    password from everyone else."""

    async def handle(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
        rate = state.config.auth_throttle
        if rate is None:
            return await fn(request, runtime, state)
        bucket = _login_bucket(request, state)
        left = state.limiter.look_here(bucket, rate)
        if left is None:
            left = (await state.limiter.take(bucket, rate, cost=0)).remaining
        if left < 1:
            wait = max(1, math.ceil((1 - left) / rate.per_second))
            raise Refusal(429, Reason.AUTH_THROTTLE, headers={"Retry-After": str(wait)})
        try:
            response = await fn(request, runtime, state)
        except Refusal as refusal:
            if refusal.reason is Reason.UPSTREAM_STATUS and refusal.status in _LINE_REFUSED:
                await state.limiter.take(bucket, rate)
            raise
        if response.get(player_api.REFUSED_BY_PANEL):
            await state.limiter.take(bucket, rate)
        return response

    return handle


async def _get(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    return await playlist.get_php(request, runtime, state.config, state.cache)


async def _xmltv(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    return await playlist.xmltv_php(request, runtime, state.config)


async def _portal(request: web.Request, runtime: ClientSideRuntime, state: GatewayState) -> web.StreamResponse:
    return await portal.answer(request, runtime, state.config)


def add_routes(app: web.Application, live: Live) -> None:
    """Register the client side. Call after the admin routes: `/{user}/{pass}/{id}.ext` must not shadow them."""
    runtime = ClientSideRuntime()
    app[CLIENTSIDE] = runtime
    live.readiness["shared_live"] = lambda: runtime.report(live.state.config)
    live.status["streams"] = runtime.status

    def route(method: str, path: str, kind: str, fn: Handler) -> None:
        app.router.add_route(method, path, _wrap(live, runtime, kind, fn))

    for method in ("GET", "POST"):
        for path in ("/player_api.php", "/panel_api.php", "/player_api/{u}/{p}", "/player_api/{u}/{p}/{action}"):
            route(method, path, "player_api", _login(_player_api))
    for path in ("/get.php", "/playlist/{u}/{p}", "/playlist/{u}/{p}/{type}"):
        route("GET", path, "get", _login(_get))
    for path in ("/xmltv.php", "/epg/{u}/{p}", "/epg/{u}/{p}/gz"):
        route("GET", path, "xmltv", _login(_xmltv))
    for kind in ("live", "movie", "series"):
        route("GET", f"/{kind}/{{u}}/{{p}}/{{file}}", kind, _stream(kind))  # `/live/u/p/1` too: extension-less
        route("GET", f"/{kind}/{{token}}/{{file}}", kind, _stream(kind))
    route("GET", "/timeshift/{u}/{p}/{duration}/{start}/{file}", "timeshift", _stream("timeshift"))
    route("GET", "/timeshift/{token}/{duration}/{start}/{file}", "timeshift", _stream("timeshift"))
    route("GET", "/streaming/{script:live|timeshift|vod}.php", "streaming", _streaming)
    route("GET", "/play/{token}", "play", _file("play"))
    route("GET", "/play/{token}/{ext}", "play", _file("play"))
    route("GET", "/key/{token}", "key", _file("key"))
    route("GET", "/hls/{tail:.+}", "hls", _file("hls"))
    # where the panel's stream/auth.php sends players (same host when the main server streams): followed
    # server-side, but an adaptive (multi-variant) playlist names them
    route("GET", "/{prefix:auth|vauth|tsauth|thauth|subauth}/{tail:.+}", "hls", _file("hls"))
    route("GET", ORIGIN_PREFIX + "{oid}/{tail:.+}", "hls", _origin)
    route("GET", hls_live.PREFIX + "{vid}/{name}", "hls", _shared_hls)
    route("GET", "/images/{tail:.+}", "image", _file("image"))
    for path in ("/thumb/{u}/{p}/{file}", "/thumb/{token}/{file}"):
        route("GET", path, "thumb", _file("thumb"))
    for path in ("/subtitle/{u}/{p}/{sid}/{file}", "/subtitle/{u}/{p}/{file}"):
        route("GET", path, "subtitle", _file("subtitle"))
    for method in ("GET", "POST"):
        for path in ("/portal.php", "/c/portal.php", "/server/load.php", "/stalker_portal/server/load.php"):
            route(method, path, "portal", _portal)
    for path in ("/c/{tail:.*}", "/stalker_portal/c/{tail:.*}"):
        route("GET", path, "portal", _file("portal"))
    route("GET", r"/{u}/{p}/{file:\d+(?:\.\w+)?}", "live", _stream("live"))

    async def learn_hosts(_: web.Application) -> None:
        # on_startup runs before the listener opens: the first player already meets a gateway that knows them
        state = live.state
        await runtime.warm(state.config)
        try:
            async with asyncio.timeout(DISCOVER_TIMEOUT):
                await runtime.discover_hosts(state, ask_panel=state.config.health.interval > 0)
        except Exception as exc:  # a panel or Redis down at start-up: serve with what the config names
            log.warning("upstream host names: start-up discovery failed (%s)", type(exc).__name__)

        async def rediscover() -> None:
            while True:
                await asyncio.sleep(REDISCOVER)
                with contextlib.suppress(Exception):
                    state = live.state
                    await runtime.discover_hosts(state, ask_panel=state.config.health.interval > 0)

        runtime.hosts.spawn(rediscover())

    async def stop_streams(_: web.Application) -> None:
        # Runs before aiohttp waits for in-flight handlers (runner.cleanup): a live stream never finishes by
        # itself, so without this a SIGTERM would wait out the whole shutdown grace for every open stream.
        await runtime.stop_streams()

    async def close(_: web.Application) -> None:
        await runtime.close()

    app.on_startup.append(learn_hosts)
    app.on_shutdown.append(stop_streams)
    app.on_cleanup.append(close)
