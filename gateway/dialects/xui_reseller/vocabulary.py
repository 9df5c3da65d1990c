"""The XUI.one Reseller API's words (XC_VM `src/includes/api/reseller/index.php`, `reseller_api.php`): its 36
actions, and the fields ResellerAPI::processData() lets a reseller send, beside the canonical ones.

The envelope is the admin API's (`/{code}/?api_key=..&action=..`, `{"status": "STATUS_..", "data": ..}`), but
the meaning is a shop's: a line is sold from a package, which decides what the admin API lets a caller set
(connections, restreaming, bouquets, outputs, expiry), and the seller pays for it in credits.
"""

from __future__ import annotations

from typing import Any

from gateway.dialects.fieldmap import Field, FieldMap
from gateway.fields import to_int

NAME = "xui_reseller"

# Parameters index.php reads for itself before the action sees the rest.
CONTROL = ("api_key", "action")

# action -> (operation, how the record is addressed). edit_line / edit_mag / edit_enigma renew when they name a
# package (RENEWALS), and are plain edits otherwise.
ACTIONS: dict[str, tuple[str, str]] = {
    "packages": ("package.list", "none"),
    "user_info": ("account.info", "none"),
    "get_lines": ("line.list", "none"),
    "get_mags": ("mag.list", "none"),
    "get_enigmas": ("enigma.list", "none"),
    "get_users": ("reseller.list", "none"),
    "activity_logs": ("log.activity", "none"),
    "live_connections": ("connection.list", "none"),
    "user_logs": ("log.user", "none"),
    "get_line": ("line.get", "id"),
    "create_line": ("line.create_from_package", "none"),
    "edit_line": ("line.edit", "id"),
    "delete_line": ("line.delete", "id"),
    "disable_line": ("line.disable", "id"),
    "enable_line": ("line.enable", "id"),
    "get_mag": ("mag.get", "id"),
    "create_mag": ("mag.create_from_package", "none"),
    "edit_mag": ("mag.edit", "id"),
    "delete_mag": ("mag.delete", "id"),
    "disable_mag": ("mag.disable", "id"),
    "enable_mag": ("mag.enable", "id"),
    "convert_mag": ("mag.convert", "id"),
    "get_enigma": ("enigma.get", "id"),
    "create_enigma": ("enigma.create_from_package", "none"),
    "edit_enigma": ("enigma.edit", "id"),
    "delete_enigma": ("enigma.delete", "id"),
    "disable_enigma": ("enigma.disable", "id"),
    "enable_enigma": ("enigma.enable", "id"),
    "convert_enigma": ("enigma.convert", "id"),
    "get_user": ("reseller.get", "id"),
    "create_user": ("reseller.create", "none"),
    "edit_user": ("reseller.edit", "id"),
    "delete_user": ("reseller.delete", "id"),
    "disable_user": ("reseller.disable", "id"),
    "enable_user": ("reseller.enable", "id"),
    "adjust_credits": ("reseller.transfer_credits", "id"),
}
RENEWALS = {"edit_line": "line.renew", "edit_mag": "mag.renew", "edit_enigma": "enigma.renew"}
# A plain create from a client of another dialect is the same action when it names a package (the package then
# decides what the admin create would have set).
SOLD_AS = {"line.create": "create_line", "mag.create": "create_mag", "enigma.create": "create_enigma"}
BY_OPERATION: dict[str, str] = {
    **{operation: action for action, (operation, _) in ACTIONS.items()},
    **{operation: action for action, operation in RENEWALS.items()},
    **SOLD_AS,
}
# The table actions (index.php hands them to table.php, which pages them and answers recordsTotal).
TABLE_ACTIONS = frozenset({"get_lines", "get_mags", "get_enigmas", "get_users", "activity_logs", "live_connections",
                           "user_logs"})  # fmt: skip


def _credits(field: str, value: Any) -> int:
    """adjust_credits: is_numeric(), then intval(): a fraction would be cut silently, so it is refused."""
    return to_int(field, value, low=-(10**9), high=10**9)


# Every action's: the page and filter table.php reads, the record's owner as `reseller`.
COMMON = FieldMap(
    Field("reseller", "owner"),
    Field("start", "start", lambda f, v: to_int(f, v, low=0, high=10**9)),
    Field("limit", "limit", lambda f, v: to_int(f, v, low=1, high=1000)),  # table.php caps it at 1000
)
# processData('line'|'mag'|'enigma'): `trial` buys the package's trial, `bouquets_selected` is a PHP array
# (`bouquets_selected[]=1`, honoured only with allow_change_bouquets, as a subset of the package's).
_SOLD = COMMON.extended(Field("trial", "is_trial"), Field("bouquets_selected", "bouquets"))
FIELDS: dict[str, FieldMap] = {
    "line": _SOLD,
    "mag": _SOLD,
    "enigma": _SOLD,
    "reseller": COMMON.extended(Field("credits", "credits", _credits), Field("note", "reason")),
}


def fields_of(resource: str) -> FieldMap:
    """The table for requests about `resource`."""
    return FIELDS.get(resource, COMMON)
