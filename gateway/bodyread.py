"""Reading a whole HTTP body, a client's or a panel's: to its end, or to a stated limit that is then an error.

`StreamReader.read(n)` returns what has arrived, up to n bytes: one call is one piece of the body, not the body
(on loopback the two look alike; over a real network a body comes in many pieces). aiohttp's parser ends the
stream where the body ends (Content-Length reached, the last chunk of a chunked body, or the connection's end for
an answer with neither) and fails it when the connection ends first, so reading to the stream's end is reading
the body.
"""

from __future__ import annotations

from aiohttp import StreamReader


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body is larger than {limit} bytes")
        self.limit = limit


async def read_body(stream: StreamReader, limit: int, *, length: int | None = None) -> bytes:
    """The whole body; TooLarge as soon as it passes `limit` bytes (at once when its declared `length` does).

    A chunked body (no length) is held to the same limit as it arrives: at most `limit` + one piece is read.
    """
    if length is not None and length > limit:
        raise TooLarge(limit)
    pieces: list[bytes] = []
    size = 0
    while piece := await stream.readany():
        size += len(piece)
        if size > limit:
            raise TooLarge(limit)
        pieces.append(piece)
    return b"".join(pieces)
