"""Xtream Codes v2's words: its (action, sub) pairs and the `users` columns `user_data[...]` may set."""

from __future__ import annotations

import json
from typing import Any

from gateway.dialects.fieldmap import Field, FieldMap
from gateway.fields import int_list, scalar, to_int

NAME = "xtream_codes_v2"

# (action, sub) -> (operation, how the record is addressed)
ACTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("user", "create"): ("line.create", "none"),
    ("user", "edit"): ("line.edit", "credentials"),
    ("user", "info"): ("line.get", "credentials"),
    ("stb", "create"): ("mag.create", "none"),
    ("stb", "edit"): ("mag.edit", "mac"),
    ("stb", "info"): ("mag.get", "mac"),
    ("server", "list"): ("server.list", "none"),
    ("stream", "online"): ("stream.online", "none"),
    ("stream", "offline"): ("stream.offline", "none"),
    ("stream", "start"): ("stream.start", "ids"),
    ("stream", "stop"): ("stream.stop", "ids"),
    ("vod", "start"): ("movie.start", "ids"),
    ("vod", "stop"): ("movie.stop", "ids"),
    ("reg_user", "list"): ("reseller.list", "none"),
    ("reg_user", "credits"): ("reseller.adjust_credits", "id|username"),
}
BY_OPERATION = {op: action for action, (op, _) in ACTIONS.items()}


def _column(value: Any) -> Any:
    """A canonical value as api.php's SQL takes it: flags 1/0, numbers as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value) if isinstance(value, int) else value


def _json_text(value: Any) -> str:
    return json.dumps(list(value), separators=(",", ":"))  # the column holds JSON text


def _expiry(field: str, value: Any) -> int | None:
    return None if scalar(field, value).strip() in ("", "null") else to_int(field, value)


def _connections(field: str, value: Any) -> int:
    return to_int(field, value, high=10_000)


# The columns of api.php's `users` (lines) table a request may set; the rest are the panel's own (ids, creation
# stamps, ISP lock state). user_data goes into SQL as given, so any other name is an SQL error there. A field
# without a reader is read by its catalogue type.
LINE = FieldMap(
    Field("member_id", "member_id", to_int),
    Field("username", "username"),
    Field("password", "password"),
    Field("exp_date", "exp_date", _expiry),
    Field("admin_enabled", "admin_enabled"),
    Field("enabled", "enabled"),
    Field("admin_notes", "admin_notes"),
    Field("reseller_notes", "reseller_notes"),
    Field("bouquet", "bouquets", int_list, write=_json_text),
    Field("max_connections", "max_connections", _connections),
    Field("is_restreamer", "is_restreamer"),
    Field("allowed_ips", "allowed_ips", write=_json_text),
    Field("allowed_ua", "allowed_ua", write=_json_text),
    Field("is_trial", "is_trial"),
    Field("pair_id", "pair_id"),
    Field("force_server_id", "force_server_id", to_int),
    Field("is_isplock", "is_isplock"),
    Field("forced_country", "forced_country"),
    Field("is_stalker", "is_stalker"),
    Field("bypass_ua", "bypass_ua"),
    write=_column,
)
MAG = LINE.extended(Field("mac", "mac"))  # stb/create and stb/edit: the device's MAC beside its line's columns


def columns(resource: str) -> FieldMap:
    """The columns a request about `resource` may carry in user_data."""
    return MAG if resource == "mag" else LINE
