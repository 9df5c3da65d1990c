"""Shared live HLS channels: one upstream fetch of each playlist reload and of each segment for all the viewers.

- A channel is keyed like a shared MPEG-TS one (shared_live.ChannelKey, format `m3u8`) and opened the same way
  (live.open_upstream): on a provider line's slot, or with the first viewer's own line (gateway.clientside.live
  says why). Its viewers are sessions (gateway.clientside.hls_live): one counts from its first request until
  `hls_viewer_timeout` after its last, holding a lease of its line's cap the while.
- The playlist is fetched again only when a viewer asks and the copy is older than PLAYLIST_FRACTION of the
  target duration; viewers asking meanwhile get the copy, or wait for the one fetch under way (single flight).
  Reloads go to the URL the panel redirected to (XC_VM: `/auth/{token}`), so the panel sees one connection, as
  from one player; when that URL is refused (its connection ended), the channel's own URL once more.
- Each segment (and key) is fetched once, by a task of the channel's (a viewer leaving does not stop it), into a
  Body every viewer reads from the start while it grows. Kept until its duration has passed since it was last in
  the playlist, within `hls_cache_bytes` for all channels together (the oldest out first).
- When the last session is gone the channel lingers `live_linger` seconds, then closes: fetches under way stop,
  the bytes are dropped, the provider slot is given back. It also closes at once, leases and slot given back,
  when the panel fails a playlist (error status, unreachable, silent past `stream_read_timeout`): the next
  request opens it anew. A segment the panel fails ends the responses reading it as they stand and is
  forgotten, so the next request for it fetches it again.

The requests to the panel themselves (a playlist read, a segment fetched into its Body) are
gateway.clientside.hls_fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.clientside.channel_registry import (
    HEARTBEAT,
    RELEASE_GRACE,
    ChannelKey,
    ChannelRegistry,
    LingeringChannel,
)
from gateway.clientside.hls_body import Body, copied
from gateway.clientside.hls_fetch import fetch_into, read_playlist
from gateway.clientside.hls_playlist import MediaPlaylist, Resource, parse
from gateway.clientside.limits import Lease, StreamCounter
from gateway.clientside.provider_lines import Slot
from gateway.clientside.refusal import Refusal
from gateway.metrics import Metrics
from gateway.model import Reason

PLAYLIST_FRACTION = 0.5  # of the target duration: how old a playlist copy may be (players reload every target)
MIN_FRESH = 0.25  # seconds: a copy is always good this long (a target duration of 0 or 1 s)


@dataclass
class Session:
    """One HLS viewer: its lease on its line's cap, and when it last asked for anything."""

    lease: Lease
    counter: StreamCounter
    seen: float
    beat: float


class HlsChannel(LingeringChannel):
    def __init__(self, key: ChannelKey, owner: SharedHls, linger: float) -> None:
        super().__init__(key, owner, linger)
        self.owner = owner
        self.slot: Slot | None = None
        self.release: Callable[[Slot], Awaitable[None]] | None = None
        self.url = self.reload_url = ""  # the channel's own upstream URL, and where the panel sent it
        self.http: aiohttp.ClientSession | None = None
        self.timeout = aiohttp.ClientTimeout()
        self.playlist: MediaPlaylist | None = None
        self.fetched = 0.0
        self.known: dict[str, tuple[Resource, float]] = {}  # name -> (resource, kept until)
        self.bodies: dict[str, Body] = {}
        self.sessions: dict[str, Session] = {}
        self._fetching: asyncio.Task[MediaPlaylist] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, http: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout, url: str, reload_url: str,
              playlist: MediaPlaylist, slot: Slot | None,
              release: Callable[[Slot], Awaitable[None]]) -> None:  # fmt: skip
        self.http, self.timeout, self.url, self.reload_url = http, timeout, url, reload_url
        self.slot, self.release = slot, release
        self._keep(playlist)
        self.ready.set_result(None)

    # --- viewers ----------------------------------------------------------------------------------------------

    def join(self, sid: str, session: Session) -> None:
        self.sessions[sid] = session
        self._stay()
        self.owner.counted()

    async def leave(self, device: str) -> None:
        """The device's session ends (its lease given back); the last one leaving starts the linger."""
        session = self.sessions.pop(device, None)
        if self.owner.devices.get(device) == self.key:
            del self.owner.devices[device]
        if session is not None:
            await session.counter.release(session.lease)
        self.owner.counted()
        if not self.sessions and self._linger is None and not self.closed:
            self._linger = asyncio.get_running_loop().call_later(self.linger, self._linger_over)

    async def expire(self, now: float, timeout: float) -> None:
        """Sessions silent past `timeout` leave; leases still held are refreshed now and then (Redis forgets a
        lease not refreshed)."""
        for device, session in list(self.sessions.items()):
            if now - session.seen > timeout:
                await self.leave(device)
            elif now - session.beat > HEARTBEAT:
                session.beat = now
                await session.counter.refresh(session.lease)
        if not self.sessions and self._linger is None and not self.closed:
            self._linger = asyncio.get_running_loop().call_later(self.linger, self._linger_over)

    @property
    def watched(self) -> bool:
        return bool(self.sessions)

    # --- the playlist -----------------------------------------------------------------------------------------

    def fresh(self) -> bool:
        pl = self.playlist
        return pl is not None and time.monotonic() - self.fetched < max(MIN_FRESH, PLAYLIST_FRACTION * pl.target)

    async def current(self) -> tuple[MediaPlaylist, bool]:
        """The playlist, and whether this call fetched it (False: a copy, or another request's fetch)."""
        if self.fresh() and self.playlist is not None:
            return self.playlist, False
        fetching = self._fetching is None
        if self._fetching is None:
            self._fetching = self._spawn(self._fetch())
            self._fetching.add_done_callback(self._fetched)
        try:
            return await asyncio.shield(self._fetching), fetching
        except Refusal as refused:
            raise copied(refused) from None

    def _fetched(self, task: asyncio.Task[MediaPlaylist]) -> None:
        if self._fetching is task:
            self._fetching = None

    async def _fetch(self) -> MediaPlaylist:
        assert self.http is not None
        status = 502
        try:
            # the panel's connection; refused (it ended: XC_VM answers 404), the channel's own URL, a new one
            for url in dict.fromkeys((self.reload_url, self.url)):
                text, final, status = await read_playlist(self.http, url, self.timeout)
                if status == 200:
                    playlist = parse(text, final)
                    if playlist is None:
                        raise Refusal(502, Reason.UPSTREAM_ERROR)  # turned into a multi-variant playlist
                    self.reload_url = final
                    self._keep(playlist)
                    return playlist
                if status >= 500:
                    break
            raise Refusal.upstream_status(status)
        except ValueError:
            raise Refusal(502, Reason.UPSTREAM_ERROR) from None
        except BaseException:
            self.owner.spawn(self.close())  # its leases and slot given back now; the next viewer opens it anew
            raise

    def _keep(self, playlist: MediaPlaylist) -> None:
        """What the playlist names is known until its duration has passed after this copy stops being fresh."""
        now = time.monotonic()
        self.playlist, self.fetched = playlist, now
        fresh = max(MIN_FRESH, PLAYLIST_FRACTION * playlist.target)
        for name, resource in playlist.resources.items():
            self.known[name] = (resource, now + fresh + (resource.seconds or playlist.target))

    # --- segments ---------------------------------------------------------------------------------------------

    async def body(self, name: str) -> tuple[Body, Resource, bool]:
        """The segment (or key) named `name`: its Body, what it is, whether this call started its fetch."""
        if name not in self.known and not self.fresh():
            await self.current()  # newer than the copy: the panel's playlist names it by now
        entry = self.known.get(name)
        if entry is None:
            raise Refusal(404, Reason.UNKNOWN_SEGMENT)
        found = self.bodies.get(name)
        if found is not None:
            return found, entry[0], False
        body = self.bodies[name] = Body()
        self._spawn(self._download(name, entry[0], body))
        return body, entry[0], True

    async def _download(self, name: str, resource: Resource, body: Body) -> None:
        assert self.http is not None
        try:
            await fetch_into(self.http, resource.url, self.timeout, body)
        finally:
            body.end(Refusal(502, Reason.UPSTREAM_BROKEN))  # cancelled (the channel closed): no-op when ended
            if body.error is not None:
                if self.bodies.get(name) is body:
                    del self.bodies[name]  # the next request fetches it again
            elif not self.closed:
                self.owner.cached(self, name, body.size)

    def drop(self, name: str) -> None:
        self.bodies.pop(name, None)

    # --- housekeeping -----------------------------------------------------------------------------------------

    async def sweep(self, now: float, timeout: float) -> None:
        await self.expire(now, timeout)
        clock = time.monotonic()
        for name in [n for n, (_, until) in self.known.items() if until < clock]:
            del self.known[name]
            if self.bodies.pop(name, None) is not None:
                self.owner.uncache(self, name)
        if self.slot is not None and clock >= self._beat_at:
            self._beat_at = clock + HEARTBEAT
            await self.owner.refresh(self.slot)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def close(self) -> None:
        """Stop every fetch, drop the bytes, give the viewers' leases and the provider slot back: once."""
        if self.closed:
            return
        self.closed = True
        self.owner.forget(self)
        if self._linger is not None:
            self._linger.cancel()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sessions, self.sessions = self.sessions, {}
        for device, session in sessions.items():
            if self.owner.devices.get(device) == self.key:
                del self.owner.devices[device]
            await session.counter.release(session.lease)
        for name in list(self.bodies):
            self.owner.uncache(self, name)
        self.bodies, self.known, self.playlist = {}, {}, None
        self.owner.counted()
        if self.slot is not None and self.release is not None:
            try:
                await asyncio.sleep(RELEASE_GRACE)  # the panel counts its connection a moment longer
            finally:
                await self.release(self.slot)


class SharedHls(ChannelRegistry[HlsChannel]):
    """Every shared HLS channel of this process, and the memory their segments hold together."""

    label = "shared HLS"

    def __init__(self) -> None:
        super().__init__()
        self.devices: dict[str, ChannelKey] = {}  # a viewer's device -> the channel it watches
        self.budget = 256 << 20
        self.timeout = 30.0  # hls_viewer_timeout, as last configured
        self.on_count: Callable[[Metrics | None], None] = _nothing  # every shared channel's gauges (SharedLive)
        self._cached: OrderedDict[tuple[ChannelKey, str], int] = OrderedDict()
        self.cached_bytes = 0

    def channel(self, key: ChannelKey, metrics: Metrics, linger: float) -> tuple[HlsChannel, bool]:
        """The open channel of `key`, or a new one to open (True): its opener calls `start` or `fail`."""
        return self.open(key, metrics, lambda: HlsChannel(key, self, linger))

    async def leave_others(self, device: str, key: ChannelKey) -> None:
        """A device asking for channel `key` leaves the one it watched (a player plays one channel at a time)."""
        other = self.devices.get(device)
        channel = self.channels.get(other) if other is not None and other != key else None
        if channel is not None:
            await channel.leave(device)

    def cached(self, channel: HlsChannel, name: str, size: int) -> None:
        """A segment complete in memory; the oldest anywhere go while all of them pass the budget."""
        self._cached[(channel.key, name)] = size
        self.cached_bytes += size
        while self.cached_bytes > self.budget and self._cached:
            (key, old), dropped = self._cached.popitem(last=False)
            self.cached_bytes -= dropped
            owner = self.channels.get(key)
            if owner is not None:
                owner.drop(old)  # a viewer reading it keeps its bytes; the next one fetches it again

    def uncache(self, channel: HlsChannel, name: str) -> None:
        self.cached_bytes -= self._cached.pop((channel.key, name), 0)

    def counts(self) -> tuple[int, int]:
        """(channels, viewers) of shared HLS."""
        return (sum(1 for c in self.channels.values() if c.ready.done()),
                sum(len(c.sessions) for c in self.channels.values()))  # fmt: skip

    def counted(self, metrics: Metrics | None = None) -> None:
        if self.metrics is not None:
            channels, viewers = self.counts()
            self.metrics.hls_channels.set(channels)
            self.metrics.hls_viewers.set(viewers)
        self.on_count(self.metrics)

    def report(self) -> dict[str, int]:
        channels, viewers = self.counts()
        return {"channels": channels, "viewers": viewers, "cached_bytes": self.cached_bytes}

    async def sweep_one(self, channel: HlsChannel, now: float) -> None:
        await channel.sweep(now, self.timeout)


def _nothing(_: Metrics | None) -> None:
    return None
