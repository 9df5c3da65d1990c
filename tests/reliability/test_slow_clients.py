"""Slow clients cannot hold sockets: 500 slowloris connections (idle, trickling a header, trickling a body) are all
closed within the configured client timeouts and counted; clients that are merely slow are still served.

Through the production listeners (gateway.server.start), whose runner carries the timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from gateway.app import LIVE
from gateway.server import start
from tests.conftest import ACCESS_CODE, KEYS, AiohttpServer, make_config
from tests.reliability import rawhttp

HEADER, BODY, KEEPALIVE = 1.5, 1.5, 2.0
SLACK = 3.0  # a loaded machine fires timers late; a socket left open fails by far more
TRICKLE = 0.2  # seconds between two bytes of a trickling client


@pytest.fixture
async def gateway(aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path) -> AsyncIterator[
    tuple[int, web.AppRunner]
]:  # fmt: skip
    panel = web.Application()
    server = await aiohttp_server(panel)  # never reached: nothing here completes a request to the admin API
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         admin_listen={"host": "127.0.0.1", "port": 0},
                         client_timeouts={"header": HEADER, "body": BODY, "keepalive": KEEPALIVE})  # fmt: skip
    _, runners = await start(config)
    try:
        yield int(runners[0].addresses[0][1]), runners[0]
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _held(port: int, opening: bytes, trickle: bytes | None) -> float:
    """Connect, send `opening`, then one byte of `trickle` every TRICKLE seconds: how long until it was closed."""
    # timed from before the connect: the gateway's clock starts at its accept, which may come before this task
    # resumes after the connect (500 of them at once), so a clock started after it could read a close as early
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drip() -> None:
        if opening:
            writer.write(opening)
        while trickle:
            await asyncio.sleep(TRICKLE)
            writer.write(trickle)
            await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        return time.monotonic() - started
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        writer.close()


async def test_500_slowloris_connections_are_closed_within_the_timeouts(gateway: tuple[int, web.AppRunner]) -> None:
    port, runner = gateway
    body_head = rawhttp.head("POST", f"/{ACCESS_CODE}/admin/index.php",
                             {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100000"})
    kinds = {
        "idle": (b"", None),  # connects, says nothing
        "header": (b"GET /player_api.php HTTP/1.1\r\nHost: gw\r\nX-Pad: ", b"a"),  # a header line never ends
        "body": (body_head + b"api_key=", b"a"),  # a body that never completes
    }
    counts = {"idle": 200, "header": 200, "body": 100}
    tasks: dict[str, list[asyncio.Task[float]]] = {kind: [] for kind in counts}
    for kind, n in counts.items():
        for i in range(n):
            tasks[kind].append(asyncio.create_task(_held(port, *kinds[kind])))
            if i % 50 == 49:  # bursts the listen backlog takes even where the kernel caps it at 128
                await asyncio.sleep(0.01)
    _, pending = await asyncio.wait([t for group in tasks.values() for t in group], timeout=max(HEADER, BODY) + SLACK)
    still = {kind: sum(not t.done() for t in group) for kind, group in tasks.items()}
    for task in pending:
        task.cancel()
    assert not pending, f"still open after {max(HEADER, BODY) + SLACK}s: {still}"
    held = {kind: [t.result() for t in group] for kind, group in tasks.items()}
    for kind, deadline in (("idle", HEADER), ("header", HEADER), ("body", BODY)):
        assert min(held[kind]) > deadline * 0.8, f"{kind}: closed before its timeout: {min(held[kind]):.2f}s"
        assert max(held[kind]) < deadline + SLACK, f"{kind}: held {max(held[kind]):.2f}s"
    metrics = runner.app[LIVE].state.metrics
    assert metrics.client_timeouts.labels("header")._value.get() == 400
    assert metrics.client_timeouts.labels("body")._value.get() == 100
    assert not metrics.registry.get_sample_value("panelgate_requests_total", {  # a read of the registry drains
        "dialect": "xtream_masters", "operation": "unknown", "outcome": "internal"})  # fmt: skip


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pieces: list[bytes],
                   pause: float) -> int:  # fmt: skip
    """Send a request in `pieces`, `pause` seconds apart; the status of its answer, read whole."""
    for i, piece in enumerate(pieces):
        if i:
            await asyncio.sleep(pause)
        writer.write(piece)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEADER + SLACK)
    reply = rawhttp.parse(head)
    await reader.readexactly(int(reply.headers["content-length"]))
    return reply.status


async def test_slow_but_steady_clients_are_served(gateway: tuple[int, web.AppRunner]) -> None:
    """A header in pieces within its time is served; a kept-alive connection's next request that starts just
    before the idle time ends gets its whole header time (the idle deadline does not cut it); an idle kept-alive
    connection is closed after `keepalive` and counted."""
    port, runner = gateway
    request = b"GET /player_api.php HTTP/1.1\r\nHost: gw\r\nUser-Agent: slow\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        pieces = [request[:10], request[10:30], request[30:]]
        assert await _request(reader, writer, pieces, HEADER / 5) == 200
        await asyncio.sleep(KEEPALIVE - 0.3)  # idle, nearly the whole keep-alive time
        assert await _request(reader, writer, pieces, 0.4) == 200  # its header ends past the idle time
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), KEEPALIVE + SLACK) == b""  # idle: closed
        assert time.monotonic() - started > KEEPALIVE * 0.8
    finally:
        writer.close()
    assert runner.app[LIVE].state.metrics.client_timeouts.labels("idle")._value.get() == 1


async def test_a_body_that_never_ends_behind_a_request_in_progress_is_timed_out(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path
) -> None:
    """A kept-alive connection whose next request (pipelined, or sent before the answer to the current one) comes
    while the current one is still being handled: its body, trickled or never sent, is held to `body` like any
    other (it was watched by no timer, and held the connection and its handler for as long as the client liked)."""

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(0.4)
        return web.Response(status=404)

    panel = web.Application()
    panel.router.add_route("*", "/{tail:.*}", slow)
    server = await aiohttp_server(panel)
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         client_timeouts={"header": HEADER, "body": BODY, "keepalive": KEEPALIVE})  # fmt: skip
    _, runners = await start(config)
    try:
        port = int(runners[0].addresses[0][1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(f"GET /{ACCESS_CODE}/admin/index.php?api_key={KEYS['admin']}&action=get_lines HTTP/1.1\r\n"
                     "Host: gw\r\n\r\n".encode())  # fmt: skip
        await asyncio.sleep(0.1)  # the first request is at the (slow) panel
        writer.write(rawhttp.head("POST", f"/{ACCESS_CODE}/admin/index.php",
                                  {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100000"})
                     + b"api_key=")  # fmt: skip
        with contextlib.suppress(ConnectionError, TimeoutError):
            while await asyncio.wait_for(reader.read(4096), BODY + SLACK):
                pass
        held = time.monotonic() - started
        writer.close()
        assert held < BODY + SLACK, f"the connection was held {held:.1f}s"
        assert runners[0].app[LIVE].state.metrics.client_timeouts.labels("body")._value.get() == 1
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
