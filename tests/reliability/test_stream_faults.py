"""A panel that fails in the middle of a stream or a playlist: it goes silent, dies (FIN) or resets. The player's
response ends (a chunked body with its last chunk, a Content-Length body cut with the connection closed), nothing
else is written on that connection, the panel's connection is let go, and nobody else waits meanwhile.

The responses are read on raw sockets, so what the gateway wrote after the body (an `HTTP/1.1 500` inside a body
already under way, as it once did) is seen as written."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestClient

from gateway.app import LIVE, build_admin_app, build_app
from gateway.sim.faults import FaultInjector
from gateway.sim.player import stream_bytes, vod_size
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.reliability import rawhttp
from tests.serving import KEY_A, free_port, running, write_config

CUT = 64 * 1024  # the panel's bytes before it fails
LONG_READ_TIMEOUT = 30.0  # an end well before this is the failure's doing, not the read timeout's
SHORT_READ_TIMEOUT = 1.0
SLACK = 3.0  # for a loaded machine: every bound below is loose, the failures they catch are hangs


@dataclass
class Side:
    sim: XtreamMastersSim
    injector: FaultInjector
    gateway: TestClient[Any, Any]
    aiohttp_client: AiohttpClient

    def path(self, kind: str, name: str) -> str:
        line = self.sim.tables["lines"][3]
        return f"/{kind}/{line['username']}/{line['password']}/{name}"

    async def get(self, target: str, timeout: float) -> tuple[rawhttp.RawReply, float]:
        server = self.gateway.server
        started = time.monotonic()
        reply = await rawhttp.send(str(server.host), int(server.port or 0), [rawhttp.head("GET", target, {})],
                                   timeout=timeout)  # fmt: skip
        return reply, time.monotonic() - started

    async def outcomes(self) -> dict[str, float]:
        admin = await self.aiohttp_client(build_admin_app(self.gateway.server.app[LIVE]))
        text = await (await admin.get("/metrics")).text()
        out: dict[str, float] = {}
        for row in text.splitlines():
            if row.startswith("panelgate_client_requests_total{"):
                outcome = row.split('outcome="', 1)[1].split('"', 1)[0]
                out[outcome] = out.get(outcome, 0.0) + float(row.rsplit(" ", 1)[1])
        return out

    async def panel_let_go(self) -> None:
        for _ in range(100):
            if self.sim.player.open_streams == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the panel's stream is still open: the gateway did not close its connection")


@pytest.fixture
def make_side(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
              tmp_path: Path) -> Any:  # fmt: skip
    made: list[FaultInjector] = []

    async def make(fault: str, read_timeout: float = LONG_READ_TIMEOUT, cut_after: int = CUT) -> Side:
        sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
        injector = FaultInjector(default=fault, cut_after=cut_after)
        made.append(injector)
        server = await aiohttp_server(injector.wrap(sim.app()))
        config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                             client_side={"stream_read_timeout": read_timeout})  # fmt: skip
        return Side(sim, injector, await aiohttp_client(build_app(config)), aiohttp_client)

    yield make
    for injector in made:
        injector.release()


@pytest.mark.parametrize("fault", ["die", "reset"])
async def test_a_panel_failing_mid_stream_ends_the_players_stream_at_once(make_side: Any, fault: str) -> None:
    side = await make_side(fault)
    reply, took = await side.get(side.path("live", "5.ts"), timeout=LONG_READ_TIMEOUT / 2)
    assert took < SLACK, f"the stream ended {took:.1f}s after the panel failed"
    assert reply.status == 200 and reply.headers.get("transfer-encoding") == "chunked"
    assert reply.body == stream_bytes(5, 0, CUT), "the bytes sent so far, and only those"
    assert reply.complete, "a chunked body ends with its last chunk"
    assert reply.trailing == b"", f"written after the body: {reply.trailing[:80]!r}"
    await side.panel_let_go()
    assert (await side.outcomes()).get("upstream_broken") == 1


async def test_a_movie_cut_short_closes_the_players_connection(make_side: Any) -> None:
    """A Content-Length body cannot be ended early: the player sees it cut (the connection closes) and may resume
    with a Range request; it is never left waiting for bytes that will not come."""
    side = await make_side("die")
    reply, took = await side.get(side.path("movie", "7.mp4"), timeout=LONG_READ_TIMEOUT / 2)
    assert took < SLACK
    assert reply.status == 200 and int(reply.headers["content-length"]) == vod_size(7)
    assert reply.body == stream_bytes(7, 0, CUT) and not reply.complete
    assert reply.trailing == b""
    await side.panel_let_go()


@pytest.mark.parametrize("script", ["get.php", "xmltv.php"])
async def test_a_playlist_whose_panel_goes_silent_ends_on_time(make_side: Any, script: str) -> None:
    side = await make_side("silence", read_timeout=SHORT_READ_TIMEOUT, cut_after=2000)
    line = side.sim.tables["lines"][3]
    reply, took = await side.get(f"/{script}?username={line['username']}&password={line['password']}",
                                 timeout=SHORT_READ_TIMEOUT + 10)  # fmt: skip
    assert SHORT_READ_TIMEOUT * 0.9 < took < SHORT_READ_TIMEOUT + SLACK, took
    assert reply.status == 200 and reply.complete and reply.trailing == b""
    assert 0 < len(reply.body) < 4000 and b"127.0.0.1" not in reply.body  # about 2000 bytes, rewritten
    assert (await side.outcomes()).get("upstream_broken") == 1


async def test_an_hls_playlist_whose_panel_dies_is_a_502(make_side: Any) -> None:
    side = await make_side("die", cut_after=100)
    reply, took = await side.get(side.path("live", "5.m3u8"), timeout=LONG_READ_TIMEOUT / 2)
    assert took < SLACK and reply.status == 502 and reply.complete and reply.trailing == b""


# --- a silent stream in a gateway process of its own -----------------------------------------------------------


async def _poll(url: str, stop: asyncio.Event, latencies: list[float]) -> None:
    async with ClientSession(timeout=ClientTimeout(total=2)) as session:
        while not stop.is_set():
            started = time.monotonic()
            async with session.get(url) as resp:
                assert resp.status == 200
                await resp.read()
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.05)


async def test_a_silent_stream_ends_on_time_while_everyone_else_is_served(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    """In a process of its own: a gateway that froze its event loop (as one did, spinning on aiohttp's read
    timeout) would freeze this test's too. /healthz and an admin call are answered all along, the stream ends
    within stream_read_timeout (+ the disconnect poll), and SIGTERM still ends the process at once."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    injector = FaultInjector(cut_after=CUT)
    injector.set("", "silence")  # every client-side request (they carry no admin action); admin calls answer
    server = await aiohttp_server(injector.wrap(sim.app()))
    config = tmp_path / "gateway.yaml"
    write_config(config, str(server.make_url("")).rstrip("/"), free_port(), free_port(), [KEY_A],
                 client_side={"stream_read_timeout": SHORT_READ_TIMEOUT})  # fmt: skip
    line = sim.tables["lines"][3]
    try:
        async with running(config, tmp_path) as gw:
            stop, latencies = asyncio.Event(), []
            poller = asyncio.create_task(_poll(f"http://127.0.0.1:{gw.admin_port}/healthz", stop, latencies))
            started = time.monotonic()
            stream = asyncio.create_task(rawhttp.send(
                "127.0.0.1", gw.port, [rawhttp.head("GET", f"/live/{line['username']}/{line['password']}/5.ts", {})],
                timeout=SHORT_READ_TIMEOUT + 10,
            ))  # fmt: skip
            while sim.player.open_streams == 0 and time.monotonic() - started < 5:
                await asyncio.sleep(0.02)
            async with ClientSession(timeout=ClientTimeout(total=5)) as session:
                assert (await gw.call(session, KEY_A, "get_packages")) is not None  # served while it is silent
            reply = await stream
            took = time.monotonic() - started
            stop.set()
            await poller
            assert reply.status == 200 and reply.body == stream_bytes(5, 0, CUT)
            assert reply.complete and reply.trailing == b""
            assert took < SHORT_READ_TIMEOUT + 1.0 + SLACK, f"the silent stream took {took:.1f}s to end"
            assert len(latencies) >= 5, latencies
            assert statistics.median(latencies) < 0.5, latencies  # loose: a frozen loop answers nothing at all
            for _ in range(100):
                if sim.player.open_streams == 0:
                    break
                await asyncio.sleep(0.05)
            assert sim.player.open_streams == 0
            gw.proc.terminate()
            assert await asyncio.wait_for(gw.proc.wait(), 10) == 0
        assert "Traceback" not in (tmp_path / "server.log").read_text()
    finally:
        injector.release()
