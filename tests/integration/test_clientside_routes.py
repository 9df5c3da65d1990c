"""Every player route a real panel serves, through the gateway to the simulated panel, byte-exact.

The shapes are XC_VM's nginx rewrites: access-token forms of the stream paths, extension-less live URLs, `/play/`,
`/key/`, `/streaming/*.php`, subtitles and thumbnails, the aliases of player_api, get.php and xmltv.php. Each is
relayed under the rules of today's streams: Range, the per-line cap, no slot left open, blocked lists first,
traversal refused, and nothing of the panel in what comes back.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from gateway.app import LIVE
from gateway.sim import xui_tokens
from gateway.sim.player import TIMESHIFT_SIZE, stream_bytes, vod_size
from tests.integration.player_fixtures import ACCESS_TOKEN, Setup, make_setup
from tests.integration.test_clientside_gateway import _wait_for

__all__ = ["make_setup"]  # a fixture: pytest finds it by name in this module


async def first_bytes(setup: Setup, path: str, size: int = 65536, **headers: str) -> tuple[int, bytes]:
    resp = await setup.client.get(path, headers=headers)
    body = await resp.content.readexactly(size) if resp.status < 300 else b""
    resp.close()
    return resp.status, body


async def test_token_forms_and_extension_less_urls(make_setup: Any) -> None:
    setup: Setup = await make_setup(access_token=True)
    user, password = setup.line["username"], setup.line["password"]
    for path, sid in ((f"/live/{ACCESS_TOKEN}/1.ts", 1), (f"/live/{ACCESS_TOKEN}/3", 3), (f"/live/{setup.creds}/5", 5),
                      (f"/{setup.creds}/4", 4), (f"/{setup.creds}/2.ts", 2)):  # fmt: skip
        assert await first_bytes(setup, path) == (200, stream_bytes(sid, 0, 65536)), path
    status, body = await first_bytes(setup, f"/movie/{ACCESS_TOKEN}/21.mp4", 100, Range="bytes=1000-1099")
    assert (status, body) == (206, stream_bytes(21, 1000, 1100))
    status, body = await first_bytes(setup, f"/series/{ACCESS_TOKEN}/35.mkv", 10, Range=f"bytes={vod_size(35) - 10}-")
    assert (status, body) == (206, stream_bytes(35, vod_size(35) - 10, vod_size(35)))
    resp = await setup.client.get(f"/timeshift/{ACCESS_TOKEN}/60/2026-01-01:10-00/1.ts", headers={"Range": "bytes=5-9"})
    assert resp.status == 206 and await resp.read() == stream_bytes(100_001, 5, 10)
    for path in (f"/thumb/{ACCESS_TOKEN}/1", f"/thumb/{user}/{password}/1"):
        resp = await setup.client.get(path)
        assert resp.status == 200 and (await resp.read()).startswith(b"\xff\xd8"), path
    for path in (f"/subtitle/{user}/{password}/21", f"/subtitle/{user}/{password}/2/21"):
        resp = await setup.client.get(path)
        assert resp.status == 200 and (await resp.text()).startswith("WEBVTT"), path
    resp = await setup.client.get(f"/live/{'f' * 32}/1.ts")  # a token the panel does not know: its 403, passed on
    assert resp.status == 403
    await _wait_for(lambda: setup.sim.player.open_streams == 0)


async def test_play_tokens_and_keys(make_setup: Any) -> None:
    setup: Setup = await make_setup()
    user, password = setup.line["username"], setup.line["password"]
    token = xui_tokens.encrypt(f"movie/{user}/{password}/22/mp4")
    resp = await setup.client.get(f"/play/{token}", headers={"Range": "bytes=0-99"})
    assert resp.status == 206 and await resp.read() == stream_bytes(22, 0, 100)
    live = xui_tokens.encrypt(f"live/{user}/{password}/7")
    assert await first_bytes(setup, f"/play/{live}/ts") == (200, stream_bytes(7, 0, 65536))
    assert (await setup.client.get(f"/play/{xui_tokens.encrypt('live/nobody/x/7')}")).status == 403
    # a playlist behind a token: nothing in the URL says so, its Content-Type does; rewritten like any .m3u8
    hls = await setup.client.get(f"/play/{xui_tokens.encrypt(f'live/{user}/{password}/8/m3u8')}")
    text = await hls.text()
    setup.assert_hidden(text)
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(uris) == 3 and all(uri.startswith(f"{setup.public}/hls/") for uri in uris)
    # where stream/auth.php sends players (a streaming server's live.php), as a multi-variant playlist names it
    streaming_server = f"/auth/{xui_tokens.encrypt(f'live/{user}/{password}/9/ts')}"
    assert await first_bytes(setup, streaming_server) == (200, stream_bytes(9, 0, 65536))
    # /key/ without encrypted HLS on the panel: its 404, passed on; a key token is never in a log line
    assert (await setup.client.get(f"/key/{xui_tokens.encrypt('127.0.0.1/1')}")).status == 404
    await _wait_for(lambda: setup.sim.player.open_streams == 0)
    assert setup.sim.player.received.count(f"/play/{token}") == 1


async def test_streaming_php_forms_follow_the_panels_redirect(make_setup: Any) -> None:
    setup: Setup = await make_setup()
    user, password = setup.line["username"], setup.line["password"]
    creds = f"username={user}&password={password}"
    resp = await setup.client.get(f"/streaming/vod.php?{creds}&stream=21.mp4", headers={"Range": "bytes=10-19"},
                                  allow_redirects=False)  # fmt: skip
    assert resp.status == 206 and "Location" not in resp.headers and await resp.read() == stream_bytes(21, 10, 20)
    live = await first_bytes(setup, f"/streaming/live.php?{creds}&stream=6&extension=ts")
    assert live == (200, stream_bytes(6, 0, 65536))
    resp = await setup.client.get(f"/streaming/timeshift.php?{creds}&stream=1&start=2026-01-01:10-00&duration=60")
    assert resp.status == 200 and await resp.read() == stream_bytes(100_001, 0, TIMESHIFT_SIZE)
    assert setup.sim.player.received.count("/stream/auth.php") == 3
    # catch-up from a live URL: `utc` passed through, the panel serves the archive (a finite file, not the channel)
    resp = await setup.client.get(f"/live/{user}/{password}/1.ts?utc=1767261600")
    assert resp.status == 200 and await resp.read() == stream_bytes(100_001, 0, TIMESHIFT_SIZE)


async def test_aliases_of_player_api_playlist_and_epg(make_setup: Any) -> None:
    setup: Setup = await make_setup(cache={"backend": "memory"})
    user, password = setup.line["username"], setup.line["password"]
    for method in ("GET", "POST"):
        for path in (f"/player_api/{user}/{password}", "/panel_api.php"):
            data = {"username": user, "password": password} if path == "/panel_api.php" else None
            resp = await setup.client.request(method, path, params=data if method == "GET" else None,
                                              data=data if method == "POST" else None)  # fmt: skip
            body = await resp.json()
            assert body["user_info"]["auth"] == 1 and body["server_info"]["url"] == "127.0.0.1", (method, path)
    cats = await (await setup.client.get(f"/player_api/{user}/{password}/get_live_categories")).json()
    assert cats and {"category_id", "category_name"} <= set(cats[0])
    assert (await (await setup.client.get("/player_api/nobody/wrong")).json()) == {"user_info": {"auth": 0}}
    text = await (await setup.client.get(f"/playlist/{user}/{password}/m3u_plus")).text()
    assert text.startswith("#EXTM3U") and 'tvg-logo="' in text
    text = await (await setup.client.get(f"/epg/{user}/{password}")).text()
    assert text.rstrip().endswith("</tv>")
    assert setup.sim.player.received.count("/get.php") == 1 and "/xmltv.php" in setup.sim.player.received


async def test_get_php_passes_key_token_and_nocache(make_setup: Any) -> None:
    setup: Setup = await make_setup(access_token=True, cache={"backend": "memory"})
    resp = await setup.client.get("/get.php", params={"token": ACCESS_TOKEN, "type": "m3u", "key": "live"})
    urls = [line for line in (await resp.text()).splitlines() if line.startswith("http")]
    assert urls and all(u.startswith(f"{setup.public}/live/{ACCESS_TOKEN}/") for u in urls)
    assert setup.sim.player.queries[-1] == {"token": ACCESS_TOKEN, "type": "m3u", "key": "live"}
    user, password = setup.line["username"], setup.line["password"]
    fresh = {"username": user, "password": password, "type": "m3u_plus", "nocache": "1"}
    for _ in range(2):  # the panel regenerates: the gateway's own cache is bypassed as well
        resp = await setup.client.get("/get.php", params=fresh)
        assert resp.status == 200 and "X-Cache" not in resp.headers
    assert setup.sim.player.queries[-1]["nocache"] == "1" and setup.sim.player.received.count("/get.php") == 3
    cached = {k: v for k, v in fresh.items() if k != "nocache"}
    states = []
    for _ in range(2):
        resp = await setup.client.get("/get.php", params=cached)
        await resp.read()  # a playlist is stored once the player took all of it (over a real network, not at once)
        states.append(resp.headers["X-Cache"])
    assert states == ["MISS", "HIT"]


async def test_refused_before_the_panel_hears_of_it(make_setup: Any) -> None:
    setup: Setup = await make_setup({"blocked_ips": ["127.0.0.0/8"]})
    token = xui_tokens.encrypt("live/a/b/1")
    paths = (f"/play/{token}", f"/key/{token}", f"/live/{ACCESS_TOKEN}/1.ts", "/streaming/live.php?username=a",
             "/portal.php?type=stb&action=handshake", "/c/", "/epg/a/b/gz", "/player_api/a/b",
             "/thumb/a/b/1")  # fmt: skip
    for path in paths:
        assert (await setup.client.get(path)).status == 403, path
    assert setup.sim.player.received == []
    open_setup: Setup = await make_setup()
    async with aiohttp.ClientSession() as session:  # as sent: a client library would normalise these away
        for path in ("/c/%2e%2e/get.php", "/play/..%2f..%2fget.php", "/stalker_portal/c/%2E%2E/%2e%2e/get.php",
                     "/key/x%2fy", "/c/..\\get.php"):  # fmt: skip
            url = URL(open_setup.url(path), encoded=True)
            async with session.get(url) as resp:
                assert resp.status == 404, path
    assert open_setup.sim.player.received == []
    metrics = open_setup.client.server.app[LIVE].state.metrics.render().decode()
    assert 'panelgate_client_requests_total{kind="play",outcome="traversal"} 1.0' in metrics
