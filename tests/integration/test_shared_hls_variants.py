"""An adaptive live channel (XC_VM `adaptive_link`) on shared live HLS: the panel answers a multi-variant playlist
whose variants are `/auth/{token}` URLs, each token sealing the username and password of the line that asked
(XC_VM `src/www/stream/auth.php`: `'username' => $rUserInfo['username'], 'password' => ...`, no `expires`).

Such a playlist is not shared (gateway.clientside.hls_live `Variants`). With provider lines, the one the gateway
fetched was asked for with a provider line's credentials: handing it to the viewer gives the viewer a token that
streams on the provider's line, outside the pool's slots and the viewer's own caps, for as long as it likes."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from gateway.sim import xui_tokens
from gateway.sim.player_hls import LiveHls
from tests.integration.live_fixtures import make_live, wait_for

__all__ = ["make_live"]  # a fixture: pytest finds it by name in this module

ADAPTIVE = 9


def adaptive_panel(player: Any) -> None:
    """Stream ADAPTIVE answers `.m3u8` as XC_VM does for a channel with an adaptive link."""
    deliver = player.deliver

    async def answer(request: web.Request, kind: str, line: dict[str, Any], sid: int, ext: str) -> Any:
        if kind == "live" and sid == ADAPTIVE and ext == "m3u8":
            token = xui_tokens.encrypt(f"live/{line['username']}/{line['password']}/{sid}/ts")
            text = f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n/auth/{token}\n"
            return web.Response(text=text, content_type="application/x-mpegurl")
        return await deliver(request, kind, line, sid, ext)

    player.deliver = answer


async def test_a_viewer_of_an_adaptive_channel_never_gets_a_provider_lines_token(make_live: Any) -> None:
    side = await make_live(providers=(2,), viewers=1, live_hls=LiveHls(segment_seconds=0.5, window=3))
    adaptive_panel(side.sim.player)
    resp = await side.client.get(side.viewer_path(0, ADAPTIVE, "m3u8"))
    assert resp.status == 200
    text = await resp.text()
    variants = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(variants) == 1, text
    token = variants[0].rsplit("/", 1)[1]
    sealed = xui_tokens.decrypt(token) or ""
    assert "provider0" not in sealed, f"the viewer was handed a token of the provider line: {sealed}"
    # played, the variant is a connection of the viewer's own line on the panel, not the provider's
    player = side.sim.player
    async with (aiohttp.ClientSession() as session,
                session.get(variants[0], timeout=aiohttp.ClientTimeout(total=10)) as stream):  # fmt: skip
        assert stream.status == 200
        await stream.content.readexactly(188 * 10)
        await wait_for(lambda: player.open_streams >= 1, 5, "the variant's connection on the panel")
        assert player.open_by_line["provider0"] == 0, dict(player.open_by_line)
        assert player.open_by_line["viewer0"] == 1, dict(player.open_by_line)
