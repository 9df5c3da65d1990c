"""Servers and their statistics, the panel's security lists, system operations and `mysql_query`.

The real panel gets most of these from each server's own system API; the simulator answers with fixed,
plausible figures. `mysql_query` never runs anything: it answers a canned result.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from gateway.sim.xm_state import (
    FAILURE,
    SUCCESS,
    Answer,
    Params,
    XMState,
    fail,
    ok,
    php_int,
    row_id,
    to_str,
)

Handler = Callable[[XMState, Params], Answer]
MAIN_SERVER_ID = 1  # SERVER_ID: the server the panel runs on, used when no server_id is given


def _server(state: XMState, params: Params) -> int | None:
    """The server a system call is for: `server_id`, else the main server; None when unknown."""
    raw = params.get("server_id")
    server = MAIN_SERVER_ID if raw in (None, "") else php_int(raw)
    return server if server in state.table("servers") else None


def get_servers(state: XMState, params: Params) -> Answer:
    return [dict(row) for row in state.table("servers").values()]


def get_server(state: XMState, params: Params) -> Answer:
    key = row_id(params)
    row = state.table("servers").get(key) if key is not None else None
    return ok(dict(row)) if row else dict(FAILURE)


def edit_server(state: XMState, params: Params) -> Answer:
    key = row_id(params)
    row = state.table("servers").get(key) if key is not None else None
    if row is None:
        return dict(FAILURE)
    data = {k: v for k, v in params.items() if k != "id"}
    data["edit"] = params.get("id")
    if "server_name" in data and not str(data["server_name"]).strip():
        return fail("INVALID_INPUT", data)
    for name, value in data.items():
        if name in row and name != "id":
            row[name] = to_str(value)
    return ok(dict(row))


def get_server_stats(state: XMState, params: Params) -> Answer:
    server = _server(state, params)
    if server is None:
        return dict(FAILURE)
    row = state.table("servers")[server]
    sid = str(server)
    live = [c for c in state.table("lines_live").values() if c["hls_end"] == "0"]
    mine = [c for c in live if c["server_id"] == sid]
    placements = [p for p in state.table("streams_servers").values() if p["server_id"] == sid]
    streams = state.table("streams")
    live_placements = [p for p in placements if streams.get(php_int(p["stream_id"]), {}).get("type") == "1"]
    data: dict[str, Any] = {
        "cpu": 11.4 + server, "cpu_cores": 16, "cpu_avg": 9.8 + server, "cpu_name": "Intel Xeon E-2288G",
        "cpu_load_average": 1.42, "mem": 37.5, "total_mem": 65536, "total_mem_free": 40960, "total_mem_used": 24576,
        "total_mem_used_percent": 37.5, "total_disk_space": 1919850496, "uptime": "41d 3h 12m",
        "kernel": "5.15.0-91-generic", "bytes_sent": 48211000 * server, "bytes_received": 9120000 * server,
        "network_speed": 1000, "interfaces": ["eth0"], "gpu_info": [], "iostat_info": [],
        "requests_per_second": row.get("requests_per_second"),
    }  # fmt: skip
    if mine:
        data["open_connections"] = str(len(mine))
    if live:
        data["total_connections"] = str(len(live))
        data["total_users"] = len({c["user_id"] for c in live})
    if mine:
        data["online_users"] = len({c["user_id"] for c in mine})
    data["total_streams"] = str(sum(1 for p in live_placements if p["stream_status"] != "2"))
    data["total_running_streams"] = str(sum(1 for p in live_placements if php_int(p["pid"]) > 0))
    data["offline_streams"] = str(sum(1 for p in live_placements if not php_int(p["pid"])))
    data["network_guaranteed_speed"] = row.get("network_guaranteed_speed")
    return ok(data)


def get_fpm_status(state: XMState, params: Params) -> Answer:
    if _server(state, params) is None:
        return dict(FAILURE)
    # The panel passes this one on undecoded: `data` is php-fpm's plain-text status page.
    text = (
        "pool:                 xc_vm\nprocess manager:      dynamic\nstart time:           01/Mar/2026:04:00:01 +0000\n"
        "start since:          1234567\naccepted conn:        8823411\nlisten queue:         0\n"
        "max listen queue:     3\nlisten queue len:     0\nidle processes:       14\nactive processes:     2\n"
        "total processes:      16\nmax active processes: 31\nmax children reached: 0\nslow requests:        0\n"
    )  # fmt: skip
    return ok(text)


def get_rtmp_stats(state: XMState, params: Params) -> Answer:
    if _server(state, params) is None:
        return dict(FAILURE)
    return ok({
        "nginx_version": "1.24.0", "nginx_rtmp_version": "1.1.4", "compiler": "gcc 11.4.0", "built": "Jan  5 2026",
        "pid": "2211", "uptime": "3557721", "naccepted": "42", "bw_in": "0", "bytes_in": "18332", "bw_out": "0",
        "bytes_out": "4410", "server": {"application": [{"name": "live", "live": {"nclients": "0", "stream": []}}]},
    })  # fmt: skip


def get_free_space(state: XMState, params: Params) -> Answer:
    if _server(state, params) is None:
        return dict(FAILURE)
    return ok([
        {"filesystem": "/dev/nvme0n1p2", "size": "1.8T", "used": "412G", "avail": "1.3T", "percentage": "24%",
         "mount": "/"},
        {"filesystem": "tmpfs", "size": "32G", "used": "1.1G", "avail": "31G", "percentage": "4%",
         "mount": "/home/xc_vm/content/streams"},
    ])  # fmt: skip


def get_certificate_info(state: XMState, params: Params) -> Answer:
    server = _server(state, params)
    if server is None:
        return dict(FAILURE)
    domain = state.table("servers")[server]["domain_name"]
    return ok({"serial": "04A1F3C2D9E8B7A6F5E4D3C2B1A09F8E7D6C", "expiration": 1790812800,
               "subject": f"CN={domain}", "path": "/home/xc_vm/bin/nginx/conf/server.crt"})  # fmt: skip


def _system_ok(state: XMState, params: Params) -> Answer:
    return dict(SUCCESS) if _server(state, params) is not None else dict(FAILURE)


def reload_nginx(state: XMState, params: Params) -> Answer:
    return dict(SUCCESS)  # the panel does not look at the server's answer


def reload_epg(state: XMState, params: Params) -> Answer:
    key = php_int(params.get("id"))
    for epg_id, row in state.table("epg").items():
        if not key or epg_id == key:
            row["last_updated"] = str(state.now())
    return dict(SUCCESS)


def kill_pid(state: XMState, params: Params) -> Answer:
    if _server(state, params) is None or php_int(params.get("pid")) <= 0:
        return dict(FAILURE)
    return dict(SUCCESS)


def kill_connection(state: XMState, params: Params) -> Answer:
    server = _server(state, params)
    activity = str(php_int(params.get("activity_id")))
    live = state.table("lines_live")
    for key, row in list(live.items()):
        if server is not None and row["activity_id"] == activity and row["server_id"] == str(server):
            del live[key]
            return dict(SUCCESS)
    return dict(FAILURE)


# --- security lists ---------------------------------------------------------------------------------------------


def _given(params: Params, *names: str) -> str:
    for name in names:
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def add_blocked_ip(state: XMState, params: Params) -> Answer:
    # APIWrapper passes $rData['id'] on as the data to block: the address travels in `id` (`ip` is read too).
    data = {k: v for k, v in params.items() if k != "edit"}
    address = _given(params, "id", "ip")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return fail("INVALID_IP", data)
    table = state.table("blocked_ips")
    if any(row["ip"] == address for row in table.values()):
        return fail("EXISTS_IP", data)
    key = state.new_id("blocked_ips")
    notes = params.get("notes")
    table[key] = {"id": str(key), "ip": address, "notes": notes if isinstance(notes, str) else "",
                  "date": str(state.now()), "attempts_blocked": "0"}  # fmt: skip
    return ok(key)


def add_blocked_ua(state: XMState, params: Params) -> Answer:
    data = {k: v for k, v in params.items() if k != "edit"}
    agent = _given(params, "user_agent")
    if not agent:
        return fail("INVALID_INPUT", data)
    key = state.new_id("blocked_uas")
    exact = "1" if "exact_match" in params and php_int(params["exact_match"]) else "0"
    state.table("blocked_uas")[key] = {"id": str(key), "user_agent": agent, "exact_match": exact,
                                       "attempts_blocked": "0"}  # fmt: skip
    return ok(key)


def add_blocked_isp(state: XMState, params: Params) -> Answer:
    data = {k: v for k, v in params.items() if k != "edit"}
    isp = _given(params, "id", "isp")
    if not isp:
        return fail("INVALID_INPUT", data)
    key = state.new_id("blocked_isps")
    state.table("blocked_isps")[key] = {"id": str(key), "isp": isp, "blocked": "1"}
    return ok(key)


def _delete_from(table: str) -> Handler:
    def handler(state: XMState, params: Params) -> Answer:
        key = row_id(params)
        if key is None or key not in state.table(table):
            return dict(FAILURE)
        del state.table(table)[key]
        return dict(SUCCESS)

    return handler


def flush_blocked_ips(state: XMState, params: Params) -> Answer:
    state.table("blocked_ips").clear()
    return dict(SUCCESS)


def get_blocked_isps(state: XMState, params: Params) -> Answer:
    # Wrapped, unlike the other lists: index.php runs this one through filterRow, not filterRows.
    return ok([dict(r) for r in state.table("blocked_isps").values()])


# --- mysql_query ------------------------------------------------------------------------------------------------

_SELECT = re.compile(r"^\s*(select|show|describe|desc|explain)\b", re.IGNORECASE)
_INSERT = re.compile(r"^\s*(insert|replace)\b", re.IGNORECASE)


def mysql_query(state: XMState, params: Params) -> Answer:
    """A canned answer shaped like APIWrapper::runQuery's. Nothing is executed, ever."""
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        return dict(FAILURE)
    if _SELECT.match(query):
        rows = [{"id": "1", "username": "admin", "member_group_id": "1"}]
        return {"status": "STATUS_SUCCESS", "data": rows, "insert_id": 0}
    if _INSERT.match(query):
        return {"status": "STATUS_SUCCESS", "data": [], "insert_id": 9001}
    return {"status": "STATUS_SUCCESS", "data": [], "insert_id": 0}


ACTIONS: dict[str, Handler] = {
    "get_servers": get_servers,
    "get_server": get_server,
    "edit_server": edit_server,
    "get_server_stats": get_server_stats,
    "get_fpm_status": get_fpm_status,
    "get_rtmp_stats": get_rtmp_stats,
    "get_free_space": get_free_space,
    "get_certificate_info": get_certificate_info,
    "reload_nginx": reload_nginx,
    "reload_cache": lambda state, params: dict(SUCCESS),
    "reload_epg": reload_epg,
    "clear_temp": _system_ok,
    "clear_streams": _system_ok,
    "kill_pid": kill_pid,
    "kill_connection": kill_connection,
    "get_blocked_ips": lambda state, params: [dict(r) for r in state.table("blocked_ips").values()],
    "add_blocked_ip": add_blocked_ip,
    "delete_blocked_ip": _delete_from("blocked_ips"),
    "flush_blocked_ips": flush_blocked_ips,
    "get_blocked_uas": lambda state, params: [dict(r) for r in state.table("blocked_uas").values()],
    "add_blocked_ua": add_blocked_ua,
    "delete_blocked_ua": _delete_from("blocked_uas"),
    "get_blocked_isps": get_blocked_isps,
    "add_blocked_isp": add_blocked_isp,
    "delete_blocked_isp": _delete_from("blocked_isps"),
    "mysql_query": mysql_query,
}
BARE_LIST_ACTIONS = frozenset({"get_servers", "get_blocked_ips", "get_blocked_uas"})
