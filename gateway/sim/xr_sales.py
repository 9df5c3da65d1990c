"""The Reseller API's sales, as XC_VM's ResellerAPI::processLine / processMAG / processEnigma make them
(`src/includes/reseller_api.php`, helpers in `src/includes/admin.php`), over the simulated panel's tables.

A sale names a package: its kind must match (`is_line`, `is_mag`, `is_e2`, else STATUS_INVALID_TYPE, a missing
package included), the caller's group must be among its `groups` (else STATUS_INVALID_PACKAGE), a trial needs
canGenerateTrials() (else STATUS_NO_TRIALS) and the price must be covered (else STATUS_INSUFFICIENT_CREDITS).
The package then sets the connections, restreaming, ISP lock, forced server and country, the outputs, the
bouquets (a subset chosen with allow_change_bouquets) and the expiry: now + duration, or for a renewal with a
compatible package, the current expiry + duration. The price is taken from the caller's credits after the write,
and users_logs records it. Without a package a create is STATUS_INVALID_PACKAGE and an edit a plain edit.

Imports nothing from the gateway: it must not share the gateway's mistakes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from gateway.sim.xm_state import Params, Row, XMState, php_int
from gateway.sim.xui_one import PhpFatal

# ResellerAPI::processData(): the only request keys each process reads
ALLOWED = {
    "line": ("edit", "trial", "bouquets_selected", "pair_id", "username", "password", "member_id", "package", "contact",
             "reseller_notes", "allowed_ips", "allowed_ua", "bypass_ua", "is_isplock", "isp_clear"),
    "mag": ("edit", "trial", "bouquets_selected", "pair_id", "mac", "member_id", "package", "parent_password", "sn",
            "stb_type", "image_version", "hw_version", "device_id", "device_id2", "ver", "reseller_notes",
            "allowed_ips", "is_isplock", "isp_clear"),
    "e2": ("edit", "trial", "bouquets_selected", "pair_id", "mac", "member_id", "package", "modem_mac", "local_ip",
           "enigma_version", "cpu", "lversion", "token", "reseller_notes", "allowed_ips", "is_isplock", "isp_clear"),
    "user": ("edit", "username", "password", "owner_id", "email", "reseller_dns", "notes", "member_group_id"),
}  # fmt: skip
_DEVICE_KEYS = {"mag": ("parent_password", "sn", "stb_type", "image_version", "hw_version", "device_id", "device_id2",
                        "ver"),
                "e2": ("modem_mac", "local_ip", "enigma_version", "cpu", "lversion", "token")}  # fmt: skip
DEVICE_TABLES = {"mag": ("mag_devices", "mag_id"), "e2": ("enigma2_devices", "device_id")}
_KIND_COLUMN = {"line": "is_line", "mag": "is_mag", "e2": "is_e2"}
_PERMISSION = {"line": "create_line", "mag": "create_mag", "e2": "create_enigma"}
_LINE_COLUMNS = ("member_id", "username", "password", "contact", "reseller_notes", "pair_id", "bypass_ua",
                 "is_isplock", "allowed_ips", "allowed_ua")  # the `lines` columns verifyPostTable finds in the request
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$")


class Refused(Exception):
    """A process function's `array('status' => STATUS_.., 'data' => $rData)`; status None: its `return false`."""

    def __init__(self, status: str | None) -> None:
        super().__init__(status or "false")
        self.status = status


def flag(value: Any) -> bool:
    return value not in (None, "", "0", 0, False)


def json_ids(text: Any) -> list[Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return []
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def strtotime_plus(amount: int, unit: Any, base: float, timezone: str) -> int:
    """strtotime('+N unit', base): clock units as seconds, months and years on the calendar (a day past the
    month's end overflowing into the next month)."""
    word = str(unit or "").strip().lower().rstrip("s")
    seconds = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400, "week": 604800}
    if word in seconds:
        return int(base) + amount * seconds[word]
    if word not in ("month", "year"):
        return int(base)  # strtotime() of an unknown unit is false; intval(false) would follow: the base is kept
    moment = dt.datetime.fromtimestamp(base, ZoneInfo(timezone))
    months = moment.month - 1 + amount * (12 if word == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    overflow = max(0, moment.day - calendar.monthrange(year, month)[1])
    return int((moment.replace(year=year, month=month, day=moment.day - overflow) + dt.timedelta(days=overflow))
               .timestamp())  # fmt: skip


class Reseller:
    """The caller: its users row, its group's permissions, and its tree of sub-resellers."""

    def __init__(self, state: XMState, user_id: int) -> None:
        self.state = state
        self.row = state.table("users")[user_id]
        self.id = user_id
        self.group = state.table("users_groups").get(php_int(self.row.get("member_group_id")), {})
        self.reports = self._tree(user_id)

    def _tree(self, owner: int) -> list[int]:
        """getSubUsers(): every user below `owner`, depth first."""
        out: list[int] = []
        for uid, row in self.state.table("users").items():
            if php_int(row.get("owner_id")) == owner and uid != owner:
                out += [uid, *self._tree(uid)]
        return out

    def may(self, permission: str) -> bool:
        if permission in _PERMISSION.values():  # getGroupPermissions(): some package of the group sells that kind
            column = {v: _KIND_COLUMN[k] for k, v in _PERMISSION.items()}[permission]
            return any(flag(p.get(column)) for p in self.packages())
        return flag(self.group.get(permission))

    def packages(self) -> list[Row]:
        gid = php_int(self.row.get("member_group_id"))
        rows = sorted(self.state.table("packages").items())
        return [p for _, p in rows if gid in map(php_int, json_ids(p["groups"]))]

    def owns_user(self, user_id: Any) -> bool:
        """hasPermissions('user', id): itself, or a user whose owner is itself or in its tree."""
        row = self.state.table("users").get(php_int(user_id))
        return row is not None and (php_int(user_id) == self.id or php_int(row.get("owner_id")) in [self.id,
                                                                                                   *self.reports])

    def owns_line(self, line_id: Any) -> bool:
        """hasPermissions('line', id): a line whose member_id is itself or in its tree."""
        row = self.state.table("lines").get(php_int(line_id))
        return row is not None and php_int(row.get("member_id")) in [self.id, *self.reports]

    def may_trial(self, disable_trial: bool) -> bool:
        """canGenerateTrials(): the window is `total` hours (or days): the quota's own number, as the code says."""
        if disable_trial or float(self.row.get("credits") or 0) < float(self.group.get("minimum_trial_credits") or 0):
            return False
        total = php_int(self.group.get("total_allowed_gen_trials"))
        if total <= 0:
            return False
        since = self.state.now() - total * (3600 if self.group.get("total_allowed_gen_in") == "hours" else 86400)
        made = [r for r in self.state.table("lines").values() if php_int(r.get("member_id")) == self.id
                and php_int(r.get("created_at")) >= since and r.get("is_trial") == "1"]  # fmt: skip
        return len(made) < total

    def price(self, package: Row, trial: bool) -> int:
        if trial:
            return php_int(package.get("trial_credits"))
        overrides = json_ids_map(self.row.get("override_packages"))
        own = overrides.get(str(package["id"]), {}) if isinstance(overrides, dict) else {}
        if isinstance(own, dict) and len(str(own.get("official_credits", ""))) > 0:
            return php_int(own["official_credits"])
        return php_int(package.get("official_credits"))


def json_ids_map(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}


def _compatible(state: XMState, old_id: int, new: Row) -> bool:
    old = state.table("packages").get(old_id)
    if old is None:
        return True
    same_json = all(json_ids(old.get(k)) == json_ids(new.get(k)) for k in ("bouquets", "output_formats"))
    keys = ("is_restreamer", "is_isplock", "max_connections", "force_server_id", "forced_country", "lock_device")
    return same_json and all(str(old.get(k) or 0) == str(new.get(k) or 0) for k in keys)


def _bouquets(me: Reseller, offered: list[Any], data: Params) -> str:
    """The package's bouquets, or the caller's choice among them (allow_change_bouquets); count() of a value
    that is not an array is a TypeError in PHP 8: an empty answer."""
    chosen = offered
    if me.may("allow_change_bouquets"):
        selected = data.get("bouquets_selected")
        if not isinstance(selected, dict | list):
            raise PhpFatal("count(): Argument #1 ($value) must be of type Countable|array")
        items = list(selected.values()) if isinstance(selected, dict) else selected
        picked = [b for b in items if str(b) in map(str, offered)]
        chosen = picked or offered
    table = me.state.table("bouquets")
    order = sorted(table, key=lambda b: php_int(table[b].get("bouquet_order")))  # getBouquetOrder()
    ranked = sorted(chosen, key=lambda b: order.index(php_int(b)) if php_int(b) in order else len(order))
    return "[" + ",".join(str(php_int(b)) for b in ranked) + "]"


def apply_package(me: Reseller, kind: str, data: Params, line: Row, device: Row | None, editing: bool,
                  disable_trial: bool) -> tuple[Row | None, int]:  # fmt: skip
    """The package's effect on `line` (and `device`), and its price; Refused where the panel refuses."""
    if not flag(data.get("package")):
        if not editing:
            raise Refused("STATUS_INVALID_PACKAGE")
        current = me.state.table("packages").get(php_int(line.get("package_id")))
        if current is not None:
            line["bouquet"] = _bouquets(me, json_ids(current.get("bouquets")), data)
        return None, 0
    package = me.state.table("packages").get(php_int(data["package"]))
    if package is None or not flag(package.get(_KIND_COLUMN[kind])):
        raise Refused("STATUS_INVALID_TYPE")
    compatible = True
    if php_int(line.get("package_id")) > 0 and flag(package.get("check_compatible")):
        compatible = _compatible(me.state, php_int(line["package_id"]), package)
    if php_int(me.row.get("member_group_id")) not in map(php_int, json_ids(package.get("groups"))):
        raise Refused("STATUS_INVALID_PACKAGE")
    trial = flag(data.get("trial"))
    if trial and not me.may_trial(disable_trial):
        raise Refused("STATUS_NO_TRIALS")
    cost = me.price(package, trial)
    if cost > php_int(me.row.get("credits")):
        raise Refused("STATUS_INSUFFICIENT_CREDITS")
    now, tz = me.state.now(), me.row.get("timezone") or me.state.timezone
    if trial:
        amount, unit = php_int(package["trial_duration"]), package["trial_duration_in"]
        line["exp_date"] = str(strtotime_plus(amount, unit, now, tz))
    else:
        base = now
        if editing and compatible and line.get("exp_date") is not None and now <= php_int(line["exp_date"]):
            base = php_int(line["exp_date"])
        line["exp_date"] = str(strtotime_plus(php_int(package["official_duration"]), package["official_duration_in"],
                                              base, tz))  # fmt: skip
    line["is_trial"] = "1" if trial else "0"
    line["bouquet"] = _bouquets(me, json_ids(package.get("bouquets")), data)
    for column in ("max_connections", "is_restreamer", "force_server_id", "forced_country", "is_isplock"):
        line[column] = package.get(column)
    line["package_id"] = str(package["id"])
    if device is not None:
        device["lock_device"] = package.get("lock_device")
    return package, cost
