"""HTTP/1.1 by hand over a socket, for requests whose bytes must arrive the way a real network delivers them:
in several TCP segments with pauses between them, or with a chunked body."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool  # the body ended as its framing says: the last chunk, or Content-Length bytes
    trailing: bytes  # whatever came after the body on this connection (another response must never)


def chunked(pieces: Sequence[bytes]) -> list[bytes]:
    """Each piece as one chunk of a chunked body, the last chunk after them."""
    return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: gateway", "Connection: close", *(f"{k}: {v}" for k, v in
                                                                                    headers.items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(raw: bytes) -> RawReply:
    """One response as read until the connection closed, a body cut short included."""
    top, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    status = int(status_line.split()[1])
    if headers.get("transfer-encoding") != "chunked":
        length = int(headers.get("content-length", len(rest)))
        return RawReply(status, headers, rest[:length], len(rest) >= length, rest[length:])
    body = bytearray()
    while True:
        size_line, found, after = rest.partition(b"\r\n")
        if not found:
            return RawReply(status, headers, bytes(body), False, b"")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:  # not a chunk: something else was written inside the body
            return RawReply(status, headers, bytes(body), False, rest)
        if size == 0:
            trailing = after.removeprefix(b"\r\n")
            return RawReply(status, headers, bytes(body), True, trailing)
        body += after[:size]
        if len(after) < size + 2:
            return RawReply(status, headers, bytes(body), False, b"")
        rest = after[size + 2 :]


async def send(host: str, port: int, segments: Sequence[bytes], *, pause: float = 0.05,
               timeout: float = 20.0) -> RawReply:  # fmt: skip
    """Send `segments` one TCP write each, `pause` seconds apart; the answer, read until the server closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for i, segment in enumerate(segments):
            if i:
                await asyncio.sleep(pause)
            writer.write(segment)
            await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return parse(raw)
