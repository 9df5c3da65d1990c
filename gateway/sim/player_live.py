"""How the simulated panel sends a live channel: without end, at the channel's bitrate when one is set.

A real panel sends a live channel in real time (what the encoder makes each second), never faster: a relay that
shares it among viewers sees a steady trickle, and a viewer slower than the bitrate falls behind. Without a rate
(the tests of the per-viewer relay) the bytes go as fast as the reader takes them, as they always did here.
Pieces are whole 188-byte MPEG-TS packets, about PIECES_PER_SECOND of them a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

PACKET = 188
PIECES_PER_SECOND = 50
FAST_PIECE = 64 * 1024

Source = Callable[[int, int], bytes]  # bytes [start, end) of the channel


def looped(clip: bytes) -> Source:
    """A clip over and over (an MPEG-TS clip: a multiple of 188 bytes, so every loop starts on a packet)."""

    def source(start: int, end: int) -> bytes:
        out = bytearray()
        while start < end:
            offset = start % len(clip)
            take = min(len(clip) - offset, end - start)
            out += clip[offset : offset + take]
            start += take
        return bytes(out)

    return source


async def send(resp: web.StreamResponse, source: Source, rate: float | None) -> None:
    """Write the channel until the reader goes away (a write fails, ending the handler)."""
    pos = 0
    if not rate:
        while True:
            await resp.write(source(pos, pos + FAST_PIECE))
            pos += FAST_PIECE
    loop = asyncio.get_running_loop()
    started = loop.time()
    size = max(PACKET, int(rate / PIECES_PER_SECOND) // PACKET * PACKET)
    while True:
        await resp.write(source(pos, pos + size))
        pos += size
        ahead = started + pos / rate - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)


def rate_of(clip: bytes, seconds: float) -> float:
    """The bitrate (bytes a second) that plays `clip` in real time."""
    return len(clip) / seconds
