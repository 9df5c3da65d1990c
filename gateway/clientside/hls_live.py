"""A viewer of a shared live HLS channel: its playlist, its segments, its session, URLs only it can use.

Shared: `GET /live/{u}/{p}/{id}.m3u8`, `/live/{token}/{id}.m3u8` and `/{u}/{p}/{id}.m3u8` (gateway.clientside.live
`wanted`), with `client_side.shared_live` on. The channel itself is gateway.clientside.hls_share.

- The viewer's copy of the playlist names every segment and key `/_h/{id}/{name}`: `id` seals (AES-SIV under the
  key of the `/_o/` ids, gateway.clientside.rewrite.Origins) the stream, the viewer's own credentials and its
  address. Only that viewer's line can use it, from that address, for Origins' VALID_HOURS; nobody can read or
  forge it, and no other viewer's playlist carries it. The panel's own URLs (their tokens seal the credentials of
  whoever opened the channel) never leave the gateway; the bytes behind them are shared.
- A viewer is a session: its line, its address and its User-Agent (a device), on one channel. It is admitted like
  a viewer of a shared MPEG-TS channel (live.admit: the panel asked about its line when the gateway opens the
  channel with other credentials; its line's cap counted) at its first request, and counts until
  `hls_viewer_timeout` after its last one (HLS players never say they left). A device opening another channel
  leaves the one it watched: an HLS player plays one channel at a time, and a line allowed one connection must
  be able to zap.
- A request with a `Range` other than `bytes=0-` on `/_h/` is relayed per viewer, as VOD and seeks are.
- A multi-variant playlist (XC_VM's adaptive channels) is not shared. With provider lines it is asked for again with
  the viewer's own line and relayed per viewer: the one fetched on a provider line names variants whose tokens seal
  that provider line, and a viewer holding one would stream on it outside the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from urllib.parse import quote

from aiohttp import web

from gateway.bodyread import TooLarge, read_body
from gateway.clientside.channel_registry import OPEN_TRIES, ChannelKey, OpenerGone
from gateway.clientside.hls_fetch import MAX_PLAYLIST_BYTES
from gateway.clientside.hls_playlist import parse
from gateway.clientside.hls_share import Body, HlsChannel, Session, copied
from gateway.clientside.limits import line_key
from gateway.clientside.live import Wanted, admit, open_upstream
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import end_broken, relay, stream_timeout
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.model import Reason
from gateway.security import request_client_ip
from gateway.transport_errors import TRANSPORT_ERRORS

PREFIX = "/_h/"
_PURPOSE = b"panelgate/_h/v1"  # an `/_h/` id never opens as an `/_o/` one, nor the other way round
HLS_TYPE = "application/vnd.apple.mpegurl"


class Variants(Exception):
    """The panel answered a multi-variant playlist: not shared, rewritten for the viewer as the relay does."""

    def __init__(self, text: str, url: str) -> None:
        super().__init__("multi-variant playlist")
        self.text, self.url = text, url


def viewer_id(runtime: ClientSideRuntime, config: Config, want: Wanted, address: str) -> str:
    return runtime.origins(config).seal(json.dumps([want.stream, address, want.creds]), _PURPOSE)


def viewer_of(runtime: ClientSideRuntime, config: Config, vid: str) -> tuple[Wanted, str] | None:
    """The stream, credentials and address an `/_h/` id was sealed for; None when it does not open."""
    text = runtime.origins(config).unseal(vid, _PURPOSE)
    try:
        stream, address, creds = json.loads(text) if text is not None else (None, None, None)
    except ValueError:
        return None
    if not isinstance(stream, str) or not isinstance(address, str) or not isinstance(creds, dict):
        return None
    return Wanted(stream, "m3u8", {str(k): str(v) for k, v in creds.items()}), address


async def playlist(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics,
                   want: Wanted) -> web.StreamResponse:  # fmt: skip
    """The channel's current playlist, every URI the viewer's own `/_h/` URL."""
    address = str(request_client_ip(request, config.trusted_proxies))
    try:
        channel = await _attend(request, runtime, config, metrics, want, address)
    except Variants as variants:
        if config.client_side.provider_lines:
            # asked for on a provider line: its variants (XC_VM: `/auth/{token}`, the token sealing the line that
            # asked, with no expiry) would stream on the provider's line, outside its slots and this viewer's caps.
            # The viewer's own line asks instead, as without sharing: the panel counts and checks the viewer.
            return await relay(request, runtime=runtime, config=config, metrics=metrics, url=_own_url(config, want),
                               kind="live", line=want.line, rewrite_hls=True, token=not want.creds.get("username"),
                               password=want.creds.get("password", ""))  # fmt: skip
        rewritten = runtime.rewriter(config).hls(variants.text, variants.url, runtime.origins(config))
        return web.Response(text=rewritten, content_type=HLS_TYPE, headers={"Cache-Control": "no-cache"})
    current, fetched = await channel.current()
    metrics.hls_requests.labels("playlist", "upstream" if fetched else "shared").inc()
    base = f"{config.public_url.rstrip('/')}{PREFIX}{viewer_id(runtime, config, want, address)}/"
    return web.Response(text=current.render(base), content_type=HLS_TYPE, headers={"Cache-Control": "no-cache"})


async def segment(request: web.Request, runtime: ClientSideRuntime, config: Config,
                  metrics: Metrics) -> web.StreamResponse:  # fmt: skip
    """`/_h/{id}/{name}`: a segment or key of the channel, the same bytes for every viewer."""
    opened = viewer_of(runtime, config, request.match_info["vid"])
    address = str(request_client_ip(request, config.trusted_proxies))
    if opened is None or opened[1] != address:
        raise Refusal(404, Reason.UNKNOWN_SEGMENT)
    want = opened[0]
    try:
        channel = await _attend(request, runtime, config, metrics, want, address)
    except Variants:
        raise Refusal(404, Reason.UNKNOWN_SEGMENT) from None
    name = request.match_info["name"]
    if request.headers.get("Range", "bytes=0-").replace(" ", "") != "bytes=0-":  # a seek: the panel answers it
        entry = channel.known.get(name)
        if entry is None:
            raise Refusal(404, Reason.UNKNOWN_SEGMENT)
        return await relay(request, runtime=runtime, config=config, metrics=metrics, url=entry[0].url, kind="hls",
                           line=None)  # fmt: skip
    body, resource, fetched = await channel.body(name)
    metrics.hls_requests.labels("segment" if resource.seconds else "key", "upstream" if fetched else "shared").inc()
    return await _send(request, runtime, metrics, body)


async def _attend(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics, want: Wanted,
                  address: str) -> HlsChannel:  # fmt: skip
    """The viewer's channel, the viewer's session in it touched, or admitted (Refusal when it may not watch)."""
    cs = config.client_side
    upstream = upstream_of(config)
    provider = bool(cs.provider_lines)
    key = ChannelKey(upstream.name, want.stream, "m3u8", "provider" if provider else want.scope())
    hls = runtime.hls
    hls.budget, hls.timeout, hls.refresh = cs.hls_cache_bytes, cs.hls_viewer_timeout, runtime.providers.refresh
    device = hashlib.sha256(repr((upstream.name, sorted(want.creds.items()), address,
                                  request.headers.get("User-Agent", ""))).encode()).hexdigest()  # fmt: skip
    now = time.monotonic()
    found = hls.channels.get(key)
    known = found.sessions.get(device) if found is not None and not found.closed else None
    if found is not None and known is not None:
        known.seen = now
        return found
    await hls.leave_others(device, key)  # zapping: the channel this device watched is left first
    cap = await admit(request, runtime, config, want, checked=provider or found is not None)
    counter = runtime.counter(config)
    named = line_key(upstream.name, want.line, want.creds.get("password", ""), secret=upstream.api_key)
    lease = await counter.acquire(named, cap)
    if lease is None:
        raise Refusal(403, Reason.MAX_STREAMS)
    try:
        channel = await _open_or_join(request, runtime, config, metrics, want, key)
    except BaseException:
        await counter.release(lease)
        raise
    if device in channel.sessions:  # the same device's other request, admitted meanwhile
        await counter.release(lease)
        channel.sessions[device].seen = now
    else:
        channel.join(device, Session(lease, counter, now, now))
        hls.devices[device] = key
    return channel


async def _open_or_join(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics,
                        want: Wanted, key: ChannelKey) -> HlsChannel:  # fmt: skip
    # a channel that closed between its opening and this viewer's joining, or whose opener went away: open anew
    for _ in range(OPEN_TRIES):
        channel, first = runtime.hls.channel(key, metrics, config.client_side.live_linger)
        if first:
            try:
                await _open(request, runtime, config, metrics, want, channel)
            except asyncio.CancelledError:
                runtime.hls.fail(channel, OpenerGone())
                raise
            except BaseException as exc:  # the viewers waiting for it get the same answer
                given = exc if isinstance(exc, Refusal | Variants) else Refusal(502, Reason.UPSTREAM_ERROR)
                runtime.hls.fail(channel, given)
                raise
            return channel
        try:
            await asyncio.shield(channel.ready)
        except OpenerGone:
            continue
        except Refusal as refused:
            raise copied(refused) from None
        except Variants as variants:
            raise Variants(variants.text, variants.url) from None
        if not channel.closed:
            return channel
    raise Refusal(502, Reason.UPSTREAM_ERROR)


async def _open(request: web.Request, runtime: ClientSideRuntime, config: Config, metrics: Metrics, want: Wanted,
                channel: HlsChannel) -> None:  # fmt: skip
    """The channel's first playlist, on a provider line's slot or the viewer's own line (live.open_upstream)."""
    cs = config.client_side
    if not cs.provider_lines:
        await runtime.close_idle(want.scope())
    opened = await open_upstream(request, runtime, config, metrics, _own_url(config, want), want)
    response = opened.response
    try:
        try:
            text = (await read_body(response.content, MAX_PLAYLIST_BYTES, length=response.content_length)).decode(
                "utf-8", errors="replace")  # fmt: skip
        except TooLarge:
            raise Refusal(502, Reason.UPSTREAM_ERROR) from None
        except TRANSPORT_ERRORS as exc:
            raise Refusal.upstream_failed(exc, "shared HLS playlist") from None
        final = str(response.url)
        own = str(response.history[0].url) if response.history else final
        try:
            parsed = parse(text, final)
        except ValueError:
            raise Refusal(502, Reason.UPSTREAM_ERROR) from None
        if parsed is None:
            raise Variants(text, final)
    except BaseException:
        if opened.slot is not None:
            await opened.release(opened.slot)
        raise
    finally:
        response.close()
    channel.start(runtime.session(), stream_timeout(cs), own, final, parsed, opened.slot, opened.release)


def _own_url(config: Config, want: Wanted) -> str:
    """The channel's URL on the panel with the viewer's own line (used without provider lines)."""
    creds = want.creds
    if "username" in creds:
        line = f"{quote(creds['username'], safe='')}/{quote(creds.get('password', ''), safe='')}"
    else:
        line = quote(creds.get("token", ""), safe="")
    return f"{upstream_of(config).url}/live/{line}/{want.stream}.m3u8"


async def _send(request: web.Request, runtime: ClientSideRuntime, metrics: Metrics, body: Body) -> web.StreamResponse:
    """The segment's bytes as they arrive (or all at once, cached), ended as they stand if the panel broke off."""
    await body.wait_start()
    headers = {"Content-Type": body.content_type}
    if body.length is not None:
        headers["Content-Length"] = str(body.length)
    resp = web.StreamResponse(status=200, headers=headers)
    await resp.prepare(request)
    transport = request.transport
    if transport is not None:
        runtime.streaming.add(transport)
    sent = index = 0
    try:
        while True:
            try:
                chunks = await body.after(index)
            except Refusal:
                raise await end_broken(resp, Reason.UPSTREAM_BROKEN) from None
            if chunks is None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await resp.write_eof()
                return resp
            index += len(chunks)
            try:
                for chunk in chunks:
                    await resp.write(chunk)
                    sent += len(chunk)
            except (ConnectionError, RuntimeError):  # the viewer went away; the fetch goes on for the others
                return resp
    finally:
        if transport is not None:
            runtime.streaming.discard(transport)
        metrics.relayed_bytes.labels("hls").inc(sent)
