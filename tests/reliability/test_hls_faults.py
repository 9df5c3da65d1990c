"""A shared HLS channel whose panel fails: a segment cut in the middle, a panel gone silent mid-segment, error
statuses for segments and playlists. Every viewer's request ends (none hangs), a failed segment is fetched
again by the next request, and no provider slot nor viewer lease is left held."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from gateway.clientside.routes import CLIENTSIDE
from gateway.sim.player_hls import LiveHls
from tests.integration.live_fixtures import LiveSide, make_live, wait_for

__all__ = ["make_live"]  # a fixture: pytest finds it by name in this module


async def playlist_uris(side: LiveSide, viewers: int, stream: int) -> list[list[str]]:
    out = []
    for n in range(viewers):
        resp = await side.client.get(side.viewer_path(n, stream, "m3u8"))
        assert resp.status == 200
        out.append([line for line in (await resp.text()).splitlines() if line and not line.startswith("#")])
    return out


async def get(url: str) -> tuple[int, bytes | str]:
    """(status, body), or (0, the error's name) when the body broke off."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url) as resp:
                return resp.status, await resp.read()
        except aiohttp.ClientError as exc:
            return 0, type(exc).__name__


async def nothing_held(side: LiveSide) -> None:
    runtime = side.client.server.app[CLIENTSIDE]
    await wait_for(lambda: not runtime.hls.channels, 10, "the channel closed")
    await wait_for(lambda: not runtime.providers.held, 2, "the provider slot given back")
    assert runtime.memory_counter.open == {} and runtime.hls.cached_bytes == 0 and not runtime.hls.devices


async def test_a_segment_cut_mid_body_ends_every_reader_and_is_fetched_again(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=1.0, window=3)
    side = await make_live(providers=(1,), viewers=5, live_hls=hls, hls_viewer_timeout=1, live_linger=0)
    uris = await playlist_uris(side, 5, 3)
    hls.segment_fault = "cut"
    results = await asyncio.wait_for(asyncio.gather(*(get(u[-1]) for u in uris)), 15)
    assert all(status in (0, 502) for status, _ in results), results  # cut short, or refused: never whole
    assert 1 <= sum(hls.segment_fetches.values()) <= 5
    hls.segment_fault = None
    status, body = await get(uris[0][-1])
    n = int(uris[0][-1].rsplit("/", 1)[1].split(".")[0])
    assert status == 200 and body == hls.body(3, n)
    await nothing_held(side)


async def test_a_panel_silent_mid_segment_never_leaves_a_viewer_hanging(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=1.0, window=3)
    side = await make_live(providers=(1,), viewers=3, live_hls=hls, hls_viewer_timeout=1, live_linger=0,
                           stream_read_timeout=1)  # fmt: skip
    uris = await playlist_uris(side, 3, 5)
    hls.segment_fault = "silent"
    try:
        results = await asyncio.wait_for(asyncio.gather(*(get(u[-1]) for u in uris)), 10)
        assert all(status == 0 for status, _ in results), results  # ended as they stood, after the read timeout
        assert sum(hls.segment_fetches.values()) == 1  # the three waited on one fetch
    finally:
        hls.unsilence.set()
    await nothing_held(side)


async def test_error_statuses_are_502s_and_a_failed_playlist_gives_everything_back(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=1.0, window=3)
    side = await make_live(providers=(1,), viewers=2, live_hls=hls, hls_viewer_timeout=30, live_linger=30)
    uris = await playlist_uris(side, 2, 6)
    hls.segment_fault = "http500"
    assert [s for s, _ in await asyncio.gather(*(get(u[-1]) for u in uris))] == [502, 502]
    runtime = side.client.server.app[CLIENTSIDE]
    assert runtime.providers.held and len(runtime.memory_counter.open) == 2
    # the panel fails the playlist: the channel closes at once, its slot and both viewers' leases given back,
    # without waiting for the viewers' timeout or the linger
    hls.playlist_fault = "http500"
    await asyncio.sleep(0.6)  # past the copy's freshness (half the target duration)
    resp = await side.client.get(side.viewer_path(0, 6, "m3u8"))
    assert resp.status == 502
    await nothing_held(side)
    resp = await side.client.get(side.viewer_path(1, 6, "m3u8"))  # and opening it fails the same way
    assert resp.status == 502
    await nothing_held(side)
    hls.playlist_fault = hls.segment_fault = None
    assert (await side.client.get(side.viewer_path(1, 6, "m3u8"))).status == 200


async def test_an_unreachable_panel_holds_nothing(make_live: Any) -> None:
    hls = LiveHls(segment_seconds=1.0, window=3)
    side = await make_live(providers=(1,), viewers=1, live_hls=hls, hls_viewer_timeout=30, live_linger=30)
    uris = await playlist_uris(side, 1, 7)
    await side.server.close()
    status, _ = await get(uris[0][-1])
    assert status == 502
    await asyncio.sleep(0.6)
    assert (await side.client.get(side.viewer_path(0, 7, "m3u8"))).status == 502
    await nothing_held(side)
