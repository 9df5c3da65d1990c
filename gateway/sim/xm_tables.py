"""The panel's list endpoint (`admin/table.php`), which APIWrapper::TableAPI calls for every paged list action.

What the real table.php does in API mode, and this module copies:
- `recordsTotal` is the count AFTER the search and filters (a string: it comes straight from `SELECT COUNT(*)`),
  and `recordsFiltered` is min(recordsTotal, limit) (an int when the limit wins): neither is "all rows".
- lines, MAGs and Enigma2 devices are narrowed to one owner by `reseller` (an exact `member_id` match); a
  `member_id` parameter is not read by table.php and filters nothing.
- `filter`: 1 active, 2 disabled, 3 banned, 4 expired, 5 trial (lines also 6 restreamer, 8 expiring in 14 days).
- `search[value]` is a case-insensitive LIKE '%..%' over a few columns per table.
- the plain lines list leaves out the lines that belong to MAG / Enigma2 devices.
- `show_columns` / `hide_columns` apply to each row; rows come back in `id` order unless `order[0][dir]=desc`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from gateway.sim.xm_state import Params, Row, XMState, filter_row, php_int

_LINE_COLUMNS = ("id", "member_id", "last_activity", "last_activity_array", "username", "password", "exp_date",
                 "admin_enabled", "is_restreamer", "enabled", "admin_notes", "reseller_notes", "max_connections",
                 "is_trial", "contact")  # fmt: skip
_DEVICE_LINE_COLUMNS = ("exp_date", "admin_enabled", "enabled", "admin_notes", "reseller_notes", "max_connections",
                        "is_trial")  # fmt: skip


def _search_value(data: Params) -> str:
    search = data.get("search")
    if isinstance(search, dict):
        value = search.get("value")
        return value if isinstance(value, str) else ""
    return ""


def _like(needle: str, *haystack: Any) -> bool:
    lowered = needle.casefold()
    return any(isinstance(h, str) and lowered in h.casefold() for h in haystack)


def _from_unixtime(value: Any, timezone: str = "UTC") -> str | None:
    """MySQL's FROM_UNIXTIME(), in the panel's (session) time zone."""
    if value is None:
        return None
    return dt.datetime.fromtimestamp(php_int(value), tz=ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")


def _line_status_ok(line: Row | None, code: int, now: int) -> bool:
    if line is None:
        return False
    exp = line.get("exp_date")
    expired = exp is not None and php_int(exp) <= now
    checks: dict[int, Callable[[], bool]] = {
        1: lambda: line["admin_enabled"] == "1" and line["enabled"] == "1" and not expired,
        2: lambda: line["enabled"] == "0",
        3: lambda: line["admin_enabled"] == "0",
        4: lambda: expired,
        5: lambda: line["is_trial"] == "1",
        6: lambda: line.get("is_restreamer") == "1",
        7: lambda: line.get("is_stalker") == "1",
        8: lambda: exp is not None and now < php_int(exp) <= now + 86400 * 14,
    }
    check = checks.get(code)
    return True if check is None else check()


def _line_info(state: XMState, line: Row | None) -> Row:
    """The extra columns table.php adds to each line: owner name and what it is watching (or watched last)."""
    info: Row = {"owner_name": None, "stream_display_name": None, "stream_id": None, "last_active": None}
    if line is None:
        return info
    owner = state.table("users").get(php_int(line.get("member_id")))
    info["owner_name"] = owner["username"] if owner else None
    live = [c for c in state.table("lines_live").values() if c["user_id"] == line["id"] and c["hls_end"] == "0"]
    if live:
        latest = max(live, key=lambda c: php_int(c["date_start"]))
        stream = state.table("streams").get(php_int(latest["stream_id"]))
        info.update(
            stream_id=latest["stream_id"],
            last_active=latest["date_start"],
            stream_display_name=stream["stream_display_name"] if stream else None,
        )
    return info


def _active_connections(state: XMState, line_id: Any) -> str:
    live = state.table("lines_live").values()
    return str(sum(1 for c in live if c["user_id"] == line_id and c["hls_end"] == "0"))


def _account_rows(state: XMState, kind: str, data: Params) -> list[Row]:
    """lines / mags / enigmas with table.php's WHERE applied."""
    lines = state.table("lines")
    search = _search_value(data)
    flt = php_int(data.get("filter")) if str(data.get("filter", "")) != "" else 0
    reseller = data.get("reseller")
    reseller_s = reseller.strip() if isinstance(reseller, str) else ""
    now = state.now()
    out: list[Row] = []
    if kind == "lines":
        for line in lines.values():
            if line["is_mag"] != "0" or line["is_e2"] != "0":
                continue
            cols = (line["username"], line["password"], _from_unixtime(line["exp_date"]), line["max_connections"],
                    line["reseller_notes"], line["admin_notes"])  # fmt: skip
            if search and not _like(search, *cols):
                continue
            if flt and not _line_status_ok(line, flt, now):
                continue
            if reseller_s and line["member_id"] != reseller_s:
                continue
            row = {c: line.get(c) for c in _LINE_COLUMNS}
            row["active_connections"] = _active_connections(state, line["id"])
            out.append({**row, **_line_info(state, line)})
        return out
    devices = state.table("mag_devices" if kind == "mags" else "enigma2_devices")
    for device in devices.values():
        owner = lines.get(php_int(device["user_id"]))
        extra = device["stb_type"] if kind == "mags" else device["public_ip"]
        if search:
            dcols = (owner or {}).get("username"), device["mac"], extra, _from_unixtime((owner or {}).get("exp_date"))
            notes = ((owner or {}).get("reseller_notes"), (owner or {}).get("admin_notes"))
            if not _like(search, *dcols, *notes):
                continue
        if flt and 1 <= flt <= 5 and not _line_status_ok(owner, flt, now):
            continue
        if reseller_s and (owner is None or owner["member_id"] != reseller_s):
            continue
        drow: Row = {
            "id": owner["id"] if owner else None,
            "username": owner["username"] if owner else None,
            "member_id": owner["member_id"] if owner else None,
            "last_activity": owner["last_activity"] if owner else None,
            "last_activity_array": owner["last_activity_array"] if owner else None,
            "mac": device["mac"],
        }
        if kind == "mags":
            drow.update(stb_type=device["stb_type"], mag_id=device["mag_id"])
        else:
            drow.update(public_ip=device["public_ip"], device_id=device["device_id"])
        drow.update({c: owner.get(c) if owner else None for c in _DEVICE_LINE_COLUMNS})
        drow["active_connections"] = _active_connections(state, drow["id"])
        if owner is not None:
            drow.update(_line_info(state, owner))
        out.append(drow)
    return out


def _users_rows(state: XMState, data: Params) -> list[Row]:
    search = _search_value(data)
    flt = php_int(data.get("filter"))
    reseller = data.get("reseller")
    groups = state.table("users_groups")
    users = state.table("users")
    out: list[Row] = []
    for user in users.values():
        if search and not _like(search, user["username"], user["email"], user["ip"], user["notes"]):
            continue
        # table.php reg_users: -1 active, -2 disabled, any other value the member group
        raw_filter = str(data.get("filter", "")).strip()
        if raw_filter and (
            (flt == -1 and user["status"] != "1") or (flt == -2 and user["status"] != "0")
            or (flt not in (-1, -2) and user["member_group_id"] != str(flt))
        ):
            continue
        if isinstance(reseller, str) and reseller.strip() and user["owner_id"] != reseller.strip():
            continue
        row = {k: v for k, v in user.items() if k not in ("password", "api_key")}
        for column in ("date_registered", "last_login"):  # FROM_UNIXTIME(...) in table.php's SELECT
            row[column] = _from_unixtime(row.get(column), state.timezone)
        group = groups.get(php_int(user["member_group_id"]))
        owner = users.get(php_int(user["owner_id"]))
        row["group_name"] = group["group_name"] if group else None
        row["owner_username"] = owner["username"] if owner else None
        row["user_count"] = str(sum(1 for x in state.table("lines").values() if x["member_id"] == user["id"]))
        out.append(row)
    return out


def _in_category(row: Row, data: Params) -> bool:
    category = data.get("category")
    if not isinstance(category, str) or not category.strip():
        return True
    return php_int(category) in [php_int(c) for c in str(row.get("category_id", "")).strip("[]").split(",") if c]


def _stream_rows(state: XMState, types: tuple[str, ...], data: Params) -> list[Row]:
    search = _search_value(data)
    server = data.get("server")
    placements = state.table("streams_servers").values()
    episodes = state.table("streams_episodes")
    series = state.table("streams_series")
    out: list[Row] = []
    for stream in state.table("streams").values():
        if stream["type"] not in types:
            continue
        if search and not _like(search, stream["stream_display_name"], stream["notes"], stream["id"]):
            continue
        if not _in_category(stream, data):
            continue
        row = dict(stream)
        if "5" in types:
            link = episodes.get(php_int(stream["id"]))
            show = series.get(php_int(link["series_id"])) if link else None
            if (
                isinstance(data.get("series"), str)
                and data["series"]
                and (not link or link["series_id"] != data["series"])
            ):
                continue
            row.update(series_id=link["series_id"] if link else None, season_num=link["season_num"] if link else None,
                       series_name=show["title"] if show else None)  # fmt: skip
        mine = [p for p in placements if p["stream_id"] == stream["id"]]
        if isinstance(server, str) and server.strip():
            mine = [p for p in mine if p["server_id"] == server.strip()]
            if not mine:
                continue
        first = mine[0] if mine else None
        for col in ("server_id", "pid", "stream_status", "stream_started", "bitrate", "on_demand"):
            row[col] = first[col] if first else None
        row["clients"] = str(sum(1 for c in state.table("lines_live").values() if c["stream_id"] == stream["id"]))
        out.append(row)
    return out


def _series_rows(state: XMState, data: Params) -> list[Row]:
    search = _search_value(data)
    out: list[Row] = []
    for show in state.table("streams_series").values():
        if (search and not _like(search, show["title"], show["genre"])) or not _in_category(show, data):
            continue
        count = sum(1 for e in state.table("streams_episodes").values() if e["series_id"] == show["id"])
        out.append({**show, "episode_count": str(count)})
    return out


_LOG_TABLES = {
    "line_activity": "line_activity",
    "live_connections": "lines_live",
    "credits_log": "credits_log",
    "client_logs": "client_logs",
    "reg_user_logs": "reg_user_logs",
    "stream_errors": "stream_errors",
    "watch_output": "watch_output",
    "mysql_syslog": "mysql_syslog",
    "login_logs": "login_logs",
    "restream_logs": "restream_logs",
    "mag_events": "mag_events",
}
_LOG_EXACT = ("user_id", "stream_id", "server_id")


def _log_rows(state: XMState, table: str, data: Params) -> list[Row]:
    search = _search_value(data)
    out: list[Row] = []
    for row in state.table(table).values():
        if search and not _like(search, *row.values()):
            continue
        if any(isinstance(data.get(k), str) and data[k] and k in row and row[k] != data[k] for k in _LOG_EXACT):
            continue
        out.append(dict(row))
    return out


def table_api(state: XMState, table_id: str, start: int, limit: int, data: Params, show: list[str] | None,
              hide: list[str] | None) -> dict[str, Any]:  # fmt: skip
    """The JSON table.php answers for `id=table_id` in API mode (`length` past 1000, or none, is 1000)."""
    if limit > 1000 or limit <= 0:
        limit = 1000
    if table_id in ("lines", "mags", "enigmas"):
        rows = _account_rows(state, table_id, data)
    elif table_id == "reg_users":
        rows = _users_rows(state, data)
    elif table_id == "streams":
        rows = _stream_rows(state, ("3",) if data.get("created") else ("1",), data)
    elif table_id == "radios":
        rows = _stream_rows(state, ("4",), data)
    elif table_id == "movies":
        rows = _stream_rows(state, ("2",), data)
    elif table_id == "episodes":
        rows = _stream_rows(state, ("5",), data)
    elif table_id == "series":
        rows = _series_rows(state, data)
    else:
        rows = _log_rows(state, _LOG_TABLES[table_id], data)
    order = data.get("order")
    direction = ""
    if isinstance(order, list) and order and isinstance(order[0], dict):
        direction = str(order[0].get("dir", "")).lower()
    rows.sort(key=lambda r: php_int(next(iter(r.values()), 0)), reverse=direction == "desc")
    total = len(rows)
    answer: dict[str, Any] = {"status": "STATUS_SUCCESS", "data": []}
    answer["recordsTotal"] = str(total)
    answer["recordsFiltered"] = str(total) if total < limit else limit
    if total > 0:
        answer["data"] = [filter_row(r, show, hide) for r in rows[max(start, 0) : max(start, 0) + max(limit, 0)]]
    return answer


TABLE_ACTIONS: dict[str, str] = {
    "get_lines": "lines",
    "get_mags": "mags",
    "get_enigmas": "enigmas",
    "get_users": "reg_users",
    "get_streams": "streams",
    "get_channels": "streams",
    "get_stations": "radios",
    "get_movies": "movies",
    "get_series_list": "series",
    "get_episodes": "episodes",
    "activity_logs": "line_activity",
    "live_connections": "live_connections",
    "credit_logs": "credits_log",
    "client_logs": "client_logs",
    "user_logs": "reg_user_logs",
    "stream_errors": "stream_errors",
    "watch_output": "watch_output",
    "system_logs": "mysql_syslog",
    "login_logs": "login_logs",
    "restream_logs": "restream_logs",
    "mag_events": "mag_events",
}
