"""The XUI.one Reseller API (`/{code}/?api_key=..&action=create_line&package=3`, access code type 4): the dialect.

Resellers on XUI.one (and XC_VM) have no admin key: this is the API their bots, billing scripts and shops call.
Both faces: its clients can call the gateway (toward any upstream: an admin API's then sells the package the way
the panel would, gateway.plans.purchase), and an upstream can be a Reseller API (a reseller who holds only its
reseller key puts panelgate in front of its provider and gives narrower keys to its own sub-resellers and shops).
"""

from __future__ import annotations

from gateway.dialects.base import Dialect
from gateway.dialects.xtream_masters.vocabulary import XUI_CODE
from gateway.dialects.xui_reseller import client, upstream

_MINTS = "a Reseller API moves credits only from the reseller's own balance (reseller.transfer_credits)"
_ADMIN = "a Reseller API has no such action: it is the panel owner's"
# index.php's delete_/disable_/enable_/convert_ read the record with getUser()/getMag()/getEnigma() only, without
# hasPermissions(): any reseller's line of the panel (measured on XC_VM)
_UNSCOPED = frozenset({f"{resource}.{verb}" for resource in ("line", "mag", "enigma")
                       for verb in ("delete", "disable", "enable", "convert")} - {"line.convert"})  # fmt: skip
_ADMINS = {f"{resource}.{verb}": _ADMIN for resource in ("line", "mag", "enigma") for verb in ("ban", "unban")}

DIALECT = Dialect(
    name=client.NAME,
    short="XR",
    client=client,
    upstream=upstream,
    routes=(),
    # XUI.one serves both APIs at `/{code}/`: which one answers is the access code's type. At the gateway an
    # access code says the same (`access_codes: {code: {upstream: .., dialect: xui_reseller}}`); these are the
    # Xtream-Masters face's paths, shared.
    late_routes=(f"/{XUI_CODE}/", f"/{XUI_CODE}/index.php"),
    probe="account.info",
    access_code=True,
    answers_created_row=True,  # create_line answers getLine() of the new line
    lookups=False,  # table.php answers `data: []` to every API call (it needs a web session's `reports`)
    unscoped=_UNSCOPED,
    refusal=upstream.refusal,
    why_not={"reseller.adjust_credits": _MINTS, **_ADMINS},
)
