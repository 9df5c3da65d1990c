"""Running the gateway: the public listener and the operator listener in one event loop."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from gateway.app import build_admin_app, build_app, build_state
from gateway.config import Config


async def start(config: Config) -> list[web.AppRunner]:
    """Start both listeners; returns their runners so the caller can clean them up."""
    state = build_state(config)
    runners: list[web.AppRunner] = []
    for app, listen in (
        (build_app(config, state), config.listen),
        (build_admin_app(state), config.admin_listen),
    ):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, listen.host, listen.port).start()
        runners.append(runner)
    return runners


async def serve(config: Config) -> None:
    """Serve until SIGINT or SIGTERM."""
    runners = await start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
