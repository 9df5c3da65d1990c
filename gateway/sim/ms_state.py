"""State and PHP helpers of the simulated MidnightStreamer panel (gateway.sim.midnight): the private form
parser, intval()/empty()/json_encode() look-alikes, the tables' columns and the deterministic seed.

Private to the simulator on purpose: the gateway has its own parser, and a simulator sharing it could not
catch a disagreement between the two.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from gateway.sim import seed as seed_data

Row = dict[str, Any]
Params = dict[str, Any]

RESELLER_COLUMNS = frozenset({"username", "password", "email", "credits", "use_credits",
                              "max_allowed_connections", "status", "notes", "created_at"})  # fmt: skip
LINE_COLUMNS = frozenset({"username", "password", "max_allowed_connections", "restreamer", "expire_date",
                          "subscription_plan_id", "reseller_id", "enabled", "banned", "is_trial", "notes",
                          "created_at"})  # fmt: skip
MAG_COLUMNS = frozenset({"mac_address", "expire_date", "subscription_plan_id", "reseller_id", "enabled",
                         "notes", "created_at"})  # fmt: skip
_INT_COLUMNS = frozenset({"credits", "use_credits", "max_allowed_connections", "status", "restreamer",
                          "subscription_plan_id", "reseller_id", "enabled", "banned", "is_trial"})  # fmt: skip


# --- PHP helpers ------------------------------------------------------------------------------------------------------


def parse_form(pairs: Iterable[tuple[str, str]]) -> Params:
    """PHP's $_POST from decoded pairs: `a[b][]` nests, `.`/space in the base name become `_`, last wins."""
    root: Params = {}
    for name, value in pairs:
        bracket = name.find("[")
        base = name if bracket < 0 else name[:bracket]
        base = re.sub(r"[. ]", "_", base.lstrip(" "))
        if not base:
            continue
        keys: list[str | None] = []
        rest = "" if bracket < 0 else name[bracket:]
        while rest.startswith("["):
            close = rest.find("]")
            if close < 0:
                break
            keys.append(rest[1:close] or None)
            rest = rest[close + 1 :]
        node = root
        path: list[str | None] = [base, *keys]
        for i, key in enumerate(path):
            if key is None:
                ints = [int(k) for k in node if k.lstrip("-").isdigit()]
                key = str(max(ints) + 1 if ints else 0)
            if i == len(path) - 1:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
    return root


def php_empty(value: Any) -> bool:
    return value is None or value in ("", "0", 0, False) or (isinstance(value, (dict, list)) and not value)


def php_int(value: Any) -> int:
    """intval() of a scalar string: leading sign and digits, else 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    match = re.match(r"\s*([+-]?\d+)", str(value)) if isinstance(value, str) else None
    return int(match.group(1)) if match else 0


def php_json(value: Any) -> str:
    """json_encode() with default flags: ASCII only, '/' escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def to_column(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return None if value is None else php_json(value)  # PHP would store "Array"; keep it visible
    if name in _INT_COLUMNS:
        return str(php_int(value))
    if name == "expire_date":
        return None if php_empty(value) else str(php_int(value))
    return str(value)


# --- deterministic seed --------------------------------------------------------------------------------------


def build_tables(seed: bool = True) -> dict[str, dict[int, Row]]:
    """Resellers 88/89 (gateway.sim.seed's users), lines 1-60 (seed lines; admin-owned ones have reseller_id 0),
    and the seed's three MAG devices. Empty tables when seed is False."""
    tables: dict[str, dict[int, Row]] = {"resellers": {}, "lines": {}, "mags": {}}
    if not seed:
        return tables
    full = seed_data.build()
    for rid in seed_data.RESELLER_IDS:
        user = full["users"][rid]
        tables["resellers"][rid] = {
            "id": str(rid),
            "username": user["username"],
            "password": seed_data.password_for(f"ms-reseller-{rid}"),
            "email": user["email"],
            "credits": user["credits"],
            "use_credits": "1",
            "max_allowed_connections": "100" if rid == 88 else "50",
            "status": "1",
            "notes": user["notes"],
            "created_at": user["date_registered"],
        }
    for lid, line in full["lines"].items():
        if line["is_mag"] == "1" or line["is_e2"] == "1":
            continue
        owner = php_int(line["member_id"])
        tables["lines"][lid] = line_row(lid, line, 0 if owner == seed_data.ADMIN_ID else owner)
    for mid, mag in full["mag_devices"].items():
        line = full["lines"][php_int(mag["user_id"])]
        owner = php_int(line["member_id"])
        tables["mags"][mid] = {
            "id": str(mid),
            "mac_address": mag["mac"],
            "expire_date": line["exp_date"],
            "subscription_plan_id": line["package_id"],
            "reseller_id": str(0 if owner == seed_data.ADMIN_ID else owner),
            "enabled": "1",
            "notes": "",
            "created_at": mag["created"],
        }
    return tables


def line_row(lid: int, line: Row, reseller_id: int) -> Row:
    return {
        "id": str(lid),
        "username": line["username"],
        "password": line["password"],
        "max_allowed_connections": line["max_connections"],
        "restreamer": line["is_restreamer"],
        "expire_date": line["exp_date"],
        "subscription_plan_id": line["package_id"],
        "reseller_id": str(reseller_id),
        "enabled": line["enabled"],
        "banned": "1" if line["admin_enabled"] == "0" else "0",
        "is_trial": line["is_trial"],
        "notes": line["reseller_notes"],
        "created_at": line["created_at"],
    }
