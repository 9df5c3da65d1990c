"""A stateful simulated XUI.one Reseller API (XC_VM `src/includes/api/reseller/index.php`): `/{code}/` answered for
the reseller whose `users.api_key` the request carries (an active user of a reseller group).

It shares its tables with an admin-API simulator when given one (`XuiResellerSim(panel=XtreamMastersSim(...))`),
as one XUI.one panel serves both, so what a reseller sells through it is what the admin API then reads. The
sales themselves are gateway.sim.xr_sales and gateway.sim.xr_process.

Measured on XC_VM and reproduced while `php_bugs` is on (the default):
- every table list (get_lines, get_users, user_logs, ...) answers `{"status":"STATUS_SUCCESS","data":[]}`:
  table.php needs a web session's `reports`, which an API call never has;
- delete_, disable_, enable_ and convert_ of lines and devices check only that the record exists, not that the
  reseller owns it (`index.php:300-461`): any line of the panel can be disabled or deleted;
- get_user without hide_columns is a TypeError (`in_array('password', null)`): HTTP 200 with an empty body;
- adjust_credits to the caller itself makes credits (see gateway.sim.xr_process.transfer).

Imports nothing from the gateway: it must not share the gateway's mistakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.sim import seed as seed_data
from gateway.sim.network import Network
from gateway.sim.xm_params import merge_request, parse_pairs
from gateway.sim.xm_state import Answer, Params, XMState, filter_answer, php_int
from gateway.sim.xr_process import process_line, process_user, transfer
from gateway.sim.xr_sales import DEVICE_TABLES, Refused, Reseller
from gateway.sim.xtream_masters import XtreamMastersSim, php_json
from gateway.sim.xui_one import PhpFatal

_NGINX_404 = ("<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
              "</center>\r\n")
TABLES = ("get_lines", "get_mags", "get_enigmas", "get_users", "activity_logs", "live_connections", "user_logs")
_KIND = {"line": "line", "mag": "mag", "enigma": "e2"}
FAILURE: dict[str, Any] = {"status": "STATUS_FAILURE"}


class XuiResellerSim:
    """The simulated Reseller API. `received`: every request that reached index.php (keys left out)."""

    def __init__(self, *, panel: XtreamMastersSim | None = None, access_code: str = "reseller",
                 php_bugs: bool = True, disable_trial: bool = False) -> None:  # fmt: skip
        self.access_code = access_code
        self.state = panel.state if panel is not None else XMState(tables=seed_data.build(), php_bugs=php_bugs,
                                                                   flavour="xui_one")  # fmt: skip
        self.state.php_bugs = php_bugs
        self.disable_trial = disable_trial  # settings.disable_trial
        self.received: list[tuple[str, dict[str, Any]]] = []

    def key_of(self, user_id: int) -> str:
        """The reseller API key of a users row (the tests' way in)."""
        return str(self.state.table("users")[user_id]["api_key"])

    def app(self) -> web.Application:
        app = web.Application()
        for path in ("/{code}/", "/{code}/index.php"):
            app.router.add_route("GET", path, self._handle)
            app.router.add_route("POST", path, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["code"] != self.access_code:
            return web.Response(status=404, text=_NGINX_404, content_type="text/html", headers={"Server": "nginx"})
        post: Params = {}
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            post = parse_pairs((k, v) for k, v in form.items() if isinstance(v, str))
        params = merge_request(parse_pairs(request.query.items()), post)
        action = params.get("action")
        self.received.append((action if isinstance(action, str) else "", {k: v for k, v in params.items()
                                                                          if k != "api_key"}))  # fmt: skip
        try:
            answer = self.answer(params)
        except PhpFatal:  # XC_VM swallows PHP errors: HTTP 200, an empty body
            return web.Response(status=200, body=b"", content_type="text/html", headers={"Server": "nginx"})
        return web.Response(body=php_json(answer), content_type="application/json", headers={"Server": "nginx"})

    def _session(self, key: Any) -> Reseller | None:
        """createSession(): an active user of a reseller group holding this key."""
        if not isinstance(key, str) or not key:
            return None
        for uid, row in self.state.table("users").items():
            group = self.state.table("users_groups").get(php_int(row.get("member_group_id")), {})
            if row.get("api_key") == key and row.get("status") == "1" and group.get("is_reseller") == "1":
                return Reseller(self.state, uid)
        return None

    def answer(self, params: Params) -> Answer:
        """What index.php echoes for these parameters."""
        me = self._session(params.get("api_key"))
        if me is None:
            return {"status": "STATUS_FAILURE", "error": "Invalid API key."}
        action = params.get("action")
        show, hide = _columns(params.get("show_columns")), _columns(params.get("hide_columns"))
        data = {k: v for k, v in params.items() if k not in ("api_key", "action", "start", "limit")}
        if not isinstance(action, str) or (action not in ACTIONS and action not in TABLES):
            return {"status": "STATUS_FAILURE", "error": "Invalid action."}
        if action in TABLES:
            return self._table(me, action, params)
        if action == "get_user" and hide is None and self.state.php_bugs:
            raise PhpFatal("in_array(): Argument #2 ($haystack) must be of type array, null given")
        answer = ACTIONS[action](self, me, data)
        if action in ("packages", "user_info") or action.startswith("get_"):
            if action == "get_user":
                hide = [*(hide or []), "password"]
            return filter_answer(answer, show, hide)
        return answer

    def _table(self, me: Reseller, action: str, params: Params) -> Answer:
        if self.state.php_bugs:
            return {"status": "STATUS_SUCCESS", "data": []}  # table.php without `reports`
        start, limit = php_int(params.get("start")), php_int(params.get("limit")) or 50
        limit = 1000 if limit > 1000 or limit <= 0 else limit  # table.php's cap on `length`
        owners = {str(o) for o in (me.id, *me.reports)}
        if action == "get_users":
            rows = [{k: v for k, v in r.items() if k not in ("password", "api_key")}
                    for r in self.state.table("users").values() if r.get("owner_id") in owners]  # fmt: skip
        elif action == "get_lines":
            rows = [r for r in self.state.table("lines").values() if r.get("member_id") in owners
                    and r.get("is_mag") != "1" and r.get("is_e2") != "1"]  # fmt: skip
        else:
            rows = []
        return {"status": "STATUS_SUCCESS", "data": rows[start : start + limit], "recordsTotal": str(len(rows)),
                "recordsFiltered": min(len(rows), limit)}  # fmt: skip

    # --- actions -------------------------------------------------------------------------------------------------

    def _sale(self, me: Reseller, resource: str, data: Params) -> Answer:
        try:
            record, _ = process_line(me, _KIND[resource], data, self.disable_trial)
        except Refused as refused:
            if refused.status is None:
                return {"status": "STATUS_NO_PERMISSIONS"}
            return {"status": refused.status, "data": {k: v for k, v in data.items() if k != "id"}}
        if resource == "line":
            return {"status": "STATUS_SUCCESS", "data": dict(self.state.table("lines")[record])}
        return {"status": "STATUS_SUCCESS", "data": self._device(resource, record)}

    def _device(self, resource: str, record: int) -> dict[str, Any] | None:
        table, _ = DEVICE_TABLES[_KIND[resource]]
        row = self.state.table(table).get(record)
        if row is None:
            return None
        return {**row, "user": self.state.table("lines").get(php_int(row["user_id"])), "paired": None}

    def _find(self, resource: str, record: Any) -> tuple[Any, Any]:
        """(the line or device row, its line's id), or (None, None)."""
        if resource == "line":
            row = self.state.table("lines").get(php_int(record))
            return row, record
        device = self._device(resource, php_int(record))
        return device, (device or {}).get("user_id")

    def _existing(self, me: Reseller, resource: str, record: Any) -> Any:
        """The record to delete, disable, enable or convert: index.php checks only that it exists (any reseller's,
        or the admin's), unless php_bugs is off."""
        row, line_id = self._find(resource, record)
        return row if row is not None and (self.state.php_bugs or me.owns_line(line_id)) else None

    def _get(self, me: Reseller, resource: str, data: Params) -> Answer:
        row, line_id = self._find(resource, data.get("id"))
        return {"status": "STATUS_SUCCESS", "data": dict(row)} if row and me.owns_line(line_id) else dict(FAILURE)

    def _set(self, me: Reseller, resource: str, data: Params, enabled: str | None) -> Answer:
        row = self._existing(me, resource, data.get("id"))
        if row is None:
            return dict(FAILURE)
        line_id = php_int(row["id"] if resource == "line" else row["user_id"])
        if enabled is None:  # delete
            self.state.table("lines").pop(line_id, None)
            if resource != "line":
                self.state.table(DEVICE_TABLES[_KIND[resource]][0]).pop(php_int(data.get("id")), None)
        else:
            self.state.table("lines")[line_id]["enabled"] = enabled
        return {"status": "STATUS_SUCCESS"}

    def _convert(self, me: Reseller, resource: str, data: Params) -> Answer:
        row = self._existing(me, resource, data.get("id"))
        if row is None:
            return dict(FAILURE)
        self.state.table(DEVICE_TABLES[_KIND[resource]][0]).pop(php_int(data.get("id")), None)
        line = self.state.table("lines")[php_int(row["user_id"])]
        line["is_mag"] = line["is_e2"] = "0"
        return {"status": "STATUS_SUCCESS", "data": dict(line)}

    def _user(self, me: Reseller, data: Params) -> Answer:
        row = self.state.table("users").get(php_int(data.get("id")))
        return {"status": "STATUS_SUCCESS", "data": dict(row)} if row and me.owns_user(row["id"]) else dict(FAILURE)

    def _write_user(self, me: Reseller, data: Params) -> Answer:
        try:
            user_id = process_user(me, data)
        except Refused as refused:
            return {"status": refused.status or "STATUS_NO_PERMISSIONS", "data": data}
        row = dict(self.state.table("users")[user_id])
        row.pop("password", None)
        return {"status": "STATUS_SUCCESS", "data": row}


def _columns(value: Any) -> list[str] | None:
    return None if value is None else [str(v) for v in value] if isinstance(value, list) else str(value).split(",")


def _packages(sim: XuiResellerSim, me: Reseller, data: Params) -> Answer:
    """getPackages(): the group's packages, each at the reseller's own price (its override, else the official)."""
    return {"status": "STATUS_SUCCESS", "data": [{**p, "official_credits": me.price(p, False)} for p in me.packages()]}


def _user_info(sim: XuiResellerSim, me: Reseller, data: Params) -> Answer:
    """The caller's users row (no password; its api_key, yes) and its permissions, the tree included."""
    row = {k: v for k, v in me.row.items() if k != "password"}
    users = sim.state.table("users")
    permissions = {**me.group, "create_line": me.may("create_line"), "create_mag": me.may("create_mag"),
                   "create_enigma": me.may("create_enigma"),
                   "users": {str(u): {"username": users[u]["username"], "parent": users[u]["owner_id"]}
                             for u in me.reports},
                   "direct_reports": [u for u in me.reports if php_int(users[u]["owner_id"]) == me.id],
                   "all_reports": me.reports}  # fmt: skip
    return {"status": "STATUS_SUCCESS", "data": row, "permissions": permissions}


def _edit(resource: str) -> Callable[[XuiResellerSim, Reseller, Params], Answer]:
    """editLine / editMAG / editEnigma: a missing record is a failure; someone else's, processLine's `false`."""

    def edit(sim: XuiResellerSim, me: Reseller, data: Params) -> Answer:
        if sim._find(resource, data.get("id"))[0] is None:
            return dict(FAILURE)
        return sim._sale(me, resource, {**{k: v for k, v in data.items() if k != "id"}, "edit": data.get("id")})

    return edit


Action = Callable[[XuiResellerSim, Reseller, Params], Answer]
ACTIONS: dict[str, Action] = {
    "packages": _packages,
    "user_info": _user_info,
    "get_user": lambda sim, me, data: sim._user(me, data),
    "create_user": lambda sim, me, data: sim._write_user(me, {k: v for k, v in data.items() if k != "edit"}),
    "edit_user": lambda sim, me, data: sim._write_user(me, {**data, "edit": data.get("id")})
    if sim._user(me, data).get("data") else dict(FAILURE),
    "delete_user": lambda sim, me, data: _user_op(sim, me, data, None),
    "disable_user": lambda sim, me, data: _user_op(sim, me, data, "0"),
    "enable_user": lambda sim, me, data: _user_op(sim, me, data, "1"),
    "adjust_credits": lambda sim, me, data: {"status": "STATUS_SUCCESS"}
    if transfer(me, data.get("id"), data.get("credits"), data.get("note")) else dict(FAILURE),
}


def _record_actions(resource: str) -> dict[str, Action]:
    """get_, create_, edit_, delete_, disable_ and enable_ of a line, a MAG or an Enigma2 device."""

    def get(sim: XuiResellerSim, me: Reseller, data: Params) -> Answer:
        return sim._get(me, resource, data)

    def create(sim: XuiResellerSim, me: Reseller, data: Params) -> Answer:
        return sim._sale(me, resource, {k: v for k, v in data.items() if k != "edit"})

    def setter(enabled: str | None) -> Action:
        def act(sim: XuiResellerSim, me: Reseller, data: Params) -> Answer:
            return sim._set(me, resource, data, enabled)

        return act

    return {f"get_{resource}": get, f"create_{resource}": create, f"edit_{resource}": _edit(resource),
            f"delete_{resource}": setter(None), f"disable_{resource}": setter("0"), f"enable_{resource}": setter("1")}


for _resource in ("line", "mag", "enigma"):
    ACTIONS.update(_record_actions(_resource))
ACTIONS["convert_mag"] = lambda sim, me, data: sim._convert(me, "mag", data)
ACTIONS["convert_enigma"] = lambda sim, me, data: sim._convert(me, "enigma", data)


def _user_op(sim: XuiResellerSim, me: Reseller, data: Params, status: str | None) -> Answer:
    found = sim._user(me, data).get("data")
    if not found:
        return dict(FAILURE)
    users = sim.state.table("users")
    if status is None:
        users.pop(php_int(found["id"]), None)
    else:
        users[php_int(found["id"])]["status"] = status
    return {"status": "STATUS_SUCCESS"}



def panel_app(admin: XtreamMastersSim, reseller: XuiResellerSim, *, network_seed: str | None = "panelgate-sim"
              ) -> web.Application:  # fmt: skip
    """One XUI.one panel on one port: its Reseller API at `/{reseller code}/`, then its admin API and players,
    over the realistic network (gateway.sim.network) unless `network_seed` is None."""
    app = admin.app(reseller.app())
    return Network(network_seed).install(app) if network_seed is not None else app


async def run_sim(host: str, port: int, access_code: str, api_key: str, reseller_code: str) -> None:
    """Serve a seeded panel, both APIs, until cancelled."""
    admin = XtreamMastersSim(access_code=access_code, api_key=api_key)
    reseller = XuiResellerSim(panel=admin, access_code=reseller_code)
    runner = web.AppRunner(panel_app(admin, reseller))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
