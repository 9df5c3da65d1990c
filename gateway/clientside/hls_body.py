"""A shared HLS segment's bytes as they arrive from the panel, read by any number of viewers at once.

One fetch fills a Body (gateway.clientside.hls_share); every viewer asking for that segment meanwhile or later
reads it from its first byte, at its own pace, as far as it has arrived, and waits for more: a viewer joining
mid-fetch does not wait for the end, and one that is slow holds nobody up. A body ends complete, or with the
Refusal every reader gets (before its response began: that answer; after: its response is ended as it stands).
"""

from __future__ import annotations

import asyncio

from gateway.clientside.refusal import Refusal


def copied(refused: Refusal) -> Refusal:
    """A fresh copy to raise: one exception object raised in many tasks would share (and grow) one traceback."""
    return Refusal(refused.status, refused.reason, refused.headers)


class Body:
    """A segment's bytes as they arrive, readable by any number of viewers from the start while they grow."""

    __slots__ = ("changed", "chunks", "content_type", "done", "error", "length", "size", "started")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.length: int | None = None  # the panel's Content-Length, when it sent one
        self.content_type = "video/mp2t"
        self.started = False
        self.done = False
        self.error: Refusal | None = None
        self.changed = asyncio.Event()

    def begin(self, content_type: str, length: int | None) -> None:
        self.content_type, self.length, self.started = content_type, length, True
        self._wake()

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        self._wake()

    def end(self, error: Refusal | None = None) -> None:
        if not self.done:
            self.done, self.error = True, error
            self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed.clear()

    async def wait_start(self) -> None:
        """Until the panel answered; a Refusal when it answered an error or could not be asked."""
        while not self.started and not self.done:
            await self.changed.wait()
        if not self.started and self.error is not None:
            raise copied(self.error)

    async def after(self, index: int) -> list[bytes] | None:
        """The chunks from `index` on, as soon as there are any; None at the end; Refusal when it broke off."""
        while True:
            if index < len(self.chunks):
                return self.chunks[index:]
            if self.done:
                if self.error is not None:
                    raise copied(self.error)
                return None
            await self.changed.wait()
