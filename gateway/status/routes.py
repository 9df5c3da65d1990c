"""The status page's routes on the operator listener, and the task that samples the metrics for it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aiohttp import web

from gateway.exchange import Live
from gateway.status.history import History
from gateway.status.snapshot import FAMILIES, snapshot

HERE = Path(__file__).parent
HISTORY: web.AppKey[History] = web.AppKey("status_history", History)
# The page loads its script from here and nothing else from anywhere: no inline script, no other origin.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def add_routes(app: web.Application, live: Live) -> None:
    """`/status`, `/status.js`, `/status.json` on `app`, reading `live`."""
    page = (HERE / "page.html").read_bytes()
    script = (HERE / "page.js").read_bytes()
    app[HISTORY] = History(live.state.metrics.registry, FAMILIES)
    sampler: list[asyncio.Task[None]] = []  # the app is frozen once started: its task is kept here

    async def status(_: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def status_js(_: web.Request) -> web.Response:
        return web.Response(body=script, content_type="text/javascript", charset="utf-8", headers=HEADERS)

    async def status_json(request: web.Request) -> web.Response:
        return web.json_response(await snapshot(live, request.app[HISTORY]), headers=HEADERS)

    async def start(app: web.Application) -> None:
        sampler.append(asyncio.get_running_loop().create_task(app[HISTORY].run()))

    async def stop(_: web.Application) -> None:
        for task in sampler:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.router.add_get("/status", status)
    app.router.add_get("/status.js", status_js)
    app.router.add_get("/status.json", status_json)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
