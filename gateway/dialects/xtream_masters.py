"""Xtream-Masters / XUI.one admin API (`/{code}/admin/index.php?api_key=..&action=..`), both faces.

Pure functions over the canonical model: parse and render for clients, encode and decode for upstream panels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gateway import jsonio
from gateway.catalogue import Catalogue, Operation, Target, catalogue
from gateway.config import Upstream
from gateway.dialects.base import RawRequest, Rendered, UpstreamRequest
from gateway.dialects.common import invalid, merged, presented_key
from gateway.fields import (
    FieldError,
    date_to_unix,
    int_list,
    mac,
    scalar,
    str_list,
    to_flag,
    to_int,
    unix_to_date,
)
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Ref, Refused, Result
from gateway.phpform import Params, flatten

NAME = "xtream_masters"
# Credits move through adjust_credits, which the panel writes to its credit log; a create or edit never sets them.
CREDITS_BY_ADJUSTMENT = True
PAGES_LISTS = True  # table.php: start, limit, recordsTotal

# Parameters the panel reads for itself rather than passing to the action.
_CONTROL = ("api_key", "action")

# Actions whose success the panel returns as a bare JSON array (APIWrapper::filterRows), not wrapped in
# {"status": .., "data": ..}. Clients of these actions parse a list, so the gateway renders one.
BARE_LIST_ACTIONS = frozenset(
    {
        "get_bouquets",
        "get_access_codes",
        "get_epgs",
        "get_groups",
        "get_packages",
        "get_transcode_profiles",
        "get_rtmp_ips",
        "get_categories",
        "get_blocked_uas",
        "get_blocked_ips",
        "get_servers",
    }
)

# The panel's flags that turn on when the key is merely present: toward the panel a false flag is omitted.
PRESENCE_FLAGS = ("is_trial", "is_restreamer", "is_isplock")

# Panel parameter -> (canonical name, converter). The canonical model keeps panel column names except where
# the panel's wire form differs from the value (dates, JSON-in-a-string lists, presence flags).
_Converter = Callable[[str, Any], Any]
_LINE_FIELDS: dict[str, tuple[str, _Converter]] = {
    "exp_date": ("exp_date", date_to_unix),
    "bouquets_selected": ("bouquets", int_list),
    "max_connections": ("max_connections", lambda f, v: to_int(f, v, low=0, high=10_000)),
    "member_id": ("member_id", to_int),
    "package": ("package", to_int),
    "enabled": ("enabled", to_flag),
    "admin_enabled": ("admin_enabled", to_flag),
    "allowed_ips": ("allowed_ips", str_list),
    "allowed_ua": ("allowed_ua", str_list),
    "mac": ("mac", mac),
    **{flag: (flag, to_flag) for flag in PRESENCE_FLAGS},
}
_RESELLER_FIELDS: dict[str, tuple[str, _Converter]] = {
    "member_group_id": ("member_group_id", to_int),
    "owner_id": ("owner_id", to_int),
    "credits": ("credits", lambda f, v: to_int(f, v, low=-(10**9), high=10**9)),
}
_COMMON_FIELDS: dict[str, tuple[str, _Converter]] = {
    "start": ("start", lambda f, v: to_int(f, v, high=10**9)),
    "limit": ("limit", lambda f, v: to_int(f, v, low=1, high=10_000)),
    "filter": ("filter", lambda f, v: to_int(f, v, low=0, high=5)),
    "server_id": ("server_id", lambda f, v: to_int(f, v, low=-1)),
    "show_columns": ("show_columns", lambda f, v: [c for c in scalar(f, v).split(",") if c]),
    "hide_columns": ("hide_columns", lambda f, v: [c for c in scalar(f, v).split(",") if c]),
}
_FIELDS_BY_RESOURCE = {
    "line": _LINE_FIELDS,
    "mag": _LINE_FIELDS,
    "enigma": _LINE_FIELDS,
    "reseller": _RESELLER_FIELDS,
}


def _fields_for(op: Operation) -> dict[str, tuple[str, _Converter]]:
    return {**_COMMON_FIELDS, **_FIELDS_BY_RESOURCE.get(op.resource, {})}


def expresses() -> dict[str, str]:
    """Operations a client of this dialect can call, with how each addresses its record."""
    return {op.name: op.target.value for op in catalogue().operations.values() if op.xm_action is not None}


def native(op: Operation, ref_kind: str) -> bool:
    """Whether an Xtream-Masters panel runs `op` addressed by `ref_kind` in one call."""
    return op.xm_action is not None and ref_kind == op.target.value


# --- client face -------------------------------------------------------------------------------------------


def credentials(request: RawRequest) -> Credentials:
    """The gateway key the client presented: `api_key` parameter or `X-API-Key` header, never both differing."""
    return presented_key(request, merged(request))


def parse(request: RawRequest, cat: Catalogue | None = None) -> Call:
    """Canonical Call for a client request; unknown actions and unreadable values are refused here."""
    cat = cat or catalogue()
    params = merged(request)
    action = params.get("action")
    if action is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, "action is required", reason="unknown_action"))
    if not isinstance(action, str):
        raise invalid("action must be a single value")
    op = cat.by_xm_action.get(action)
    if op is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, f"unknown action {action[:60]!r}", reason="unknown_action"))
    echo = {k: v for k, v in params.items() if k not in _CONTROL}
    try:
        args = canonical_args(op, echo)
        target = Ref(id=args.pop("id")) if op.target is Target.ID else NO_REF
    except FieldError as exc:
        raise invalid(str(exc), exc.code, echo) from None
    return Call(
        operation=op.name,
        args=args,
        target=target,
        dialect=NAME,
        raw_action=action,
        route=request.match.get("code", ""),
    )


def canonical_args(op: Operation, params: Params) -> dict[str, Any]:
    """Convert the panel's parameters for `op` into canonical typed args."""
    fields = _fields_for(op)
    args: dict[str, Any] = {}
    for name, value in params.items():
        if name in fields:
            canonical, convert = fields[name]
            args[canonical] = convert(name, value)
        elif name == "id" and op.target is Target.ID:
            args["id"] = to_int("id", value, low=1)
        else:
            args[name] = value
    if op.target is Target.ID and "id" not in args:
        raise FieldError("id", "is required")
    return args


# The columns table.php searches, per list (the others: every column).
SEARCH_COLUMNS: dict[str, tuple[str, ...]] = {"reseller.list": ("username", "email", "ip", "notes")}


def list_page(op: Operation, args: dict[str, Any]) -> Page | None:
    """A table list (get_lines, get_users, ...) is paged by the panel, 50 rows unless asked otherwise; the simple
    lists (BARE_LIST_ACTIONS) are answered whole."""
    if not op.name.endswith(".list") or op.xm_action in BARE_LIST_ACTIONS:
        return None
    search = args.get("search")
    value = search.get("value") if isinstance(search, dict) else None
    if not isinstance(value, str) or not value:
        return Page.of(args)
    return replace(Page.of(args), search=value, search_columns=SEARCH_COLUMNS.get(op.name, ()))


def _json(data: Any) -> bytes:
    return jsonio.dumps(data)


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    """The panel's own response shape for a canonical outcome."""
    if isinstance(outcome, Result):
        if op is not None and op.xm_action in BARE_LIST_ACTIONS and isinstance(outcome.data, list):
            return Rendered(200, _json(outcome.data))
        body: dict[str, Any] = {"status": "STATUS_SUCCESS"}
        if outcome.data is not None:
            body["data"] = outcome.data
        if outcome.total is not None:
            body.update(_php_counts(outcome.total, outcome.filtered))
        body.update(outcome.extra)
        return Rendered(200, _json(body))
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, _json(failure_body(outcome)))


def _php_counts(total: int, filtered: int | None) -> dict[str, Any]:
    """The panel's counts as PHP produces them: the total is a MySQL string, and the filtered count is
    `min(total, limit)`, which keeps the string when the total is the smaller one."""
    shown = total if filtered is None else filtered
    return {"recordsTotal": str(total), "recordsFiltered": str(shown) if shown == total else shown}


def failure_body(failure: Failure) -> dict[str, Any]:
    code = failure.code
    if code is Code.UNAUTHORIZED:
        return {"status": "STATUS_FAILURE", "error": "Invalid API key."}
    if code is Code.UNKNOWN_OPERATION:
        return {"status": "STATUS_FAILURE", "error": "Invalid action."}
    name = "FAILURE" if code in (Code.FAILURE, Code.NOT_FOUND) else code.value
    body: dict[str, Any] = {"status": f"STATUS_{name}"}
    if failure.echo is not None:
        body["data"] = failure.echo
    if failure.message:
        body["error"] = failure.message
    return body


# --- upstream face -----------------------------------------------------------------------------------------


def panel_params(op: Operation, args: dict[str, Any]) -> Params:
    """Canonical args back to the panel's parameters, honouring its quirks."""
    out: Params = {}
    for name, value in args.items():
        if value is None:
            continue
        if name == "exp_date":
            out["exp_date"] = unix_to_date(value)
        elif name == "bouquets":
            out["bouquets_selected"] = json.dumps(list(value), separators=(",", ":"))
        elif name in PRESENCE_FLAGS:
            if value:
                out[name] = "1"
        elif name in ("show_columns", "hide_columns"):
            out[name] = ",".join(value)
        elif name == "owner":
            out["reseller"] = str(value)  # the panel's list filter by owning reseller
        elif name == "servers":
            # XC v2 names a set of servers; the panel takes one server_id, -1 meaning all of them.
            if "server_id" not in args:
                out["server_id"] = str(value[0]) if len(value) == 1 else "-1"
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif isinstance(value, int):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def foreign_fields(op: Operation, args: dict[str, Any]) -> tuple[str, ...]:
    """None: the canonical fields are Xtream-Masters' own."""
    return ()


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    """A POST to the panel: its key and action first, then the call's args in the panel's own form."""
    if op.xm_action is None or call.target.kind not in ("id", "none"):
        raise ValueError(f"{op.name} by {call.target.kind} is not native to {NAME}: the planner must adapt it")
    form = [("api_key", upstream.api_key), ("action", op.xm_action)]
    if call.target.id is not None:
        form.append(("id", str(call.target.id)))
    form += flatten(panel_params(op, call.args))
    return UpstreamRequest(
        method="POST",
        path=f"/{upstream.access_code}/admin/index.php",
        form=form,
        secret_fields=frozenset({"api_key"}),
    )


def decode(op: Operation, status: int, body: bytes) -> Outcome:
    """Canonical outcome of a panel answer. Anything that is not the panel's JSON is an upstream error."""
    try:
        doc = jsonio.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Failure(Code.UPSTREAM_ERROR, f"upstream answered HTTP {status} with a body that is not JSON")
    if isinstance(doc, list):
        return Result(data=doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
        return Failure(Code.UPSTREAM_ERROR, "upstream answered without a status")
    panel_status: str = doc["status"]
    if panel_status == "STATUS_SUCCESS":
        extra = {k: v for k, v in doc.items() if k not in ("status", "data", "recordsTotal", "recordsFiltered")}
        return Result(
            data=doc.get("data"),
            total=_count(doc.get("recordsTotal")),
            filtered=_count(doc.get("recordsFiltered")),
            extra=extra,
        )
    error = doc.get("error")
    if error == "Invalid API key.":
        # The panel refused the gateway's own upstream key: an operator problem, not the client's.
        return Failure(Code.UPSTREAM_ERROR, "the upstream panel refused the gateway's credentials")
    if error == "Invalid action.":
        return Failure(Code.UNSUPPORTED, f"the upstream panel does not know the action {op.xm_action}")
    name = panel_status.removeprefix("STATUS_")
    echo = doc.get("data")
    if isinstance(echo, dict):
        echo = {k: v for k, v in echo.items() if k not in _CONTROL}
    if name == "FAILURE":
        code = Code.NOT_FOUND if op.target is Target.ID else Code.FAILURE
        return Failure(code, str(error) if isinstance(error, str) else "", echo=echo)
    try:
        code = Code(name)
    except ValueError:
        return Failure(Code.FAILURE, f"upstream status {name[:40]}", echo=echo)
    return Failure(code, str(error) if isinstance(error, str) else "", echo=echo)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
