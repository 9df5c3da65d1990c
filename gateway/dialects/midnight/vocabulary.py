"""MidnightStreamer Pro's words: its endpoints and its `data[...]` fields beside the canonical ones."""

from __future__ import annotations

from typing import Any

from gateway.dialects.fieldmap import Field, FieldMap
from gateway.fields import mac, scalar, str_list, to_flag, to_int

NAME = "midnight"

# (group, verb) -> (operation, how the record is addressed)
ENDPOINTS: dict[tuple[str, str], tuple[str, str]] = {
    ("resellers", "new"): ("reseller.create", "none"),
    ("resellers", "update"): ("reseller.edit", "id|username"),
    ("resellers", "add_credits"): ("reseller.adjust_credits", "id|username"),
    ("resellers", "list"): ("reseller.list", "none"),
    ("line", "new"): ("line.create", "none"),
    ("line", "update"): ("line.edit", "username"),
    ("line", "info"): ("line.get", "username"),
    ("line", "delete"): ("line.delete", "username"),
    ("mag", "new"): ("mag.create", "none"),
    ("mag", "update"): ("mag.edit", "mac"),
    ("mag", "delete"): ("mag.delete", "mac"),
    ("mag", "info"): ("mag.get", "mac"),
}
BY_OPERATION = {op: endpoint for endpoint, (op, _) in ENDPOINTS.items()}


def _unix(field: str, value: Any) -> int | None:
    return None if scalar(field, value).strip() in ("", "0", "null") else to_int(field, value)


def _connections(field: str, value: Any) -> int:
    return to_int(field, value, high=10_000)


def _credits(field: str, value: Any) -> int:
    return to_int(field, value, low=-(10**9), high=10**9)


# A line's (and a MAG device's) fields.
LINE = FieldMap(
    Field("username", "username", scalar),
    Field("password", "password", scalar),
    Field("max_allowed_connections", "max_connections", _connections),
    Field("restreamer", "is_restreamer", to_flag),
    Field("expire_date", "exp_date", _unix),
    Field("subscription_plan_id", "package", to_int),
    Field("reseller_id", "member_id", to_int),
    Field("enabled", "enabled", to_flag),
    Field("banned", "admin_enabled", to_flag, inverted=True),
    Field("is_trial", "is_trial", to_flag),
    Field("notes", "reseller_notes", scalar),
    Field("allowed_ips", "allowed_ips", str_list),
    Field("allowed_user_agents", "allowed_ua", str_list),
    Field("isp_lock", "is_isplock", to_flag),
    Field("server_id", "force_server_id", to_int),
    Field("mac_address", "mac", mac),
)
RESELLER = FieldMap(
    Field("name", "username", scalar, alias=True),  # resellers/new names the reseller so (CREATED_NAME)
    Field("username", "username", scalar),
    Field("password", "password", scalar),
    Field("email", "email", scalar),
    Field("credits", "credits", _credits),
    Field("use_credits", "use_credits", to_flag),
    Field("max_allowed_connections", "max_connections", _connections),
    Field("status", "status", to_flag),
    Field("notes", "notes", scalar),
    # not MidnightStreamer's own: the reseller group on an upstream panel that has groups (never sent to one)
    Field("member_group_id", "member_group_id", to_int),
    Field("created_at", "date_registered", row_only=True),
    Field("banned", "admin_enabled", inverted=True, row_only=True),
    Field("reseller_id", "member_id", alias=True, row_only=True),  # a reseller row keeps its owner as member_id
)
FIELDS: dict[str, FieldMap] = {"line": LINE, "mag": LINE, "reseller": RESELLER}
CREATED_NAME = "name"
