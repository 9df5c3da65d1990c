"""MidnightStreamer Pro API (`POST /api/resellers/new`, `data[...]`, key as POST field or 4th URL segment).

Resellers are addressed by id or username, lines by username, MAG devices by MAC. Field names differ from the
canonical (Xtream) ones and are mapped both ways here; the planner bridges addressing and credit semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway import jsonio
from gateway.catalogue import Catalogue, Operation, catalogue
from gateway.dialects.base import RawRequest, Rendered, UpstreamRequest
from gateway.dialects.common import invalid, merged, presented_key
from gateway.fields import FieldError, mac, scalar, str_list, to_flag, to_int
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Ref, Refused, Result
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream

NAME = "midnight"

# Credits move only through add_credits on an Xtream panel; here `data[credits]` sets them outright.
CREDITS_BY_ADJUSTMENT = False
PAGES_LISTS = False  # resellers/list: every row
WHOLE_CREDITS = True  # its credits are whole numbers
WHOLE_ROW_EDITS = False

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

_Converter = Callable[[str, Any], Any]


def _unix(field: str, value: Any) -> int | None:
    return None if scalar(field, value).strip() in ("", "0", "null") else to_int(field, value)


def _inverted(field: str, value: Any) -> bool:
    return not to_flag(field, value)


# MidnightStreamer `data[...]` field -> (canonical name, converter), per resource.
_LINE: dict[str, tuple[str, _Converter]] = {
    "username": ("username", scalar),
    "password": ("password", scalar),
    "max_allowed_connections": ("max_connections", lambda f, v: to_int(f, v, high=10_000)),
    "restreamer": ("is_restreamer", to_flag),
    "expire_date": ("exp_date", _unix),
    "subscription_plan_id": ("package", to_int),
    "reseller_id": ("member_id", to_int),
    "enabled": ("enabled", to_flag),
    "banned": ("admin_enabled", _inverted),
    "is_trial": ("is_trial", to_flag),
    "notes": ("reseller_notes", scalar),
    "allowed_ips": ("allowed_ips", str_list),
    "allowed_user_agents": ("allowed_ua", str_list),
    "isp_lock": ("is_isplock", to_flag),
    "server_id": ("force_server_id", to_int),
    "mac_address": ("mac", mac),
}
_RESELLER: dict[str, tuple[str, _Converter]] = {
    "name": ("username", scalar),
    "username": ("username", scalar),
    "password": ("password", scalar),
    "email": ("email", scalar),
    "credits": ("credits", lambda f, v: to_int(f, v, low=-(10**9), high=10**9)),
    "use_credits": ("use_credits", to_flag),
    "max_allowed_connections": ("max_connections", lambda f, v: to_int(f, v, high=10_000)),
    "status": ("status", to_flag),
    "notes": ("notes", scalar),
    # not MidnightStreamer's own: the reseller group on an upstream panel that has groups (never sent to one)
    "member_group_id": ("member_group_id", to_int),
}
_FIELDS = {"line": _LINE, "mag": _LINE, "reseller": _RESELLER}
# canonical -> MidnightStreamer column, per resource (the reseller's name travels as `name` on create)
_COLUMNS: dict[str, dict[str, str]] = {
    resource: {canonical: column for column, (canonical, _) in fields.items() if column != "name"}
    for resource, fields in _FIELDS.items()
}


def expresses() -> dict[str, str]:
    """Operations a MidnightStreamer client can call, each with how it addresses its record."""
    return {op: ref.split("|")[0] for op, ref in ENDPOINTS.values()}


def native(op: Operation, ref_kind: str) -> bool:
    endpoint = BY_OPERATION.get(op.name)
    return endpoint is not None and ref_kind in ENDPOINTS[endpoint][1].split("|")


# --- client face -------------------------------------------------------------------------------------------


def credentials(request: RawRequest) -> Credentials:
    """The gateway key from POST `api_key`, the 4th URL segment or `X-API-Key`; all given must agree."""
    return presented_key(request, merged(request))


def data_args(op: Operation, data: Any) -> dict[str, Any]:
    """Canonical args from a `data[...]` array: only the fields this panel has for the resource, each typed."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FieldError("data", "must be an array (data[field]=value)")
    known = _FIELDS.get(op.resource, {})
    args: dict[str, Any] = {}
    for name, value in data.items():
        entry = known.get(name)
        if entry is None or entry[0] not in op.fields:
            raise FieldError(f"data[{name}]", f"is not a field of {'/'.join(BY_OPERATION[op.name])}")
        canonical, convert = entry
        args[canonical] = convert(f"data[{name}]", value)
    return args


# Top-level parameters the panel reads, per way of addressing the record (besides the key).
_TOP_LEVEL: dict[str, frozenset[str]] = {
    "none": frozenset({"data"}),
    "username": frozenset({"username", "data"}),
    "mac": frozenset({"mac_address", "data"}),
    "id|username": frozenset({"id", "username", "data", "credits"}),
}


def _ref(ref_kind: str, params: Params) -> Ref:
    if ref_kind == "mac":
        return Ref(mac=mac("mac_address", params.get("mac_address", "")))
    if ref_kind == "username":
        username = params.get("username")
        if not isinstance(username, str) or not username:
            raise FieldError("username", "is required")
        return Ref(username=username)
    if ref_kind == "id|username":
        if params.get("id") not in (None, ""):
            return Ref(id=to_int("id", params["id"], low=1))
        return _ref("username", params)
    return NO_REF


def parse(request: RawRequest, cat: Catalogue | None = None) -> Call:
    cat = cat or catalogue()
    group, verb = request.match.get("group", ""), request.match.get("verb", "")
    entry = ENDPOINTS.get((group, verb))
    if entry is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, f"unknown endpoint {group[:30]}/{verb[:30]}",
                              reason="unknown_action"))
    operation, ref_kind = entry
    op = cat.operations[operation]
    params = merged(request)
    try:
        unknown = sorted(set(params) - {"api_key"} - _TOP_LEVEL[ref_kind])
        if unknown:
            raise FieldError(unknown[0], f"is not a parameter of {group}/{verb}")
        target = _ref(ref_kind, params)
        args = data_args(op, params.get("data"))
        if operation == "reseller.adjust_credits":
            args["credits"] = to_int("credits", params.get("credits", ""), low=-(10**9), high=10**9)
    except FieldError as exc:
        raise invalid(str(exc), exc.code) from None
    if operation == "reseller.create" and not args.get("username"):
        raise invalid("Name is required.")  # the panel's own words, without a field prefix
    return Call(operation=operation, args=args, target=target, dialect=NAME, raw_action=f"{group}/{verb}")


def list_page(op: Operation, args: dict[str, Any]) -> Page | None:
    """MidnightStreamer answers whole lists: its clients expect no page."""
    return None


def _json(data: Any) -> bytes:
    return jsonio.dumps(data)


_MAG_FROM_LINE = ("exp_date", "member_id", "package", "package_id", "enabled", "admin_enabled")


def ms_row(resource: str, row: Any) -> Any:
    """A canonical row in MidnightStreamer's column names (unknown columns kept, secrets of resellers dropped)."""
    if not isinstance(row, dict):
        return row
    columns = _COLUMNS.get(resource, {})
    line = row.get("user")
    if resource == "mag" and isinstance(line, dict):
        # An Xtream-Masters MAG row nests its line: expiry, owner and plan live there, the device id is mag_id.
        row = {**{k: v for k, v in line.items() if k in _MAG_FROM_LINE}, **row}
        row.pop("user")
        if "id" not in row and "mag_id" in row:
            row["id"] = row["mag_id"]
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == "date_registered" and resource == "reseller":
            out["created_at"] = value
        elif name == "admin_enabled":
            out["banned"] = "0" if str(value) == "1" else "1"
        elif name == "mac":
            out["mac_address"] = value
        elif name == "member_id" and resource != "reseller":
            out["reseller_id"] = value
        else:
            out[columns.get(str(name)) or str(name)] = value
    if resource == "reseller":
        out.pop("password", None)
    return out


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    name = op.name if op else ""
    if isinstance(outcome, Result):
        data = outcome.data
        if name in ("reseller.create", "line.create") and isinstance(data, dict):
            created = data.get("id")
            body: Any = {"result": True, "created_id": int(str(created)) if str(created).isdigit() else created,
                         "username": data.get("username"), "password": data.get("password")}
        elif name == "reseller.list":
            body = {"result": True, "data": [ms_row("reseller", r) for r in data or []]}
        elif name in ("line.get", "mag.get"):
            body = {"result": True, "data": ms_row(op.resource if op else "", data)}
        else:
            body = {"result": True}
        return Rendered(200, _json(body), "text/html")
    if outcome.code is Code.UNKNOWN_OPERATION:
        page = b"<html><head><title>404 Page Not Found</title></head><body><h1>404 Page Not Found</h1></body></html>"
        return Rendered(404, page, "text/html")
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, _json({"result": False, "error": failure_text(outcome, op)}), "text/html")


def failure_text(failure: Failure, op: Operation | None) -> str:
    resource = op.resource if op else ""
    code = failure.code
    if code is Code.UNAUTHORIZED:
        return "Invalid API key."
    if code is Code.FORBIDDEN and failure.reason == "ip":
        return "IP not allowed."
    if code is Code.EXISTS_USERNAME:
        return "Username exists."
    if code is Code.EXISTS_MAC:
        return "MAC Address already exists"
    if code is Code.INVALID_MAC or (code is Code.NOT_FOUND and resource == "mag"):
        return "Invalid MAC Address"
    if code is Code.INSUFFICIENT_CREDITS:
        return "Not enough credits."
    if code is Code.NOT_FOUND:
        return "Reseller not found." if resource == "reseller" else "Line not found."
    if code is Code.INVALID_INPUT and failure.message:
        return failure.message
    lead = _SENTENCES.get(code, "Request failed.")
    if failure.message and code not in _NO_DETAIL:
        return f"{lead.rstrip('.')}: {failure.message}"
    return lead


# What MidnightStreamer says (or would, in its own style: a short sentence) for the failures it has no words of
# its own for; never a canonical code name. The detail follows where it helps the client and tells nothing of
# what is behind the gateway (an upstream's own error text is not passed on).
_SENTENCES: dict[Code, str] = {
    Code.FAILURE: "Request failed.",
    Code.EXISTS_CODE: "Code exists.",
    Code.EXISTS_NAME: "Name exists.",
    Code.INVALID_DATE: "Invalid date.",
    Code.INVALID_GROUP: "Invalid group.",
    Code.INVALID_USERNAME: "Invalid username.",
    Code.INVALID_PACKAGE: "Invalid subscription plan.",
    Code.NO_TRIALS: "No trials left.",
    Code.NO_PERMISSIONS: "Permission denied.",
    Code.UNKNOWN_OPERATION: "Unknown endpoint.",
    Code.UNSUPPORTED: "Not supported.",
    Code.FORBIDDEN: "Permission denied.",
    Code.RATE_LIMITED: "Too many requests, try again later.",
    Code.PAYLOAD_TOO_LARGE: "Request too large.",
    Code.UPSTREAM_UNAVAILABLE: "Service unavailable, try again later.",
    Code.UPSTREAM_ERROR: "Service error.",
    Code.PARTIAL_FAILURE: "Partly done.",
}
# Failures whose message would name another panel's words or its internals: the sentence alone.
_NO_DETAIL = frozenset({Code.FAILURE, Code.UPSTREAM_ERROR, Code.EXISTS_CODE, Code.EXISTS_NAME, Code.NO_PERMISSIONS})


# --- upstream face -----------------------------------------------------------------------------------------


def data_fields(resource: str, args: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Canonical args as MidnightStreamer `data[...]` fields."""
    columns = _COLUMNS.get(resource, {})
    out: dict[str, Any] = {}
    for name, value in args.items():
        if value is None:
            continue
        if resource == "reseller" and name == "username" and creating:
            column = "name"
        elif name == "admin_enabled":
            out["banned"] = "0" if value else "1"
            continue
        else:
            column = columns.get(name, name)
        if isinstance(value, bool):
            out[column] = "1" if value else "0"
        elif isinstance(value, list | tuple):
            out[column] = [str(v) for v in value]
        else:
            out[column] = str(value)
    return out


# Fields a client of another dialect may send that mean nothing here, dropped rather than refused: an
# Xtream-Masters create_user must name a reseller group, and MidnightStreamer has no groups.
_MEANINGLESS: dict[str, frozenset[str]] = {"reseller": frozenset({"member_group_id"})}
_WRITES = frozenset({"line.create", "line.edit", "mag.create", "mag.edit", "reseller.create", "reseller.edit"})


def foreign_fields(op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
    """Fields of a line, MAG or reseller write with no MidnightStreamer field (the panel would answer a bare
    "Database error." for an unknown column, maybe after writing the rest)."""
    if op.name not in _WRITES:
        return ()
    known = set(_COLUMNS.get(op.resource, {})) | {"admin_enabled", "mac"} | _MEANINGLESS.get(op.resource, set())
    return tuple(sorted(name for name in args if name not in known))


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    endpoint = BY_OPERATION.get(op.name)
    if endpoint is None or not native(op, call.target.kind):
        raise ValueError(f"{op.name} by {call.target.kind} is not native to {NAME}")
    group, verb = endpoint
    params: Params = {"api_key": upstream.api_key}
    ref = call.target
    if ref.kind == "id":
        params["id"] = str(ref.id)
    elif ref.kind == "username":
        params["username"] = ref.username
    elif ref.kind == "mac":
        params["mac_address"] = ref.mac
    args = {k: v for k, v in call.args.items() if k not in _MEANINGLESS.get(op.resource, ())}
    if op.name == "reseller.adjust_credits":
        params["credits"] = str(args.pop("credits"))
    if op.name == "mag.create" and "mac" in args:
        args["mac_address"] = args.pop("mac")
    data = data_fields(op.resource, args, creating=op.name.endswith(".create"))
    if data:
        params["data"] = data
    return UpstreamRequest("POST", f"/api/{group}/{verb}", flatten(params), secret_fields=frozenset({"api_key"}))


_ERRORS: dict[str, Code] = {
    "Username exists.": Code.EXISTS_USERNAME,
    "MAC Address already exists": Code.EXISTS_MAC,
    "Not enough credits.": Code.INSUFFICIENT_CREDITS,
    "Reseller not found.": Code.NOT_FOUND,
    "Line not found.": Code.NOT_FOUND,
    "Name is required.": Code.INVALID_INPUT,
    "Invalid credits.": Code.INVALID_INPUT,
    "Missing id or username.": Code.INVALID_INPUT,
    "Missing username.": Code.INVALID_INPUT,
}


def canonical_row(resource: str, row: Any) -> Any:
    """A MidnightStreamer row in canonical (Xtream column) names."""
    if not isinstance(row, dict):
        return row
    fields = _FIELDS.get(resource, {})
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == "banned":
            out["admin_enabled"] = "0" if str(value) == "1" else "1"
        elif name == "reseller_id":
            out["member_id"] = value
        elif name == "created_at" and resource == "reseller":
            out["date_registered"] = value
        else:
            out[fields[name][0] if name in fields else name] = value
    return out


def decode(op: Operation, status: int, body: bytes) -> Outcome:
    if status == 404:
        return Failure(Code.UNSUPPORTED, f"the upstream MidnightStreamer panel has no endpoint for {op.name}")
    try:
        doc = jsonio.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Failure(Code.UPSTREAM_ERROR, f"upstream answered HTTP {status} with a body that is not JSON")
    if not isinstance(doc, dict) or "result" not in doc:
        return Failure(Code.UPSTREAM_ERROR, "upstream answered without a result")
    if doc["result"] is not True:
        error = doc.get("error")
        if error in ("Invalid API key.", "IP not allowed."):
            return Failure(Code.UPSTREAM_ERROR, "the upstream panel refused the gateway's key or address")
        if error == "Invalid MAC Address":
            return Failure(Code.NOT_FOUND if op.name != "mag.create" else Code.INVALID_MAC, str(error))
        text = str(error) if isinstance(error, str) else ""
        return Failure(_ERRORS.get(text, Code.FAILURE), text)
    if op.name in ("reseller.create", "line.create"):
        return Result(data={"id": doc.get("created_id"), "username": doc.get("username"),
                            "password": doc.get("password")})
    if op.name == "reseller.list":
        rows = doc.get("data")
        return Result(data=[canonical_row("reseller", r) for r in rows] if isinstance(rows, list) else [])
    if op.name in ("line.get", "mag.get"):
        return Result(data=canonical_row(op.resource, doc.get("data")))
    return Result(data=None)
