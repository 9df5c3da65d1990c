"""Rows as api.php answers them, whichever panel they came from: `user/info`'s line, `reg_user/list`'s
resellers, `server/list`'s servers."""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.dialects.common import json_array, unix_text

REG_USER_COLUMNS = ("id", "username", "credits", "group_id", "group_name", "last_login", "date_registered", "email",
                    "ip", "status")  # fmt: skip

# The access_output rows every Xtream Codes panel (and its descendants) is installed with: id -> name, key, ext.
ACCESS_OUTPUTS: dict[str, tuple[str, str, str]] = {"1": ("HLS", "m3u8", "m3u8"), "2": ("MPEGTS", "ts", "ts"),
                                                   "3": ("RTMP", "rtmp", "")}  # fmt: skip


def reg_user_row(row: Any) -> Any:
    """A reseller row as api.php's reg_user/list answers it, whichever panel it came from: exactly its columns,
    the group as `group_id`, dates as UNIX time (XUI.one's table answers `2026-12-02 14:08:22`)."""
    if not isinstance(row, dict):
        return row
    out = {column: row.get(column) for column in REG_USER_COLUMNS}
    if out["group_id"] is None:
        out["group_id"] = row.get("member_group_id")
    for column in ("last_login", "date_registered"):
        out[column] = unix_text(out[column])
    return out


def server_row(row: Any) -> Any:
    """A server as api.php's server/list answers it: `{id, server_name, online, info}`, whichever panel it came
    from (an Xtream-Masters / XUI.one get_servers row has `status` and the `server_hardware` JSON instead, and
    the server's addresses, which api.php never answers)."""
    if not isinstance(row, dict) or "online" in row:
        return row
    status = str(row.get("status", ""))  # XUI.one: 1 online
    hardware = row.get("server_hardware")
    info: Any = None
    if isinstance(hardware, str) and hardware.strip():
        try:
            info = jsonio.loads(hardware.encode())
        except (ValueError, RecursionError):
            info = None
    elif isinstance(hardware, dict | list):
        info = hardware
    return {"id": row.get("id"), "server_name": row.get("server_name"), "online": status == "1", "info": info}


def user_info(row: Any) -> Any:
    """A line row as api.php's user/info answers it: bouquets, allowed IPs and user agents as arrays (another
    panel stores them as JSON text), bouquets in id order, the live connections as `active_cons`."""
    if not isinstance(row, dict):
        return row
    out = dict(row)
    for column in ("bouquet", "allowed_ips", "allowed_ua"):
        if isinstance(out.get(column), str):
            out[column] = json_array(out[column])
    if isinstance(out.get("bouquet"), list):
        out["bouquet"] = sorted(out["bouquet"], key=lambda v: (not str(v).isdigit(), int(v) if str(v).isdigit()
                                                                   else 0, str(v)))  # fmt: skip
    if "active_cons" not in out and "active_connections" in out:
        out["active_cons"] = str(out["active_connections"])
    if "output_formats" not in out and "allowed_outputs" in out:
        out["output_formats"] = _output_formats(json_array(out["allowed_outputs"]), out.get("id"))
    if "pair_line_info" not in out and out.get("pair_id") in (None, "", "0", 0):
        out["pair_line_info"] = []  # api.php's answer for a line that is not paired
    return out


def _output_formats(ids: list[Any], line_id: Any) -> Any:
    """user/info's `output_formats` (output key -> its access_output row) from a line's allowed output ids; an
    empty PHP array (a JSON list) when there are none."""
    formats: dict[str, dict[str, Any]] = {}
    for output_id in ids:
        known = ACCESS_OUTPUTS.get(str(output_id))
        if known is not None:
            name, key, ext = known
            formats[key] = {"access_output_id": str(output_id), "output_name": name, "output_key": key,
                            "output_ext": ext, "user_id": None if line_id is None else str(line_id)}  # fmt: skip
    return formats or []
