"""Xtream-Masters / XUI.one admin API (`/{code}/admin/index.php?api_key=..&action=..`), both faces.

Pure functions over the canonical model: parse and render for clients, encode and decode for upstream panels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gateway import fields, jsonio
from gateway.catalogue import Catalogue, FieldType, Operation, Target, catalogue
from gateway.dialects.base import RawRequest, Rendered, UpstreamRequest
from gateway.dialects.common import invalid, merged, presented_key
from gateway.fields import FieldError, date_to_unix, to_int, unix_to_date
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Ref, Refused, Result
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream

NAME = "xtream_masters"
# Credits move through adjust_credits, which the panel writes to its credit log; a create or edit never sets them.
CREDITS_BY_ADJUSTMENT = True
PAGES_LISTS = True  # table.php: start, limit, recordsTotal
WHOLE_CREDITS = True  # adjust_credits: intval()
WHOLE_ROW_EDITS = True  # XUI.one rebuilds an edited row from the request (gateway.plans.whole_row)

# Path names XUI.one refuses as access codes (admin_api.php processCode: STATUS_RESERVED_CODE): other routes'.
XUI_RESERVED_CODES = ("admin", "stream", "images", "player_api", "player", "playlist", "epg", "live", "movie",
                      "series", "status", "nginx_status", "get", "panel_api", "xmltv", "probe", "thumb", "timeshift",
                      "auth", "vauth", "tsauth", "hls", "play", "key", "api", "c")  # fmt: skip
# An access code as a route variable, never one of those (every such path goes on with a `/`).
XUI_CODE = "{code:(?!(?:" + "|".join(XUI_RESERVED_CODES) + ")/)[A-Za-z0-9_-]+}"

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

# How this panel's parameters differ from the canonical fields (the canonical model keeps the panel's names and
# types except where its wire form differs from the value).
_DEVICE_LIKE = ("line", "mag", "enigma", "package")
# canonical -> wire name: per resource, then for every operation
_RENAMES: dict[str, dict[str, str]] = {resource: {"bouquets": "bouquets_selected"} for resource in _DEVICE_LIKE}
_RENAMES_ANYWHERE = {"owner": "reseller"}  # table.php's filter by owning reseller
# Lists the panel json_decode()s from one text (`bouquets_selected=[1,2]`) rather than reading a PHP array.
_JSON_TEXT = frozenset({*((resource, "bouquets") for resource in _DEVICE_LIKE), ("package", "groups_selected")})
# ...and which it cannot do without: XUI.one dies on a missing one (HTTP 200, empty body, nothing written), where
# the client meant "none".
_REQUIRED_LISTS = _JSON_TEXT
# Flags the panel reads by value (intval); every other flag turns on when its parameter is merely present, even as
# 0 (`isset()`), so toward the panel a false flag is omitted.
_VALUE_FLAGS = frozenset({*((r, f) for r in ("line", "mag", "enigma") for f in ("enabled", "admin_enabled")),
                          ("reseller", "status")})  # fmt: skip
# Readers narrower than their type's: the panel's own limits, so a bad value is refused here, named.
_Converter = Callable[[str, Any], Any]
_READERS: dict[str, _Converter] = {
    "max_connections": lambda f, v: to_int(f, v, low=0, high=10_000),
    "start": lambda f, v: to_int(f, v, high=10**9),
    "limit": lambda f, v: to_int(f, v, low=1, high=10_000),
    "filter": lambda f, v: to_int(f, v, low=0, high=5),
    "server_id": lambda f, v: to_int(f, v, low=-1),
}


def _wire_name(op: Operation, canonical: str) -> str:
    return _RENAMES.get(op.resource, {}).get(canonical) or _RENAMES_ANYWHERE.get(canonical, canonical)


def _canonical_names(op: Operation) -> dict[str, str]:
    """This panel's parameter name -> canonical field, for the fields `op` declares."""
    return {_wire_name(op, name): name for name in op.fields}


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
    """Canonical Call for a client request; unknown actions, undeclared parameters and unreadable values are
    refused here."""
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
        args = canonical_args(op, echo, timezone=request.timezone)
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
        echo=echo,
    )


def canonical_args(op: Operation, params: Params, *, timezone: str = "UTC") -> dict[str, Any]:
    """The panel's parameters for `op` as canonical typed args (and the record's `id`). A parameter `op` does not
    declare is refused: the upstream request is built from declared fields only, so nothing the client adds can
    stand in for the envelope (`edit`, `id`, `action`) or reach a column the gateway does not know."""
    names = _canonical_names(op)
    args: dict[str, Any] = {}
    for name, value in params.items():
        if name == "id" and op.target is Target.ID:
            args["id"] = to_int("id", value, low=1)
            continue
        canonical = names.get(name)
        if canonical is None:
            raise FieldError(name, f"is not a parameter of {op.xm_action or op.name}")
        reader = _READERS.get(canonical)
        if op.fields[canonical] is FieldType.DATE:
            args[canonical] = date_to_unix(name, value, timezone)  # as the panel reads it, in its time zone
        else:
            args[canonical] = reader(name, value) if reader else fields.read(name, op.fields[canonical], value)
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
    # The panel says no more than its status; the gateway explains its own refusals and its own trouble, but never
    # passes on another panel's words (they would tell what is behind it).
    if failure.message and (failure.reason or code in _GATEWAY_CODES):
        body["error"] = failure.message
    return body


_GATEWAY_CODES = frozenset({Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR, Code.UNSUPPORTED, Code.PARTIAL_FAILURE,
                            Code.INVALID_INPUT, Code.INVALID_DATE, Code.INVALID_MAC, Code.PAYLOAD_TOO_LARGE,
                            Code.RATE_LIMITED, Code.FORBIDDEN})  # fmt: skip


# --- upstream face -----------------------------------------------------------------------------------------


def panel_params(op: Operation, args: dict[str, Any], timezone: str = "UTC") -> Params:
    """Canonical args back to the panel's parameters, honouring its quirks. Only the fields `op` declares are
    written (by construction none of them is a name the envelope uses: the catalogue refuses those)."""
    out: Params = {}
    for name, value in args.items():
        ftype = op.fields.get(name)
        if ftype is FieldType.DATE and value is None and "no_expire" in op.fields:
            out["no_expire"] = "1"  # never expires: said outright, since an absent date may also mean "unchanged"
            continue
        if value is None or ftype is None:
            continue
        wire = _wire_name(op, name)
        if ftype is FieldType.DATE:
            out[wire] = unix_to_date(value, timezone)
        elif ftype is FieldType.FLAG:
            if (op.resource, name) in _VALUE_FLAGS:
                out[wire] = "1" if value else "0"
            elif value:
                out[wire] = "1"  # presence is what the panel reads: a false flag is left out
        elif name == "override_packages":
            out.update(_overrides(value))
        elif (op.resource, name) in _JSON_TEXT:
            out[wire] = json.dumps(list(value), separators=(",", ":"))
        elif name == "servers":
            # XC v2 names a set of servers; the panel takes one server_id, -1 meaning all of them.
            if "server_id" not in args:
                out["server_id"] = str(value[0]) if len(value) == 1 else "-1"
        else:
            out[wire] = fields.wire(ftype, value)
    if op.name.endswith(".create"):  # an edit is sent whole instead (gateway.plans.whole_row): it has them
        for resource, name in _REQUIRED_LISTS:
            if resource == op.resource and name in op.fields:
                out.setdefault(_wire_name(op, name), "[]")
    return out


def _overrides(stored: str) -> Params:
    """A reseller's package price overrides as processUser reads them: one `override_<package id>` each (the
    panel rebuilds the column from these on every edit, so an edit that left them out would clear them)."""
    try:
        decoded = jsonio.loads(stored.encode())
    except (ValueError, RecursionError):
        return {}
    out: Params = {}
    for package, entry in (decoded.items() if isinstance(decoded, dict) else ()):
        credits = entry.get("official_credits") if isinstance(entry, dict) else None
        if str(package).isdigit() and isinstance(credits, int | float) and not isinstance(credits, bool):
            out[f"override_{int(package)}"] = str(credits)
    return out


def foreign_fields(op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
    """The canonical fields are the panel's own; but XUI.one's processMAG / processEnigma fix a device's line at
    one connection and no restreaming, whatever the request says: a client of another dialect that asks for
    more is told so rather than answered a success that did not happen."""
    if upstream.flavour != "xui_one" or op.resource not in ("mag", "enigma"):
        return ()
    overruled = []
    if args.get("max_connections") not in (None, 1):
        overruled.append("max_connections")
    if args.get("is_restreamer"):
        overruled.append("is_restreamer")
    return tuple(overruled)


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    """A POST to the panel: its key and action first, then the call's args in the panel's own form."""
    if op.xm_action is None or call.target.kind not in ("id", "none"):
        raise ValueError(f"{op.name} by {call.target.kind} is not native to {NAME}: the planner must adapt it")
    form = [("api_key", upstream.api_key), ("action", op.xm_action)]
    if call.target.id is not None:
        form.append(("id", str(call.target.id)))
    form += flatten(panel_params(op, call.args, upstream.timezone))
    return UpstreamRequest(
        method="POST",
        path=upstream.admin_url_path(),
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
