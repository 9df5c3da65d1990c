"""The stream relay: one upstream response copied to one player, with backpressure and nothing left open.

- A ClientSession of its own (streams cannot starve the admin API's pool), created inside the running loop.
- No total timeout: a live channel runs for hours. sock_connect and sock_read bound a dead upstream instead.
- Redirects (panels send players to load-balancer servers) are followed here: the player never sees them.
- Each write awaited until the player's socket takes it: a player slower than the panel holds tens of KiB here,
  not the ~1 MiB of aiohttp's and asyncio's defaults (see runtime.READ_BUFSIZE, SLOW_RECV, WRITE_HIGH, `_RecvSize`).
- A player that goes away closes the upstream response at once: its connection slot on the panel is freed.
- A panel that fails mid-body (reset, closed early, silent past sock_read) ends the player's response as it
  stands and closes it (`end_broken`): nothing else is ever written on a connection whose response has begun.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging

import aiohttp
from aiohttp import web

from gateway.accesslog import redact
from gateway.bodyread import TooLarge, read_body
from gateway.clientside.limits import Lease, kept, line_key
from gateway.clientside.refusal import Refusal
from gateway.clientside.runtime import DISCONNECT_POLL, ClientSideRuntime, upstream_of
from gateway.clientside.settings import ClientSide
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.model import Reason
from gateway.security import request_client_ip
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

# Memory per player slower than the panel (bench section 5: ~1 MiB each before these, with the session's
# READ_BUFSIZE in gateway.clientside.runtime): each resume of reading landed one more recv() of up to 256 KiB,
# and the player's write buffer held up to 64 KiB + a chunk more. (16 KiB here held ~80 KiB a slow player, 8 KiB
# ~66, with no loss of throughput for fast ones: they get the big reads back after FAST_AFTER; bench change 21.)
SLOW_RECV = 8 * 1024  # the most one recv() from the panel takes until the player has shown it keeps up
FAST_AFTER = 8 << 20  # bytes taken without a backlog that show it: more than the kernel's socket buffers absorb
WRITE_HIGH = 16 * 1024  # the player's write buffer: each write waits until it has drained below this
MAX_PLAYLIST_BYTES = 4 << 20  # an HLS playlist is kilobytes
# a playlist whatever its URL says (`/play/{token}`, `/auth/{token}`): rewritten like any `.m3u8`
HLS_TYPES = frozenset({"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/x-mpegurl", "audio/mpegurl"})
_FORWARD = ("Range", "If-Range", "User-Agent", "Accept")
_RETURN = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag",
           "Cache-Control", "Content-Disposition")  # fmt: skip


def check_client(request: web.Request, config: Config) -> None:
    """Blocked addresses and user agents are refused before anything reaches the upstream."""
    cs = config.client_side
    if cs.blocked_ips:
        address = request_client_ip(request, config.trusted_proxies)
        if any(address.version == net.version and address in net for net in cs.blocked_ips):
            raise Refusal(403, Reason.BLOCKED_IP)
    if cs.blocked_user_agents:
        agent = request.headers.get("User-Agent", "").lower()
        if any(pattern.lower() in agent for pattern in cs.blocked_user_agents):
            raise Refusal(403, Reason.BLOCKED_UA)


def stream_timeout(cs: ClientSide) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=cs.connect_timeout, sock_read=cs.stream_read_timeout)


def forward_headers(request: web.Request) -> dict[str, str]:
    headers = {name: request.headers[name] for name in _FORWARD if name in request.headers}
    headers["Accept-Encoding"] = "identity"  # bytes and ranges as the panel stores them
    return headers


def response_headers(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    headers = {name: upstream.headers[name] for name in _RETURN if name in upstream.headers}
    if "Content-Encoding" in upstream.headers:
        headers.pop("Content-Length", None)  # decompressed on the way: the length changed
    return headers


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _behind(request: web.Request) -> bool:
    """Right after a write: the player's socket did not take all of it, the rest waits in our buffer."""
    transport = request.transport
    return transport is not None and transport.get_write_buffer_size() > 0


class _RecvSize:
    """Caps each recv() on the panel's socket at SLOW_RECV until the player has shown it keeps up.

    asyncio's selector transport reads up to `max_size` (256 KiB) per recv(), and aiohttp can pause the transport
    only after a read has landed: with a slow player every resume pulled another 256 KiB out of the panel's full
    socket. A player that takes FAST_AFTER bytes in a row without a backlog gets the big reads back (fewer loop
    turns per MB: section 4's throughput); one backlog puts the cap back. The streak is long because a slow
    player's kernel socket buffers (Linux: up to 4 MiB of tcp_wmem) take the first MBs at full speed.
    `max_size` is an attribute of CPython's selector transport, not an API: transports without it (TLS, uvloop)
    are left alone, and the default is back before the connection can serve another request.
    """

    def __init__(self, upstream: aiohttp.ClientResponse) -> None:
        connection = upstream.connection
        transport = connection.transport if connection is not None else None
        default = getattr(type(transport), "max_size", None)
        self._transport = transport if isinstance(default, int) else None
        self._default = default if isinstance(default, int) else 0
        self._clear = 0  # bytes written since the player last had a backlog
        self._set(SLOW_RECV)
        # aiohttp pools the connection as the last byte arrives, maybe before it is relayed: the default is put
        # back in that same step (callbacks run in order, the release first), before another request can take it.
        upstream.content.on_eof(self.restore)

    def _set(self, size: int) -> None:
        if self._transport is not None:
            setattr(self._transport, "max_size", size)  # noqa: B010 (not in the Transport type)

    def follow(self, behind: bool, sent: int) -> None:
        if behind:
            if self._clear >= FAST_AFTER:
                self._set(SLOW_RECV)
            self._clear = 0
            return
        before, self._clear = self._clear, self._clear + sent
        if before < FAST_AFTER <= self._clear:
            self._set(self._default)

    def restore(self) -> None:
        self._set(self._default)
        self._transport = None  # from here on the connection is not ours to tune


class Copied(enum.Enum):
    DONE = "done"  # the upstream body ended
    GONE = "gone"  # the player went away
    STOPPING = "stopping"  # the server is shutting down
    BROKEN = "broken"  # the upstream failed mid-body: reset, closed early, or silent past stream_read_timeout


class Broken(Exception):
    """A response already under way ended early. It is ended as it stands and its connection closed: nothing else
    may be written on that connection (an error response would land inside the body the player is reading)."""

    def __init__(self, response: web.StreamResponse, reason: Reason) -> None:
        super().__init__(reason.value)
        self.response = response
        self.reason = reason


async def end_broken(resp: web.StreamResponse, reason: Reason) -> Broken:
    """End a response the upstream left unfinished: a chunked one with its last chunk (the player sees the stream
    end and reconnects), one with a Content-Length short of it (the player sees it cut); then close."""
    resp.force_close()
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return Broken(resp, reason)


async def _next_chunk(request: web.Request, upstream: aiohttp.ClientResponse) -> bytes | None:
    """The panel's next bytes (b"" at the end), or None when the player went away while the panel was silent.

    The poll's own timeout is told apart from aiohttp's sock_read timeout, which is a TimeoutError too (and a
    ClientError): that one is set on the stream for good, and taking it for the poll made every later read fail
    at once without yielding, a loop that froze the whole process.
    """
    while True:
        try:
            async with asyncio.timeout(DISCONNECT_POLL):
                return await upstream.content.readany()
        except aiohttp.ClientError:
            raise
        except TimeoutError:
            if _gone(request):
                return None


async def copy_body(request: web.Request, upstream: aiohttp.ClientResponse, resp: web.StreamResponse,
                    on_bytes: list[int], runtime: ClientSideRuntime | None = None,
                    send_timeout: float | None = None) -> Copied:  # fmt: skip
    """Copy until the end, the player leaves, the server stops (`runtime.stopping`) or the upstream fails; the
    caller ends the response and closes the upstream.

    `readany()` hands over what the panel sent since the last read, usually one recv()'s bytes object as it is
    (no copy): big pieces while the player keeps up, SLOW_RECV pieces otherwise. Each write waits for the player's
    buffer to drain below WRITE_HIGH (aiohttp itself waits only every 64 KiB), so the next upstream read starts
    only when the player took this one.
    """
    recv = _RecvSize(upstream)
    stalled = _Stalled(request, send_timeout)
    try:
        while True:
            if runtime is not None and runtime.stopping:
                return Copied.STOPPING
            try:
                chunk = await _next_chunk(request, upstream)
            except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
                log.warning("stream upstream failed mid-body for %s: %s", redact(request.rel_url.raw_path, ""),
                            type(exc).__name__)  # fmt: skip
                return Copied.BROKEN
            if chunk is None:
                return Copied.GONE
            if not chunk:
                return Copied.DONE
            try:
                stalled.writing()
                await resp.write(chunk)
                recv.follow(_behind(request), len(chunk))  # before the drain: the next recv() may come in it
                await request.writer.drain()
                stalled.written()
            except (ConnectionError, RuntimeError):  # reset by the player (or cut by `stalled`), or closing
                return Copied.GONE
            on_bytes[0] += len(chunk)
    finally:
        stalled.stop()
        recv.restore()


class _Stalled:
    """Cuts a player that took nothing for `timeout` seconds of one write and its drain (suspended, its socket
    left open): one timer for the whole copy, re-armed from the write's start, rather than a timeout entered for
    every chunk (4 us each, against the ~0.1 us of noting the time)."""

    def __init__(self, request: web.Request, timeout: float | None) -> None:
        self._request, self._timeout = request, timeout
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the write under way began; None between writes
        self._timer = self._loop.call_later(timeout, self._check) if timeout is not None else None

    def writing(self) -> None:
        self._since = self._loop.time()

    def written(self) -> None:
        self._since = None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _check(self) -> None:
        assert self._timeout is not None
        now = self._loop.time()
        if self._since is None or now - self._since < self._timeout:
            self._timer = self._loop.call_at((self._since or now) + self._timeout, self._check)
            return
        log.info("stream player took nothing for %gs: cut for %s", self._timeout,
                 redact(self._request.rel_url.raw_path, ""))  # fmt: skip
        if self._request.transport is not None:
            self._request.transport.abort()  # its pending write or drain ends with ConnectionResetError


async def relay(request: web.Request, *, runtime: ClientSideRuntime, config: Config, metrics: Metrics,
                url: str, kind: str, line: str | None, rewrite_hls: bool = False,
                token: bool = False, password: str = "") -> web.StreamResponse:  # fmt: skip
    """GET `url` upstream and send its answer to the player. `line` (a username with its `password`, or with
    `token` the line's access token) is counted against the cap."""
    cs = config.client_side
    counter = runtime.counter(config)
    lease: Lease | None = None
    if line is not None and cs.max_streams_per_line > 0:
        panel = upstream_of(config)
        lease = await counter.acquire(line_key(panel.name, line, password, secret=panel.api_key),
                                      cs.max_streams_per_line)  # fmt: skip
        if lease is None:
            raise Refusal(403, Reason.MAX_STREAMS)
    metrics.active_streams.labels(kind).inc()
    runtime.watching.opened(line, kind, token=token)
    sent = [0]
    try:
        try:
            upstream = await runtime.session().get(
                url, headers=forward_headers(request), timeout=stream_timeout(cs), allow_redirects=True,
                max_redirects=5,
            )  # fmt: skip
        except TRANSPORT_ERRORS as exc:
            raise Refusal.upstream_failed(exc, "stream") from None
        player: asyncio.Transport | None = None
        try:
            if upstream.status >= 400:
                refusal = Refusal.upstream_status(upstream.status)
                if upstream.status == 416 and "Content-Range" in upstream.headers:
                    # `bytes */{size}`: a player resuming at the very end (ExoPlayer) reads the end from it
                    refusal.headers["Content-Range"] = upstream.headers["Content-Range"]
                raise refusal
            if upstream.status == 200 and (rewrite_hls or upstream.content_type.lower() in HLS_TYPES):
                return await _playlist(upstream, runtime, config)
            resp = web.StreamResponse(status=upstream.status, headers=response_headers(upstream))
            await resp.prepare(request)
            if request.transport is not None:
                # Kept for the rest of the connection (keep-alive): harmless, aiohttp's writes drain anyway.
                request.transport.set_write_buffer_limits(high=WRITE_HIGH)
            player = request.transport  # kept: it is None on the request once the connection is lost
            if player is not None:
                runtime.streaming.add(player)
            if lease is not None:
                async with kept(counter, lease):
                    copied = await copy_body(request, upstream, resp, sent, runtime, cs.player_send_timeout)
            else:
                copied = await copy_body(request, upstream, resp, sent, runtime, cs.player_send_timeout)
            if copied is Copied.DONE:
                await resp.write_eof()
                upstream.release()
            elif copied is Copied.STOPPING:  # shutdown: end the response (the player reconnects, to another replica)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await resp.write_eof()
            elif copied is Copied.BROKEN:
                raise await end_broken(resp, Reason.UPSTREAM_BROKEN)
            return resp
        finally:
            if player is not None:
                runtime.streaming.discard(player)
            upstream.close()  # at once: a half-read stream must not linger in a pool or hold a panel slot
    finally:
        metrics.active_streams.labels(kind).dec()
        runtime.watching.closed(line, kind, token=token)
        metrics.relayed_bytes.labels(kind).inc(sent[0])
        if lease is not None:
            await counter.release(lease)


async def _playlist(upstream: aiohttp.ClientResponse, runtime: ClientSideRuntime, config: Config) -> web.Response:
    try:
        body = await read_body(upstream.content, MAX_PLAYLIST_BYTES, length=upstream.content_length)
    except TooLarge:
        log.warning("HLS playlist upstream answer is larger than %d bytes", MAX_PLAYLIST_BYTES)
        raise Refusal(502, Reason.UPSTREAM_ERROR) from None
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, "HLS playlist") from None
    text = body.decode("utf-8", errors="replace")
    rewritten = runtime.rewriter(config).hls(text, str(upstream.url), runtime.origins(config))
    return web.Response(text=rewritten, content_type="application/vnd.apple.mpegurl",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip
