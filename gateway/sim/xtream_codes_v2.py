"""A stateful simulated Xtream Codes v2 panel: the admin `api.php` (Xtream UI `wwwdir/admin/api.php`).

Faithful to the PHP, quirks included:
- every answer is HTTP 200 with a `text/html` body (the script never sets a JSON content type); an unknown action
  or sub answers an empty body; refusals are `{"result":false,"0":"IP FORBIDDEN"}` / `"KEY WRONG"`;
- `user_data[...]` columns go into SQL as given: a column `users` does not have is an SQL error, answered as
  `PARAMETER ERROR`, and so is an empty `user_data` on an edit (`UPDATE users SET  WHERE ...`);
- `user/create` answers EXISTS only when username AND password both match a line; a bad `bouquet` or
  `allowed_ips` is silently replaced by `[]`, a bad `exp_date` becomes intval() of it;
- `stb/create` never validates the MAC: only an empty one is `PARAMETER ERROR (mac)`; the MAC is upper-cased and
  stored base64-encoded, but `stb/info` looks it up as given (so a lower-case MAC is NOT EXISTS there);
- `stb/edit` without `mac` answers `PARAMETER ERROR (user/pass)`, and `{"result":false}` when no row changed;
- `reg_user/credits` answers `{"result":true,"error":"NOT ENOUGH CREDITS"}` and changes nothing;
- `stream|vod/start|stop` answer `{"result":true}` whatever happens on the servers.
"""

from __future__ import annotations

import asyncio
import base64
import random
import string
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.sim import xc2_state as st
from gateway.sim.xc2_state import Row, php_array, php_empty, php_int, php_json

Answer = Any  # what the PHP json_encodes, or None for an empty body
Params = dict[str, Any]


class XtreamCodesV2Sim:
    def __init__(
        self,
        *,
        api_pass: str | None = "sim-api-pass",
        allowed_ips: tuple[str, ...] = ("127.0.0.1", "::1"),
        seed: bool = True,
    ) -> None:
        self.api_pass = api_pass
        self.allowed_ips = allowed_ips
        self.tables: dict[str, dict[int, Row]] = st.build(seed)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.clock: Callable[[], float] = time.time
        self._rng = random.Random(25461)
        self._next: dict[str, int] = {}

    def reset_received(self) -> None:
        self.received.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", "/api.php", self._handle)
        app.router.add_route("POST", "/api.php", self._handle)
        return app

    # --- plumbing ----------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        params = st.parse_pairs(request.query.items())
        if request.method == "POST":
            form = await request.post()
            params.update(st.parse_pairs((k, v) for k, v in form.items() if isinstance(v, str)))
        action = params.get("action")
        sub = params.get("sub")
        action_s = action if isinstance(action, str) and not php_empty(action) else ""
        sub_s = sub if isinstance(sub, str) and not php_empty(sub) else ""
        seen = {k: v for k, v in params.items() if k != "api_pass"}
        self.received.append((f"{action_s}/{sub_s}" if action_s else "", seen))
        answer = self._answer(request.remote or "", params, action_s, sub_s)
        body = "" if answer is None else php_json(answer)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    def _answer(self, ip: str, params: Params, action: str, sub: str) -> Answer:
        if ip not in self.allowed_ips:
            return {"result": False, "0": "IP FORBIDDEN"}
        if not php_empty(self.api_pass) and not st.php_loose_equal(params.get("api_pass"), str(self.api_pass)):
            return {"result": False, "0": "KEY WRONG"}
        handler = self._handlers().get((action, sub))
        if handler is None:
            return None
        return handler(ip, params)

    def _handlers(self) -> dict[tuple[str, str], Callable[[str, Params], Answer]]:
        return {
            ("server", "list"): self._server_list,
            ("vod", "start"): lambda ip, p: self._start_stop(p, "start"),
            ("vod", "stop"): lambda ip, p: self._start_stop(p, "stop"),
            ("stream", "start"): lambda ip, p: self._start_stop(p, "start"),
            ("stream", "stop"): lambda ip, p: self._start_stop(p, "stop"),
            ("stream", "list"): self._stream_list,
            ("stream", "online"): lambda ip, p: self._stream_status(online=True),
            ("stream", "offline"): lambda ip, p: self._stream_status(online=False),
            ("stb", "info"): self._stb_info,
            ("stb", "edit"): self._stb_edit,
            ("stb", "create"): self._stb_create,
            ("user", "info"): self._user_info,
            ("user", "edit"): self._user_edit,
            ("user", "create"): self._user_create,
            ("reg_user", "list"): self._reg_user_list,
            ("reg_user", "credits"): self._reg_user_credits,
        }

    def now(self) -> int:
        return int(self.clock())

    def _new_id(self, table: str) -> int:
        """AUTO_INCREMENT: never reuses an id."""
        current = max(self._next.get(table, 0), max(self.tables[table], default=0))
        self._next[table] = current + 1
        return current + 1

    def _generate(self, length: int = 10) -> str:
        return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(length))

    def _log(self, ip: str, username: Any, password: Any, kind: str) -> None:
        log_id = self._new_id("reg_userlog")
        self.tables["reg_userlog"][log_id] = {
            "id": str(log_id),
            "owner": f"SYSTEM API[{ip}]",
            "username": None if username is None else str(username),
            "password": None if password is None else str(password),
            "date": str(self.now()),
            "type": kind,
        }

    @staticmethod
    def _user_data(params: Params) -> dict[str, Any] | None:
        """`user_data` as the PHP sees it; None for a scalar (the PHP would break on it: an SQL error at best)."""
        data = params.get("user_data")
        if php_empty(data):
            return {}
        if isinstance(data, list):
            return {str(i): v for i, v in enumerate(data)}
        return dict(data) if isinstance(data, dict) else None

    @staticmethod
    def _sql_columns(data: dict[str, Any]) -> dict[str, Any] | None:
        """GetColumnNames()/queryParse(): column names stripped to [A-Za-z0-9_]; None when the SQL would fail."""
        out: dict[str, Any] = {}
        for name, value in data.items():
            column = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch == "_"))
            if column not in st.USER_COLUMNS:
                return None
            out[column] = st.to_column(column, value)
        return out

    # --- servers and streams ------------------------------------------------------------------------------------

    def _server_list(self, ip: str, params: Params) -> Answer:
        out = []
        for sid, server in self.tables["servers"].items():
            online = server.get("status") in ("1", "3") or server.get("is_main") == "1"
            out.append(
                {
                    "id": sid,
                    "server_name": server.get("server_name"),
                    "online": online,
                    "info": st.json_array(server.get("server_hardware")),
                }
            )
        return out

    @staticmethod
    def _int_list(value: Any) -> list[int] | None:
        """array_map('intval', $value): None (a PHP warning) when it is not an array."""
        if isinstance(value, list):
            return [php_int(v) for v in value]
        if isinstance(value, dict):
            return [php_int(v) for v in value.values()]
        return None

    def _start_stop(self, params: Params, function: str) -> Answer:
        stream_ids = self._int_list(params.get("stream_ids")) or []
        wanted = params.get("servers")
        servers = list(self.tables["servers"]) if php_empty(wanted) else self._int_list(wanted) or []
        now = self.now()
        for placement in self.tables["streams_servers"].values():
            if php_int(placement["stream_id"]) not in stream_ids or php_int(placement["server_id"]) not in servers:
                continue
            if php_int(placement["server_id"]) not in self.tables["servers"]:
                continue  # the panel posts to a server it does not know: the request goes nowhere
            if function == "start":
                placement.update(
                    pid=str(20000 + php_int(placement["server_stream_id"])),
                    stream_status="0",
                    stream_started=str(now),
                    to_analyze="0",
                )
            else:
                placement.update(pid=None, stream_status="0", stream_started=None, bitrate=None, monitor_pid=None)
        return {"result": True}

    def _stream_list(self, ip: str, params: Params) -> Answer:
        return [
            {"id": row["id"], "stream_name": row["stream_display_name"]}
            for row in self.tables["streams"].values()
            if row.get("type") != "2"
        ]

    def _stream_status(self, *, online: bool) -> Answer:
        out: dict[int, dict[int, bool]] = {}
        for placement in self.tables["streams_servers"].values():
            stream = self.tables["streams"].get(php_int(placement["stream_id"]))
            if stream is None or stream.get("type") == "2":
                continue
            if online:
                hit = php_int(placement.get("pid")) > 0 and placement.get("stream_status") == "0"
            else:
                hit = placement.get("stream_status") == "1"
            if hit:
                out.setdefault(php_int(placement["stream_id"]), {})[php_int(placement["server_id"])] = True
        return php_array({sid: list(servers) for sid, servers in out.items()})

    # --- lines ---------------------------------------------------------------------------------------------------

    def _user_info_row(self, row: Row) -> Row:
        """ipTV_streaming::GetUserInfo($id, $u, $p, get_ChannelIDS=true, getBouquetInfo=false, get_cons=true)."""
        info: Row = dict(row)
        bouquet = st.json_array(row.get("bouquet"))
        if isinstance(bouquet, dict):
            bouquet = list(bouquet.values())
        for column in ("allowed_ips", "allowed_ua"):
            items = st.json_array(row.get(column))
            if items is None:
                info[column] = None
            else:
                values = items.values() if isinstance(items, dict) else items
                kept = {i: str(v).strip() for i, v in enumerate(values) if not php_empty(str(v).strip())}
                info[column] = php_array(kept)
        user_id = php_int(row["id"])
        info["active_cons"] = str(self._connections(user_id))
        info["pair_line_info"] = []
        if row.get("pair_id") is not None:
            pair = self.tables["users"].get(php_int(row["pair_id"]))
            info["pair_line_info"] = {
                "active_cons": str(self._connections(php_int(row["pair_id"]))),
                "max_connections": False if pair is None else pair["max_connections"],
            }
        formats: dict[str, Row] = {}
        for link in self.tables["user_output"].values():
            if php_int(link["user_id"]) == user_id:
                output = self.tables["access_output"].get(php_int(link["access_output_id"]))
                if output is not None:
                    formats[output["output_key"]] = {**output, **link}
        info["output_formats"] = formats if formats else []
        info["con_isp_name"] = None
        info["con_isp_type"] = None
        info["isp_is_server"] = 0
        info["isp_violate"] = 0
        streams: list[Any] = []
        series: list[Any] = []
        if isinstance(bouquet, list):
            bouquet = sorted(bouquet, key=st.php_float)  # sort() unless new_sorting_bouquet: the answer shows it
            for bid in bouquet:
                row_b = self.tables["bouquets"].get(php_int(bid)) if st.php_float(bid).is_integer() else None
                if row_b is None:
                    continue
                for column in ("bouquet_channels", "bouquet_movies", "bouquet_radios"):
                    streams.extend(st.json_array(row_b.get(column)) or [])
                series.extend(st.json_array(row_b.get("bouquet_series")) or [])
        info["bouquet"] = bouquet
        info["channel_ids"] = st.php_array_unique(streams)
        info["series_ids"] = st.php_array_unique(series)
        return info

    def _connections(self, user_id: int) -> int:
        return sum(1 for c in self.tables["user_activity_now"].values() if php_int(c.get("user_id")) == user_id)

    def _find_lines(self, username: Any, password: Any) -> list[int]:
        return [
            lid
            for lid, row in self.tables["users"].items()
            if row.get("username") == str(username) and row.get("password") == str(password)
        ]

    def _user_info(self, ip: str, params: Params) -> Answer:
        username, password = params.get("username"), params.get("password")
        if php_empty(username) or php_empty(password):
            return {"result": False, "error": "PARAMETER ERROR (user/pass)"}
        found = self._find_lines(username, password)
        if not found:
            return {"result": False, "error": "NOT EXISTS"}
        return {"result": True, "user_info": self._user_info_row(self.tables["users"][found[0]])}

    def _user_edit(self, ip: str, params: Params) -> Answer:
        username, password = params.get("username"), params.get("password")
        if php_empty(username) or php_empty(password):
            return {"result": False, "error": "PARAMETER ERROR (user/pass)"}
        data = self._user_data(params)
        found = self._find_lines(username, password)
        if not found:
            return {"result": False, "error": "NOT EXISTS"}
        columns = None if not data else self._sql_columns(data)
        if columns is None or not self._update_lines(found, columns):
            return {"result": False, "error": "PARAMETER ERROR"}
        self._log(ip, username, password, "[API->Edit Line]")
        return {"result": True}

    def _update_lines(self, ids: list[int], columns: Row) -> bool:
        """UPDATE users SET ... WHERE id IN ids; False on an SQL error (a duplicate primary key)."""
        users = self.tables["users"]
        if "id" in columns:
            new_id = php_int(columns["id"])
            if len(ids) > 1 or (new_id != ids[0] and new_id in users):
                return False
        for lid in ids:
            users[lid].update(columns)
            if "id" in columns and php_int(columns["id"]) != lid:
                users[php_int(columns["id"])] = users.pop(lid)
        return True

    def _user_create(self, ip: str, params: Params) -> Answer:
        data = self._user_data(params)
        if data is None:
            return {"result": False, "error": "PARAMETER ERROR"}
        output_formats = [1, 2, 3]
        data.setdefault("username", self._generate())
        data.setdefault("password", self._generate())
        if "allowed_ips" not in data or st.json_array(data["allowed_ips"]) is None:
            data["allowed_ips"] = "[]"
        if "allowed_ua" not in data or st.json_array(data["allowed_ua"]) is None:
            data["allowed_ua"] = "[]"
        data["created_at"] = self.now()
        data["created_by"] = 0
        data["exp_date"] = None if php_empty(data.get("exp_date")) else php_int(data["exp_date"])
        bouquet = None if php_empty(data.get("bouquet")) else st.json_array(data["bouquet"])
        data["bouquet"] = [] if bouquet is None else [php_int(b) for b in (php_array_values(bouquet))]
        formats = data.pop("output_formats", None)
        if not php_empty(formats) and st.json_array(formats) is not None:
            # the PHP checks the JSON but then array_map()s the string itself: a warning and no formats at all
            output_formats = []
        if self._find_lines(data["username"], data["password"]):
            return {"result": False, "error": "EXISTS"}
        created = self._insert_line(data)
        if created is None:
            return {"result": False, "error": "PARAMETER ERROR"}
        for fmt in output_formats:
            self._link_output(created, fmt)
        self._log(ip, data["username"], data["password"], "[API->New Line]")
        return {
            "result": True,
            "created_id": created,
            "username": data["username"],
            "password": data["password"],
        }

    def _insert_line(self, data: dict[str, Any]) -> int | None:
        columns = self._sql_columns(data)
        if columns is None:
            return None
        users = self.tables["users"]
        if columns.get("id") is not None and php_int(columns["id"]) > 0:
            line_id = php_int(columns["id"])
            if line_id in users:
                return None  # duplicate primary key
            self._next["users"] = max(self._next.get("users", 0), line_id)
        else:
            line_id = self._new_id("users")
        row = {**st.USER_COLUMNS, **columns, "id": str(line_id)}
        users[line_id] = row
        return line_id

    def _link_output(self, user_id: int, access_output_id: int) -> None:
        oid = self._new_id("user_output")
        self.tables["user_output"][oid] = {
            "id": str(oid),
            "user_id": str(user_id),
            "access_output_id": str(access_output_id),
        }

    # --- MAG devices ---------------------------------------------------------------------------------------------

    def _mag_by_b64(self, encoded: str) -> Row | None:
        for mag in self.tables["mag_devices"].values():
            if str(mag.get("mac", "")).lower() == encoded.lower():  # utf8_general_ci
                return mag
        return None

    def _stb_info(self, ip: str, params: Params) -> Answer:
        mac = params.get("mac")
        if php_empty(mac):
            return {"result": False, "error": "PARAMETER ERROR (mac)"}
        mag = self._mag_by_b64(st.b64_mac(str(mac))) if isinstance(mac, str) else None
        if mag is None:
            return {"result": False, "error": "NOT EXISTS"}
        device = dict(mag)
        device["mac"] = base64.b64decode(mag["mac"]).decode(errors="replace")
        line = self.tables["users"].get(php_int(mag.get("user_id")))
        user_info: Any = [] if line is None else self._user_info_row(line)
        pair_info: Any = []
        if line is not None and line.get("pair_id") is not None:
            pair = self.tables["users"].get(php_int(line["pair_id"]))
            pair_info = [] if pair is None else self._user_info_row(pair)
        return {"result": True, "mag_device": device, "user_info": user_info, "pair_line_info": pair_info}

    def _stb_edit(self, ip: str, params: Params) -> Answer:
        mac = params.get("mac")
        if php_empty(mac):
            return {"result": False, "error": "PARAMETER ERROR (user/pass)"}
        data = self._user_data(params)
        if data is None:
            return {"result": False, "error": "PARAMETER ERROR"}
        data["is_mag"] = 1
        columns = self._sql_columns(data)
        if columns is None:
            return {"result": False, "error": "PARAMETER ERROR"}
        mag = self._mag_by_b64(st.b64_mac(str(mac).upper())) if isinstance(mac, str) else None
        line_id = None if mag is None else php_int(mag.get("user_id"))
        line = None if line_id is None else self.tables["users"].get(line_id)
        if line is None or line_id is None or all(line.get(k) == v for k, v in columns.items()):
            return {"result": False}  # no row changed: affected_rows() == 0
        if not self._update_lines([line_id], columns):
            return {"result": False, "error": "PARAMETER ERROR"}
        self._log(ip, mac, "-", "[API->Edit MAG Device]")
        return {"result": True}

    def _stb_create(self, ip: str, params: Params) -> Answer:
        data = self._user_data(params)
        if data is None or php_empty(data.get("mac")):
            return {"result": False, "error": "PARAMETER ERROR (mac)"}
        encoded = st.b64_mac(str(data.pop("mac")).upper())
        data["username"] = self._generate()
        data["password"] = self._generate()
        if "allowed_ips" not in data or st.json_array(data["allowed_ips"]) is None:
            data["allowed_ips"] = "[]"
        data["allowed_ua"] = "[]"
        data["created_at"] = self.now()
        data["created_by"] = 0
        data["exp_date"] = None if php_empty(data.get("exp_date")) else php_int(data["exp_date"])
        bouquet = None if php_empty(data.get("bouquet")) else st.json_array(data["bouquet"])
        data["bouquet"] = [] if bouquet is None else [php_int(b) for b in php_array_values(bouquet)]
        data["is_mag"] = 1
        data.pop("output_formats", None)
        if self._mag_by_b64(encoded) is not None:
            return {"result": False, "error": "EXISTS"}
        line_id = self._insert_line(data)
        if line_id is None:
            return {"result": False, "error": "PARAMETER ERROR"}
        for fmt in (1, 2, 3):
            self._link_output(line_id, fmt)
        mag_id = self._new_id("mag_devices")
        self.tables["mag_devices"][mag_id] = {
            **st.MAG_DEFAULTS,
            "mag_id": str(mag_id),
            "user_id": str(line_id),
            "mac": encoded,
            "created": str(self.now()),
        }
        self._log(ip, base64.b64decode(encoded).decode(errors="replace"), "-", "[API->New MAG Device]")
        return {"result": True}

    # --- registered users ----------------------------------------------------------------------------------------

    def _reg_user_list(self, ip: str, params: Params) -> Answer:
        out = []
        for user in self.tables["reg_users"].values():
            group = self.tables["member_groups"].get(php_int(user.get("member_group_id")))
            if group is None:
                continue  # INNER JOIN
            out.append(
                {
                    "id": user["id"],
                    "username": user["username"],
                    "credits": user["credits"],
                    "group_id": group["group_id"],
                    "group_name": group["group_name"],
                    "last_login": user["last_login"],
                    "date_registered": user["date_registered"],
                    "email": user["email"],
                    "ip": user["ip"],
                    "status": user["status"],
                }
            )
        return out

    def _reg_user_credits(self, ip: str, params: Params) -> Answer:
        amount, user_id, username = params.get("amount"), params.get("id"), params.get("username")
        if php_empty(amount) or (php_empty(user_id) and php_empty(username)):
            return {"result": False, "error": "PARAMETER ERROR (amount & id||username)"}
        delta = round(st.php_float(amount), 2)  # sprintf('%.2f', ...)
        if not php_empty(user_id):
            user = self.tables["reg_users"].get(php_int(user_id))
        else:
            user = next((u for u in self.tables["reg_users"].values() if u["username"] == str(username)), None)
        if user is None:
            return {"result": False, "error": "NOT EXISTS"}
        credits = delta + st.php_float(user["credits"])
        if credits < 0:
            return {"result": True, "error": "NOT ENOUGH CREDITS"}
        user["credits"] = st.mysql_float(credits)
        self._log(ip, None, None, f"[API->ADD Credits {delta:.2f}]")
        return {"result": True}


def php_array_values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


async def run_sim(host: str, port: int, api_pass: str | None) -> None:
    """Serve one simulated panel until cancelled."""
    runner = web.AppRunner(XtreamCodesV2Sim(api_pass=api_pass).app())
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
