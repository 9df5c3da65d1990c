"""Redis calls bounded by one deadline in total, and what this process knows of a Redis server's health.

redis-py's socket_connect_timeout and socket_timeout each bound one step (connecting, the handshake, each read),
so one call could wait several timeouts. `bounded()` puts a single deadline over the whole call.

The rate limits (and outbound budgets), the cache, the stream counts and the record locks each have their own
client and fallback. Sharing a server, each found it frozen on its own: one request waited for the rate limit's
call, then the cache's (400 ms against a 200 ms timeout). `outage(url)` is shared by every client of one server
in this process: the first connection-level failure sends the others to their fallbacks at once, until the
longest back-off of those that failed ends, or a call begun since succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import ResponseError

T = TypeVar("T")


async def bounded(call: Awaitable[T], timeout: float) -> T:
    """`call`, or TimeoutError after `timeout` seconds in all (connect, handshake and command together)."""
    async with asyncio.timeout(timeout):
        return await call


class Outage:
    """One Redis server's health as this process saw it last."""

    def __init__(self) -> None:
        self.until = 0.0  # monotonic time before which callers go to their fallbacks without trying
        self.failed_at = 0.0

    @property
    def down(self) -> bool:
        return time.monotonic() < self.until

    def failed(self, backoff: float, exc: BaseException) -> None:
        if isinstance(exc, ResponseError):
            return  # the server answered (an error of the command, not of the server)
        self.failed_at = time.monotonic()
        self.until = max(self.until, self.failed_at + backoff)

    def answered(self, started: float) -> None:
        """A call begun at `started` (monotonic) succeeded: the server is back, unless one failed since."""
        if started >= self.failed_at:
            self.until = 0.0


_OUTAGES: dict[str, Outage] = {}  # by URL; in memory only (a URL may hold a password)


def outage(url: str) -> Outage:
    return _OUTAGES.setdefault(url, Outage())
