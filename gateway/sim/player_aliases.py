"""The simulated panel's URL aliases, as XC_VM's nginx maps them (`src/bin/nginx/conf/nginx.conf`):

- rewrites: `/player_api/{u}/{p}[/{action}]` and `/panel_api.php` to player_api.php, `/playlist/{u}/{p}[/{type}]`
  to the playlist (get.php), `/epg/{u}/{p}[/gz]` to epg.php (xmltv.php; `gz` is `gzip=1`);
- redirects: `/streaming/live.php|timeshift.php|vod.php?...` answer 302 to `/stream/auth.php?type=...&{args}`
  (`absolute_redirect off`: a relative Location), which players (and the gateway) follow;
- `/stream/auth.php` itself: username + password, an access token or an encrypted token, `utc` turning any request
  into catch-up. The real one redirects once more, to a streaming server; here it serves the stream itself.
"""

from __future__ import annotations

from aiohttp import web

from gateway.sim import xui_tokens
from gateway.sim.player_host import PlayerHost

STREAMING_TYPES = {"live": "live", "timeshift": "timeshift", "vod": "movie"}


def add_alias_routes(player: PlayerHost, app: web.Application) -> None:
    def path_params(request: web.Request) -> dict[str, str]:
        info = request.match_info
        return {"username": info["u"], "password": info["p"]}

    async def player_api(request: web.Request) -> web.StreamResponse:
        extra = path_params(request) if "u" in request.match_info else {}
        if "action" in request.match_info:
            extra["action"] = request.match_info["action"]
        return await player.player_api(request, extra)

    async def playlist(request: web.Request) -> web.StreamResponse:
        extra = path_params(request)
        if "type" in request.match_info:
            extra["type"] = request.match_info["type"]
        return await player.get_php(request, extra)

    async def epg(request: web.Request) -> web.StreamResponse:
        extra = path_params(request)
        if request.path.endswith("/gz"):
            extra["gzip"] = "1"
        return await player.xmltv(request, extra)

    async def streaming(request: web.Request) -> web.StreamResponse:
        player.note(request)
        kind = STREAMING_TYPES[request.match_info["script"]]
        query = f"type={kind}&{request.query_string}" if request.query_string else f"type={kind}"
        raise web.HTTPFound(f"/stream/auth.php?{query}")

    for method in ("GET", "POST"):
        app.router.add_route(method, "/panel_api.php", player_api)
        app.router.add_route(method, "/player_api/{u}/{p}", player_api)
        app.router.add_route(method, "/player_api/{u}/{p}/{action}", player_api)
    app.router.add_get("/playlist/{u}/{p}", playlist)
    app.router.add_get("/playlist/{u}/{p}/{type}", playlist)
    app.router.add_get("/epg/{u}/{p}", epg)
    app.router.add_get("/epg/{u}/{p}/gz", epg)
    app.router.add_get("/streaming/{script:live|timeshift|vod}.php", streaming)
    async def stream_auth(request: web.Request) -> web.StreamResponse:
        return await auth(player, request)

    app.router.add_get("/stream/auth.php", stream_auth)


async def auth(player: PlayerHost, request: web.Request) -> web.StreamResponse:
    """stream/auth.php: who (username + password, or a token) and what (type, stream, extension)."""
    player.note(request)
    params = dict(request.query)
    token = params.get("token", "")
    if token and not xui_tokens.is_access_token(token):
        return await player.play_token(request, token, params.get("extension", "ts"))
    kind = params.get("type", "live")
    if "utc" in params:  # catch-up from a live URL: `?utc=START` (six hours from there)
        kind, params["start"] = "timeshift", params["utc"]
    stem, _, ext = params.get("stream", "").partition(".")
    ext = params.get("extension") or ext or "ts"
    line = player.line_of(params)
    if line is None or not stem.isdigit() or (kind == "timeshift" and not params.get("start")):
        return web.Response(status=403, text="")
    return await player.deliver(request, kind, line, int(stem), ext)
