"""Work that must be renewed while something lasts: a lease, a claim. One background beat per holder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


@contextlib.asynccontextmanager
async def beating(every: float, renew: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Call `renew` every `every` seconds while the body runs; stopped (and awaited) when it ends."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            await renew()

    task = asyncio.get_running_loop().create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
