"""A real client library, PyPI `pyxtream`, driven against the gateway (not a test double of a player).

pyxtream is synchronous (requests), so it runs in a worker thread while the gateway and the simulated panel
serve on this test's loop. It comes with the `[test]` extra; an environment without it skips the test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_app
from gateway.sim.player import stream_bytes
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

pyxtream = pytest.importorskip("pyxtream", reason="pyxtream is not installed (pip install pyxtream)")
requests = pytest.importorskip("requests")
pyxtream_api = pytest.importorskip("pyxtream.api")


def _drive(url: str, user: str, password: str, cache: Path) -> dict[str, Any]:
    xt = pyxtream.XTream("gateway", user, password, url, cache_path=str(cache), reload_time_sec=-1)
    assert xt.state["authenticated"], "pyxtream could not log in through the gateway"
    assert xt.load_iptv()
    series = xt.series[0]
    xt.get_series_info_by_id(series)
    movie = xt.movies[0]
    ranged = requests.get(movie.url, headers={"Range": "bytes=100-199"}, timeout=10)
    return {
        "server_info": xt.auth_data["server_info"],
        "channels": [c.url for c in xt.channels],
        "movies": len(xt.movies),
        "episodes": sum(len(s.episodes) for s in series.seasons.values()),
        # xt.vodInfoByID() passes its base URL as the requests timeout (a pyxtream 0.8 bug): same request, by hand
        "vod_info": xt._get_request(pyxtream_api.get_VOD_info_URL_by_ID(movie.id, xt.base_url)),
        "epg": xt.liveEpgByStreamAndLimit(xt.channels[0].id, 2),
        "movie_id": int(movie.id),
        "ranged": (ranged.status_code, ranged.content),
    }


async def test_pyxtream_logs_in_lists_and_plays_through_the_gateway(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path)
    gateway = await aiohttp_client(build_app(config))
    line = sim.tables["lines"][3]
    cache = tmp_path / "pyxtream"
    cache.mkdir()
    url = str(gateway.make_url("")).rstrip("/")
    got = await asyncio.to_thread(_drive, url, line["username"], line["password"], cache)
    assert got["server_info"]["url"] == "gateway.test" and got["server_info"]["port"] == "8080"
    assert got["channels"] and all(u.startswith(url + "/live/") for u in got["channels"])
    assert got["movies"] == 10 and got["episodes"] == 6  # two seasons of three
    assert got["vod_info"]["movie_data"]["stream_id"] == got["movie_id"]
    assert len(got["epg"]["epg_listings"]) == 2
    status, body = got["ranged"]
    assert status == 206 and body == stream_bytes(got["movie_id"], 100, 200)
    assert str(server.port) not in str(got["server_info"])
