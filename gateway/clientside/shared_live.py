"""Shared live channels: one upstream connection per channel, its bytes fanned out to every viewer.

- A channel is its upstream, stream id, format and scope (a provider pool, or one line: gateway.clientside.live).
  The first viewer opens it; later viewers join the running connection.
- One pump per channel reads the panel as fast as the panel sends (a live channel sends in real time) and never
  waits for a viewer: each viewer has its own queue of the shared `bytes` pieces (references, not copies) and its
  own handler writing them with backpressure (relay.WRITE_HIGH).
- A viewer joins at a join point (gateway.clientside.ts_join: a PAT on a packet boundary) and is handed the
  channel's bytes since the latest one (at most JOIN_BACKLOG), so a player starts at once and starts clean.
- A viewer whose queue passes `viewer_buffer` bytes is skipped forward: its queue is dropped and it resumes at the
  next join point. One that took nothing since it was last skipped (a player that stopped reading) is dropped:
  its connection is closed. Neither ever slows the pump or the others; memory per viewer stays bounded.
- When the last viewer leaves, the connection stays open `live_linger` seconds (a viewer zapping back joins it
  without a new upstream connection), then closes and gives its provider slot back. A channel without viewers is
  also closed at once when its slot is wanted for another channel (`evict_idle`).
- The panel failing mid-stream (reset, FIN, silent past `stream_read_timeout`) ends every viewer's response as it
  stands (relay.end_broken); shutdown ends them all and closes every channel (`stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from gateway.clientside.channel_registry import (
    HEARTBEAT,
    RELEASE_GRACE,
    ChannelKey,
    ChannelRegistry,
    LingeringChannel,
)
from gateway.clientside.provider_lines import Slot
from gateway.clientside.ts_join import Piece, TsSplitter
from gateway.metrics import Metrics

log = logging.getLogger("panelgate.clientside")

JOIN_BACKLOG = 2 << 20  # bytes since the latest join point kept per channel for joiners (a GOP of HD is ~1-2 MB)


@dataclass
class Opened:
    """What opening a channel gave: the panel's answer, and the provider slot it holds (None: a viewer's line)."""

    response: aiohttp.ClientResponse
    slot: Slot | None
    release: Callable[[Slot], Awaitable[None]]


class End:
    DONE = "done"  # the upstream ended
    BROKEN = "broken"  # the upstream failed mid-body
    GONE = "gone"  # the viewer went away
    DROPPED = "dropped"  # the viewer stopped taking bytes
    STOPPING = "stopping"  # shutdown


class Viewer:
    __slots__ = ("end", "joined", "queue", "queued", "sent", "sent_at_skip", "transport", "waiter")

    def __init__(self, transport: asyncio.Transport | None, joined: bool) -> None:
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.waiter: asyncio.Future[None] | None = None
        self.end: str | None = None
        self.joined = joined  # False until a join point reaches it
        self.sent = 0
        self.sent_at_skip = -1
        self.transport = transport

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def finish(self, why: str) -> None:
        if self.end is None:
            self.end = why
        self.wake()

    async def next(self) -> bytes | None:
        """The next piece to write, or None once the viewer is to stop (after the rest of the queue when the
        upstream ended; at once when it is gone, dropped or the server stops)."""
        while True:
            if self.end in (End.GONE, End.DROPPED, End.STOPPING):
                return None
            if self.queue:
                piece = self.queue.popleft()
                self.queued -= len(piece)
                return piece
            if self.end is not None:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None


class Channel(LingeringChannel):
    def __init__(self, key: ChannelKey, owner: SharedLive, metrics: Metrics, viewer_buffer: int,
                 linger: float) -> None:  # fmt: skip
        super().__init__(key, owner, linger)
        self.owner = owner
        self.metrics = metrics
        self.viewer_buffer = viewer_buffer
        self.viewers: set[Viewer] = set()
        self.opened: Opened | None = None
        self.headers: dict[str, str] = {}
        self.splitter = TsSplitter()
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.backlog_ok = False
        self._pump: asyncio.Task[None] | None = None

    # --- viewers ----------------------------------------------------------------------------------------------

    def attach(self, transport: asyncio.Transport | None, first: bool) -> Viewer:
        viewer = Viewer(transport, joined=first)
        if not first and self.backlog_ok:
            viewer.queue.extend(self.backlog)
            viewer.queued = self.backlog_bytes
            viewer.joined = True
        self.viewers.add(viewer)
        self._stay()
        self.owner.counted()
        return viewer

    def leave(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        viewer.queue.clear()
        self.owner.counted()
        if self.viewers or self.closed:
            return
        if self.linger <= 0:
            self.owner.spawn(self.close())
        else:
            self._linger = asyncio.get_running_loop().call_later(self.linger, self._linger_over)

    @property
    def watched(self) -> bool:
        return bool(self.viewers)

    # --- the pump ---------------------------------------------------------------------------------------------

    def start(self, opened: Opened, headers: dict[str, str]) -> None:
        self.opened = opened
        self.headers = headers
        self.ready.set_result(None)
        self._pump = asyncio.get_running_loop().create_task(self._run(opened.response))

    async def _run(self, upstream: aiohttp.ClientResponse) -> None:
        end = End.DONE
        try:
            while True:
                try:
                    data = await upstream.content.readany()
                except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
                    log.warning("shared live channel %s failed mid-stream: %s", self.key.stream, type(exc).__name__)
                    end = End.BROKEN
                    break
                if not data:
                    for piece in self.splitter.flush():
                        self._spread(piece)
                    break
                for piece in self.splitter.feed(data):
                    self._spread(piece)
        finally:
            for viewer in list(self.viewers):
                viewer.finish(end)
            await self.close()

    def _spread(self, piece: Piece) -> None:
        data = piece.data
        self.metrics.relayed_bytes.labels("live_upstream").inc(len(data))
        start = piece.head + data if piece.head else data  # what a viewer starting here is sent
        if piece.join:
            self.backlog, self.backlog_bytes, self.backlog_ok = [start], len(start), True
        elif self.backlog_ok:
            self.backlog.append(data)
            self.backlog_bytes += len(data)
            if self.backlog_bytes > JOIN_BACKLOG:  # too long since the last join point: joiners wait for the next
                self.backlog, self.backlog_bytes, self.backlog_ok = [], 0, False
        for viewer in self.viewers:
            if viewer.joined:
                sent = data
            elif piece.join:
                viewer.joined, sent = True, start
            else:
                continue
            viewer.queue.append(sent)
            viewer.queued += len(sent)
            if viewer.queued > self.viewer_buffer:
                self._overflow(viewer)
            else:
                viewer.wake()

    def _overflow(self, viewer: Viewer) -> None:
        viewer.queue.clear()
        viewer.queued = 0
        if viewer.sent == viewer.sent_at_skip:  # took nothing since it was skipped forward: it stopped reading
            self.metrics.shared_viewer_skips.labels("dropped").inc()
            viewer.finish(End.DROPPED)
            if viewer.transport is not None:
                viewer.transport.abort()  # ends a write waiting for the socket to drain
            return
        self.metrics.shared_viewer_skips.labels("skipped").inc()
        viewer.joined = False
        viewer.sent_at_skip = viewer.sent

    async def sweep(self, stopping: bool) -> None:
        """Every SWEEP seconds: viewers whose connection went away while the channel was silent, shutdown, and
        the slot's heartbeat."""
        for viewer in self.viewers:
            if stopping:
                viewer.finish(End.STOPPING)
            elif viewer.transport is None or viewer.transport.is_closing():
                viewer.finish(End.GONE)
        opened = self.opened
        if opened is not None and opened.slot is not None and time.monotonic() >= self._beat_at:
            self._beat_at = time.monotonic() + HEARTBEAT
            await self.owner.refresh(opened.slot)

    async def close(self) -> None:
        """Close the upstream connection and give the slot back: once, whoever calls first."""
        if self.closed:
            return
        self.closed = True
        self.owner.forget(self)
        if self._linger is not None:
            self._linger.cancel()
        for viewer in list(self.viewers):
            viewer.finish(End.BROKEN)  # only when closed from outside with viewers (shutdown sets STOPPING first)
        pump, current = self._pump, asyncio.current_task()
        if pump is not None and pump is not current and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        opened = self.opened
        if opened is not None:
            opened.response.close()  # at once: the panel's connection, and its slot on the panel, are freed
            if opened.slot is not None:
                self.owner.releasing += 1
                try:
                    await asyncio.sleep(RELEASE_GRACE)
                finally:
                    self.owner.releasing -= 1
                    await opened.release(opened.slot)
        self.backlog = []


class SharedLive(ChannelRegistry[Channel]):
    """Every shared channel of this process."""

    label = "shared live"

    def __init__(self) -> None:
        super().__init__()
        self.more: Callable[[], tuple[int, int]] = _none  # (channels, viewers) shared elsewhere: live HLS
        self.stopping = False
        self.releasing = 0  # slots of closed channels waiting out RELEASE_GRACE: free in a moment, not busy

    def channel(self, key: ChannelKey, metrics: Metrics, viewer_buffer: int,
                linger: float) -> tuple[Channel, bool]:  # fmt: skip
        """The running channel of `key`, or a new one to open (True): its opener calls `start` or `fail`."""
        channel, new = self.open(key, metrics, lambda: Channel(key, self, metrics, viewer_buffer, linger))
        if new:
            self.counted()
        return channel, new

    def counted(self, metrics: Metrics | None = None) -> None:
        """The gauges of every shared channel, MPEG-TS and HLS (`more`) alike."""
        self.metrics = self.metrics or metrics
        if self.metrics is None:
            return
        more_channels, more_viewers = self.more()
        viewers = sum(len(c.viewers) for c in self.channels.values()) + more_viewers
        channels = sum(1 for c in self.channels.values() if c.ready.done()) + more_channels
        self.metrics.shared_channels.set(channels)
        self.metrics.shared_viewers.set(viewers)
        self.metrics.upstream_saved.set(max(0, viewers - channels))

    def report(self) -> dict[str, int]:
        more_channels, more_viewers = self.more()
        viewers = sum(len(c.viewers) for c in self.channels.values()) + more_viewers
        channels = len(self.channels) + more_channels
        return {"channels": channels, "viewers": viewers, "upstream_connections_saved": max(0, viewers - channels)}

    async def sweep_one(self, channel: Channel, now: float) -> None:
        await channel.sweep(self.stopping)

    def drop_gone(self) -> bool:
        """End now (as the sweep would within SWEEP) every viewer whose connection is closed; True if any."""
        gone = False
        for channel in self.channels.values():
            for viewer in channel.viewers:
                if viewer.transport is None or viewer.transport.is_closing():  # leaving, or left unseen
                    viewer.finish(End.GONE)
                    gone = True
        return gone

    async def stop(self) -> None:
        """Shutdown: every viewer ends at its next piece, every channel closes and gives its slot back."""
        self.stopping = True
        for channel in list(self.channels.values()):
            for viewer in channel.viewers:
                viewer.finish(End.STOPPING)
        await self.close()


def _none() -> tuple[int, int]:
    return 0, 0
