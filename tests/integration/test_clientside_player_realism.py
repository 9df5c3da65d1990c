"""What real players and panels do that the other tests did not: an ExoPlayer resume at a movie's very end, lines
whose credentials mirror each other, a player reconnecting to a stalled channel, ffmpeg's reconnect with an open
Range, XUI's Enigma2 bouquets (`type=enigma16|dreambox|gigablue`), a player gone before the panel answered,
player_api's get_epg and numbered actions, and a player that stops reading a movie."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from gateway.sim import player_live
from gateway.sim.player import vod_size
from tests.integration.live_fixtures import Watcher, add_line, make_live, wait_for
from tests.integration.test_clientside_gateway import PUBLIC, make_side

__all__ = ["make_live", "make_side"]  # fixtures: pytest finds them by name in this module


def production(client: Any) -> None:
    """Handlers as `panelgate serve` runs them: not cancelled when their player disconnects (aiohttp's test server
    cancels them; gateway.server's runner, like aiohttp's default, does not)."""
    server = client.server.runner.server
    assert server is not None
    server.handler_cancellation = False


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


async def test_lines_whose_username_and_password_are_swapped_never_share_a_channel(make_live: Any) -> None:
    """Without provider lines a channel is shared by the viewers of one line only (the panel counts a connection
    against the line that opened it): `alpha`/`beta` and `beta`/`alpha` are two lines."""
    side = await make_live(live_linger=0)
    add_line(side.sim, "alpha", "beta", 1)
    add_line(side.sim, "beta", "alpha", 1)
    first = Watcher(side.url("/live/alpha/beta/6.ts")).start()
    second = None
    try:
        await wait_for(lambda: len(first.received) > 188 * 4, 10, "the first line's bytes")
        second = Watcher(side.url("/live/beta/alpha/6.ts")).start()
        await wait_for(lambda: len(second.received) > 188 * 4, 10, "the second line's bytes")
        opened = side.sim.player.open_by_line
        assert (opened["alpha"], opened["beta"]) == (1, 1), dict(opened)  # each line on its own connection
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_a_player_reconnecting_to_a_stalled_channel_is_let_back_in(make_live: Any, monkeypatch: Any) -> None:
    """A channel stalls (the panel's source hiccups); the player's read times out, it closes its connection and opens
    a new one at once. On a line allowed one connection the panel lets it in (XC_VM `closeConnections` ends the
    line's oldest connection, its own first); the gateway must not answer 403 for the connection the player has just
    closed, only because no byte has come since to show it closed."""
    over = asyncio.Event()

    async def stalls(resp: Any, source: Any, rate: Any) -> None:
        await resp.write(source(0, 128 * 1024))
        await over.wait()

    monkeypatch.setattr(player_live, "send", stalls)
    side = await make_live(viewers=1, viewer_connections=1, live_linger=5)
    production(side.client)
    url = side.url(side.viewer_path(0, 4))
    first = Watcher(url).start()
    again = None
    try:
        await wait_for(lambda: len(first.received) >= 64 * 1024, 10, "the first bytes")
        await first.stop()  # the player gives up on the silent channel and closes its connection
        again = Watcher(url).start()
        await again.started.wait()
        assert again.status == 200
    finally:
        over.set()
        if again is not None:
            await again.stop()


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


async def test_ffmpeg_reconnecting_to_a_live_channel_rides_the_shared_connection(make_live: Any) -> None:
    """ffmpeg (Kodi, mpv, ffplay with `-reconnect 1`) reopens a stream after a stall with `Range: bytes={offset}-`,
    the offset it had reached. A live channel has no offsets (XC_VM's live.php ignores Range and sends from now):
    the reconnecting player joins the shared channel like any other viewer, no second connection on the panel."""
    side = await make_live(providers=(1,), viewers=2, viewer_connections=2)
    first = Watcher(side.url(side.viewer_path(0, 3))).start()
    second = None
    try:
        await wait_for(lambda: len(first.received) > 188 * 4, 10, "the first viewer's bytes")
        second = Watcher(side.url(side.viewer_path(1, 3)), headers={"Range": "bytes=7340032-"}).start()
        await wait_for(lambda: len(second.received) > 188 * 4, 10, "the reconnecting viewer's bytes")
        assert second.status == 200
        assert side.upstream_open() == 1 and side.viewers_open() == 0, dict(side.sim.player.open_by_line)
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_a_player_gone_before_the_panel_answered_is_no_internal_error(make_side: Any, caplog: Any) -> None:
    """Zapping: a player asks for a stream and closes its connection before the panel has answered (a slow panel,
    a player flicking through channels). That is an everyday event, not the gateway failing: no error with a
    traceback in the log, no `outcome="internal"` (what an operator alerts on), and the panel's answer closed."""
    side = await make_side()
    production(side.client)
    player = side.sim.player
    deliver = player.deliver

    async def slow(*args: Any) -> Any:
        await asyncio.sleep(0.5)
        return await deliver(*args)

    player.deliver = slow
    user, password = side.line
    _reader, writer = await asyncio.open_connection(side.client.host, side.client.port)
    writer.write(f"GET /movie/{user}/{password}/21.mp4 HTTP/1.1\r\nHost: tv\r\nUser-Agent: VLC/3.0.20\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()  # the player zapped on
    await asyncio.sleep(1.0)  # the panel answers meanwhile
    # the gateway's own log (the simulated panel's aiohttp may log its own write to the closed connection)
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") and r.name.startswith("panelgate")]
    assert not errors, [r.getMessage() for r in errors]
    assert await side.metric('panelgate_client_requests_total{kind="movie",outcome="internal"}') == 0
    await wait_for(lambda: player.open_streams == 0, 5, "the panel's answer closed")


async def test_get_epg_and_numbered_actions_reach_the_panel(make_side: Any) -> None:
    """XC_VM's player_api.php answers `action=get_epg&stream_id=` (players and add-ons ask for a channel's guide so,
    `multi` or `1,2` for several) and takes actions by number too (`201` is get_live_categories). The gateway sent
    them without their action: the player got the login payload where it expected a list."""
    side = await make_side()
    user, password = side.line
    creds = {"username": user, "password": password}

    async def ask(**params: str) -> Any:
        resp = await side.client.get("/player_api.php", params={**creds, **params})
        assert resp.status == 200
        return await resp.json(content_type=None)

    channels = await ask(action="get_live_streams")
    first, second = str(channels[0]["stream_id"]), str(channels[1]["stream_id"])
    guide = await ask(action="get_epg", stream_id=first)
    assert isinstance(guide, list) and guide and isinstance(guide[0]["start"], int), guide
    several = await ask(action="get_epg", stream_id=f"{first},{second}", multi="1")
    assert isinstance(several, dict) and set(several) == {first, second}, several
    assert await ask(action="201") == await ask(action="get_live_categories")


async def test_a_player_that_takes_nothing_for_too_long_gives_the_lines_slot_back(make_side: Any) -> None:
    """A player suspended with its socket left open (a TV app sent to the background mid-movie: its TCP stack still
    answers, with a zero window) reads nothing more. XC_VM's nginx cuts such a client after `send_timeout 20m`; the
    gateway waited for it forever, holding the panel's connection, and so the line's slot on the panel: the user's
    other device was refused as over its max_connections. `player_send_timeout` cuts it, as nginx does."""
    side = await make_side({"player_send_timeout": 1})
    user, password = side.line
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: it fills at once
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (side.client.host, side.client.port))
    try:
        await loop.sock_sendall(sock, f"GET /movie/{user}/{password}/21.mp4 HTTP/1.1\r\nHost: tv\r\n\r\n".encode())
        assert (await loop.sock_recv(sock, 1024)).startswith(b"HTTP/1.1 200")
        player = side.sim.player
        await wait_for(lambda: player.open_streams == 1, 5, "the movie streaming")
        # the player reads nothing more; its slot on the panel is given back once the timeout has passed
        await wait_for(lambda: player.open_streams == 0, 10, "the panel's connection closed")
    finally:
        sock.close()
