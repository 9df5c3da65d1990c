"""The MAG (Stalker) portal through the gateway, driven the way a MAG box drives it.

A box knows the portal URL and its MAC: `handshake` (the MAC in a cookie) gives a token, sent back as a Bearer
header; `get_profile` (with the box's serial number), `get_genres`, `get_all_channels` or `get_ordered_list`, then
`create_link` when the channel list holds placeholders, and the `cmd` it gets is what it plays.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.sim.player import stream_bytes
from tests.integration.player_fixtures import Setup, make_setup
from tests.reliability import rawhttp

__all__ = ["make_setup"]  # a fixture: pytest finds it by name in this module

MAG_UA = "Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) MAG200 stbapp ver: 2 rev: 250"


class Box:
    """A MAG box: its MAC in a cookie, its session token once it has one, its serial number for get_profile."""

    def __init__(self, setup: Setup, mac: str, portal: str = "/portal.php") -> None:
        self.setup, self.portal = setup, portal
        self.headers = {"User-Agent": MAG_UA, "X-User-Agent": "Model: MAG250; Link: WiFi",
                        "Cookie": f"mac={mac}; stb_lang=en; timezone=Europe%2FLondon"}  # fmt: skip

    async def call(self, kind: str, action: str, **params: str) -> tuple[int, str]:
        query = {"type": kind, "action": action, "JsHttpRequest": "1-xml", **params}
        resp = await self.setup.client.get(self.portal, params=query, headers=self.headers, allow_redirects=False)
        text = await resp.text()
        self.setup.assert_hidden(text)  # whatever the portal answered, the panel stays hidden
        return resp.status, text

    async def js(self, kind: str, action: str, **params: str) -> Any:
        status, text = await self.call(kind, action, **params)
        assert status == 200, text
        return json.loads(text)["js"]

    async def log_in(self) -> Any:
        token = (await self.js("stb", "handshake", token=""))["token"]
        assert token
        self.headers["Authorization"] = f"Bearer {token}"
        return await self.js("stb", "get_profile", hd="1", sn="012019N014512", stb_type="MAG250",
                             ver="ImageDescription: 0.2.18-r14", device_id="", device_id2="")  # fmt: skip


def mac_of(setup: Setup, device: int = 1) -> str:
    return str(setup.sim.tables["mag_devices"][device]["mac"])


async def test_a_mag_box_logs_in_lists_and_plays(make_setup: Any) -> None:
    # probes off: the gateway has not learned the domain portal.php writes into `cmd`, which is a gateway URL anyway
    setup: Setup = await make_setup(health_interval=0)
    box = Box(setup, mac_of(setup))
    profile = await box.log_in()
    assert profile["status"] == 0 and profile["mac"] == mac_of(setup)
    genres = await box.js("itv", "get_genres")
    assert genres[0]["id"] == "*" and len(genres) > 1
    channels = await box.js("itv", "get_all_channels")
    assert channels["total_items"] == 16 and len(channels["data"]) == 16
    cmds = [c["cmd"] for c in channels["data"]]
    assert all(c.startswith(f"ffmpeg {setup.public}/play/") for c in cmds), cmds[:2]
    page = await box.js("itv", "get_ordered_list", genre="*", p="2")
    assert page["cur_page"] == 2 and len(page["data"]) == 2 and page["max_page_items"] == 14
    # the box plays a `cmd` as it is: a gateway URL, relayed to the panel under the same path
    first = channels["data"][0]
    resp = await setup.client.get(setup.local(first["cmd"].removeprefix("ffmpeg ")))
    assert resp.status == 200 and await resp.content.readexactly(65536) == stream_bytes(int(first["id"]), 0, 65536)
    resp.close()
    assert "/play/" in " ".join(setup.sim.player.received)


async def test_placeholders_stay_and_create_link_answers_a_gateway_link(make_setup: Any) -> None:
    # With `mag_security` the panel lists `ffmpeg http://localhost/ch/{id}_` and hands the real link out only to
    # create_link, which finds the channel by that exact text: the gateway must leave it alone.
    setup: Setup = await make_setup(mag_security=True)
    box = Box(setup, mac_of(setup, 3), portal="/c/portal.php")
    await box.log_in()
    channels = (await box.js("itv", "get_ordered_list", genre="*", p="1"))["data"]
    assert channels[0]["cmd"] == f"ffmpeg http://localhost/ch/{channels[0]['id']}_"
    assert channels[0]["use_http_tmp_link"] == 1
    link = await box.js("itv", "create_link", cmd=channels[0]["cmd"], series="", forced_storage="0")
    assert link["id"] == str(channels[0]["id"]) and link["cmd"].startswith(f"ffmpeg {setup.public}/play/")
    resp = await setup.client.get(setup.local(link["cmd"].removeprefix("ffmpeg ")), headers={"Range": "bytes=0-"})
    assert resp.status == 200 and len(await resp.content.readexactly(1000)) == 1000
    resp.close()
    # another device's session cannot use that link: the panel binds it to the box that asked (403 passed on)
    other = Box(setup, mac_of(setup, 1))
    await other.log_in()
    await box.js("stb", "handshake", token="")  # the first box logs in again: its old links die
    stale = await setup.client.get(setup.local(link["cmd"].removeprefix("ffmpeg ")))
    assert stale.status == 403


async def test_every_portal_path_a_box_may_be_given(make_setup: Any) -> None:
    setup: Setup = await make_setup()
    for portal in ("/portal.php", "/c/portal.php", "/server/load.php", "/stalker_portal/server/load.php"):
        box = Box(setup, mac_of(setup, 2), portal=portal)
        assert (await box.log_in())["status"] == 0, portal
        assert len((await box.js("itv", "get_all_channels"))["data"]) == 16, portal
    assert "/server/load.php" in setup.sim.player.received  # the panel's 302 to /c/portal.php, followed here
    for page in ("/c/", "/c/index.html", "/stalker_portal/c/"):
        resp = await setup.client.get(page)
        assert resp.status == 200 and "<html>" in await resp.text(), page


async def test_what_an_unknown_or_unauthenticated_box_gets(make_setup: Any) -> None:
    setup: Setup = await make_setup()
    stranger = Box(setup, "00:1A:79:00:00:99")
    assert (await stranger.js("stb", "handshake", token=""))["token"] is None
    assert (await stranger.js("stb", "get_profile", sn="x"))["status"] == 1  # a profile, marked unauthenticated
    assert await stranger.call("itv", "get_all_channels") == (200, "")  # portal.php's bare exit()
    box = Box(setup, mac_of(setup))
    await box.log_in()
    status, _ = await box.call("stb", "get_profile")  # an authenticated box without its serial number
    assert status == 404
    blocked: Setup = await make_setup({"blocked_user_agents": ["MAG200"]})
    refused = await blocked.client.get("/portal.php", params={"type": "stb", "action": "handshake"},
                                       headers={"User-Agent": MAG_UA})  # fmt: skip
    assert refused.status == 403 and "/portal.php" not in blocked.sim.player.received


async def test_a_box_form_in_two_tcp_segments_reaches_the_panel_whole(make_setup: Any) -> None:
    """The form is read to its end before it is passed on (it was cut at what had arrived: here the action)."""
    setup: Setup = await make_setup(health_interval=0)
    form = b"type=stb&action=handshake&token=&JsHttpRequest=1-xml"
    head = rawhttp.head("POST", "/portal.php", {"Content-Type": "application/x-www-form-urlencoded",
                                                "Content-Length": str(len(form)), "User-Agent": MAG_UA,
                                                "Cookie": f"mac={mac_of(setup)}; stb_lang=en"})  # fmt: skip
    server = setup.client.server
    reply = await rawhttp.send(str(server.host), int(server.port or 0), [head + form[:16], form[16:]], pause=0.2)
    assert reply.status == 200 and json.loads(reply.body)["js"]["token"], reply.body[:200]
