"""The client side end to end, through real sockets: player_api, get.php, xmltv.php, stream relay, HLS, limits.

Every rewritten output is checked for the simulator's host, port and the admin key: players must only ever
learn the gateway's public_url.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import LIVE, build_admin_app, build_app
from gateway.config import Config
from gateway.sim.player import SEGMENT_SIZE, stream_bytes, vod_size
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

PUBLIC = "http://gateway.test:8080"


@dataclass
class Side:
    sim: XtreamMastersSim
    server: TestServer
    client: TestClient[Any, Any]
    config: Config
    aiohttp_client: AiohttpClient

    @property
    def line(self) -> tuple[str, str]:
        row = self.sim.tables["lines"][3]  # active, all five bouquets (live, movies, series)
        return row["username"], row["password"]

    def assert_hidden(self, text: str) -> None:
        port = str(self.server.port)
        assert "127.0.0.1" not in text and "localhost" not in text
        assert f":{port}" not in text and "\\/\\/127" not in text
        assert UPSTREAM_KEY not in text and ACCESS_CODE not in text

    def local(self, public_url: str) -> str:
        assert public_url.startswith(PUBLIC + "/"), public_url
        return public_url[len(PUBLIC) :]

    async def metric(self, name: str) -> float:
        admin = await self.aiohttp_client(build_admin_app(self.client.server.app[LIVE]))
        text = await (await admin.get("/metrics")).text()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@pytest.fixture
def make_side(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
              tmp_path: Path) -> Any:  # fmt: skip
    async def make(client_side: dict[str, Any] | None = None, *, redirect: bool = False, lb_host: str | None = None,
                   xmltv_repeat: int = 1) -> Side:  # fmt: skip
        sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
        sim.player.redirect, sim.player.lb_host, sim.player.xmltv_repeat = redirect, lb_host, xmltv_repeat
        server = await aiohttp_server(sim.app())
        extra = {"client_side": client_side} if client_side is not None else {}
        config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, **extra)
        client = await aiohttp_client(build_app(config))
        return Side(sim, server, client, config, aiohttp_client)

    return make


async def api(side: Side, method: str = "GET", **params: str) -> tuple[Any, str]:
    user, password = side.line
    form = {"username": user, "password": password, **params}
    if method == "POST":
        resp = await side.client.post("/player_api.php", data=form)
    else:
        resp = await side.client.get("/player_api.php", params=form)
    assert resp.status == 200
    text = await resp.text()
    return json.loads(text), text


async def test_login_payload_is_the_gateways(make_side: Any) -> None:
    side = await make_side()
    for method in ("GET", "POST"):
        body, text = await api(side, method)
        assert body["user_info"]["auth"] == 1 and body["user_info"]["status"] == "Active"
        info = body["server_info"]
        assert (info["url"], info["port"], info["server_protocol"]) == ("gateway.test", "8080", "http")
        assert info["https_port"] == "443"
        side.assert_hidden(text)


async def test_unknown_or_missing_action_answers_the_login_payload(make_side: Any) -> None:
    side = await make_side()
    for params in ({"action": "drop_tables"}, {"action": ""}, {}):
        body, _ = await api(side, "POST", **params)
        assert body["user_info"]["auth"] == 1 and "server_info" in body


async def test_bad_credentials_answer_auth_zero(make_side: Any) -> None:
    side = await make_side()
    for params in ({"username": "ahmed01", "password": "wrong"}, {"username": "", "password": ""}, {}):
        resp = await side.client.get("/player_api.php", params={**params, "action": "get_live_streams"})
        assert await resp.json() == {"user_info": {"auth": 0}}


async def test_every_action_answers_with_the_upstream_hidden(make_side: Any) -> None:
    side = await make_side()
    lists = ("get_live_categories", "get_vod_categories", "get_series_categories", "get_live_streams",
             "get_vod_streams", "get_series")  # fmt: skip
    for action in lists:
        body, text = await api(side, action=action)
        assert isinstance(body, list) and body, action
        side.assert_hidden(text)
    body, _ = await api(side, action="get_live_streams", category_id="2")
    assert body and {s["category_id"] for s in body} == {"2"}
    series, text = await api(side, action="get_series_info", series_id="1")
    assert series["episodes"]["1"][0]["container_extension"] == "mkv"
    assert series["seasons"][0]["cover"].startswith(PUBLIC + "/images/")
    side.assert_hidden(text)
    vod, text = await api(side, action="get_vod_info", vod_id="21")
    assert vod["movie_data"]["stream_id"] == 21 and vod["info"]["movie_image"].startswith(PUBLIC + "/images/")
    side.assert_hidden(text)
    short, _ = await api(side, action="get_short_epg", stream_id="1", limit="2")
    assert len(short["epg_listings"]) == 2
    table, _ = await api(side, action="get_simple_data_table", stream_id="1")
    assert "has_archive" in table["epg_listings"][0]
    # a rewritten image URL is served by the gateway
    resp = await side.client.get(side.local(vod["info"]["movie_image"]))
    assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")


@pytest.mark.parametrize(("kind", "output"), [("m3u_plus", "ts"), ("m3u", "m3u8")])
async def test_get_php_every_url_is_the_gateways(make_side: Any, kind: str, output: str) -> None:
    side = await make_side()
    user, password = side.line
    resp = await side.client.get("/get.php", params={"username": user, "password": password, "type": kind,
                                                     "output": output})  # fmt: skip
    assert resp.status == 200
    text = await resp.text()
    side.assert_hidden(text)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    urls = [line for line in lines if line and not line.startswith("#")]
    assert urls and all(u.startswith(PUBLIC + "/") for u in urls)
    assert any(f"/live/{user}/" in u for u in urls) and any(u.startswith(f"{PUBLIC}/{user}/") for u in urls)
    assert any(u.endswith(".m3u8" if output == "m3u8" else ".ts") for u in urls)
    # line endings as the panel wrote them (XC_VM: CRLF after URL lines, LF after tags)
    raw = text.splitlines(keepends=True)
    assert all(line.endswith("\r\n") != line.startswith("#") for line in raw if line.strip())
    if kind == "m3u_plus":
        assert f'tvg-logo="{PUBLIC}/images/logos/' in text
    # a playlist URL plays through the gateway
    movie = next(u for u in urls if "/movie/" in u)
    ranged = await side.client.get(side.local(movie), headers={"Range": "bytes=0-15"})
    assert ranged.status == 206 and len(await ranged.read()) == 16


async def test_xmltv_is_streamed_and_rewritten(make_side: Any) -> None:
    side = await make_side(xmltv_repeat=40)
    user, password = side.line
    resp = await side.client.get("/xmltv.php", params={"username": user, "password": password})
    assert resp.status == 200 and "Content-Length" not in resp.headers  # streamed, not buffered
    text = await resp.text()
    assert len(text) > 1_000_000 and text.rstrip().endswith("</tv>")
    side.assert_hidden(text)
    assert f'<icon src="{PUBLIC}/images/logos/1.png" />' in text
    bad = await side.client.get("/xmltv.php", params={"username": user, "password": "nope"})
    assert bad.status == 401


async def test_large_movie_is_relayed_byte_exact_with_ranges(make_side: Any) -> None:
    side = await make_side()
    user, password = side.line
    size = vod_size(21)
    resp = await side.client.get(f"/movie/{user}/{password}/21.mp4")
    assert resp.status == 200 and int(resp.headers["Content-Length"]) == size
    assert await resp.read() == stream_bytes(21, 0, size)
    assert resp.headers["Accept-Ranges"] == "bytes" and resp.headers.get("Server") != "nginx"
    resp = await side.client.get(f"/movie/{user}/{password}/21.mp4", headers={"Range": "bytes=1000003-3000000"})
    assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 1000003-3000000/{size}"
    assert await resp.read() == stream_bytes(21, 1000003, 3000001)
    resp = await side.client.get(f"/series/{user}/{password}/35.mkv", headers={"Range": "bytes=-1000"})
    assert resp.status == 206 and await resp.read() == stream_bytes(35, vod_size(35) - 1000, vod_size(35))
    resp = await side.client.get(f"/movie/{user}/{password}/21.mp4", headers={"Range": f"bytes={size}-"})
    assert resp.status == 416
    resp = await side.client.get(f"/timeshift/{user}/{password}/60/2026-01-01:10-00/1.ts",
                                 headers={"Range": "bytes=10-19"})  # fmt: skip
    assert resp.status == 206 and await resp.read() == stream_bytes(100_001, 10, 20)
    await _wait_for(lambda: side.sim.player.open_streams == 0)  # the panel sees the close a moment after the player
    assert await side.metric("panelgate_relayed_bytes_total") >= size


async def test_hls_playlist_rewritten_and_segments_relayed(make_side: Any) -> None:
    side = await make_side({"shared_live": False})  # relayed per viewer (shared: tests/integration/test_shared_hls)
    user, password = side.line
    resp = await side.client.get(f"/live/{user}/{password}/1.m3u8")
    assert resp.status == 200
    text = await resp.text()
    side.assert_hidden(text)
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(uris) == 3 and all(u.startswith(f"{PUBLIC}/hls/") for u in uris)
    for n, uri in enumerate(uris, start=100):
        seg = await side.client.get(side.local(uri))
        assert seg.status == 200 and await seg.read() == stream_bytes(1000 + n, 0, SEGMENT_SIZE)


async def test_redirects_to_a_load_balancer_are_followed_server_side(make_side: Any) -> None:
    side = await make_side({"origin_secret": "replicas-share-this-secret-0123456789", "shared_live": False},
                           redirect=True, lb_host="localhost")  # fmt: skip
    user, password = side.line
    resp = await side.client.get(f"/movie/{user}/{password}/22.mp4", headers={"Range": "bytes=500-1499"},
                                 allow_redirects=False)  # fmt: skip
    assert resp.status == 206 and "Location" not in resp.headers
    assert await resp.read() == stream_bytes(22, 500, 1500)
    assert side.sim.player.lb_hits == 1
    # HLS from the load balancer: its URIs go through an opaque origin id, never its host
    resp = await side.client.get(f"/{user}/{password}/2.m3u8", allow_redirects=False)
    text = await resp.text()
    side.assert_hidden(text)
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(u.startswith(f"{PUBLIC}/_o/") for u in uris)
    seg = await side.client.get(side.local(uris[0]))
    assert await seg.read() == stream_bytes(2100, 0, SEGMENT_SIZE)
    assert (await side.client.get("/_o/not-an-id/hls/x/1_1.ts")).status == 404
    # Another worker or replica (its own memory, the same config) serves the next segment of that playlist:
    # behind SO_REUSEPORT or a load balancer a player's next connection may land anywhere.
    replica = await side.aiohttp_client(build_app(side.config))
    seg = await replica.get(side.local(uris[1]))
    assert seg.status == 200 and await seg.read() == stream_bytes(2101, 0, SEGMENT_SIZE)
    # An id opens one URL: another path or query on that host (the panel's admin API, a playlist) is out of reach
    oid = side.local(uris[0]).split("/")[2]
    received = len(side.sim.received)
    for tail in (f"{ACCESS_CODE}/admin/index.php?api_key={UPSTREAM_KEY}&action=get_lines", "get.php?type=m3u"):
        other = await side.client.get(f"/_o/{oid}/{tail}")
        assert other.status == 200 and await other.read() == stream_bytes(2100, 0, SEGMENT_SIZE)
    assert len(side.sim.received) == received  # the admin API saw nothing


async def _wait_for(predicate: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_client_disconnect_releases_the_upstream_connection(make_side: Any) -> None:
    # no linger: with the default 5 s the channel's panel connection outlived the test's 5 s wait, on a loaded
    # machine (shared_live's own tests linger)
    side = await make_side({"live_linger": 0})
    user, password = side.line
    async with aiohttp.ClientSession() as session:
        resp = await session.get(side.client.make_url(f"/live/{user}/{password}/5.ts"))
        got = 0
        while got < 2_000_000:
            got += len(await resp.content.read(65536))
        assert side.sim.player.open_streams == 1
        resp.close()  # the player goes away mid-stream
    await _wait_for(lambda: side.sim.player.open_streams == 0)
    assert await side.metric("panelgate_active_streams") == 0


async def test_blocked_ip_and_user_agent_reach_nothing(make_side: Any) -> None:
    side = await make_side({"blocked_ips": ["127.0.0.0/8"]})
    user, password = side.line
    for path in ("/player_api.php", "/get.php", f"/live/{user}/{password}/1.ts", "/hls/x/1_1.ts"):
        resp = await side.client.get(path, params={"username": user, "password": password})
        assert resp.status == 403, path
    assert side.sim.player.received == [] and side.sim.received == []
    assert await side.metric('panelgate_client_requests_total{kind="live",outcome="blocked_ip"}') == 1
    side = await make_side({"blocked_user_agents": ["BadBot"]})
    resp = await side.client.get(f"/movie/{user}/{password}/21.mp4", headers={"User-Agent": "x badbot/1.0"})
    assert resp.status == 403
    resp = await side.client.get("/player_api.php", params={"username": user, "password": password},
                                 headers={"User-Agent": "IPTVSmartersPro"})  # fmt: skip
    assert resp.status == 200
    assert side.sim.player.received == ["/player_api.php"]


@pytest.mark.parametrize("by_token", [False, True])
async def test_per_line_stream_cap(make_side: Any, by_token: bool) -> None:
    # no linger: the live channel's panel connection closes with its last viewer (shared_live's own tests linger)
    side = await make_side({"max_streams_per_line": 1, "live_linger": 0})
    user, password = side.line
    creds = f"{user}/{password}"
    if by_token:  # the line named by its access token (`/live/{token}/1.ts`): its streams count the same way
        creds = side.sim.tables["lines"][3]["access_token"] = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    async with aiohttp.ClientSession() as session:
        first = await session.get(side.client.make_url(f"/live/{creds}/1.ts"))
        await first.content.read(65536)
        second = await session.get(side.client.make_url(f"/movie/{creds}/21.mp4"))
        assert second.status == 403
        # the panel's MySQL finds the same line for these (case-insensitive, trailing spaces ignored); a token
        # counts apart from the username (the gateway cannot tell whose it is)
        for alias in (user.upper(), f"{user}%20", user.capitalize()) if not by_token else ():
            aliased = await session.get(side.client.make_url(f"/live/{alias}/{password}/1.ts"))
            assert aliased.status == 403, alias
        assert side.sim.player.open_streams == 1
        other = side.sim.tables["lines"][1]
        third = await session.get(side.client.make_url(f"/live/{other['username']}/{other['password']}/1.ts"))
        assert third.status == 200  # another line has its own slots
        third.close()
        first.close()
        await _wait_for(lambda: side.sim.player.open_streams == 0)
        again = await session.get(side.client.make_url(f"/movie/{creds}/21.mp4"), headers={"Range": "bytes=0-9"})
        assert again.status == 206
        again.close()
    assert side.sim.player.peak_streams <= 2
