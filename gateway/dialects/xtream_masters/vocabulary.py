"""Xtream-Masters / XUI.one's words. The canonical model keeps this panel's names and types, so its table
lists only where the wire differs from the value: renamed parameters, lists sent as JSON text, flags read by
value, and readers narrower than their type's."""

from __future__ import annotations

import json
from typing import Any

from gateway.dialects.fieldmap import Field, FieldMap
from gateway.fields import to_int

NAME = "xtream_masters"

# Path names XUI.one refuses as access codes (admin_api.php processCode: STATUS_RESERVED_CODE): other routes'.
XUI_RESERVED_CODES = ("admin", "stream", "images", "player_api", "player", "playlist", "epg", "live", "movie",
                      "series", "status", "nginx_status", "get", "panel_api", "xmltv", "probe", "thumb", "timeshift",
                      "auth", "vauth", "tsauth", "hls", "play", "key", "api", "c")  # fmt: skip
# An access code as a route variable, never one of those (every such path goes on with a `/`).
XUI_CODE = "{code:(?!(?:" + "|".join(XUI_RESERVED_CODES) + ")/)[A-Za-z0-9_-]+}"

# Parameters the panel reads for itself rather than passing to the action.
CONTROL = ("api_key", "action")

# Actions whose success the panel returns as a bare JSON array (APIWrapper::filterRows), not wrapped in
# {"status": .., "data": ..}. Clients of these actions parse a list, so the gateway renders one.
BARE_LIST_ACTIONS = frozenset({"get_bouquets", "get_access_codes", "get_epgs", "get_groups", "get_packages",
                               "get_transcode_profiles", "get_rtmp_ips", "get_categories", "get_blocked_uas",
                               "get_blocked_ips", "get_servers"})  # fmt: skip


def _json_text(value: Any) -> str:
    return json.dumps(list(value), separators=(",", ":"))


def _by_value(value: Any) -> str:
    return "1" if value else "0"


def _within(low: int, high: int | None = None) -> Any:
    def read(field: str, value: Any) -> int:
        return to_int(field, value, low=low) if high is None else to_int(field, value, low=low, high=high)

    return read


# Every operation's: the panel's own limits (a bad value is refused here, named), table.php's owner filter.
COMMON = FieldMap(
    Field("reseller", "owner"),
    Field("max_connections", "max_connections", _within(0, 10_000)),
    Field("start", "start", _within(0, 10**9)),
    Field("limit", "limit", _within(1, 10_000)),
    Field("filter", "filter", _within(0, 5)),
    Field("server_id", "server_id", _within(-1)),
)
# Lists the panel json_decode()s from one text (`bouquets_selected=[1,2]`) rather than reading a PHP array, and
# which it cannot do without: XUI.one dies on a missing one (HTTP 200, empty body, nothing written) where the
# client meant "none", so a create always sends them.
_BOUQUETS = Field("bouquets_selected", "bouquets", write=_json_text, default="[]")
# Flags the panel reads by value (intval); every other flag turns on when its parameter is merely present, even
# as 0 (`isset()`), so toward the panel a false flag is omitted.
_ENABLED = (Field("enabled", "enabled", write=_by_value), Field("admin_enabled", "admin_enabled", write=_by_value))
_DEVICE = COMMON.extended(_BOUQUETS, *_ENABLED)
FIELDS: dict[str, FieldMap] = {
    "line": _DEVICE,
    "mag": _DEVICE,
    "enigma": _DEVICE,
    "package": COMMON.extended(_BOUQUETS, Field("groups_selected", "groups_selected", write=_json_text, default="[]")),
    # table.php reg_users: `filter` -1 active, -2 disabled, else a member group's id (not the lines' 1..5)
    "reseller": COMMON.extended(Field("status", "status", write=_by_value), Field("filter", "filter", _within(-2))),
}


def fields_of(resource: str) -> FieldMap:
    """The table for requests about `resource`."""
    return FIELDS.get(resource, COMMON)
