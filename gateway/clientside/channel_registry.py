"""What shared MPEG-TS channels (shared_live) and shared HLS channels (hls_share) have in common: a registry of
the open channels of one process by key, the opener's protocol (`channel` -> `start` or `fail`), the sweeper
that visits every channel each SWEEP seconds, and the shutdown that closes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from gateway.clientside.provider_lines import Slot
from gateway.metrics import Metrics

log = logging.getLogger("panelgate.clientside")

SWEEP = 1.0  # seconds between checks for vanished viewers and between heartbeats
HEARTBEAT = 20.0  # seconds between refreshes of a channel's provider slot
# A panel counts a connection until it notices it closed (at its next write, a few ms; a busy panel, longer): a slot
# given back at once could be taken by a new channel that the panel then refuses as over the line's limit.
RELEASE_GRACE = 0.25
# times a viewer tries to open or join a channel that closed, or whose opener went away, before a 502
OPEN_TRIES = 3


@dataclass(frozen=True)
class ChannelKey:
    upstream: str
    stream: str
    ext: str
    scope: str  # "provider", or a digest of the one line's credentials


class Closable(Protocol):
    """A shared channel of any kind, as a slot that can be taken back (runtime.idle_channels)."""

    async def close(self) -> None: ...


class SharedChannel(Protocol):
    """What a registry needs of its channels."""

    key: ChannelKey
    closed: bool
    ready: asyncio.Future[None]

    @property
    def idle(self) -> bool: ...

    async def close(self) -> None: ...


C = TypeVar("C", bound=SharedChannel)


class Spawner(Protocol):
    def spawn(self, work: Awaitable[Any]) -> None: ...


class OpenerGone(Exception):
    """The viewer opening a channel was cancelled (it went away) before the channel was ready: a viewer waiting
    for the channel opens it anew instead of being told the panel failed."""


class LingeringChannel:
    """What TS and HLS channels share: readiness, and the linger after the last viewer (a viewer zapping back
    joins the open channel) before the channel closes. A subclass says whether anyone watches (`watched`)."""

    def __init__(self, key: ChannelKey, spawner: Spawner, linger: float) -> None:
        self.key, self.linger = key, linger
        self._spawner = spawner
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.closed = False
        self._linger: asyncio.TimerHandle | None = None
        self._beat_at = time.monotonic() + HEARTBEAT

    @property
    def watched(self) -> bool:
        raise NotImplementedError

    @property
    def idle(self) -> bool:
        return not self.watched and self.ready.done() and not self.closed

    async def close(self) -> None:
        raise NotImplementedError

    def _stay(self) -> None:
        """A viewer came: the channel no longer lingers."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def _linger_over(self) -> None:
        self._linger = None
        if not self.watched:
            self._spawner.spawn(self.close())


class ChannelRegistry(Generic[C]):
    """The open channels of one kind in this process. A subclass says how a channel is swept (`sweep_one`) and
    how the registry's gauges are set (`counted`)."""

    label = "shared channels"  # in the log

    def __init__(self) -> None:
        self.channels: dict[ChannelKey, C] = {}
        self.metrics: Metrics | None = None
        self.refresh: Callable[[Slot], Awaitable[None]] = no_refresh
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def open(self, key: ChannelKey, metrics: Metrics, make: Callable[[], C]) -> tuple[C, bool]:
        """The open channel of `key`, or a new one made to open (True): its opener calls `start` or `fail`."""
        found = self.channels.get(key)
        if found is not None and not found.closed:
            return found, False
        self.metrics = metrics
        channel = self.channels[key] = make()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return channel, True

    def fail(self, channel: C, exc: BaseException) -> None:
        channel.closed = True
        self.forget(channel)
        if not channel.ready.done():
            channel.ready.set_exception(exc)

    def forget(self, channel: C) -> None:
        if self.channels.get(channel.key) is channel:
            del self.channels[channel.key]
        self.counted()

    def idle(self, scope: str | None = None) -> list[C]:
        """Channels nobody watches (lingering): all of them, or those of one scope."""
        return [c for c in self.channels.values() if c.idle and (scope is None or c.key.scope == scope)]

    def counted(self, metrics: Metrics | None = None) -> None:
        """Set the gauges: the subclass knows which."""

    def spawn(self, work: Awaitable[Any]) -> None:
        """Work that outlives the request that started it (a slot given back after its grace), awaited at close."""

        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sweep_one(self, channel: C, now: float) -> None:
        """One channel's turn of the sweeper (`now`: monotonic)."""

    async def _sweep(self) -> None:
        while self.channels:
            await asyncio.sleep(SWEEP)
            now = time.monotonic()
            for channel in list(self.channels.values()):
                try:
                    await self.sweep_one(channel, now)
                except Exception:  # one channel's heartbeat must not stop the others' sweeps
                    log.exception("%s: sweep failed", self.label)

    async def close(self) -> None:
        """Shutdown (and cleanup): every channel closed, the work they spawned awaited, the sweeper stopped."""
        await wind_down(list(self.channels.values()), self._tasks, self._sweeper)


async def wind_down(channels: Sequence[Closable], tasks: set[asyncio.Task[None]],
                    sweeper: asyncio.Task[None] | None) -> None:  # fmt: skip
    await asyncio.gather(*(channel.close() for channel in channels))
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    if sweeper is not None:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


async def no_refresh(_: Slot) -> None:
    return None
