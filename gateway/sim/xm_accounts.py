"""Lines, MAG and Enigma2 devices, registered users (resellers) and their credits, as XUI.one's services treat them.

Quirks kept on purpose (see PANELS.md and the XUI.one source):
- `bouquets_selected` is a JSON string; `exp_date` a date string stored as a UNIX timestamp (UTC here).
- `is_trial`, `is_restreamer`, `is_isplock` turn on when the key is present, whatever its value.
- usernames are unique case-insensitively (MySQL's default collation compares them that way).
- a failure echoes the data the service was given: the input minus api_key/action/start/limit, and on an edit
  without `id` but with `edit` = the id (that is what APIWrapper passes on).
- a MAG / Enigma2 device owns a hidden line (is_mag / is_e2 = 1); get_mag / get_enigma return the device row with
  that line nested under `user` (and `paired`), not merged into it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from gateway.sim import xui_one
from gateway.sim.xm_state import (
    FAILURE,
    SUCCESS,
    Answer,
    Params,
    Row,
    XMState,
    fail,
    is_numeric,
    json_list,
    ok,
    php_int,
    random_alnum,
    row_id,
    to_str,
)

PRESENCE_FLAGS = ("is_trial", "is_restreamer", "is_isplock")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_LINE_TEXT = ("admin_notes", "reseller_notes", "contact", "forced_country", "isp_desc")


class _Refused(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _parse_date(value: Any) -> int | None:
    if not isinstance(value, str):
        raise _Refused("INVALID_DATE")
    for fmt in _DATE_FORMATS:
        try:
            stamp = dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return int(stamp.timestamp())
    raise _Refused("INVALID_DATE")


def _bouquets(value: Any) -> str:
    if not isinstance(value, str):
        raise _Refused("INVALID_INPUT")
    try:
        decoded = json.loads(value)
    except ValueError:
        raise _Refused("INVALID_INPUT") from None
    if not isinstance(decoded, list):
        raise _Refused("INVALID_INPUT")
    return json.dumps([php_int(v) for v in decoded], separators=(",", ":"))


def _username_taken(state: XMState, table: str, username: str, self_id: int | None) -> bool:
    folded = username.casefold()
    return any(str(row["username"]).casefold() == folded and key != self_id for key, row in state.table(table).items())


# --- lines ------------------------------------------------------------------------------------------------------


def get_line_row(state: XMState, line_id: Any) -> Row | None:
    key = php_int(line_id) if line_id is not None else None
    row = state.table("lines").get(key) if key else None
    return dict(row) if row else None


def _line_values(state: XMState, data: Params, existing: Row | None, device: str = "") -> Row:
    """LineService::process for the admin: the row to store, or _Refused."""
    line_id = php_int(existing["id"]) if existing else None
    row: Row = dict(existing) if existing else {}
    for cred in ("username", "password"):
        given = data.get(cred)
        if isinstance(given, str) and given != "":
            row[cred] = given
        elif existing is None or (cred in data and given == ""):
            row[cred] = random_alnum(10)
    if _username_taken(state, "lines", row["username"], line_id):
        raise _Refused("EXISTS_USERNAME")
    if "package" in data and data["package"] not in ("", None):
        if php_int(data["package"]) not in state.table("packages"):
            raise _Refused("INVALID_PACKAGE")
        row["package_id"] = str(php_int(data["package"]))
    if "exp_date" in data and data["exp_date"] not in ("", None):
        row["exp_date"] = str(_parse_date(data["exp_date"]))
    elif existing is None or "exp_date" in data or "no_expire" in data:
        row["exp_date"] = None
    if "bouquets_selected" in data:
        row["bouquet"] = _bouquets(data["bouquets_selected"])
    for flag in PRESENCE_FLAGS:
        if flag in data:
            row[flag] = "1"
        elif existing is None:
            row[flag] = "0"
    for name in ("max_connections", "enabled", "admin_enabled"):
        if name in data:
            row[name] = str(php_int(data[name]))
        elif existing is None:
            row[name] = "1"
    for name, column in (
        ("allowed_ips", "allowed_ips"),
        ("allowed_ua", "allowed_ua"),
        ("access_output", "allowed_outputs"),
    ):
        if name in data:
            row[column] = json_list(data[name])
        elif existing is None:
            row[column] = "[1,2,3]" if column == "allowed_outputs" else "[]"
    for name in _LINE_TEXT:
        if name in data:
            row[name] = to_str(data[name]) if data[name] is not None else ""
        elif existing is None:
            row[name] = ""
    for name in ("member_id", "force_server_id"):
        if name in data:
            row[name] = str(php_int(data[name]))
        elif existing is None:
            row[name] = str(state.admin_id) if name == "member_id" else "0"
    if "isp_clear" in data:
        row.update(isp_desc="", as_number=None)
    if existing is None:
        row.update(
            last_ip=None, bouquet=row.get("bouquet", "[]"), is_mag="1" if device == "mag" else "0",
            is_e2="1" if device == "e2" else "0", is_stalker="0", created_at=str(state.now()),
            created_by=str(state.admin_id), pair_id=None, as_number=None, bypass_ua="0", play_token="",
            package_id=row.get("package_id"), access_token=None, last_activity=None, last_activity_array=None,
        )  # fmt: skip
    row["updated"] = dt.datetime.fromtimestamp(state.now(), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return row


def _store_line(state: XMState, row: Row) -> int:
    lines = state.table("lines")
    line_id = php_int(row["id"]) if row.get("id") else state.new_id("lines")
    ordered: Row = {"id": str(line_id)}
    ordered.update({k: v for k, v in row.items() if k != "id"})
    lines[line_id] = ordered
    return line_id


def get_line(state: XMState, params: Params) -> Answer:
    row = get_line_row(state, row_id(params))
    return ok(row) if row else dict(FAILURE)


def _values_for(state: XMState, data: Params, existing: Row | None, device: str = "") -> Row:
    """The line row to store, as the panel's flavour computes it (XUI.one: gateway.sim.xui_one)."""
    if state.flavour != "xui_one":
        return _line_values(state, data, existing, device)
    try:
        row = xui_one.line_values(data, existing, admin_id=state.admin_id, timezone=state.timezone,
                                  now=state.now(), device=device)  # fmt: skip
    except xui_one.Refused as refused:
        raise _Refused(refused.status) from None
    if existing is None:
        row.update(created_at=str(state.now()), created_by=str(state.admin_id), last_activity=None,
                   last_activity_array=None)  # fmt: skip
    if _username_taken(state, "lines", str(row["username"]), php_int(existing["id"]) if existing else None):
        raise _Refused("EXISTS_USERNAME")
    row["updated"] = dt.datetime.fromtimestamp(state.now(), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return row


def create_line(state: XMState, params: Params) -> Answer:
    data = {k: v for k, v in params.items() if k != "edit"}
    try:
        line_id = _store_line(state, _values_for(state, data, None))
    except _Refused as refused:
        return fail(refused.status, data)
    return ok(get_line_row(state, line_id))


def edit_line(state: XMState, params: Params) -> Answer:
    existing = get_line_row(state, row_id(params))
    if existing is None:
        return dict(FAILURE)
    data = {k: v for k, v in params.items() if k != "id"}
    data["edit"] = params.get("id")
    try:
        line_id = _store_line(state, _values_for(state, data, existing))
    except _Refused as refused:
        return fail(refused.status, data)
    return ok(get_line_row(state, line_id))


def delete_line(state: XMState, params: Params) -> Answer:
    key = row_id(params)
    if key is None or key not in state.table("lines"):
        return dict(FAILURE)
    del state.table("lines")[key]
    for table in ("mag_devices", "enigma2_devices"):
        for dev_id in [d for d, dev in state.table(table).items() if php_int(dev["user_id"]) == key]:
            del state.table(table)[dev_id]
    return dict(SUCCESS)


def _set_line(state: XMState, line_id: Any, column: str, value: str) -> Answer:
    row = state.table("lines").get(php_int(line_id)) if line_id is not None else None
    if row is None:
        return dict(FAILURE)
    row[column] = value
    return dict(SUCCESS)


def enable_line(state: XMState, params: Params) -> Answer:
    return _set_line(state, row_id(params), "enabled", "1")


def disable_line(state: XMState, params: Params) -> Answer:
    return _set_line(state, row_id(params), "enabled", "0")


def ban_line(state: XMState, params: Params) -> Answer:
    return _set_line(state, row_id(params), "admin_enabled", "0")


def unban_line(state: XMState, params: Params) -> Answer:
    return _set_line(state, row_id(params), "admin_enabled", "1")


# --- MAG and Enigma2 devices ----------------------------------------------------------------------------------

_DEVICES = {"mag": ("mag_devices", "mag_id"), "e2": ("enigma2_devices", "device_id")}


def get_device_row(state: XMState, kind: str, device_id: int | None) -> Row | None:
    table, _ = _DEVICES[kind]
    device = state.table(table).get(device_id) if device_id is not None else None
    if device is None:
        return None
    row = dict(device)
    line = get_line_row(state, device["user_id"])
    row["user"] = line if line else False
    pair = get_line_row(state, line.get("pair_id")) if line else None
    if line is not None:
        row["paired"] = pair if pair else False
    return row


def _device_values(state: XMState, kind: str, data: Params, existing: Row | None) -> Row:
    table, pk = _DEVICES[kind]
    mac = data.get("mac")
    if existing is None or "mac" in data:
        if not isinstance(mac, str) or not _MAC.match(mac.strip()):
            raise _Refused("INVALID_MAC")
        mac = mac.strip().upper()
        self_id = php_int(existing[pk]) if existing else None
        if any(dev["mac"].upper() == mac and key != self_id for key, dev in state.table(table).items()):
            raise _Refused("EXISTS_MAC")
    row: Row = {k: v for k, v in (existing or {}).items() if k not in ("user", "paired")}
    if isinstance(mac, str):
        row["mac"] = mac
    if kind == "mag":
        for name in ("sn", "stb_type", "image_version", "hw_version", "lock_device"):
            if name in data:
                row[name] = to_str(data[name])
    else:
        for name in ("modem_mac", "local_ip", "public_ip", "key_auth", "lock_ver"):
            if name in data:
                row[name] = to_str(data[name])
    return row


def _device_create(state: XMState, kind: str, params: Params) -> Answer:
    table, pk = _DEVICES[kind]
    data = {k: v for k, v in params.items() if k != "edit"}
    line_data = {k: v for k, v in data.items() if k != "mac"}
    try:
        device = _device_values(state, kind, data, None)
        line = _values_for(state, line_data, None, device=kind)
    except _Refused as refused:
        return fail(refused.status, data)
    line_id = _store_line(state, line)
    device_id = state.new_id(table)
    defaults: Row = (
        {"sn": "", "stb_type": "", "image_version": "", "hw_version": "", "ip": None, "ver": "", "lock_device": "0",
         "created": str(state.now()), "last_watchdog": None, "theme_type": "0", "stb_lang": "en",
         "watchdog_timeout": "0", "fav_channels": "[]"}
        if kind == "mag"
        else {"modem_mac": "", "local_ip": "", "public_ip": "", "key_auth": "", "enigma_version": "", "cpu": "",
              "version": "", "lversion": "", "token": "", "last_updated": str(state.now()), "watchdog_timeout": "0",
              "lock_ver": "0", "rc": "0", "original_mac": device["mac"]}
    )  # fmt: skip
    state.table(table)[device_id] = {pk: str(device_id), "user_id": str(line_id), "mac": device["mac"],
                                     **defaults, **{k: v for k, v in device.items() if k != "mac"}}  # fmt: skip
    _sync_paired(state, line_id)
    return ok(_created_device(state, kind, device_id))


# syncDevices() (src/includes/admin.php) keeps these of the device's own line; the rest is the paired line's
_OWN_WHEN_PAIRED = ("id", "is_mag", "is_e2", "is_restreamer", "max_connections", "created_at", "username", "password",
                    "admin_notes", "reseller_notes")  # fmt: skip


def _sync_paired(state: XMState, line_id: int) -> None:
    """processMAG / processEnigma: a device paired with a line (pair_id) takes that line's row (its expiry,
    bouquets, outputs, owner, ...) over its own line's, but for its credentials, connections and notes."""
    lines = state.table("lines")
    line = lines.get(line_id)
    parent = lines.get(php_int(line.get("pair_id"))) if line and php_int(line.get("pair_id")) > 0 else None
    if line is None or parent is None:
        return
    lines[line_id] = {**parent, **{k: line[k] for k in _OWN_WHEN_PAIRED if k in line},
                      "pair_id": str(php_int(line["pair_id"])), "play_token": ""}  # fmt: skip


def _created_device(state: XMState, kind: str, device_id: int) -> Any:
    # createEnigma / editEnigma answer with self::getMAG(insert_id)['data']: the MAG that happens to have the new
    # Enigma2 device's id, or null. A bug in the panel, reproduced unless php_bugs is off.
    if kind == "e2" and state.php_bugs:
        return get_device_row(state, "mag", device_id)
    return get_device_row(state, kind, device_id)


def _device_edit(state: XMState, kind: str, params: Params) -> Answer:
    existing = get_device_row(state, kind, row_id(params))
    if existing is None:
        return dict(FAILURE)
    table, pk = _DEVICES[kind]
    data = {k: v for k, v in params.items() if k != "id"}
    data["edit"] = params.get("id")
    line = get_line_row(state, existing["user_id"])
    line_data = {k: v for k, v in data.items() if k not in ("mac", "edit")}
    try:
        if state.flavour == "xui_one" and not data.get("mac"):
            raise _Refused("INVALID_INPUT")  # checkMinimumRequirements: a device edit re-sends its MAC
        device = _device_values(state, kind, data, existing)
        new_line = _values_for(state, line_data, line, device=kind) if line else None
    except _Refused as refused:
        return fail(refused.status, data)
    if new_line is not None:
        _sync_paired(state, _store_line(state, new_line))
    device_id = php_int(existing[pk])
    state.table(table)[device_id] = device
    return ok(_created_device(state, kind, device_id))


def _device_delete(state: XMState, kind: str, params: Params) -> Answer:
    table, _ = _DEVICES[kind]
    key = row_id(params)
    device = state.table(table).get(key) if key is not None else None
    if device is None:
        return dict(FAILURE)
    del state.table(table)[key]  # type: ignore[arg-type]
    state.table("lines").pop(php_int(device["user_id"]), None)
    return dict(SUCCESS)


def _device_set(state: XMState, kind: str, params: Params, column: str, value: str) -> Answer:
    device = get_device_row(state, kind, row_id(params))
    if device is None:
        return dict(FAILURE)
    if state.php_bugs:
        # The panel runs `UPDATE lines ... WHERE id = $rDevice['user_id']` on getMAG()'s wrapper array, whose
        # user_id is undefined: the update matches nothing and the answer is still a success.
        return dict(SUCCESS)
    return _set_line(state, device["user_id"], column, value)


def _device_convert(state: XMState, kind: str, params: Params) -> Answer:
    table, _ = _DEVICES[kind]
    device = get_device_row(state, kind, row_id(params))
    if device is None:
        return dict(FAILURE)
    del state.table(table)[row_id(params)]  # type: ignore[arg-type]
    line = state.table("lines").get(php_int(device["user_id"]))
    if line is not None:
        line["is_mag"] = "0"
        line["is_e2"] = "0"
    if state.php_bugs:
        # self::getLine($rDevice['user_id']) reads the same undefined index: getLine(null) fails.
        return ok(dict(FAILURE))
    row = get_line_row(state, device["user_id"])
    return ok(ok(row) if row else dict(FAILURE))


def _device_actions(kind: str, noun: str) -> dict[str, Any]:
    def getter(state: XMState, params: Params) -> Answer:
        row = get_device_row(state, kind, row_id(params))
        return ok(row) if row else dict(FAILURE)

    def setter(column: str, value: str) -> Any:
        return lambda state, params: _device_set(state, kind, params, column, value)

    return {
        f"get_{noun}": getter,
        f"create_{noun}": lambda state, params: _device_create(state, kind, params),
        f"edit_{noun}": lambda state, params: _device_edit(state, kind, params),
        f"delete_{noun}": lambda state, params: _device_delete(state, kind, params),
        f"enable_{noun}": setter("enabled", "1"),
        f"disable_{noun}": setter("enabled", "0"),
        f"ban_{noun}": setter("admin_enabled", "0"),
        f"unban_{noun}": setter("admin_enabled", "1"),
        f"convert_{noun}": lambda state, params: _device_convert(state, kind, params),
    }


# --- registered users (admins, resellers) --------------------------------------------------------------------


def get_user_row(state: XMState, user_id: int | None) -> Row | None:
    """getRegisteredUser(): `SELECT * FROM users`, the password hash and the user's api_key included."""
    row = state.table("users").get(user_id) if user_id is not None else None
    return dict(row) if row else None


def _user_values(state: XMState, data: Params, existing: Row | None) -> Row:
    user_id = php_int(existing["id"]) if existing else None
    row: Row = dict(existing) if existing else {}
    username = data.get("username")
    if existing is None or "username" in data:
        if not isinstance(username, str) or not username.strip():
            raise _Refused("INVALID_USERNAME")
        if _username_taken(state, "users", username, user_id):
            raise _Refused("EXISTS_USERNAME")
        row["username"] = username
    if existing is None or "member_group_id" in data:
        if php_int(data.get("member_group_id")) not in state.table("users_groups"):
            raise _Refused("INVALID_GROUP")
        row["member_group_id"] = str(php_int(data["member_group_id"]))
    password = data.get("password")
    if isinstance(password, str) and password:
        row["password"] = "$6$rounds=20000$xtreamcodes$" + hashlib.sha256(password.encode()).hexdigest()[:43]
    elif existing is None:
        row["password"] = "$6$rounds=20000$xtreamcodes$" + hashlib.sha256(random_alnum().encode()).hexdigest()[:43]
    for name, default in (("email", ""), ("notes", ""), ("reseller_dns", ""), ("timezone", "")):
        if name in data:
            row[name] = to_str(data[name]) if data[name] is not None else ""
        elif existing is None:
            row[name] = default
    for name, default_int in (("owner_id", state.admin_id), ("credits", 0), ("status", 1)):
        if name in data:
            row[name] = str(php_int(data[name]))
        elif existing is None:
            row[name] = str(default_int)
    if existing is None:
        row.update(ip="", date_registered=str(state.now()), last_login=None, override_packages=None, hue="",
                   theme="0", api_key="")  # fmt: skip
    return row


def _store_user(state: XMState, row: Row) -> int:
    user_id = php_int(row["id"]) if row.get("id") else state.new_id("users")
    state.table("users")[user_id] = {"id": str(user_id), **{k: v for k, v in row.items() if k != "id"}}
    return user_id


def get_user(state: XMState, params: Params) -> Answer:
    row = get_user_row(state, row_id(params))
    return ok(row) if row else dict(FAILURE)


def create_user(state: XMState, params: Params) -> Answer:
    data = {k: v for k, v in params.items() if k != "edit"}
    try:
        user_id = _store_user(state, _user_values(state, data, None))
    except _Refused as refused:
        return fail(refused.status, data)
    return ok(get_user_row(state, user_id))


def edit_user(state: XMState, params: Params) -> Answer:
    key = row_id(params)
    existing = state.table("users").get(key) if key is not None else None
    if existing is None:
        return dict(FAILURE)
    data = {k: v for k, v in params.items() if k != "id"}
    data["edit"] = params.get("id")
    try:
        if state.flavour == "xui_one":
            data = _xui_user_edit(state, data, dict(existing))
        user_id = _store_user(state, _user_values(state, data, dict(existing)))
    except _Refused as refused:
        return fail(refused.status, data)
    return ok(get_user_row(state, user_id))


def _xui_user_edit(state: XMState, data: Params, existing: Row) -> Params:
    """processUser's whole-row edit, as the data _user_values then stores: the group is required, the username
    regenerated unless sent; a credits value that differs from the stored one (or none at all) is logged as a
    change of new - old, which for an absent one is -old: a credit log the reseller never made."""
    try:
        row = xui_one.user_values(data, existing)
    except xui_one.Refused as refused:
        raise _Refused(refused.status) from None
    if php_int(data.get("credits")) != php_int(existing.get("credits")) or "credits" not in data:
        log_id = state.new_id("credits_log")
        state.table("credits_log")[log_id] = {
            "id": str(log_id), "target_id": str(existing["id"]), "admin_id": str(state.admin_id),
            "amount": str(php_int(data.get("credits")) - php_int(existing.get("credits"))),
            "date": str(state.now()), "reason": data.get("credits_reason"),
        }  # fmt: skip
    return {**{k: row[k] for k in ("username", "member_group_id", "override_packages") if k in row},
            **{k: v for k, v in data.items() if k not in ("username", "override_packages")}}  # fmt: skip


def delete_user(state: XMState, params: Params) -> Answer:
    key = row_id(params)
    if key is None or key not in state.table("users"):
        return dict(FAILURE)
    del state.table("users")[key]
    return dict(SUCCESS)


def _set_user_status(state: XMState, params: Params, value: str) -> Answer:
    key = row_id(params)
    row = state.table("users").get(key) if key is not None else None
    if row is None:
        return dict(FAILURE)
    row["status"] = value
    return dict(SUCCESS)


def adjust_credits(state: XMState, params: Params) -> Answer:
    """APIWrapper::adjustCredits: a bare success; a non-numeric amount, an unknown user or a negative result is
    a plain STATUS_FAILURE with nothing changed. The log row records the new balance as `amount` (as the panel
    does, `$rCredits` having been overwritten by then), unless php_bugs is off."""
    key = row_id(params)
    amount = params.get("credits")
    user = state.table("users").get(key) if key is not None else None
    if user is None or not is_numeric(amount):
        return dict(FAILURE)
    delta = php_int(amount)
    balance = php_int(user["credits"]) + delta
    if balance < 0:
        return dict(FAILURE)
    user["credits"] = str(balance)
    log_id = state.new_id("credits_log")
    reason = params.get("reason", "")
    state.table("credits_log")[log_id] = {
        "id": str(log_id), "target_id": str(key), "admin_id": str(state.admin_id),
        "amount": str(balance if state.php_bugs else delta), "date": str(state.now()),
        "reason": reason if isinstance(reason, str) else "",
    }  # fmt: skip
    return dict(SUCCESS)


def user_info(state: XMState, params: Params) -> Answer:
    """APIWrapper::getUserInfo(): the caller's own users row without its password hash, but with its api_key
    (the key this very request authenticated with), and its group's permissions."""
    me = {k: v for k, v in (get_user_row(state, state.admin_id) or {}).items() if k != "password"}
    group = dict(state.table("users_groups").get(php_int(me.get("member_group_id")), {}))
    group["advanced"] = []
    return {"status": "STATUS_SUCCESS", "data": me, "permissions": group}


ACTIONS: dict[str, Any] = {
    "get_line": get_line,
    "create_line": create_line,
    "edit_line": edit_line,
    "delete_line": delete_line,
    "enable_line": enable_line,
    "disable_line": disable_line,
    "ban_line": ban_line,
    "unban_line": unban_line,
    **_device_actions("mag", "mag"),
    **_device_actions("e2", "enigma"),
    "get_user": get_user,
    "create_user": create_user,
    "edit_user": edit_user,
    "delete_user": delete_user,
    "enable_user": lambda state, params: _set_user_status(state, params, "1"),
    "disable_user": lambda state, params: _set_user_status(state, params, "0"),
    "adjust_credits": adjust_credits,
    "user_info": user_info,
}
