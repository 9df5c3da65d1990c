"""A stateful simulated MidnightStreamer Pro server API: `POST /api/{group}/{action}[/{api_key}]`.

Published behaviour (the panel's "Server API" pages, mirrored at iptvtools.io "MidnightStreamer Docs & API":
server-api-resellers, server-api-lines, server-api-mags), reproduced as documented:
- the caller's IP must be in the panel's API allow-list, and `api_key` is a POST field or the 4th URL segment;
- parameters are PHP form arrays: `data[name]`, `data[username]`, ... (`http_build_query` in every example);
- `line/new` -> {"result":true,"created_id":N,"username":"..","password":".."} or
  {"result":false,"error":"Username exists."}; `line/update` is addressed by `username`;
- `mag/new` reads `data[mac_address]` and answers {"result":true} (no id) or "MAC Address already exists";
  `mag/update|delete|info` read a top-level `mac_address`; a bad one is "Invalid MAC Address";
- `resellers/new` needs `data[name]`; `resellers/update` and `resellers/add_credits` take `id` or `username`.

Not published, chosen here to match the documented `{"result":false,"error":"..."}` family (see _ERR):
- IP refused -> {"result":false,"error":"IP not allowed."}; bad or missing key -> "Invalid API key."
  (IP first, like the other panels); a non-empty POST `api_key` wins over the URL segment;
- an unknown /api/ path is HTTP 404 with CodeIgniter's HTML "404 Page Not Found" page (the 4th-segment key
  convention is CodeIgniter's `$this->uri->segment(4)`), answered before any auth check, as the router does;
- add_credits below zero -> {"result":false,"error":"Not enough credits."} and nothing changes;
- lists and info answer {"result":true,"data":...}; `line/update` / `resellers/update` with an unknown column
  or empty `data` -> "Database error." (the pages say DB errors go to the Panel Error Log);
- every answer is HTTP 200 `text/html` (PHP echo of json_encode, `\\/` escaped), row values MySQL strings.

Imports nothing from the gateway but gateway.sim.*; state, seed and PHP helpers are in gateway.sim.ms_state.
"""

from __future__ import annotations

import asyncio
import random
import re
import string
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.sim.ms_state import (
    LINE_COLUMNS,
    MAG_COLUMNS,
    RESELLER_COLUMNS,
    Params,
    Row,
    build_tables,
    parse_form,
    php_empty,
    php_int,
    php_json,
    to_column,
)

Answer = dict[str, Any]

_ERR = {
    "ip": "IP not allowed.",
    "key": "Invalid API key.",
    "exists": "Username exists.",
    "mac_exists": "MAC Address already exists",
    "mac_invalid": "Invalid MAC Address",
    "name": "Name is required.",
    "target": "Missing id or username.",
    "reseller": "Reseller not found.",
    "line_user": "Missing username.",
    "line": "Line not found.",
    "credits": "Not enough credits.",
    "amount": "Invalid credits.",
    "db": "Database error.",
}

_CI_404 = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>404 Page Not Found</title>\n'
    '</head>\n<body>\n\t<div id="container">\n\t\t<h1>404 Page Not Found</h1>\n'
    "\t\t<p>The page you requested was not found.</p>\t</div>\n</body>\n</html>"
)

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def _fail(key: str) -> Answer:
    return {"result": False, "error": _ERR[key]}


# --- the simulator -------------------------------------------------------------------------------------------


class MidnightStreamerSim:
    """`tables` (resellers, lines, mags) is the whole state; `received` every request that reached /api/."""

    def __init__(
        self,
        *,
        api_key: str = "sim-ms-key",
        allowed_ips: tuple[str, ...] = ("127.0.0.1", "::1"),
        seed: bool = True,
    ) -> None:
        self.api_key = api_key
        self.allowed_ips = allowed_ips
        self.tables: dict[str, dict[int, Row]] = build_tables(seed)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.clock: Callable[[], float] = time.time
        self._rng = random.Random(8000)
        self._next: dict[str, int] = {name: max(rows, default=0) for name, rows in self.tables.items()}

    def reset_received(self) -> None:
        self.received.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api", self._handle)
        app.router.add_route("*", "/api/{tail:.*}", self._handle)
        return app

    def _handlers(self) -> dict[str, Callable[[Params], Answer]]:
        return {
            "resellers/new": self._reseller_new,
            "resellers/update": self._reseller_update,
            "resellers/add_credits": self._reseller_add_credits,
            "resellers/list": self._reseller_list,
            "line/new": self._line_new,
            "line/update": self._line_update,
            "line/info": self._line_info,
            "line/delete": self._line_delete,
            "mag/new": self._mag_new,
            "mag/update": self._mag_update,
            "mag/delete": self._mag_delete,
            "mag/info": self._mag_info,
        }

    # --- plumbing ----------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        segments = [s for s in request.match_info.get("tail", "").split("/") if s]
        endpoint = "/".join(segments[:2])
        params: Params = {}
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            params = parse_form((k, v) for k, v in form.items() if isinstance(v, str))
        self.received.append((endpoint, {k: v for k, v in params.items() if k != "api_key"}))
        handler = self._handlers().get(endpoint) if len(segments) >= 2 else None
        if handler is None:
            return web.Response(status=404, text=_CI_404, content_type="text/html", charset="UTF-8")
        answer = self._authorise(request.remote or "", params, segments[2] if len(segments) > 2 else None)
        if answer is None:
            answer = handler(params)
        return web.Response(text=php_json(answer), content_type="text/html", charset="UTF-8")

    def _authorise(self, ip: str, params: Params, url_key: str | None) -> Answer | None:
        if ip not in self.allowed_ips:
            return _fail("ip")
        posted = params.get("api_key")
        key = posted if isinstance(posted, str) and posted else url_key
        if not key or key != self.api_key:
            return _fail("key")
        return None

    def now(self) -> int:
        return int(self.clock())

    def _new_id(self, table: str) -> int:
        """AUTO_INCREMENT: never reuses an id."""
        self._next[table] = max(self._next.get(table, 0), max(self.tables[table], default=0)) + 1
        return self._next[table]

    def _generate(self, length: int = 10) -> str:
        return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(length))

    @staticmethod
    def _data(params: Params) -> dict[str, Any]:
        data = params.get("data")
        return dict(data) if isinstance(data, dict) else {}

    @staticmethod
    def _columns(data: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any] | None:
        """The SET part of an UPDATE; None when the SQL would fail (empty, or a column the table lacks)."""
        if not data or any(name not in allowed for name in data):
            return None
        return {name: to_column(name, value) for name, value in data.items()}

    # --- resellers -----------------------------------------------------------------------------------------------

    def _find_reseller(self, params: Params) -> tuple[int, Row] | None:
        rid, username = params.get("id"), params.get("username")
        if not php_empty(rid) and isinstance(rid, str):
            row = self.tables["resellers"].get(php_int(rid))
            return None if row is None else (php_int(rid), row)
        for key, row in self.tables["resellers"].items():
            if isinstance(username, str) and row["username"] == username:
                return key, row
        return None

    def _username_taken(self, table: str, username: str, except_id: int | None = None) -> bool:
        return any(r["username"] == username and k != except_id for k, r in self.tables[table].items())

    def _reseller_new(self, params: Params) -> Answer:
        data = self._data(params)
        name = data.get("name")
        if not isinstance(name, str) or php_empty(name.strip()):
            return _fail("name")
        if self._username_taken("resellers", name):
            return _fail("exists")
        password = data.get("password")
        password = password if isinstance(password, str) and password else self._generate()
        rid = self._new_id("resellers")
        self.tables["resellers"][rid] = {
            "id": str(rid),
            "username": name,
            "password": password,
            "email": to_column("email", data.get("email", "")),
            "credits": to_column("credits", data.get("credits", 0)),
            "use_credits": to_column("use_credits", data.get("use_credits", 0)),
            "max_allowed_connections": to_column("max_allowed_connections", data.get("max_allowed_connections", 0)),
            "status": "1",
            "notes": "",
            "created_at": str(self.now()),
        }
        return {"result": True, "created_id": rid, "username": name, "password": password}

    def _reseller_update(self, params: Params) -> Answer:
        if php_empty(params.get("id")) and php_empty(params.get("username")):
            return _fail("target")
        found = self._find_reseller(params)
        if found is None:
            return _fail("reseller")
        rid, row = found
        data = self._data(params)
        if "name" in data and "username" not in data:
            data["username"] = data.pop("name")
        columns = self._columns(data, RESELLER_COLUMNS)
        if columns is None:
            return _fail("db")
        if "username" in columns and self._username_taken("resellers", str(columns["username"]), rid):
            return _fail("exists")
        row.update(columns)
        return {"result": True}

    def _reseller_add_credits(self, params: Params) -> Answer:
        if php_empty(params.get("id")) and php_empty(params.get("username")):
            return _fail("target")
        amount = params.get("credits")
        if not isinstance(amount, str) or not re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", amount):
            return _fail("amount")
        found = self._find_reseller(params)
        if found is None:
            return _fail("reseller")
        _, row = found
        balance = float(row["credits"]) + float(amount)
        if balance < 0:
            return _fail("credits")
        row["credits"] = str(int(balance)) if balance.is_integer() else f"{balance:.2f}"
        return {"result": True}

    def _reseller_list(self, params: Params) -> Answer:
        rows = [{k: v for k, v in row.items() if k != "password"} for row in self.tables["resellers"].values()]
        return {"result": True, "data": rows}

    # --- lines ---------------------------------------------------------------------------------------------------

    def _find_line(self, params: Params) -> tuple[int, Row] | None:
        username = params.get("username")
        for key, row in self.tables["lines"].items():
            if isinstance(username, str) and row["username"] == username:
                return key, row
        return None

    def _line_new(self, params: Params) -> Answer:
        data = self._data(params)
        username = data.get("username")
        username = username if isinstance(username, str) and username else self._generate()
        password = data.get("password")
        password = password if isinstance(password, str) and password else self._generate()
        if self._username_taken("lines", username):
            return _fail("exists")
        extra = {k: v for k, v in data.items() if k not in ("username", "password")}
        if any(name not in LINE_COLUMNS for name in extra):
            return _fail("db")
        lid = self._new_id("lines")
        row: Row = {
            "id": str(lid),
            "username": username,
            "password": password,
            "max_allowed_connections": "1",
            "restreamer": "0",
            "expire_date": None,
            "subscription_plan_id": "0",
            "reseller_id": "0",
            "enabled": "1",
            "banned": "0",
            "is_trial": "0",
            "notes": "",
            "created_at": str(self.now()),
        }
        row.update({name: to_column(name, value) for name, value in extra.items()})
        self.tables["lines"][lid] = row
        return {"result": True, "created_id": lid, "username": username, "password": password}

    def _line_update(self, params: Params) -> Answer:
        if php_empty(params.get("username")):
            return _fail("line_user")
        found = self._find_line(params)
        if found is None:
            return _fail("line")
        lid, row = found
        columns = self._columns(self._data(params), LINE_COLUMNS)
        if columns is None:
            return _fail("db")
        if "username" in columns and self._username_taken("lines", str(columns["username"]), lid):
            return _fail("exists")
        row.update(columns)
        return {"result": True}

    def _line_info(self, params: Params) -> Answer:
        if php_empty(params.get("username")):
            return _fail("line_user")
        found = self._find_line(params)
        return _fail("line") if found is None else {"result": True, "data": dict(found[1])}

    def _line_delete(self, params: Params) -> Answer:
        if php_empty(params.get("username")):
            return _fail("line_user")
        found = self._find_line(params)
        if found is None:
            return _fail("line")
        del self.tables["lines"][found[0]]
        return {"result": True}

    # --- MAG devices ---------------------------------------------------------------------------------------------

    def _find_mag(self, mac: Any) -> tuple[int, Row] | None:
        if not isinstance(mac, str) or not _MAC.match(mac):
            return None
        for key, row in self.tables["mags"].items():
            if row["mac_address"].upper() == mac.upper():
                return key, row
        return None

    def _mag_new(self, params: Params) -> Answer:
        data = self._data(params)
        mac = data.get("mac_address")
        if not isinstance(mac, str) or not _MAC.match(mac):
            return _fail("mac_invalid")
        if self._find_mag(mac) is not None:
            return _fail("mac_exists")
        extra = {k: v for k, v in data.items() if k != "mac_address"}
        if any(name not in MAG_COLUMNS for name in extra):
            return _fail("db")
        mid = self._new_id("mags")
        row: Row = {
            "id": str(mid),
            "mac_address": mac.upper(),
            "expire_date": None,
            "subscription_plan_id": "0",
            "reseller_id": "0",
            "enabled": "1",
            "notes": "",
            "created_at": str(self.now()),
        }
        row.update({name: to_column(name, value) for name, value in extra.items()})
        self.tables["mags"][mid] = row
        return {"result": True}

    def _mag_update(self, params: Params) -> Answer:
        found = self._find_mag(params.get("mac_address"))
        if found is None:
            return _fail("mac_invalid")
        mid, row = found
        columns = self._columns(self._data(params), MAG_COLUMNS)
        if columns is None:
            return _fail("db")
        if "mac_address" in columns:
            new_mac = str(columns["mac_address"])
            if not _MAC.match(new_mac):
                return _fail("mac_invalid")
            other = self._find_mag(new_mac)
            if other is not None and other[0] != mid:
                return _fail("mac_exists")
            columns["mac_address"] = new_mac.upper()
        row.update(columns)
        return {"result": True}

    def _mag_delete(self, params: Params) -> Answer:
        found = self._find_mag(params.get("mac_address"))
        if found is None:
            return _fail("mac_invalid")
        del self.tables["mags"][found[0]]
        return {"result": True}

    def _mag_info(self, params: Params) -> Answer:
        found = self._find_mag(params.get("mac_address"))
        return _fail("mac_invalid") if found is None else {"result": True, "data": dict(found[1])}


async def run_sim(host: str, port: int, api_key: str) -> None:
    """Serve one seeded simulated MidnightStreamer panel until cancelled."""
    runner = web.AppRunner(MidnightStreamerSim(api_key=api_key).app())
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
