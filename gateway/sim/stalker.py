"""The simulated panel's MAG (Stalker/Ministra) portal: what a MAG box needs to log in, list channels and play.

Faithful to XC_VM's `src/ministra/portal.php` (served as `/c/portal.php` and `/portal.php`; nginx answers
`/server/load.php` with a 302 to `/c/portal.php?{args}`), in its smallest useful part:
- `type=stb&action=handshake`: the device is found by its MAC (`mac` parameter, else the `mac` cookie) and gets a
  fresh session token; the answer is `{"js":{"token":...}}` (`null` for an unknown MAC). Every later call carries it
  as `Authorization: Bearer {token}`.
- `stb/get_profile`: the profile, `status` 0 for an authenticated device, 1 otherwise; an authenticated device
  without a serial number (`sn`) gets a 404 (the real panel also bans its IP: a MAG scanner's mark).
- `itv/get_genres`, `itv/get_all_channels`, `itv/get_ordered_list` (14 per page, `p`): channels with `cmd`
  `ffmpeg {site_url}play/{token}` where the token is the encrypted `ministra::live/u/p/stream/ts/{session}`; with
  `mag_security` on, `cmd` is the placeholder `ffmpeg http://localhost/ch/{id}_` and `use_http_tmp_link` 1, and
  the box asks `itv/create_link` for the real link.
- an unauthenticated call to anything else answers an empty body (portal.php's bare `exit()`).
`site_url` is the main server's configured domain, not the host the box asked for: the URLs a gateway must hide.
`/stalker_portal/server/load.php` and `/stalker_portal/c/` are Ministra's own paths, served here as aliases.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from gateway.sim import player_data as data
from gateway.sim import xui_tokens
from gateway.sim.player_host import PlayerHost

PAGE_ITEMS = 14
PLACEHOLDER = "http://localhost/ch/"
INDEX = "<html><head><title>Stalker portal</title></head><body><script src=\"xpcom.common.js\"></script></body></html>"


def _js(value: Any, **extra: Any) -> web.Response:
    return web.Response(text=json.dumps({"js": value, **extra}).replace("/", "\\/"),
                        headers={"Content-Type": "text/javascript", "Cache-Control": "no-store, no-cache"})  # fmt: skip


class StalkerPortal:
    def __init__(self, player: PlayerHost) -> None:
        self.player = player
        self.mag_security = False
        self.sessions: dict[str, str] = {}  # mag_id -> the device's current session token

    def add_routes(self, app: web.Application) -> None:
        for path in ("/c/portal.php", "/portal.php", "/stalker_portal/server/load.php"):
            app.router.add_route("GET", path, self.portal)
            app.router.add_route("POST", path, self.portal)
        app.router.add_get("/server/load.php", self.load)
        for path in ("/c/", "/c/index.html", "/stalker_portal/c/", "/stalker_portal/c/index.html"):
            app.router.add_get(path, self.index)

    @property
    def tables(self) -> data.Tables:
        return self.player.tables

    def device_token(self, line: data.Row) -> str | None:
        """The session token of the MAG device that holds `line`, None when it has none."""
        device = next((d for d in self.tables["mag_devices"].values() if str(d["user_id"]) == str(line["id"])), None)
        return self.sessions.get(str(device["mag_id"])) if device is not None else None

    def site_url(self, request: web.Request) -> str:
        domain = str(self.tables["servers"][1]["domain_name"]).split(",")[0].strip()
        return f"http://{domain or request.url.host}:{request.url.port or 80}/"

    async def index(self, request: web.Request) -> web.Response:
        self.player.note(request)
        return web.Response(text=INDEX, content_type="text/html")

    async def load(self, request: web.Request) -> web.Response:
        self.player.note(request)
        raise web.HTTPFound(f"/c/portal.php?{request.query_string}")

    async def portal(self, request: web.Request) -> web.Response:
        self.player.note(request)
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        kind, action = params.get("type", ""), params.get("action", "")
        if (kind, action) == ("stb", "handshake"):
            return self._handshake(params.get("mac") or request.cookies.get("mac", ""))
        device = self._authenticated(request)
        if (kind, action) == ("stb", "get_profile"):
            if device is not None and not params.get("sn"):
                return web.Response(status=404, text="")
            return _js(self._profile(device))
        if device is None:
            return web.Response(text="", headers={"Content-Type": "text/javascript"})
        line = self.tables["lines"].get(int(device["user_id"]))
        if line is None or kind != "itv":
            return web.Response(text="", headers={"Content-Type": "text/javascript"})
        if action == "get_genres":
            genres = [{"id": "*", "title": "All", "alias": "All", "censored": 0}]
            genres += [{"id": c["category_id"], "title": c["category_name"], "alias": c["category_name"],
                        "censored": 0} for c in data.categories(self.tables, "live")]  # fmt: skip
            return _js(genres)
        if action in ("get_all_channels", "get_ordered_list"):
            return self._channels(request, device, line, params, paged=action == "get_ordered_list")
        if action == "create_link":
            return self._create_link(request, device, line, params.get("cmd", ""))
        return web.Response(text="", headers={"Content-Type": "text/javascript"})

    def _handshake(self, mac: str) -> web.Response:
        device = next((d for d in self.tables["mag_devices"].values() if d["mac"].lower() == mac.lower()), None)
        if device is None:
            return _js({"token": None})
        session = secrets.token_hex(16).upper()
        self.sessions[str(device["mag_id"])] = session
        return _js({"token": xui_tokens.encrypt(f"{device['mag_id']}/{session}")})

    def _authenticated(self, request: web.Request) -> data.Row | None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        mag_id, _, session = (xui_tokens.decrypt(header[7:].strip()) or "").partition("/")
        if not session or self.sessions.get(mag_id) != session:
            return None
        return next((d for d in self.tables["mag_devices"].values() if str(d["mag_id"]) == mag_id), None)

    def _profile(self, device: data.Row | None) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "id": device["mag_id"] if device else None, "name": device["mag_id"] if device else None,
            "mac": device["mac"] if device else "", "parent_password": "0000", "locale": "en_GB.utf8",
            "stb_type": device["stb_type"] if device else "", "status": 0 if device else 1, "update_url": "",
            "test_download_url": "", "default_timezone": "Europe/London", "default_locale": "en_GB.utf8",
            "storages": [], "hls_fast_start": "1", "check_ssl_certificate": 0, "watchdog_timeout": 100,
        }  # fmt: skip
        return profile

    def _play_url(self, request: web.Request, line: data.Row, sid: int) -> str:
        session = self.device_token(line) or ""
        token = xui_tokens.encrypt(f"ministra::live/{line['username']}/{line['password']}/{sid}/ts/{session}")
        return f"{self.site_url(request)}play/{token}"

    def _channels(self, request: web.Request, device: data.Row, line: data.Row, params: dict[str, str],
                  paged: bool) -> web.Response:  # fmt: skip
        genre = params.get("genre", "")
        streams = data.live_streams(self.tables, line, genre if genre.isdigit() else None)
        page = int(params["p"]) if params.get("p", "").isdigit() and int(params["p"]) > 0 else 1
        shown = streams[(page - 1) * PAGE_ITEMS : page * PAGE_ITEMS] if paged else streams
        rows = []
        for item in shown:
            sid = int(item["stream_id"])
            cmd = f"{PLACEHOLDER}{sid}_" if self.mag_security else self._play_url(request, line, sid)
            rows.append({
                "id": sid, "name": item["name"], "number": str(item["num"]), "censored": 0, "cmd": f"ffmpeg {cmd}",
                "tv_genre_id": item["category_id"], "logo": item["stream_icon"], "xmltv_id": item["epg_channel_id"],
                "use_http_tmp_link": int(self.mag_security), "enable_tv_archive": item["tv_archive"],
                "cmd_1": "", "cmd_2": "", "cmd_3": "", "status": 1,
            })  # fmt: skip
        return _js({"total_items": len(streams), "max_page_items": PAGE_ITEMS, "selected_item": 0,
                    "cur_page": page if paged else 0, "data": rows})  # fmt: skip

    def _create_link(self, request: web.Request, device: data.Row, line: data.Row, cmd: str) -> web.Response:
        # portal.php: the text after `http://localhost/ch/` is `{id}_{value}`; without the placeholder strpos()
        # is false and substr() starts at 20, as PHP would
        at = cmd.find(PLACEHOLDER)
        sid_text, _, value = cmd[(at if at >= 0 else 0) + len(PLACEHOLDER) :].partition("_")
        if value:
            url = value
        elif sid_text.isdigit():
            url = self._play_url(request, line, int(sid_text))
        else:
            url = ""
        return _js({"id": sid_text, "cmd": f"ffmpeg {url}"}, streamer_id=0, link_id=0, load=0, error="")
