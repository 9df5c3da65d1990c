"""What real players and panels do that the other tests did not: an ExoPlayer resume at a movie's very end, lines
whose credentials mirror each other, a player reconnecting to a stalled channel, ffmpeg's reconnect with an open
Range, and XUI's Enigma2 bouquets (`type=enigma16|dreambox|gigablue`)."""

from __future__ import annotations

from typing import Any

from gateway.sim.player import vod_size
from tests.integration.live_fixtures import make_live
from tests.integration.test_clientside_gateway import PUBLIC, make_side

__all__ = ["make_live", "make_side"]  # fixtures: pytest finds them by name in this module


async def test_an_unsatisfiable_range_keeps_the_panels_content_range(make_side: Any) -> None:
    """ExoPlayer (TiviMate, Smarters, ...) resuming a movie at its end asks `Range: bytes={size}-`; the panel answers
    416 with `Content-Range: bytes */{size}`, from which ExoPlayer sees the position is the end (playback ends
    cleanly). Without that header the 416 is an error on screen."""
    side = await make_side()
    user, password = side.line
    size = vod_size(21)
    resp = await side.client.get(f"/movie/{user}/{password}/21.mp4", headers={"Range": f"bytes={size}-"})
    assert resp.status == 416
    assert resp.headers.get("Content-Range") == f"bytes */{size}"


async def test_an_enigma2_bouquet_names_the_gateway_and_plays(make_side: Any) -> None:
    """`get.php?type=enigma16|dreambox|gigablue` (XUI's Enigma2 devices: `#SERVICE {ESR_ID}{SID}{URL#:}`) writes each
    stream URL with its `:` urlencoded, `http%3A//panel%3A25461/live/u/p/1.ts`: the box's bouquet format. Through
    the gateway each one must be the gateway's URL, spelled the same way, and play."""
    side = await make_side()
    user, password = side.line
    for device in ("enigma16", "dreambox", "gigablue"):
        resp = await side.client.get("/get.php", params={"username": user, "password": password, "type": device})
        assert resp.status == 200
        text = await resp.text()
        side.assert_hidden(text.replace("%3A", ":"))
        services = [line for line in text.splitlines() if line.startswith("#SERVICE ")]
        assert services, text
        urls = [line.split(":0:0:0:0:0:0:0:", 1)[1].replace("%3A", ":") for line in services]
        assert all(url.startswith(PUBLIC + "/") for url in urls), urls[:3]
        live = next(url for url in urls if "/movie/" not in url and "/series/" not in url)
        resp = await side.client.get(side.local(live))
        assert resp.status == 200
        assert len(await resp.content.readexactly(188 * 4)) == 188 * 4
        resp.close()
