"""ResellerAPI::processLine / processMAG / processEnigma / processUser over the simulated tables: the writes of
the Reseller API (the package's part is gateway.sim.xr_sales).

Imports nothing from the gateway: it must not share the gateway's mistakes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gateway.sim.xm_state import Params, Row, php_int, random_alnum, to_str
from gateway.sim.xr_sales import (
    _DEVICE_KEYS,
    _LINE_COLUMNS,
    _MAC,
    _PERMISSION,
    ALLOWED,
    DEVICE_TABLES,
    Refused,
    Reseller,  # fmt: skip
    apply_package,
    json_ids,
)


def allowed(kind: str, data: Params) -> Params:
    """processData(): the keys this process reads, the others dropped without a word."""
    return {k: v for k, v in data.items() if k in ALLOWED[kind]}


def _restrictions(me: Reseller, line: Row, data: Params, kind: str) -> None:
    if not me.may("allow_restrictions"):
        return
    for column in ("allowed_ips", "allowed_ua") if kind == "line" else ("allowed_ips",):
        value = data.get(column)
        items = [] if value is None else list(value.values()) if isinstance(value, dict) else \
            value if isinstance(value, list) else [value]  # fmt: skip
        line[column] = json.dumps(items, separators=(",", ":"))
    if kind == "line":
        line["bypass_ua"] = "1" if "bypass_ua" in data else "0"
    line["is_isplock"] = "1" if "is_isplock" in data else "0"
    if not data.get("isp_clear"):
        line["isp_desc"], line["as_number"] = "", None


def _credentials(me: Reseller, line: Row, data: Params, original: Row | None) -> None:
    """processLine's username/password: kept or made up when empty, refused when shorter than the group's
    minimum (unless unchanged on an edit), taken from the stored row without allow_change_*."""
    for what, status in (("username", "STATUS_INVALID_USERNAME"), ("password", "STATUS_INVALID_PASSWORD")):
        given = data.get(what)
        if not me.may(f"allow_change_{what}"):
            given = original[what] if original is not None else ""
        given = given if isinstance(given, str) else ""
        minimum = php_int(me.group.get(f"minimum_{what}_length"))
        if given == "":
            given = random_alnum(max(10, minimum)) if original is None else original[what]
        elif len(given) < minimum and not (original is not None and given == original[what]):
            raise Refused(status)
        line[what] = given


def process_line(me: Reseller, kind: str, data: Params, disable_trial: bool) -> tuple[int, int]:
    """A sale, renewal or edit of a line (kind "line") or a device ("mag", "e2"): (the id getLine / getMAG /
    getEnigma answers, the cost charged). Raises Refused as the panel answers."""
    data = allowed(kind, data)
    if not me.may(_PERMISSION[kind]):
        raise Refused(None)
    state, editing = me.state, "edit" in data
    device: Row | None = None
    if kind != "line":
        table, pk = DEVICE_TABLES[kind]
        found = state.table(table).get(php_int(data.get("edit"))) if editing else None
        if editing and (found is None or not me.owns_line(found["user_id"])):
            raise Refused(None)
        device = dict(found) if found else {k: to_str(v) for k, v in data.items() if k in _DEVICE_KEYS[kind]}
    original: Row | None = None
    if editing and kind == "line":
        original = state.table("lines").get(php_int(data.get("edit")))
        if original is None or not me.owns_line(original["id"]):
            raise Refused(None)
    elif editing and device is not None:
        original = state.table("lines").get(php_int(device["user_id"]))
    line: Row = dict(original) if original else {k: to_str(v) for k, v in data.items() if k in _LINE_COLUMNS
                                                 and not isinstance(v, dict | list)}  # fmt: skip
    if original is None:
        line.update(created_at=str(state.now()), exp_date=None, enabled="1", admin_enabled="1", max_connections="1",
                    is_restreamer="0", is_trial="0", is_stalker="0", is_isplock="0", bypass_ua="0", bouquet="[]",
                    allowed_outputs="[]", allowed_ips="[]", allowed_ua="[]", package_id=None, pair_id=None,
                    force_server_id="0", forced_country=None, admin_notes=None, isp_desc="", as_number=None)
        if kind != "line":
            line["username"], line["password"] = random_alnum(32), random_alnum(32)
    line["is_mag"], line["is_e2"] = ("1" if kind == "mag" else "0"), ("1" if kind == "e2" else "0")
    package, cost = apply_package(me, kind, data, line, device, editing, disable_trial)
    if package is not None:
        line["allowed_outputs"] = "[" + ",".join(str(php_int(o)) for o in json_ids(package["output_formats"])) + "]"
    if device is not None:
        for key in _DEVICE_KEYS[kind]:
            device[key] = to_str(data.get(key))
    line["reseller_notes"] = to_str(data.get("reseller_notes"))
    if kind == "line":
        line["contact"] = to_str(data.get("contact"))
    owner = data.get("member_id")
    line["member_id"] = str(php_int(owner)) if me.owns_user(owner) else str(me.id)
    if kind == "line":
        _credentials(me, line, data, original)
        if any(r["username"] == line["username"] and r["id"] != line.get("id") for r in state.table("lines").values()):
            raise Refused("STATUS_EXISTS_USERNAME")
    _restrictions(me, line, data, kind)
    if device is not None:
        _check_mac(me, kind, data, device)
        line["pair_id"] = str(php_int(data["pair_id"])) if "pair_id" in data and me.owns_line(data["pair_id"]) \
            else None  # fmt: skip
    line_id = php_int(line.get("id")) or state.new_id("lines")
    state.table("lines")[line_id] = {**line, "id": str(line_id)}
    answer_id = line_id
    if device is not None:
        table, pk = DEVICE_TABLES[kind]
        device_id = php_int(device.get(pk)) or state.new_id(table)
        state.table(table)[device_id] = {**device, pk: str(device_id), "user_id": str(line_id)}
        answer_id = device_id
    if package is not None:
        me.row["credits"] = str(php_int(me.row.get("credits")) - cost)
    _log(me, kind, "new" if original is None else "extend" if package is not None else "edit", line_id,
         package, cost)  # fmt: skip
    return answer_id, cost


def _check_mac(me: Reseller, kind: str, data: Params, device: Row) -> None:
    mac = data.get("mac")
    if not isinstance(mac, str) or not _MAC.match(mac):
        raise Refused("STATUS_INVALID_MAC")
    table, pk = DEVICE_TABLES[kind]
    if any(d.get("mac") == mac and d.get(pk) != device.get(pk) for d in me.state.table(table).values()):
        raise Refused("STATUS_EXISTS_MAC")
    device["mac"] = mac


def _log(me: Reseller, kind: str, action: str, record: int, package: Row | None, cost: int) -> None:
    """users_logs: what a reseller did, with the cost and the balance after it."""
    logs = me.state.table("users_logs")
    log_id = me.state.new_id("users_logs")
    logs[log_id] = {"id": str(log_id), "owner": str(me.id), "type": {"e2": "enigma"}.get(kind, kind),
                    "action": action, "log_id": str(record), "package_id": package["id"] if package else None,
                    "cost": str(cost), "credits_after": me.row.get("credits"), "date": str(me.state.now())}


def process_user(me: Reseller, data: Params) -> int:
    """processUser: a sub-reseller, created at the group's price or edited, within the caller's tree."""
    data = allowed("user", data)
    if not me.may("create_sub_resellers"):
        raise Refused(None)
    state, editing = me.state, "edit" in data
    users = state.table("users")
    existing = users.get(php_int(data.get("edit"))) if editing else None
    if editing and (existing is None or not me.owns_user(existing["id"]) or php_int(existing["id"]) == me.id):
        raise Refused(None)
    row: Row = dict(existing) if existing else {k: to_str(v) for k, v in data.items() if k in
                                                ("username", "email", "notes", "reseller_dns")}  # fmt: skip
    for what in ("username", "password"):
        if not me.may(f"allow_change_{what}"):
            data[what] = (existing or {}).get(what, "") if what == "username" and existing else \
                ("" if existing else random_alnum(max(10, php_int(me.group.get(f"minimum_{what}_length")))))
        given = data.get(what)
        value = given if isinstance(given, str) else ""
        if len(value) < php_int(me.group.get(f"minimum_{what}_length")) and not (editing and value == ""):
            raise Refused(f"STATUS_INVALID_{what.upper()}")
    name = data.get("username") or row.get("username")
    if any(u["username"] == name and u["id"] != row.get("id") for u in users.values()):
        raise Refused("STATUS_EXISTS_USERNAME")
    row["username"] = name
    if data.get("password"):
        row["password"] = "$6$rounds=20000$xc_vm$" + hashlib.sha256(str(data["password"]).encode()).hexdigest()[:43]
    owner = php_int(data.get("owner_id"))
    row["owner_id"] = str(owner if owner in me.reports and owner != php_int(row.get("id")) else me.id)
    cost = 0 if editing else php_int(me.group.get("create_sub_resellers_price"))
    if php_int(me.row.get("credits")) - cost < 0:
        raise Refused("STATUS_INSUFFICIENT_CREDITS")
    groups = [php_int(g) for g in json_ids(me.group.get("subresellers"))]
    if not groups:
        raise Refused("STATUS_INVALID_SUBRESELLER")
    wanted = php_int(data.get("member_group_id"))
    row["member_group_id"] = str(wanted if wanted in groups else groups[0])
    for column in ("email", "reseller_dns", "notes"):
        row[column] = to_str(data.get(column))
    if existing is None:
        row.update(credits="0", status="1", date_registered=str(state.now()), api_key="", override_packages=None,
                   timezone="", ip=None, last_login=None)  # fmt: skip
    user_id = php_int(row.get("id")) or state.new_id("users")
    users[user_id] = {**row, "id": str(user_id)}
    if cost:
        me.row["credits"] = str(php_int(me.row["credits"]) - cost)
    return user_id


def transfer(me: Reseller, target: Any, amount: Any, note: Any) -> bool:
    """adjustCredits: `amount` moves from the caller to a user of its tree (back, when negative); neither
    balance may go below zero. hasPermissions('user') counts the caller itself as its own: a transfer to itself
    writes its balance twice, the second time plus the amount, making credits out of nothing (measured on XC_VM:
    380 -> 390). Reproduced while php_bugs is on."""
    users = me.state.table("users")
    if not me.owns_user(target) or not _numeric(amount) or (php_int(target) == me.id and not me.state.php_bugs):
        return False
    row = users[php_int(target)]
    mine = php_int(me.row.get("credits")) - php_int(amount)
    theirs = php_int(row.get("credits")) + php_int(amount)
    if mine < 0 or theirs < 0:
        return False
    me.row["credits"], row["credits"] = str(mine), str(theirs)
    log_id = me.state.new_id("credits_log")
    me.state.table("credits_log")[log_id] = {
        "id": str(log_id), "target_id": str(php_int(target)), "admin_id": str(me.id), "amount": str(amount),
        "date": str(me.state.now()), "reason": note if isinstance(note, str) and note else "Reseller API Adjustment"}
    return True


def _numeric(value: Any) -> bool:
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return isinstance(value, str) and value.strip() != ""
