"""Real players joining a shared channel at any moment: ffprobe finds the picture, ffmpeg decodes it without one
error. The panel sends an ffmpeg-made H.264 MPEG-TS clip over and over in real time (keyframes every second,
PATs every tenth of a second): a viewer joined at any PAT, or at any packet, would start mid-GOP and the decoder
would report it."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from gateway.sim.player_live import rate_of
from gateway.sim.player_media import Media
from tests.integration.live_fixtures import make_live, wait_for
from tests.integration.player_fixtures import ffprobe, need, video_of
from tests.integration.test_clientside_media import media

__all__ = ["make_live", "media"]  # fixtures: pytest finds them by name in this module
CLIP_SECONDS = 4  # make_media's default


async def ffmpeg_decodes(url: str, seconds: float) -> str:
    """Decode `seconds` of the stream; what ffmpeg reported at error level (empty: a clean start)."""
    (binary,) = need("ffmpeg")
    proc = await asyncio.create_subprocess_exec(
        binary, "-hide_banner", "-nostdin", "-v", "error", "-rw_timeout", "20000000", "-i", url, "-t", str(seconds),
        "-f", "null", "-", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")
    return err.decode(errors="replace")


async def test_players_joining_at_any_moment_start_clean(make_live: Any, media: Media) -> None:
    side = await make_live(providers=(1,), viewers=6, viewer_connections=2, media=media,
                           rate=rate_of(media.clip, CLIP_SECONDS))  # fmt: skip
    rng = random.Random(20)

    async def one(n: int) -> str:
        await asyncio.sleep(rng.uniform(0, 3))  # joins at a random point of the channel
        url = side.url(side.viewer_path(n, 9))
        if n % 2:
            video = video_of(await ffprobe(url))
            assert (video["codec_name"], video["width"], video["height"]) == ("h264", 160, 120)
            return ""
        return await ffmpeg_decodes(url, 1.5)

    errors = await asyncio.gather(*(one(n) for n in range(6)))
    assert errors == [""] * 6, errors
    # six viewer checks, one upstream connection for the six players
    assert sorted(side.sim.player.received) == ["/live/provider0/secret-provider-0/9.ts"] + ["/player_api.php"] * 6
    await wait_for(lambda: side.upstream_open() == 0, 15, "the channel to close after its last player")
