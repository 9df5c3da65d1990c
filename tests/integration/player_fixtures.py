"""A simulated XUI panel and a gateway in front of it, for the tests of the client side's routes, media and portal.

The panel listens on 127.0.0.2 and the gateway on 127.0.0.1 with `public_url` its own real address, so a real
player (ffprobe) can follow every URL the gateway hands out, and "the panel's host" is text a test can grep for in
everything the gateway serves: the panel's address and port, and the names its server list holds (the domain its
lists use with `use_mdomain_in_lists`, the other server's, their public and private addresses).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.config import Config
from gateway.sim.player_media import Media
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

PANEL_HOST = "127.0.0.2"
ACCESS_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # given to line 3 where a test wants token URLs


@dataclass
class Setup:
    sim: XtreamMastersSim
    server: TestServer
    client: TestClient[Any, Any]
    config: Config

    @property
    def public(self) -> str:
        return self.config.public_url

    @property
    def line(self) -> dict[str, Any]:
        return self.sim.tables["lines"][3]  # active, every bouquet

    @property
    def creds(self) -> str:
        return f"{self.line['username']}/{self.line['password']}"

    def panel_marks(self) -> list[str]:
        """Every spelling of the panel a player must never see."""
        marks = [PANEL_HOST, f":{self.server.port}", UPSTREAM_KEY, ACCESS_CODE]
        for server in self.sim.tables["servers"].values():
            marks += [*str(server["domain_name"]).split(","), server["server_ip"], server["private_ip"]]
        return marks

    def assert_hidden(self, text: str) -> None:
        found = [mark for mark in self.panel_marks() if mark and mark in text]
        assert not found, f"the panel shows through: {found}"

    def local(self, url: str) -> str:
        """A URL the gateway handed out, as a path on it."""
        assert url.startswith(self.public + "/"), url
        return url[len(self.public) :]

    def url(self, path: str) -> str:
        return self.public + path


@pytest.fixture
def make_setup(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, unused_tcp_port_factory: Any,
               policies_dir: Path, tmp_path: Path) -> Any:  # fmt: skip
    # health probes on (as by default), hourly: the gateway learns the panel's servers at start-up and no probe
    # fires during a test
    async def make(client_side: dict[str, Any] | None = None, *, health_interval: float = 3600,
                   media: Media | None = None, mdomain: bool = True, access_token: bool = False,
                   mag_security: bool = False, **overrides: Any) -> Setup:  # fmt: skip
        sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
        sim.player.media, sim.player.use_mdomain_in_lists = media, mdomain
        sim.player.portal.mag_security = mag_security
        if access_token:
            sim.tables["lines"][3]["access_token"] = ACCESS_TOKEN
        server = await aiohttp_server(sim.app(), host=PANEL_HOST)
        port = unused_tcp_port_factory()
        extra: dict[str, Any] = {"client_side": client_side} if client_side is not None else {}
        extra.update(overrides)
        config = make_config(f"http://{PANEL_HOST}:{server.port}", policies_dir, tmp_path,
                             public_url=f"http://127.0.0.1:{port}", health={"interval": health_interval},
                             **extra)  # fmt: skip
        client = await aiohttp_client(build_app(config), server_kwargs={"port": port})
        return Setup(sim, server, client, config)

    return make


def need(*tools: str) -> list[str]:
    """The tools' paths, or a skip naming the missing ones (`scripts/ensure-test-tools.sh` installs them)."""
    found = [shutil.which(tool) for tool in tools]
    missing = [tool for tool, path in zip(tools, found, strict=True) if path is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian package ffmpeg)")
    return [path for path in found if path is not None]


async def ffprobe(url: str, *options: str) -> dict[str, Any]:
    """What ffprobe makes of a URL: it has to fetch, decrypt and parse the media for a stream to show.
    Run as a subprocess of this event loop, which serves the gateway and the panel it talks to."""
    (binary,) = need("ffprobe")
    proc = await asyncio.create_subprocess_exec(
        binary, "-v", "error", "-rw_timeout", "20000000", *options, "-show_streams", "-show_format", "-of", "json",
        url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        raise
    assert proc.returncode == 0, f"ffprobe {url}: {err.decode(errors='replace')}"
    return json.loads(out)


def video_of(probe: dict[str, Any]) -> dict[str, Any]:
    streams = [s for s in probe.get("streams", []) if s.get("codec_type") == "video"]
    assert streams, probe
    return streams[0]
