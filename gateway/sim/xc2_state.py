"""Tables and PHP-ish helpers of the simulated Xtream Codes v2 panel (see gateway.sim.xtream_codes_v2).

The tables use the panel's own names: `users` are the lines, `reg_users` the registered users (admins and
resellers), `member_groups` their groups, `mag_devices` (MACs stored base64-encoded, as the panel stores them),
`streaming_servers`-style rows in `servers`, `streams`, `streams_servers` (which stream runs where), `bouquets`,
`access_output` / `user_output` (a line's output formats), `user_activity_now` (open connections) and
`reg_userlog`. Values are what MySQL hands PHP: strings, or None for NULL.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

from gateway.sim import seed

Row = dict[str, Any]
Tables = dict[str, dict[int, Row]]

# The `users` (lines) table of Xtream Codes v2. An INSERT/UPDATE naming any other column is an SQL error.
USER_COLUMNS: dict[str, Any] = {
    "id": None,
    "member_id": None,
    "username": "",
    "password": "",
    "exp_date": None,
    "admin_enabled": "1",
    "enabled": "1",
    "admin_notes": "",
    "reseller_notes": "",
    "bouquet": "",
    "max_connections": "1",
    "is_restreamer": "0",
    "allowed_ips": "",
    "allowed_ua": "",
    "is_trial": "0",
    "created_at": "0",
    "created_by": "0",
    "pair_id": None,
    "is_mag": "0",
    "is_e2": "0",
    "force_server_id": "0",
    "is_isplock": "0",
    "as_number": None,
    "isp_desc": "",
    "forced_country": "",
    "is_stalker": "0",
    "bypass_ua": "0",
    "play_token": "",
}
INT_COLUMNS = frozenset(
    {
        "id",
        "member_id",
        "exp_date",
        "admin_enabled",
        "enabled",
        "max_connections",
        "is_restreamer",
        "is_trial",
        "created_at",
        "created_by",
        "pair_id",
        "is_mag",
        "is_e2",
        "force_server_id",
        "is_isplock",
        "is_stalker",
        "bypass_ua",
    }
)
MAG_DEFAULTS: Row = {
    "mag_id": None,
    "user_id": None,
    "mac": "",
    "sn": None,
    "stb_type": None,
    "image_version": None,
    "hw_version": None,
    "ip": None,
    "ver": None,
    "lock_device": "0",
    "created": "0",
    "last_watchdog": None,
    "theme_type": "0",
    "stb_lang": "en",
    "watchdog_timeout": "0",
    "fav_channels": "[]",
    "token": None,
}
ACCESS_OUTPUT: dict[int, Row] = {
    1: {"access_output_id": "1", "output_name": "HLS", "output_key": "m3u8", "output_ext": "m3u8"},
    2: {"access_output_id": "2", "output_name": "MPEGTS", "output_key": "ts", "output_ext": "ts"},
    3: {"access_output_id": "3", "output_name": "RTMP", "output_key": "rtmp", "output_ext": ""},
}

# --- request parameters ----------------------------------------------------------------------------------------


def _split_name(name: str) -> list[str | None] | None:
    """`a[b][]` -> ["a", "b", None] with PHP's mangling of the base name; None when PHP drops the pair."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    base = name if bracket < 0 else name[:bracket]
    if not base:
        return None
    base = re.sub(r"[. ]", "_", base)
    if bracket < 0:
        return [base]
    path: list[str | None] = [base]
    rest, pos = name[bracket:], 0
    while pos < len(rest) and rest[pos] == "[":
        close = rest.find("]", pos)
        if close < 0:
            if len(path) == 1:  # `a[b` : the '[' becomes '_' and the rest is kept verbatim
                return [base + "_" + rest[1:]]
            break
        inner = rest[pos + 1 : close]
        path.append(inner if inner else None)
        pos = close + 1
    return path


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {k: _listify(v) for k, v in value.items()}
    return list(out.values()) if list(out) == [str(i) for i in range(len(out))] else out


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Decoded (name, value) pairs -> PHP's nested array ($_GET or $_POST); later duplicates win."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        path = _split_name(name)
        if path is None:
            continue
        node = root
        for i, key in enumerate(path):
            if key is None:
                ints = [int(k) for k in node if re.fullmatch(r"-?\d+", k)]
                key = str(max(ints) + 1 if ints else 0)
            if i == len(path) - 1:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
    return {k: _listify(v) for k, v in root.items()}


# --- PHP values ------------------------------------------------------------------------------------------------


def php_empty(value: Any) -> bool:
    return value is None or value is False or value in ("", "0", 0, [], {})


_NUMERIC = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def php_float(value: Any) -> float:
    """(float) cast: the leading numeric part of a string, 0.0 otherwise."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.match(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value)
        return float(match.group(0)) if match else 0.0
    return 0.0


def php_int(value: Any) -> int:
    """intval()."""
    if isinstance(value, str):
        match = re.match(r"\s*[+-]?\d+", value)
        return int(match.group(0)) if match else 0
    if isinstance(value, list | dict):
        return 1 if value else 0
    return int(php_float(value))


def php_loose_equal(a: Any, b: str) -> bool:
    """`$a == $b` for a request value against a configured string (PHP 8: numeric strings compare as numbers)."""
    if not isinstance(a, str):
        return False
    if _NUMERIC.fullmatch(a) and _NUMERIC.fullmatch(b):
        return float(a) == float(b)
    return a == b


def php_array(items: dict[int, Any] | dict[str, Any]) -> Any:
    """What json_encode makes of a PHP array: a JSON list when keys are 0..n-1 in order, an object otherwise."""
    keys = [str(k) for k in items]
    if keys == [str(i) for i in range(len(keys))]:
        return list(items.values())
    return {str(k): v for k, v in items.items()}


def php_array_unique(values: list[Any]) -> Any:
    """array_unique() keeps the first key of each value: gaps turn the JSON list into an object."""
    seen: set[str] = set()
    out: dict[int, Any] = {}
    for i, value in enumerate(values):
        marker = str(value)
        if marker not in seen:
            seen.add(marker)
            out[i] = value
    return php_array(out)


def php_json(value: Any) -> str:
    """json_encode(): compact, ASCII only, slashes escaped."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def json_array(text: Any) -> Any:
    """json_decode($text, true) when it yields an array (list or dict), else None (parseJson() is False)."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list | dict) else None


def to_column(column: str, value: Any) -> Any:
    """A value as stored in `users` and read back (non-strict MySQL: '12abc' in an INT column is 12)."""
    if value is None:
        return None
    if isinstance(value, list | dict):
        value = php_json(value)
    if column in INT_COLUMNS:
        return str(php_int(value))
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def mysql_float(value: float) -> str:
    """A FLOAT column as MySQL prints it: `500`, `480.5`."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def b64_mac(mac: str) -> str:
    return base64.b64encode(mac.encode()).decode()


# --- seed ------------------------------------------------------------------------------------------------------


def build(with_seed: bool = True) -> Tables:
    """Fresh tables in Xtream Codes v2 shape, from the shared deterministic seed."""
    src = seed.build()
    users = {lid: {c: row.get(c, d) for c, d in USER_COLUMNS.items()} for lid, row in src["lines"].items()}
    reg_users = {
        uid: {
            "id": row["id"],
            "username": row["username"],
            "password": row["password"],
            "email": row["email"],
            "ip": row["ip"],
            "date_registered": row["date_registered"],
            "verify_key": None,
            "last_login": row["last_login"],
            "member_group_id": row["member_group_id"],
            "verified": "1",
            "credits": row["credits"],
            "notes": row["notes"],
            "status": row["status"],
            "default_lang": "",
            "reseller_dns": row["reseller_dns"],
            "owner_id": row["owner_id"],
            "override_packages": row["override_packages"],
            "google_2fa_sec": "",
        }
        for uid, row in src["users"].items()
    }
    groups = {
        gid: {
            "group_id": row["group_id"],
            "group_name": row["group_name"],
            "group_color": row["group_color"],
            "is_banned": "0",
            "is_admin": row["is_admin"],
            "is_reseller": row["is_reseller"],
            "total_allowed_gen_trials": row["total_allowed_gen_trials"],
            "total_allowed_gen_in": row["total_allowed_gen_in"],
            "delete_users": row["delete_users"],
            "allowed_pages": row["allowed_pages"],
            "can_delete": row["can_delete"],
        }
        for gid, row in src["users_groups"].items()
    }
    mags = {mid: {**MAG_DEFAULTS, **row, "mac": b64_mac(row["mac"])} for mid, row in src["mag_devices"].items()}
    user_output: dict[int, Row] = {}
    for lid, row in src["lines"].items():
        for fmt in json.loads(row.get("allowed_outputs") or "[1,2,3]"):
            oid = len(user_output) + 1
            user_output[oid] = {"id": str(oid), "user_id": str(lid), "access_output_id": str(fmt)}
    activity = {
        int(row["activity_id"]): {k: row[k] for k in row if k not in ("hls_end", "fingerprinting")}
        for row in src["lines_live"].values()
    }
    tables: Tables = {
        "users": users,
        "reg_users": reg_users,
        "member_groups": groups,
        "mag_devices": mags,
        "servers": src["servers"],
        "streams": src["streams"],
        "streams_servers": src["streams_servers"],
        "bouquets": src["bouquets"],
        "access_output": {k: dict(v) for k, v in ACCESS_OUTPUT.items()},
        "user_output": user_output,
        "user_activity_now": activity,
        "reg_userlog": {},
    }
    if not with_seed:
        for name in ("users", "mag_devices", "streams", "streams_servers", "bouquets", "user_output"):
            tables[name] = {}
        tables["user_activity_now"] = {}
        tables["reg_users"] = {seed.ADMIN_ID: reg_users[seed.ADMIN_ID]}
        tables["servers"] = {1: src["servers"][1]}
    return tables
