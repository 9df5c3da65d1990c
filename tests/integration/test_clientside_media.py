"""Real players through the gateway: ffprobe opening AES-128 encrypted HLS, catch-up, token URLs and MAG links.

The panel serves media ffmpeg made for this session (an H.264 clip, and the same clip as encrypted HLS written with
`-hls_key_info_file`); ffprobe reports a video stream only when it could fetch every URL the gateway handed out,
fetch the key through `/key/{token}`, decrypt the segments and parse the result. Skipped (with the reason) where
ffmpeg is not installed; `scripts/ensure-test-tools.sh` installs it and CI requires it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.sim import xui_tokens
from gateway.sim.player_media import Media, make_media
from tests.integration.player_fixtures import ACCESS_TOKEN, Setup, ffprobe, make_setup, need, video_of

pytestmark = pytest.mark.usefixtures("media")
__all__ = ["make_setup"]  # a fixture: pytest finds it by name in this module


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    ffmpeg, _ = need("ffmpeg", "ffprobe")
    return make_media(tmp_path_factory.mktemp("media"), ffmpeg)


def assert_clip(probe: dict[str, Any]) -> None:
    video = video_of(probe)
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 160, 120)


async def test_encrypted_hls_plays_through_the_gateway(make_setup: Any, media: Media) -> None:
    # relayed per viewer, the key at the panel's own path (shared: tests/integration/test_shared_hls_media)
    setup: Setup = await make_setup({"shared_live": False}, media=media)
    resp = await setup.client.get(f"/live/{setup.creds}/1.m3u8")
    text = await resp.text()
    setup.assert_hidden(text)
    key_line = next(line for line in text.splitlines() if line.startswith("#EXT-X-KEY"))
    assert f'URI="{setup.public}/key/' in key_line and "METHOD=AES-128" in key_line
    assert_clip(await ffprobe(setup.url(f"/live/{setup.creds}/1.m3u8")))
    seen = " ".join(setup.sim.player.received)
    assert "/auth/" in seen  # auth.php's redirect to the streaming server, followed by the gateway
    assert "/key/" in seen  # the key came from the panel, through the gateway
    # without the key no player can read the segments: the same playlist with the key refused fails
    setup.sim.player.media = Media(media.clip, media.segments, media.durations, bytes(16), media.iv)
    with pytest.raises(AssertionError):
        assert_clip(await ffprobe(setup.url(f"/live/{setup.creds}/1.m3u8")))


async def test_catch_up_plays_in_every_form(make_setup: Any, media: Media) -> None:
    setup: Setup = await make_setup(media=media, access_token=True)
    user, password = setup.line["username"], setup.line["password"]
    paths = (
        f"/timeshift/{user}/{password}/60/2026-01-01:10-00/1.ts",
        f"/timeshift/{ACCESS_TOKEN}/60/2026-01-01:10-00/1.ts",
        f"/streaming/timeshift.php?username={user}&password={password}&stream=1&start=2026-01-01:10-00&duration=60",
        f"/live/{user}/{password}/1.ts?utc=1767261600",  # a live URL with `utc`: the panel's own catch-up switch
    )
    for path in paths:
        assert_clip(await ffprobe(setup.url(path)))
    # the catch-up request reached the panel's auth script by the redirect nginx answers, followed server-side
    assert "/stream/auth.php" in setup.sim.player.received
    assert setup.sim.player.open_streams == 0


async def test_token_urls_from_the_panels_playlist_play(make_setup: Any, media: Media) -> None:
    setup: Setup = await make_setup(media=media, access_token=True)
    resp = await setup.client.get("/get.php", params={"token": ACCESS_TOKEN, "type": "m3u_plus", "output": "ts"})
    text = await resp.text()
    setup.assert_hidden(text)
    urls = [line for line in text.splitlines() if line.startswith("http")]
    live = next(u for u in urls if u.startswith(f"{setup.public}/live/{ACCESS_TOKEN}/"))
    assert_clip(await ffprobe(live))
    hls = live.rsplit(".", 1)[0] + ".m3u8"
    assert_clip(await ffprobe(hls))
    # a `/play/` token, as XC_VM writes its lists with `encrypt_playlist` (the line sealed inside)
    token = xui_tokens.encrypt(f"live/{setup.line['username']}/{setup.line['password']}/1/ts")
    assert_clip(await ffprobe(setup.url(f"/play/{token}")))
    hls_token = xui_tokens.encrypt(f"live/{setup.line['username']}/{setup.line['password']}/2/m3u8")
    assert_clip(await ffprobe(setup.url(f"/play/{hls_token}")))  # a playlist by its Content-Type, rewritten


async def test_a_mag_link_plays(make_setup: Any, media: Media, tmp_path: Path) -> None:
    setup: Setup = await make_setup(media=media, mag_security=True)
    device = setup.sim.tables["mag_devices"][1]
    headers = {"User-Agent": "Mozilla/5.0 (QtEmbedded; U; Linux; C) MAG200 stbapp ver: 2 rev: 250 Safari/533.3",
               "Cookie": f"mac={device['mac']}; stb_lang=en; timezone=Europe%2FLondon"}  # fmt: skip
    shake = await setup.client.get("/portal.php", params={"type": "stb", "action": "handshake"}, headers=headers)
    token = (await shake.json(content_type=None))["js"]["token"]
    headers["Authorization"] = f"Bearer {token}"
    listed = await setup.client.get("/portal.php", params={"type": "itv", "action": "get_all_channels"},
                                    headers=headers)  # fmt: skip
    cmd = (await listed.json(content_type=None))["js"]["data"][0]["cmd"]
    link = await setup.client.get("/portal.php", params={"type": "itv", "action": "create_link", "cmd": cmd},
                                  headers=headers)  # fmt: skip
    played = (await link.json(content_type=None))["js"]["cmd"].removeprefix("ffmpeg ")
    assert played.startswith(f"{setup.public}/play/")
    assert_clip(await ffprobe(played))
