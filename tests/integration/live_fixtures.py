"""A simulated panel sending live channels in real time, a gateway sharing them, and viewers on real sockets.

The panel refuses a line's stream past its `max_connections` (as the panel's stream auth does) and counts what it
has open per line (`open_by_line`), so a test sees exactly how many upstream connections each line holds.
Provider lines and viewer lines are added to the panel's tables as lines of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import LIVE, build_admin_app, build_app
from gateway.config import Config
from gateway.sim import player_data
from gateway.sim.player_hls import LiveHls
from gateway.sim.player_media import Media
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

RATE = 256 * 1024  # bytes a second of a simulated channel: 2 Mbit/s, an SD channel


def add_line(sim: XtreamMastersSim, username: str, password: str, max_connections: int) -> dict[str, Any]:
    return player_data.add_line(sim.tables, username, password, max_connections)


@dataclass
class LiveSide:
    sim: XtreamMastersSim
    server: TestServer
    client: TestClient[Any, Any]
    admin: TestClient[Any, Any]
    config: Config
    providers: list[str] = field(default_factory=list)  # the provider lines' usernames
    viewer_ids: list[int] = field(default_factory=list)  # the viewer lines' ids in the panel's tables

    def viewer_path(self, n: int, stream: int, ext: str = "ts") -> str:
        line = self.sim.tables["lines"][self.viewer_ids[n]]
        return f"/live/{line['username']}/{line['password']}/{stream}.{ext}"

    def upstream_open(self) -> int:
        """Live connections the panel has open right now."""
        return self.sim.player.open_streams

    def provider_open(self) -> int:
        return sum(self.sim.player.open_by_line[name] for name in self.providers)

    def viewers_open(self) -> int:
        """Connections the panel has open under a viewer's own line."""
        return self.upstream_open() - self.provider_open()

    async def readyz(self) -> dict[str, Any]:
        resp = await self.admin.get("/readyz")
        doc: dict[str, Any] = await resp.json()
        return doc

    async def metric(self, name: str) -> float:
        text = await (await self.admin.get("/metrics")).text()
        return sum(float(row.rsplit(" ", 1)[1]) for row in text.splitlines() if row.startswith(name))

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what or predicate}"
        await asyncio.sleep(0.02)


@pytest.fixture
def make_live(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, unused_tcp_port_factory: Any,
              policies_dir: Path, tmp_path: Path) -> Any:  # fmt: skip
    async def make(*, providers: tuple[int, ...] = (), viewers: int = 0, viewer_connections: int = 1,
                   rate: float | None = RATE, media: Media | None = None, live_hls: LiveHls | None = None,
                   trusted_proxies: tuple[str, ...] = (), **client_side: Any) -> LiveSide:  # fmt: skip
        """`live_hls`: the panel serves live HLS as XC_VM does, and the gateway's `public_url` is its own real
        address (players follow the URLs it writes into playlists)."""
        sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
        sim.player.live_rate, sim.player.media, sim.player.live_hls = rate, media, live_hls
        sim.player.enforce_max_connections = True
        provider_lines = []
        for n, slots in enumerate(providers):
            add_line(sim, f"provider{n}", f"secret-provider-{n}", slots)
            provider_lines.append({"name": f"p{n}", "username": f"provider{n}", "password": f"secret-provider-{n}",
                                   "max_connections": slots})  # fmt: skip
        viewer_ids = [int(add_line(sim, f"viewer{n}", f"pw-viewer-{n}", viewer_connections)["id"])
                      for n in range(viewers)]  # fmt: skip
        server = await aiohttp_server(sim.app())
        side_config: dict[str, Any] = {"provider_lines": provider_lines, **client_side}
        port = unused_tcp_port_factory()
        public = {"public_url": f"http://127.0.0.1:{port}"} if live_hls is not None else {}
        config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, client_side=side_config,
                             trusted_proxies=list(trusted_proxies), **public)  # fmt: skip
        client = await aiohttp_client(build_app(config), server_kwargs={"port": port})
        admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
        return LiveSide(sim, server, client, admin, config, [f"provider{n}" for n in range(len(providers))],
                        viewer_ids)  # fmt: skip

    return make


async def stopped(task: asyncio.Task[None] | None, session: aiohttp.ClientSession) -> None:
    """A test client's task cancelled and awaited, its session closed."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await task
    await session.close()


class Watcher:
    """One viewer on its own connection, reading a stream until told to stop (or closing it abruptly)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.status = 0
        self.received = bytearray()
        self.task: asyncio.Task[None] | None = None
        self._session = aiohttp.ClientSession()
        self.started = asyncio.Event()

    def start(self, keep: int = 1 << 20) -> Watcher:
        self.task = asyncio.get_running_loop().create_task(self._run(keep))
        return self

    async def _run(self, keep: int) -> None:
        try:
            async with self._session.get(self.url, headers=self.headers,
                                         timeout=aiohttp.ClientTimeout(sock_read=30)) as resp:  # fmt: skip
                self.status = resp.status
                self.started.set()
                async for chunk in resp.content.iter_any():
                    if len(self.received) < keep:
                        self.received += chunk[: keep - len(self.received)]
        finally:
            self.started.set()

    async def stop(self) -> None:
        await stopped(self.task, self._session)


class HlsPlayer:
    """One HLS player on its own connection: reloads the playlist every half target duration and fetches each
    segment it has not had yet, as players do, until told to stop. `segments`: the bytes of each by its URL's
    last path segment; `errors`: what went wrong (a status, a body cut short)."""

    def __init__(self, url: str, agent: str = "player", headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = {"User-Agent": agent, **(headers or {})}
        self.playlists: list[str] = []
        self.segments: dict[str, bytes] = {}
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    def start(self) -> HlsPlayer:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            try:
                async with self._session.get(self.url, headers=self.headers) as resp:
                    self.statuses.append(resp.status)
                    text = await resp.text()
            except aiohttp.ClientError as exc:
                self.errors.append(f"playlist {type(exc).__name__}")
                await asyncio.sleep(0.2)
                continue
            if resp.status != 200:
                self.errors.append(f"playlist {resp.status}")
                await asyncio.sleep(0.2)
                continue
            self.playlists.append(text)
            target = float(text.split("#EXT-X-TARGETDURATION:", 1)[1].split()[0])
            for uri in [line for line in text.splitlines() if line and not line.startswith("#")]:
                name = uri.rsplit("/", 1)[1]
                if name not in self.segments:
                    await self.fetch(uri, name)
            await asyncio.sleep(target / 2)

    async def fetch(self, uri: str, name: str) -> None:
        try:
            async with self._session.get(uri, headers=self.headers) as resp:
                self.statuses.append(resp.status)
                if resp.status != 200:
                    self.errors.append(f"{name} {resp.status}")
                    return
                self.segments[name] = await resp.read()
        except aiohttp.ClientError as exc:
            self.errors.append(f"{name} {type(exc).__name__}")

    async def stop(self) -> None:
        await stopped(self.task, self._session)
