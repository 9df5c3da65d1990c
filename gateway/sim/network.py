"""A realistic network in front of a simulated panel: answers arrive in pieces, with pauses, framed either way.

On loopback a simulator's whole answer lands in one read of the gateway's, so code that takes "what has arrived"
for the body passes every test and fails against a real panel over a real network. `Network(seed).install(app)`
puts a middleware in front of everything the app answers (faults included) that:
- waits a little before answering (up to `Shape.latency` seconds);
- sends every body in pieces of 1..`max_piece` bytes (log-uniform: mostly small, now and then large), each its
  own write to the socket with the event loop turned between them, so a reader in the same process meets them one
  by one, and now and then a pause (`pause_chance`, up to `max_pause` seconds);
- sends an answer whose length is known (`web.Response`) chunked instead, at random (`chunked_chance`).
Every choice comes from a `random.Random` seeded with the network's seed and the request's number on this server,
so a failing test repeats with the same seed.

`wire_of(request)` is the writer in use (installed on demand); faults.py gives it a `Cut` (the body stops short:
silence with the connection open, death with a FIN, or a reset) or a drip `Shape`.

Imports nothing from the gateway: the simulators must not share its mistakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.http_writer import StreamWriter

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CUT_MODES = ("silence", "die", "reset")


@dataclass(frozen=True)
class Shape:
    """How a body travels. `max_piece=None` sends each write as it comes (loopback)."""

    max_piece: int | None = 64 * 1024  # log-uniform from min_piece: half the pieces are under 256 bytes
    min_piece: int = 1
    pause_chance: float = 0.01
    max_pause: float = 0.002
    min_pause: float = 0.0
    latency: float = 0.002
    chunked_chance: float = 0.5


LOOPBACK = Shape(max_piece=None, pause_chance=0.0, latency=0.0, chunked_chance=0.0)


def drip(pause: float, piece: int = 8) -> Shape:
    """The whole answer, `piece` bytes at a time, `pause` seconds apart: a panel on a saturated link."""
    return Shape(max_piece=piece, min_piece=piece, pause_chance=1.0, max_pause=pause, min_pause=pause)


@dataclass
class Cut:
    """The body stops after `after` bytes: `silence` (nothing more until `released`, then a reset), `die` (the
    connection closes: the panel's process is gone) or `reset` (TCP RST)."""

    after: int
    mode: str
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.mode not in CUT_MODES:
            raise ValueError(f"unknown cut {self.mode!r}; use one of {', '.join(CUT_MODES)}")


class Wire(StreamWriter):
    """aiohttp's response writer, sending each write in pieces (and stopping where a Cut says)."""

    def __init__(self, request: web.BaseRequest, shape: Shape, rng: random.Random,
                 network: Network | None = None) -> None:  # fmt: skip
        super().__init__(request.protocol, asyncio.get_running_loop())
        self.shape = shape
        self.rng = rng
        self.network = network
        self.cut: Cut | None = None
        self.body_sent = 0

    def _piece(self, left: int) -> int:
        shape = self.shape
        if shape.max_piece is None:
            return left
        low, high = max(1, shape.min_piece), max(1, shape.max_piece)
        size = low if low >= high else int(math.exp(self.rng.uniform(math.log(low), math.log(high + 1))))
        return max(1, min(size, left))

    async def _turn(self) -> None:
        """Let the socket take the piece and the reader read it; now and then, a real pause."""
        await self.drain()
        shape = self.shape
        pause = 0.0
        if shape.pause_chance and self.rng.random() < shape.pause_chance:
            pause = self.rng.uniform(shape.min_pause, shape.max_pause)
        if shape.max_piece is not None or pause:
            await asyncio.sleep(pause)

    async def write(self, chunk: bytes | bytearray | memoryview, *, drain: bool = True,  # type: ignore[override]
                    LIMIT: int = 0x10000) -> None:  # fmt: skip
        data = memoryview(chunk).cast("B")
        pos = 0
        while pos < len(data):
            left = len(data) - pos
            if self.cut is not None:
                if self.body_sent >= self.cut.after:
                    await self._stop(self.cut)
                left = min(left, self.cut.after - self.body_sent)
            size = self._piece(left)
            await super().write(bytes(data[pos : pos + size]), drain=False)
            pos += size
            self.body_sent += size
            if self.network is not None:
                self.network.pieces += 1
                self.network.body_bytes += size
            await self._turn()
        if self.cut is not None and self.body_sent >= self.cut.after:
            await self._stop(self.cut)

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            await self.write(chunk)
        await super().write_eof()

    def _hung_up(self) -> bool:
        transport = self.transport
        return transport is None or transport.is_closing()

    async def _stop(self, cut: Cut) -> None:
        if cut.mode == "silence":
            # Until released (tests release every wait at teardown) or until the reader hangs up: then the handler
            # ends, as a panel's would, and a test sees the connection was let go.
            while not cut.released.is_set() and not self._hung_up():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cut.released.wait(), 0.05)
        transport = self.transport
        if cut.mode == "reset" and transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST, not FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if transport is not None:
            if cut.mode == "die":
                transport.close()  # what was written is flushed, then FIN
            else:
                transport.abort()
        raise asyncio.CancelledError  # nothing more is written on this connection (the `drop` fault's way)


def wire_of(request: web.BaseRequest) -> Wire:
    """The writer of this request's answer; a loopback one is installed when no Network put one there."""
    writer = request.writer
    if isinstance(writer, Wire):
        return writer
    wire = Wire(request, LOOPBACK, random.Random(0))
    request._payload_writer = wire
    return wire


class Network:
    """The middleware that makes one simulated panel's answers travel like over a real network."""

    def __init__(self, seed: int | str, shape: Shape | None = None) -> None:
        self.seed = seed
        self.shape = shape or Shape()
        self._requests = itertools.count()
        self.pieces = 0  # body pieces sent, over every answer
        self.body_bytes = 0

    def install(self, app: web.Application) -> web.Application:
        app.middlewares.insert(0, self.middleware)  # outermost: what faults send travels the same way
        app[NETWORK] = self
        return app

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        rng = random.Random(f"{self.seed}:{next(self._requests)}")
        if self.shape.latency:
            await asyncio.sleep(rng.uniform(0, self.shape.latency))
        wire = Wire(request, self.shape, rng, self)
        request._payload_writer = wire
        response = await handler(request)
        if (
            isinstance(response, web.Response)
            and not response.prepared
            and isinstance(response.body, bytes)
            and response.body
            and "Content-Length" not in response.headers
            and request.method != "HEAD"
            and rng.random() < self.shape.chunked_chance
        ):
            response.enable_chunked_encoding()
        return response


NETWORK = web.AppKey("panelgate_sim_network", Network)  # on an app behind a Network: the one it is behind
