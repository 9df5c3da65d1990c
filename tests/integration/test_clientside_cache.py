"""Client-side caching through real sockets: player_api.php lists and get.php playlists, per line, after rewriting.

The simulator's `player.received` counts what reached the panel; admin writes go through the gateway's own
Xtream-Masters face, as a reseller tool's would.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import LIVE, build_admin_app, build_app
from gateway.clientside import cached
from gateway.config import ConfigError
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

PUBLIC = "http://gateway.test:8080"


class Side:
    def __init__(self, sim: XtreamMastersSim, server: TestServer, client: TestClient[Any, Any],
                 aiohttp_client: AiohttpClient) -> None:  # fmt: skip
        self.sim, self.server, self.client, self.aiohttp_client = sim, server, client, aiohttp_client

    def line(self, row: int = 3) -> tuple[str, str]:
        found = self.sim.tables["lines"][row]
        return found["username"], found["password"]

    def calls(self, path: str = "/player_api.php") -> int:
        return self.sim.player.received.count(path)

    async def api(self, line: tuple[str, str] | None = None, **params: str) -> tuple[Any, str | None, str]:
        user, password = line or self.line()
        resp = await self.client.get("/player_api.php", params={"username": user, "password": password, **params})
        assert resp.status == 200
        text = await resp.text()
        return json.loads(text), resp.headers.get("X-Cache"), text

    async def playlist(self, line: tuple[str, str] | None = None, **params: str) -> tuple[int, str | None, str]:
        user, password = line or self.line()
        resp = await self.client.get("/get.php", params={"username": user, "password": password, **params})
        return resp.status, resp.headers.get("X-Cache"), await resp.text()

    async def admin(self, **params: str) -> Any:
        resp = await self.client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEYS["admin"], **params})
        return await resp.json(content_type=None)

    async def metrics(self) -> str:
        admin = await self.aiohttp_client(build_admin_app(self.client.server.app[LIVE]))
        return await (await admin.get("/metrics")).text()


@pytest.fixture
def make_side(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
              tmp_path: Path) -> Any:  # fmt: skip
    async def make(cache: dict[str, Any] | None = None) -> Side:
        sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
        server = await aiohttp_server(sim.app())
        extra = {"cache": cache} if cache is not None else {}
        config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, **extra)
        return Side(sim, server, await aiohttp_client(build_app(config)), aiohttp_client)

    return make


LISTS = ("get_live_categories", "get_vod_categories", "get_series_categories", "get_live_streams",
         "get_vod_streams", "get_series")  # fmt: skip


async def test_lists_hit_and_miss_per_line(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    for action in LISTS:
        first, miss, text = await side.api(action=action)
        second, hit, again = await side.api(action=action)
        assert (miss, hit) == ("MISS", "HIT"), action
        assert first == second and text == again and isinstance(first, list) and first
        assert "127.0.0.1" not in again  # the stored answer is the rewritten one
    assert side.calls() == len(LISTS)
    # the category is part of the key
    body, status, _ = await side.api(action="get_live_streams", category_id="2")
    assert status == "MISS" and {s["category_id"] for s in body} == {"2"}
    _, status, _ = await side.api(action="get_live_streams", category_id="2")
    assert status == "HIT" and side.calls() == len(LISTS) + 1
    metrics = await side.metrics()
    assert 'panelgate_cache_lookups_total{operation="player.get_live_streams",result="hit"} 2.0' in metrics


async def test_two_lines_never_share_an_entry(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    mine, _, _ = await side.api(action="get_live_streams")
    other = side.line(1)
    theirs, status, _ = await side.api(other, action="get_live_streams")
    assert status == "MISS" and side.calls() == 2
    _, status, _ = await side.api(other, action="get_live_streams")
    assert status == "HIT" and side.calls() == 2
    assert mine != theirs  # the lines have different bouquets: a shared entry would show
    _, status, _ = await side.playlist(type="m3u_plus")
    _, other_status, other_text = await side.playlist(other, type="m3u_plus")
    assert (status, other_status) == ("MISS", "MISS")
    assert f"/{other[0]}/{other[1]}/" in other_text and f"/{side.line()[0]}/" not in other_text


async def test_wrong_password_is_never_served_the_cached_answer(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    user, _ = side.line()
    await side.api(action="get_live_streams")
    _, hit, _ = await side.api(action="get_live_streams")
    assert hit == "HIT"
    for _ in range(2):
        body, _, _ = await side.api((user, "wrong"), action="get_live_streams")
        assert body == {"user_info": {"auth": 0}}
    assert side.calls() == 3  # each wrong guess reached the panel, and its refusal was not stored
    await side.playlist(type="m3u")
    for _ in range(2):
        status, _, text = await side.playlist((user, "wrong"), type="m3u")
        assert status == 401 and "#EXTM3U" not in text
    assert side.calls("/get.php") == 3


async def test_a_refused_line_is_not_cached_as_a_success(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    user, password = side.line()
    row = side.sim.tables["lines"][3]
    row["password"] = "changed-on-the-panel"  # the panel now refuses these credentials
    for _ in range(2):
        body, _, _ = await side.api((user, password), action="get_live_streams")
        assert body == {"user_info": {"auth": 0}}
    row["password"] = password
    body, status, _ = await side.api((user, password), action="get_live_streams")
    assert isinstance(body, list) and status == "MISS"


@pytest.mark.parametrize(
    "write",
    [
        {"action": "edit_line", "id": "3", "max_connections": "4"},
        {"action": "create_stream", "stream_display_name": "New channel", "category_id[]": "2"},
        {"action": "edit_bouquet", "id": "1", "bouquet_name": "renamed"},
        {"action": "edit_station", "id": "STATION", "stream_display_name": "Renamed FM"},  # radios are in the lists
    ],
    ids=["edit_line", "create_stream", "edit_bouquet", "edit_station"],
)
async def test_an_admin_write_invalidates(make_side: Any, write: dict[str, str]) -> None:
    side = await make_side({"ttl": {"default": 60}})
    await side.api(action="get_live_streams")
    await side.playlist(type="m3u_plus", output="ts")
    _, hit, _ = await side.api(action="get_live_streams")
    _, playlist_hit, _ = await side.playlist(type="m3u_plus", output="ts")
    assert (hit, playlist_hit) == ("HIT", "HIT")
    if write.get("id") == "STATION":
        write = {**write, "id": next(str(i) for i, r in side.sim.tables["streams"].items() if r["type"] == "4")}
    answer = await side.admin(**write)
    assert answer["status"] == "STATUS_SUCCESS", answer
    _, status, _ = await side.api(action="get_live_streams")
    _, playlist_status, _ = await side.playlist(type="m3u_plus", output="ts")
    assert (status, playlist_status) == ("MISS", "MISS")
    assert side.calls() == 2 and side.calls("/get.php") == 2


async def test_an_edit_is_visible_after_invalidation(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    before, _, _ = await side.api(action="get_live_streams")
    sid = before[0]["stream_id"]
    answer = await side.admin(action="edit_stream", id=str(sid), stream_display_name="Renamed channel")
    assert answer["status"] == "STATUS_SUCCESS", answer
    after, status, _ = await side.api(action="get_live_streams")
    assert status == "MISS" and after[0]["name"] == "Renamed channel"


async def test_playlist_hit_restores_the_lines_credentials(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    user, password = side.line()
    status, miss, first = await side.playlist(type="m3u", output="m3u8")
    assert status == 200 and miss == "MISS" and first.startswith("#EXTM3U")
    status, hit, second = await side.playlist(type="m3u", output="m3u8")
    assert status == 200 and hit == "HIT" and second == first
    assert f"{PUBLIC}/live/{user}/{password}/" in second or f"{PUBLIC}/{user}/{password}/" in second
    assert side.calls("/get.php") == 1
    # the stored value does not hold the password
    backend = side.client.server.app[LIVE].state.cache
    assert backend is not None
    stored = [raw for _, raw in backend.backend.memory._entries.values()]  # the line's pointer and the body
    assert any(b"#EXTM3U" in raw for raw in stored) and all(password.encode() not in raw for raw in stored)
    # the output is part of the key
    _, status_ts, _ = await side.playlist(type="m3u", output="ts")
    assert status_ts == "MISS"


async def test_a_playlist_over_the_limit_is_streamed_not_cached(make_side: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    side = await make_side({"ttl": {"default": 60}})
    status, _, small = await side.playlist(type="m3u_plus")
    assert status == 200
    monkeypatch.setattr(cached, "MAX_CACHED_BODY", len(small) // 3)
    for _ in range(2):
        status, cache_status, text = await side.playlist(type="m3u")
        assert status == 200 and cache_status == "MISS" and text.startswith("#EXTM3U") and len(text) > len(small) // 3
        assert text.rstrip().endswith((".ts", ".mp4", ".mkv"))  # whole
    assert side.calls("/get.php") == 3


async def test_uncached_actions_and_xmltv(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 60}})
    uncached: list[dict[str, str]] = [
        {}, {"action": "get_short_epg", "stream_id": "1"}, {"action": "get_vod_info", "vod_id": "21"},
        {"action": "get_series_info", "series_id": "1"}, {"action": "get_simple_data_table", "stream_id": "1"},
    ]  # fmt: skip
    for params in uncached:
        for _ in range(2):
            _, status, _ = await side.api(**params)
            assert status is None, params
    assert side.calls() == 10
    user, password = side.line()
    for _ in range(2):
        resp = await side.client.get("/xmltv.php", params={"username": user, "password": password})
        assert resp.status == 200 and "X-Cache" not in resp.headers
    assert side.calls("/xmltv.php") == 2


async def test_ttl_globs_address_client_side_names(make_side: Any, policies_dir: Path, tmp_path: Path) -> None:
    side = await make_side({"ttl": {"default": 60, "player.*": 0, "playlist.m3u_plus": 0}})
    for _ in range(2):
        _, status, _ = await side.api(action="get_live_streams")
        assert status == "BYPASS"
        _, playlist_status, _ = await side.playlist(type="m3u_plus")
        assert playlist_status == "BYPASS"
    _, first, _ = await side.playlist(type="m3u")
    _, second, _ = await side.playlist(type="m3u")
    assert (first, second) == ("MISS", "HIT")
    assert side.calls() == 2 and side.calls("/get.php") == 3
    with pytest.raises(ConfigError, match="matches no read operation"):
        make_config("http://127.0.0.1:1", policies_dir, tmp_path, cache={"ttl": {"players.*": 5}})


async def test_no_cache_section_means_no_header(make_side: Any) -> None:
    side = await make_side()
    for _ in range(2):
        _, status, _ = await side.api(action="get_live_streams")
        assert status is None
    assert side.calls() == 2


async def test_stale_list_answers_while_the_panel_is_down(make_side: Any) -> None:
    side = await make_side({"ttl": {"default": 0.2}, "stale_if_error": 60})
    first, _, _ = await side.api(action="get_vod_streams")
    await side.server.close()
    await asyncio.sleep(0.3)
    body, status, _ = await side.api(action="get_vod_streams")
    assert status == "STALE" and body == first
