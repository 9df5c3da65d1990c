"""Real players on a shared live HLS channel: ffmpeg and ffprobe joining at different moments read the panel's
AES-128 encrypted H.264 segments (key and segments through the viewer's own `/_h/` URLs) and decode them without
one error, while the panel serves each segment once for all of them."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from gateway.sim.player_hls import LiveHls
from gateway.sim.player_media import Media, make_media
from tests.integration.live_fixtures import make_live
from tests.integration.player_fixtures import ffprobe, need, video_of
from tests.integration.test_shared_live_media import ffmpeg_decodes

__all__ = ["make_live"]  # a fixture: pytest finds it by name in this module


@pytest.fixture(scope="module")
def live_media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Thirty one-second segments: a live channel's timestamps run on for the whole test (the simulated panel
    loops its segments, and a loop starts the timestamps over, which no real channel does)."""
    ffmpeg, _ = need("ffmpeg", "ffprobe")
    return make_media(tmp_path_factory.mktemp("live-media"), ffmpeg, seconds=30)


async def test_players_joining_at_different_moments_decode_cleanly(make_live: Any, live_media: Media) -> None:
    hls = LiveHls(media=live_media, window=4)
    side = await make_live(providers=(1,), viewers=6, live_hls=hls)
    rng = random.Random(2020)

    async def one(n: int) -> str:
        await asyncio.sleep(rng.uniform(0, 4))  # joins the channel at another segment
        url = side.url(side.viewer_path(n, 8, "m3u8"))
        if n % 3 == 2:
            video = video_of(await ffprobe(url))
            assert (video["codec_name"], video["width"], video["height"]) == ("h264", 160, 120)
            return ""
        return await ffmpeg_decodes(url, 3)

    errors = await asyncio.gather(*(one(n) for n in range(6)))
    assert errors == [""] * 6, errors
    assert hls.segment_fetches and set(hls.segment_fetches.values()) == {1}, hls.segment_fetches
    assert len(hls.connections) == 1  # one connection on the panel for six players
    keys = [path for path in side.sim.player.received if path.startswith("/key/")]
    assert len(keys) == 1  # the key too: fetched once, shared
