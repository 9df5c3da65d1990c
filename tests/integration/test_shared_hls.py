"""Shared live HLS end to end: players on real sockets reloading playlists and fetching segments, a panel serving
live HLS as XC_VM does (a 302 to `/auth/{token}`, a sliding window, a token per viewer in every segment URL, segments
only for the IP and connection they were made for), the gateway in between."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.clientside.routes import CLIENTSIDE
from gateway.sim.player_hls import LiveHls
from tests.integration.live_fixtures import HlsPlayer, LiveSide, make_live, wait_for

__all__ = ["make_live"]  # a fixture: pytest finds it by name in this module


def hls_path(side: LiveSide, n: int, stream: int) -> str:
    return side.url(side.viewer_path(n, stream, "m3u8"))


async def stop_all(players: list[HlsPlayer]) -> None:
    for player in players:
        await player.stop()


async def test_twenty_viewers_of_one_channel_make_one_fetch_per_segment(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=0.5, window=4)
    side = await make_live(providers=(1,), viewers=20, live_hls=hls, hls_viewer_timeout=1, live_linger=0.2)
    players = [HlsPlayer(hls_path(side, n, 4), agent=f"player-{n}").start() for n in range(20)]
    try:
        await wait_for(lambda: all(len(p.segments) >= 6 for p in players), 30, "six segments each")
        ready = (await side.readyz())["shared_live"]
        assert (ready["hls"]["channels"], ready["hls"]["viewers"]) == (1, 20)
        assert ready["upstream_connections_saved"] == 19
        assert await side.metric("panelgate_shared_hls_viewers") == 20
    finally:
        await stop_all(players)
    assert all(not p.errors for p in players), [p.errors for p in players if p.errors]
    # every segment any player had came from the panel once, with the bytes the panel made for it
    assert hls.segment_fetches and set(hls.segment_fetches.values()) == {1}, hls.segment_fetches
    for player in players:
        for name, data in player.segments.items():
            assert data == hls.body(4, int(name.split(".")[0]))
    reloads = sum(len(p.playlists) for p in players)
    assert hls.playlist_fetches[4] < reloads / 5  # reloads answered from one fetch per half target duration
    assert list(hls.connections.values()) == ["provider0"]  # one connection on the panel, reloaded at its /auth/ URL
    assert await side.metric('panelgate_hls_shared_requests_total{source="shared",what="segment"}') > 0
    await wait_for(lambda: not side.client.server.app[CLIENTSIDE].hls.channels, 10, "the channel to close")
    runtime = side.client.server.app[CLIENTSIDE]
    await wait_for(lambda: not runtime.providers.held, 2, "the slot given back (after RELEASE_GRACE)")
    assert runtime.memory_counter.open == {}


async def test_no_viewer_gets_credentials_or_urls_of_another(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=0.5, window=3)
    side = await make_live(providers=(1,), viewers=2, live_hls=hls, trusted_proxies=("127.0.0.1/32",))
    lines = [side.sim.tables["lines"][i] for i in side.viewer_ids]
    texts = []
    for n in range(2):
        resp = await side.client.get(side.viewer_path(n, 2, "m3u8"))
        assert resp.status == 200 and resp.content_type == "application/vnd.apple.mpegurl"
        texts.append(await resp.text())
    uris = [[line for line in text.splitlines() if line and not line.startswith("#")] for text in texts]
    for n, text in enumerate(texts):
        other = lines[1 - n]
        for secret in ("provider0", "secret-provider", other["username"], other["password"], "/hls/", "/auth/",
                       f":{side.server.port}"):  # fmt: skip
            assert secret not in text, (secret, text)
        assert all(uri.startswith(side.config.public_url + "/_h/") for uri in uris[n])
    # the same segments by name, under each viewer's own id
    assert [u.rsplit("/", 1)[1] for u in uris[0]] == [u.rsplit("/", 1)[1] for u in uris[1]]
    assert not set(u.rsplit("/", 2)[1] for u in uris[0]) & set(u.rsplit("/", 2)[1] for u in uris[1])
    path = uris[0][-1].removeprefix(side.config.public_url)
    assert (await side.client.get(path)).status == 200
    # from another address (behind the trusted proxy), or with the id altered, it opens nothing
    assert (await side.client.get(path, headers={"X-Forwarded-For": "203.0.113.7"})).status == 404
    forged = path.replace("/_h/", "/_h/A", 1)
    assert (await side.client.get(forged)).status == 404
    assert (await side.client.get(path.rsplit("/", 1)[0] + "/99999.ts")).status == 404  # never in the playlist
    text = await (await side.admin.get("/metrics")).text()
    assert "secret" not in text and lines[0]["password"] not in text


async def test_a_line_is_held_to_its_max_connections_and_can_zap(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=0.5, window=3)
    side = await make_live(providers=(2,), viewers=1, live_hls=hls, hls_viewer_timeout=1.5)
    first = HlsPlayer(hls_path(side, 0, 1), agent="tv").start()
    try:
        await wait_for(lambda: len(first.segments) >= 2, 15)
        resp = await side.client.get(side.viewer_path(0, 1, "m3u8"), headers={"User-Agent": "phone"})
        assert resp.status == 403  # a second device of a line allowed one connection
        # the same device zapping to another channel leaves the first one: no wait for its timeout
        resp = await side.client.get(side.viewer_path(0, 2, "m3u8"), headers={"User-Agent": "tv"})
        assert resp.status == 200
    finally:
        await first.stop()
    await asyncio.sleep(2.0)  # the timeout: nobody fetches any more
    resp = await side.client.get(side.viewer_path(0, 1, "m3u8"), headers={"User-Agent": "phone"})
    assert resp.status == 200


async def test_a_viewer_gone_while_its_channel_opens_leaves_the_others_a_channel(make_live: Any) -> None:
    # as for a shared TS channel: the first player's request opens the channel and goes away while the panel is
    # slow to answer; a player waiting for the same channel gets it, not the 502 of a failed panel
    side = await make_live(providers=(2,), viewers=2, live_hls=LiveHls(segment_seconds=0.5, window=3))
    serve = side.sim.player._serve

    async def slow(request: Any, path: str) -> Any:
        await asyncio.sleep(0.5)
        return await serve(request, path)

    side.sim.player._serve = slow  # type: ignore[method-assign]
    opener = asyncio.get_running_loop().create_task(side.client.get(side.viewer_path(0, 1, "m3u8")))
    await asyncio.sleep(0.15)
    waiter = asyncio.get_running_loop().create_task(side.client.get(side.viewer_path(1, 1, "m3u8"),
                                                                    headers={"User-Agent": "other"}))  # fmt: skip
    await asyncio.sleep(0.15)
    opener.cancel()  # the player closes its connection while the gateway waits on the panel
    resp = await waiter
    assert resp.status == 200 and "#EXTM3U" in await resp.text()
