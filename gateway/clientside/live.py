"""A viewer of a live channel: which requests are shared, whose credentials open the channel, who may join it.

Shared: `GET /live/{u}/{p}/{id}[.ts]`, `/live/{token}/{id}[.ts]` and `/{u}/{p}/{id}[.ts]` without a bounded
`Range` (an open one, `bytes=N-`, is ffmpeg reconnecting: live has no offsets) or `utc` (catch-up), with
`client_side.shared_live` on (the default). Live `.m3u8` is shared too, its segments fetched once for all viewers
(gateway.clientside.hls_live); VOD, series, catch-up and bounded ranges are relayed per viewer
(gateway.clientside.relay).

Whose credentials the shared connection uses, and why:
- With `provider_lines`: a provider line's (gateway.clientside.provider_lines). Every viewer is checked first
  with its own credentials (gateway.clientside.viewer_check: login active, the format allowed), and counted
  against its line's `max_connections` and `max_streams_per_line` at the gateway, since the panel never sees it.
- Without: the channel is shared only among viewers of the same line (the same username and password, or the
  same token). A panel counts a connection against the line that opened it: had viewer B ridden on A's
  connection, A's line would stay busy on the panel after A left (A zapping elsewhere would be refused as over
  its limit), B's line would never be checked again (expiry, ban) and the panel's logs would show A watching.
  The first viewer opens the connection with its own credentials, as without sharing; a viewer joining it is
  checked like a provider-line viewer (same login check), so a line's `max_connections` still holds: a line
  allowed one connection cannot feed a second device through the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re

import aiohttp
from aiohttp import web

from gateway.clientside.channel_registry import OPEN_TRIES, RELEASE_GRACE, ChannelKey, OpenerGone
from gateway.clientside.limits import kept, line_key
from gateway.clientside.provider_lines import RETRY_AFTER, Slot
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import WRITE_HIGH, Broken, end_broken, forward_headers, stream_timeout
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.clientside.shared_live import Channel, End, Opened, Viewer
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.model import Reason
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

UNCAPPED = 1_000_000  # a lease is taken for every viewer, capped or not: a joiner's cap counts the others
GONE_WAIT = 0.5  # seconds a viewer over its line's cap waits for viewers whose connection closed to leave
REFUSED_RETRY = 0.5  # seconds before a provider line the panel refused is asked once more
UPSTREAM_READ = 64 * 1024  # a channel's reads: nothing waits on a viewer, so no reason to read small
_NOT_FORWARDED = ("Range", "If-Range")
_OPEN_RANGE = re.compile(r"bytes=\d+-", re.IGNORECASE)


class Wanted:
    """A live request the gateway can share: the stream, its format, the line's credentials as given."""

    def __init__(self, stream: str, ext: str, creds: dict[str, str]) -> None:
        self.stream, self.ext, self.creds = stream, ext, creds

    @property
    def line(self) -> str:
        return self.creds.get("username") or self.creds.get("token", "")

    def scope(self) -> str:
        """The channel's scope without provider lines: this exact line (a digest: no password is kept)."""
        # the names with the values: `alpha`/`beta` and `beta`/`alpha` are two lines
        return hashlib.sha256(repr(sorted(self.creds.items())).encode()).hexdigest()[:32]


def line_scope(request: web.Request) -> str | None:
    """The scope of the line a stream request names (its lingering channels), None without credentials."""
    info = request.match_info
    if info.get("u") and info.get("p"):
        return Wanted("", "", {"username": info["u"], "password": info["p"]}).scope()
    return Wanted("", "", {"token": info["token"]}).scope() if info.get("token") else None


def wanted(request: web.Request, formats: tuple[str, ...] = ("ts",)) -> Wanted | None:
    """The shareable live request this is, or None (relayed per viewer)."""
    # `Range: bytes=0-` is "all of it" (ffmpeg-based players send it on every first request), and so is any
    # `bytes=N-`: ffmpeg reconnecting to a live stream asks from the offset it had reached, and the panel's live.php
    # ignores Range (a live channel is sent from now, 200). A bounded or suffix range is relayed to the panel.
    ranged = _OPEN_RANGE.fullmatch(request.headers.get("Range", "bytes=0-").replace(" ", "")) is None
    if request.method != "GET" or ranged or "If-Range" in request.headers or "utc" in request.query:
        return None
    info = request.match_info
    stem, _, ext = info.get("file", "").partition(".")
    ext = ext or "ts"  # extension-less live is `.ts`, as on the panel
    if not stem.isdigit() or ext not in formats:
        return None
    if info.get("u") and info.get("p"):
        return Wanted(stem, ext, {"username": info["u"], "password": info["p"]})
    if info.get("token"):
        return Wanted(stem, ext, {"token": info["token"]})
    return None


async def admit(request: web.Request, runtime: ClientSideRuntime, config: Config, want: Wanted,
                checked: bool) -> int:  # fmt: skip
    """The cap of this viewer's line at the gateway; `checked`: ask the panel first (Refusal when it says no)."""
    cs = config.client_side
    cap = cs.max_streams_per_line
    if not checked:
        return cap or UNCAPPED
    try:
        standing = await runtime.checks.standing(runtime.session(), upstream_of(config).url, want.creds,
                                                 cs.viewer_check_ttl, cs.api_timeout)  # fmt: skip
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, "viewer check") from None
    if not standing.allowed:
        raise Refusal(403, Reason.LINE_REFUSED)
    if standing.formats and want.ext not in standing.formats:
        raise Refusal(403, Reason.FORMAT_REFUSED)
    caps = [c for c in (cap, standing.max_connections) if c > 0]
    return min(caps) if caps else UNCAPPED


async def serve(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics, url: str,
                want: Wanted) -> web.StreamResponse:  # fmt: skip
    cs = config.client_side
    upstream = upstream_of(config)
    provider = bool(cs.provider_lines)
    key = ChannelKey(upstream.name, want.stream, want.ext, "provider" if provider else want.scope())
    runtime.live.refresh = runtime.providers.refresh
    joining = key in runtime.live.channels  # on a connection another viewer's request opened
    cap = await admit(request, runtime, config, want, checked=provider or joining)
    counter = runtime.counter(config)
    named = line_key(upstream.name, want.line, want.creds.get("password", ""), secret=upstream.api_key)
    lease = await counter.acquire(named, cap)
    if lease is None and runtime.live.drop_gone():
        # A player whose read timed out on a stalled channel closes its connection and opens a new one at once: on
        # a line allowed one connection its old viewer still holds the lease until a byte or the sweep shows it
        # closed. The panel lets such a player in (XC_VM ends the line's oldest connection); so does the gateway,
        # once the viewers whose connections are closed have left and given their leases back.
        deadline = asyncio.get_running_loop().time() + GONE_WAIT
        while lease is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(GONE_WAIT / 25)
            lease = await counter.acquire(named, cap)
    if lease is None:
        raise Refusal(403, Reason.MAX_STREAMS)
    metrics.active_streams.labels("live").inc()
    runtime.watching.opened(want.line, "live", token=not want.creds.get("username"))
    try:
        async with kept(counter, lease):
            channel, viewer = await _join(request, runtime, config, metrics, url, want, key)
            try:
                return await _watch(request, runtime, metrics, channel, viewer)
            finally:
                channel.leave(viewer)
    finally:
        metrics.active_streams.labels("live").dec()
        runtime.watching.closed(want.line, "live", token=not want.creds.get("username"))
        await counter.release(lease)


async def _join(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics, url: str,
                want: Wanted, key: ChannelKey) -> tuple[Channel, Viewer]:  # fmt: skip
    cs = config.client_side
    # a channel that closed between its answer and this viewer's joining, or whose opener went away: open anew
    for _ in range(OPEN_TRIES):
        channel, first = runtime.live.channel(key, metrics, cs.viewer_buffer, cs.live_linger)
        if first:
            try:
                opened = await open_upstream(request, runtime, config, metrics, url, want)
            except asyncio.CancelledError:
                runtime.live.fail(channel, OpenerGone())
                raise
            except BaseException as exc:  # the viewers waiting for it get the same answer (a copy: see below)
                runtime.live.fail(channel, exc if isinstance(exc, Refusal) else Refusal(502, Reason.UPSTREAM_ERROR))
                raise
            channel.start(opened, {"Content-Type": opened.response.headers.get("Content-Type", "video/mp2t")})
            return channel, channel.attach(request.transport, first=True)
        try:
            await asyncio.shield(channel.ready)
        except OpenerGone:
            continue
        except Refusal as refused:  # one exception object raised in many tasks would share its traceback
            raise Refusal(refused.status, refused.reason, refused.headers) from None
        if not channel.closed:
            return channel, channel.attach(request.transport, first=False)
    raise Refusal(502, Reason.UPSTREAM_ERROR)


async def open_upstream(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics, url: str,
                        want: Wanted) -> Opened:  # fmt: skip
    """A channel's upstream answer (`want.ext`: its stream, or its HLS playlist): on a provider line with a free
    slot, else at `url` with the viewer's own line. A Refusal when no slot is free or the panel says no."""
    cs = config.client_side
    headers = {k: v for k, v in forward_headers(request).items() if k not in _NOT_FORWARDED}
    pool = runtime.providers

    async def release(slot: Slot) -> None:
        await pool.release(slot)
        metrics.provider_slots.labels(slot.line.name).set(pool.held.get(slot.line.name, 0))

    if not cs.provider_lines:
        await runtime.close_idle(want.scope())
        response = await _get(runtime, config, url, headers)
        if response.status != 200:
            response.close()
            raise Refusal.upstream_status(response.status)
        return Opened(response, None, release)
    skip: set[str] = set()
    retried: set[str] = set()
    base = upstream_of(config).url
    while True:
        slot = await pool.take(config, frozenset(skip))
        while slot is None and (idle := runtime.idle_channels()):
            await idle[0].close()  # a channel nobody watches gives its slot to one somebody wants
            slot = await pool.take(config, frozenset(skip))
        deadline = asyncio.get_running_loop().time() + 2 * RELEASE_GRACE
        while slot is None and runtime.live.releasing and asyncio.get_running_loop().time() < deadline:
            # a channel just closed gives its slot back after the grace: a viewer zapping to it again waits for
            # that rather than being told every slot is busy
            await asyncio.sleep(RELEASE_GRACE / 5)
            slot = await pool.take(config, frozenset(skip))
        if slot is None:
            metrics.provider_busy.inc()
            raise Refusal(503, Reason.PROVIDER_BUSY, {"Retry-After": str(RETRY_AFTER)})
        metrics.provider_slots.labels(slot.line.name).set(pool.held[slot.line.name])
        try:
            response = await _get(runtime, config, base + slot.path("live", want.stream, want.ext), headers)
        except BaseException:
            await release(slot)
            raise
        if response.status == 200:
            return Opened(response, slot, release)
        response.close()
        await release(slot)
        if response.status == 404 or response.status >= 500:
            raise Refusal.upstream_status(response.status)
        name = slot.line.name
        log.warning("provider line %s refused by the panel (HTTP %d)", name, response.status)
        if name not in retried:  # once more after a moment: the panel may not have counted a closed one out yet
            retried.add(name)
            await asyncio.sleep(REFUSED_RETRY)
        else:
            skip.add(name)


async def _get(runtime: ClientSideRuntime, config: Config, url: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
    try:
        return await runtime.session().get(
            url,
            headers=headers,
            timeout=stream_timeout(config.client_side),
            allow_redirects=True,
            max_redirects=5,
            read_bufsize=UPSTREAM_READ,
        )
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, "shared live") from None


async def _watch(request: web.Request, runtime: ClientSideRuntime, metrics: Metrics, channel: Channel,
                 viewer: Viewer) -> web.StreamResponse:  # fmt: skip
    """Write the viewer's queue until the channel ends, the viewer leaves or falls too far behind, or shutdown."""
    resp = web.StreamResponse(status=200, headers=channel.headers)
    await resp.prepare(request)
    transport = request.transport
    if transport is not None:
        transport.set_write_buffer_limits(high=WRITE_HIGH)
        runtime.streaming.add(transport)
    try:
        while (piece := await viewer.next()) is not None:
            try:
                await resp.write(piece)
                await request.writer.drain()
            except (ConnectionError, RuntimeError):
                viewer.finish(End.GONE)
                break
            viewer.sent += len(piece)
        if runtime.stopping:
            viewer.finish(End.STOPPING)
        if viewer.end in (End.DONE, End.STOPPING):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await resp.write_eof()
        elif viewer.end == End.BROKEN:
            raise await end_broken(resp, Reason.UPSTREAM_BROKEN)
        elif viewer.end == End.DROPPED:
            raise Broken(resp, Reason.VIEWER_DROPPED)
        return resp
    finally:
        if transport is not None:
            runtime.streaming.discard(transport)
        metrics.relayed_bytes.labels("live").inc(viewer.sent)
