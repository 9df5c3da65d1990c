"""player_api lists rewritten as the panel's own JSON text, through real sockets: PHP's escaped slashes, known
hosts in any spelling on the gateway, foreign ones left alone, the same document decoding would give."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

PUBLIC = "http://gateway.test:8080"


async def test_a_list_keeps_the_panels_json_and_hides_its_hosts(aiohttp_server: AiohttpServer,
                                                                aiohttp_client: AiohttpClient, policies_dir: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    panel = str(server.make_url("")).rstrip("/")
    icons = {1: f"{panel}/images/1.png", 2: f"{panel.upper()}/images/2.png", 3: "https://cdn.example.org/3.png",
             5: f"{panel}0/images/5.png", 6: f"{panel}/x?u={panel}/y"}  # fmt: skip
    for sid, icon in icons.items():
        sim.tables["streams"][sid]["stream_icon"] = icon
    client = await aiohttp_client(build_app(make_config(panel, policies_dir, tmp_path)))
    line = sim.tables["lines"][3]
    for _ in range(2):  # the second time with the origins the first one learned
        resp = await client.get("/player_api.php", params={"username": line["username"], "password": line["password"],
                                                            "action": "get_live_streams"})  # fmt: skip
        assert resp.status == 200
        raw = await resp.read()
        assert b"\\/\\/gateway.test:8080\\/images\\/1.png" in raw  # passed on as PHP wrote it, not re-encoded
        got = {row["stream_id"]: row["stream_icon"] for row in json.loads(raw)}
        assert got[1] == f"{PUBLIC}/images/1.png" and got[2] == f"{PUBLIC}/images/2.png"
        assert got[3] == "https://cdn.example.org/3.png"
        assert got[5] == f"{PUBLIC}/images/5.png"  # any port of a known host
        assert got[6] == f"{PUBLIC}/x?u={PUBLIC}/y"


async def test_a_url_without_a_scheme_or_with_other_slashes_in_a_list_is_hidden(
        aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path) -> None:
    # `//host/logo.png` takes the player's scheme, and browsers and OkHttp read `http:///host` and `\\host` as
    # `//host`: each names the panel as much as `http://host/logo.png`
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    panel = str(server.make_url("")).rstrip("/")
    host = panel.removeprefix("http://")
    icons = {1: f"{panel}/images/1.png", 2: f"//{host}/images/2.png", 3: "//cdn.example.org/3.png",
             5: f"//{host.upper()}/images/5.png", 6: f"http:///{host}/images/6.png",
             7: f"\\\\{host}/images/7.png"}  # fmt: skip
    for sid, icon in icons.items():
        sim.tables["streams"][sid]["stream_icon"] = icon
    client = await aiohttp_client(build_app(make_config(panel, policies_dir, tmp_path)))
    line = sim.tables["lines"][3]
    for _ in range(2):
        resp = await client.get("/player_api.php", params={"username": line["username"], "password": line["password"],
                                                            "action": "get_live_streams"})  # fmt: skip
        raw = await resp.read()
        assert resp.status == 200 and host.encode() not in raw
        got = {row["stream_id"]: row["stream_icon"] for row in json.loads(raw)}
        assert got[1] == f"{PUBLIC}/images/1.png" and got[2] == f"{PUBLIC}/images/2.png"
        assert got[3] == "//cdn.example.org/3.png" and got[5] == f"{PUBLIC}/images/5.png"
        assert got[6] == f"{PUBLIC}/images/6.png" and got[7] == f"{PUBLIC}/images/7.png"  # as browsers read them
