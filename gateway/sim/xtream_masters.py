"""A stateful simulated Xtream-Masters / XUI.one admin API: `GET|POST /{access_code}/admin/index.php`.

Faithful to PANELS.md and to the panel's source (XC_VM `src/includes/api/admin/index.php` and `admin/table.php`),
quirks included, because the gateway is tested against it:
- every answer is HTTP 200 JSON, encoded like PHP's json_encode (`\\/`, `\\uXXXX`), MySQL values as strings;
- a bad key -> {"status":"STATUS_FAILURE","error":"Invalid API key."}; an unknown action -> "Invalid action.";
- `start` (intval, 0) and `limit` (intval, 0 means 50) are read by index.php itself and never reach an action;
- paged lists come from table.php (see gateway.sim.xm_tables for its counting and `reseller` filter);
- the simple lists (get_packages, get_bouquets, get_servers, ...) are bare JSON arrays (filterRows), but
  get_blocked_isps is wrapped in {"status","data"} (filterRow), and show_columns on it empties the list;
- show_columns / hide_columns also act on a failure's `data` (filterRow sets it to `[]`).

Bugs of the panel itself, reproduced while `php_bugs` is on (the default) so that the gateway meets them here
before it meets them in production:
- enable/disable/ban/unban_mag and _enigma answer STATUS_SUCCESS but change nothing (they read `user_id` from
  getMAG()'s wrapper array, where it is undefined);
- convert_mag / convert_enigma convert, then answer {"status":"STATUS_SUCCESS","data":{"status":"STATUS_FAILURE"}};
- create_enigma / edit_enigma answer with the MAG device whose id equals the new Enigma2 device id, or null;
- adjust_credits logs the new balance, not the change, as the credit log's `amount`.
With php_bugs=False these do what they were meant to do.

The simulator imports nothing from the gateway but gateway.sim.*: it must not share the gateway's mistakes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.sim import seed as seed_data
from gateway.sim import xm_accounts, xm_content, xm_system
from gateway.sim.player import PlayerSim
from gateway.sim.xm_params import merge_request, parse_pairs
from gateway.sim.xm_state import Answer, Params, XMState, filter_answer, filter_rows, php_int
from gateway.sim.xm_tables import TABLE_ACTIONS, table_api
from gateway.sim.xui_one import PhpFatal, RequestLimit

log = logging.getLogger(__name__)

Handler = Callable[[XMState, Params], Answer]

ACTIONS: dict[str, Handler] = {**xm_accounts.ACTIONS, **xm_content.ACTIONS, **xm_system.ACTIONS}
BARE_LIST_ACTIONS = xm_content.BARE_LIST_ACTIONS | xm_system.BARE_LIST_ACTIONS
# get_* actions index.php does not pass through filterRow
_UNFILTERED = frozenset({"get_server_stats", "get_fpm_status", "get_rtmp_stats", "get_free_space",
                         "get_certificate_info"})  # fmt: skip
ALL_ACTIONS = frozenset(ACTIONS) | frozenset(TABLE_ACTIONS)

_NGINX_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service "
    "Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_NGINX_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def php_json(value: Any) -> bytes:
    """json_encode() with its default flags: ASCII only, and '/' escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def _columns(value: Any) -> list[str] | None:
    """explode(',', $value) for show_columns / hide_columns (None when the parameter is absent)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value).split(",")


class XtreamMastersSim:
    """The simulated panel. `tables` is its whole state; `received` every request that reached index.php."""

    def __init__(self, *, access_code: str = "admin", api_key: str = "sim-admin-key", seed: bool = True,
                 php_bugs: bool = True, flavour: str = "xtream_masters", timezone: str = "UTC",
                 limit: RequestLimit | None = None) -> None:  # fmt: skip
        """`flavour` "xui_one" is XUI.one as it runs (gateway.sim.xui_one): the admin API at `/{code}/` and
        `/{code}/index.php` (not `/{code}/admin/index.php`), whole-row edits, dates through PHP's DateTime in
        `timezone`; `limit` is nginx's limit_req in front of it (503 past its burst)."""
        if flavour not in ("xtream_masters", "xui_one"):
            raise ValueError(f"unknown flavour {flavour!r}")
        self.access_code = access_code
        self.api_key = api_key
        self.flavour = flavour
        self.limit = limit
        self.state = XMState(tables=seed_data.build() if seed else seed_data.empty(), php_bugs=php_bugs,
                             flavour=flavour, timezone=timezone)  # fmt: skip
        self.state.table("users")[self.state.admin_id]["api_key"] = api_key  # the admin's key is a users column
        self.tables: dict[str, dict[int, dict[str, Any]]] = self.state.tables
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.player = PlayerSim(self.tables)  # the client side (player_api, playlists, streams) on the same server

    def reset_received(self) -> None:
        self.received.clear()

    def paths(self) -> tuple[str, ...]:
        """Where this flavour serves its admin API (XC_VM: `codes/template`'s location with index.php)."""
        if self.flavour == "xui_one":
            return ("/{code}/", "/{code}/index.php")
        return ("/{code}/admin/index.php",)

    def app(self, app: web.Application | None = None) -> web.Application:
        """The panel's routes, added to `app` (after its own: another API of the same panel) or a new one."""
        app = app if app is not None else web.Application()
        for path in self.paths():
            app.router.add_route("GET", path, self._handle)
            app.router.add_route("POST", path, self._handle)
        self.player.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_found)  # last: anything else is nginx's 404 page
        return app

    async def _not_found(self, _: web.Request) -> web.Response:
        return web.Response(status=404, text=_NGINX_404, content_type="text/html", headers={"Server": "nginx"})

    # --- request handling ------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> Params:
        get = parse_pairs(request.query.items())
        post: Params = {}
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            post = parse_pairs((k, v) for k, v in form.items() if isinstance(v, str))  # files go to $_FILES
        return merge_request(get, post)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["code"] != self.access_code:
            return web.Response(status=404, text=_NGINX_404, content_type="text/html", headers={"Server": "nginx"})
        if self.limit is not None and not self.limit.admit(request.remote or ""):
            return web.Response(status=503, text=_NGINX_503, content_type="text/html", headers={"Server": "nginx"})
        params = await self._params(request)
        action = params.get("action")
        self.received.append((action if isinstance(action, str) else "", {k: v for k, v in params.items()
                                                                          if k != "api_key"}))  # fmt: skip
        try:
            answer = self.answer(params)
        except PhpFatal:  # XC_VM swallows PHP errors: HTTP 200, an empty body, nothing written
            return web.Response(status=200, body=b"", content_type="text/html", headers={"Server": "nginx"})
        except Exception:  # a PHP fatal error: HTTP 500 with an empty body
            log.exception("simulated panel failed on %r", action)
            return web.Response(status=500, body=b"", headers={"Server": "nginx"})
        return web.Response(body=php_json(answer), content_type="application/json", headers={"Server": "nginx"})

    def _session_ok(self, key: Any) -> bool:
        if not isinstance(key, str) or not key or key != self.api_key:
            return False
        admin = self.state.table("users").get(self.state.admin_id)
        if admin is None or admin.get("status") != "1":
            return False
        group = self.state.table("users_groups").get(php_int(admin.get("member_group_id")))
        return group is not None and group.get("is_admin") == "1"

    def answer(self, params: Params) -> Answer:
        """What index.php echoes for these request parameters."""
        if not self._session_ok(params.get("api_key")):
            return {"status": "STATUS_FAILURE", "error": "Invalid API key."}
        action = params.get("action")
        start = php_int(params.get("start")) or 0
        limit = php_int(params.get("limit")) or 50
        show = _columns(params.get("show_columns"))
        hide = _columns(params.get("hide_columns"))
        data = {k: v for k, v in params.items() if k not in ("api_key", "action", "start", "limit")}
        if not isinstance(action, str):
            return {"status": "STATUS_FAILURE", "error": "Invalid action."}
        if action in TABLE_ACTIONS:
            if action == "get_channels":
                data["created"] = True
            return table_api(self.state, TABLE_ACTIONS[action], start, limit, data, show, hide)
        handler = ACTIONS.get(action)
        if handler is None:
            return {"status": "STATUS_FAILURE", "error": "Invalid action."}
        answer = handler(self.state, data)
        if action in BARE_LIST_ACTIONS:
            return filter_rows(answer, show, hide)
        if (action.startswith("get_") and action not in _UNFILTERED) or action == "user_info":
            return filter_answer(answer, show, hide)
        return answer


async def run_sim(host: str, port: int, access_code: str, api_key: str) -> None:
    """Serve a seeded simulator until cancelled."""
    sim = XtreamMastersSim(access_code=access_code, api_key=api_key)
    runner = web.AppRunner(sim.app())
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("simulated Xtream-Masters panel on http://%s:%d/%s/admin/index.php", host, port, access_code)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
