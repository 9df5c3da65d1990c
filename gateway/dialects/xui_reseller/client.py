"""The XUI.one Reseller API's client face: `/{code}/?api_key=..&action=..` read into a Call, and outcomes answered
as the panel answers (`{"status": "STATUS_SUCCESS", "data": ..}`, never a bare list).

Only what ResellerAPI::processData() keeps is read: the panel drops anything else silently, the gateway refuses it
by name, so a script learns that `max_connections` or `exp_date` is the package's to decide.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway import fields, jsonio
from gateway.catalogue import Catalogue, Kind, Operation, Target, catalogue
from gateway.dialects.base import RawRequest, Rendered
from gateway.dialects.common import action_of, invalid, merged, presented_key, unreadable
from gateway.dialects.xtream_masters.client import failure_body
from gateway.dialects.xui_reseller.vocabulary import ACTIONS, CONTROL, NAME, RENEWALS, TABLE_ACTIONS, fields_of
from gateway.fields import FieldError, to_int
from gateway.model import NO_REF, Call, Code, Credentials, Outcome, Page, Ref, Result
from gateway.phpform import Params

# The purchase each kind of sold record is read against: its fields are what processData keeps for it.
_SALES = {"line": "line.create_from_package", "mag": "mag.create_from_package",
          "enigma": "enigma.create_from_package"}  # fmt: skip
_PURCHASE = ("package", "is_trial")
# processData('user'): what a reseller may set on a sub-reseller.
_USER = frozenset({"username", "password", "owner_id", "email", "reseller_dns", "notes", "member_group_id"})


def expresses() -> dict[str, str]:
    """Operations a Reseller API client can call, each with how it addresses its record."""
    out = {operation: ref for operation, ref in ACTIONS.values()}
    out.update({operation: "id" for operation in RENEWALS.values()})
    return out


def credentials(request: RawRequest) -> Credentials:
    """The gateway key: `api_key` parameter or `X-API-Key` header, never both differing."""
    return presented_key(request, merged(request))


def _filled(value: Any) -> bool:
    """PHP's !empty(): "", "0" and an absent value are empty."""
    return value not in (None, "", "0")


def _operation(action: str, params: Params, cat: Catalogue) -> Operation:
    name = ACTIONS[action][0]
    if action in RENEWALS and _filled(params.get("package")):
        name = RENEWALS[action]
    return cat.operations[name]


def accepted(op: Operation, cat: Catalogue | None = None) -> frozenset[str]:
    """The canonical fields a Reseller API client may send for `op`: a read's own, and for a write what
    processData() keeps (a plain edit: the same, less the purchase)."""
    cat = cat or catalogue()
    own = frozenset(op.fields)
    if op.kind is Kind.READ:
        return own
    if op.resource in _SALES and op.name not in _SALES.values() and not op.name.endswith(".renew"):
        return own & frozenset(cat.operations[_SALES[op.resource]].fields) - frozenset(_PURCHASE)
    if op.resource == "reseller" and op.name != "reseller.transfer_credits":
        return own & _USER
    return own


def parse(request: RawRequest, cat: Catalogue | None = None) -> Call:
    """The canonical Call of a client request; unknown actions and parameters are refused here, and a sale that
    names no package is refused as the panel refuses it (STATUS_INVALID_PACKAGE)."""
    cat = cat or catalogue()
    params = merged(request)
    action = action_of(params, ACTIONS)
    op = _operation(action, params, cat)
    echo = {k: v for k, v in params.items() if k not in CONTROL}
    if op.name in _SALES.values() and not _filled(params.get("package")):
        raise invalid("package is required: the Reseller API sells lines and devices from a package",
                      Code.INVALID_PACKAGE, echo, subject="package")  # fmt: skip
    given = dict(echo)
    if not op.name.endswith((".renew", ".create_from_package")):
        # a plain edit: index.php reads `package` only when it is filled, and `trial` only with a package
        given = {k: v for k, v in given.items() if k not in ("trial",) and not (k == "package" and not _filled(v))}
    try:
        args = _args(op, action, given, cat)
        target = Ref(id=args.pop("id")) if op.target is Target.ID else NO_REF
    except FieldError as exc:
        raise unreadable(exc, echo) from None
    return Call(operation=op.name, args=args, target=target, dialect=NAME, raw_action=action,
                route=request.match.get("code", ""), echo=echo)  # fmt: skip


def _args(op: Operation, action: str, params: Params, cat: Catalogue) -> dict[str, Any]:
    table = fields_of(op.resource)
    allowed = accepted(op, cat)
    names = {table.wire_of(name): name for name in allowed}
    args: dict[str, Any] = {}
    for name, value in params.items():
        if name == "id" and op.target is Target.ID:
            args["id"] = to_int("id", value, low=1)
            continue
        canonical = names.get(name)
        if canonical is None:
            decided = " (the package decides it)" if op.resource in _SALES and name in _PACKAGE_DECIDES else ""
            raise FieldError(name, f"is not a parameter of {action}{decided}")
        entry = table.field_of(name)
        if entry is not None and entry.read is not None:
            args[canonical] = entry.read(name, value)
        else:
            args[canonical] = fields.read(name, op.fields[canonical], value)
    if op.target is Target.ID and "id" not in args:
        raise FieldError("id", "is required")
    return args


# What an admin would set on a line and a reseller's package sets instead: named in the refusal.
_PACKAGE_DECIDES = frozenset({"max_connections", "exp_date", "is_restreamer", "access_output", "force_server_id",
                              "forced_country", "no_expire", "admin_notes", "enabled", "admin_enabled"})  # fmt: skip


def list_page(op: Operation, args: dict[str, Any]) -> Page | None:
    """A table list is paged by the panel (table.php: start, length, 50 unless asked); packages come whole."""
    if op.name not in {name for action, (name, _) in ACTIONS.items() if action in TABLE_ACTIONS}:
        return None
    search = args.get("search")
    value = search.get("value") if isinstance(search, dict) else None
    page = Page.of(args)
    return replace(page, search=value) if isinstance(value, str) and value else page


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    """The panel's own shape: every success wrapped in a status (`packages` too), table lists with their counts
    as PHP writes them, failures as the admin API's (the same parseError())."""
    if isinstance(outcome, Result):
        body: dict[str, Any] = {"status": "STATUS_SUCCESS"}
        if outcome.data is not None:
            body["data"] = outcome.data
        if outcome.total is not None:
            shown = outcome.total if outcome.filtered is None else outcome.filtered
            body["recordsTotal"] = str(outcome.total)
            body["recordsFiltered"] = str(shown) if shown == outcome.total else shown
        body.update(outcome.extra)
        return Rendered(200, jsonio.dumps(body))
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, jsonio.dumps(failure_body(outcome)))
