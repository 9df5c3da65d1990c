"""MidnightStreamer Pro's client face: a `POST /api/{group}/{verb}` request read into a Call, and outcomes
answered as the panel answers (`{"result": .., "error": "A sentence."}`, text/html)."""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.catalogue import Catalogue, Operation, catalogue
from gateway.dialects.base import RawRequest, Rendered
from gateway.dialects.common import invalid, merged, presented_key, unix_text, unreadable
from gateway.dialects.fieldmap import FieldMap
from gateway.dialects.midnight.vocabulary import BY_OPERATION, ENDPOINTS, FIELDS, NAME
from gateway.fields import FieldError, mac, to_int
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Reason, Ref, Refused, Result
from gateway.phpform import Params


def expresses() -> dict[str, str]:
    """Operations a MidnightStreamer client can call, each with how it addresses its record."""
    return {op: ref.split("|")[0] for op, ref in ENDPOINTS.values()}


def credentials(request: RawRequest) -> Credentials:
    """The gateway key from POST `api_key`, the 4th URL segment or `X-API-Key`; all given must agree."""
    return presented_key(request, merged(request))


def data_args(op: Operation, data: Any) -> dict[str, Any]:
    """Canonical args from a `data[...]` array: only the fields this panel has for the resource, each typed."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FieldError("data", "must be an array (data[field]=value)")
    table = FIELDS.get(op.resource, FieldMap())
    return table.read(op, data, shown=lambda name: f"data[{name}]",
                      refusal=f"is not a field of {'/'.join(BY_OPERATION[op.name])}")  # fmt: skip


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
    """The canonical Call of a client request; unknown endpoints, parameters and fields are refused here."""
    cat = cat or catalogue()
    group, verb = request.match.get("group", ""), request.match.get("verb", "")
    entry = ENDPOINTS.get((group, verb))
    if entry is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, f"unknown endpoint {group[:30]}/{verb[:30]}",
                              reason=Reason.UNKNOWN_ACTION))
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
        raise unreadable(exc) from None
    if operation == "reseller.create" and not args.get("username"):
        raise invalid("Name is required.")  # the panel's own words, without a field prefix
    return Call(operation=operation, args=args, target=target, dialect=NAME, raw_action=f"{group}/{verb}")


def list_page(op: Operation, args: dict[str, Any]) -> Page | None:
    """MidnightStreamer answers whole lists: its clients expect no page."""
    return None


_MAG_FROM_LINE = ("exp_date", "member_id", "package", "package_id", "enabled", "admin_enabled")


def ms_row(resource: str, row: Any) -> Any:
    """A canonical row in MidnightStreamer's column names (unknown columns kept, secrets of resellers dropped)."""
    if not isinstance(row, dict):
        return row
    line = row.get("user")
    if resource == "mag" and isinstance(line, dict):
        # An Xtream-Masters MAG row nests its line: expiry, owner and plan live there, the device id is mag_id.
        row = {**{k: v for k, v in line.items() if k in _MAG_FROM_LINE}, **row}
        row.pop("user")
        if "id" not in row and "mag_id" in row:
            row["id"] = row["mag_id"]
    out = FIELDS[resource].to_wire(row) if resource in FIELDS else dict(row)
    if resource == "reseller":
        out.pop("password", None)
        # XUI.one's get_users answers DATETIME text where MidnightStreamer answers UNIX time
        for column in ("created_at", "last_login"):
            if column in out:
                out[column] = unix_text(out[column])
    return out


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    """The panel's own answer for a canonical outcome."""
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
        return Rendered(200, jsonio.dumps(body), "text/html")
    if outcome.code is Code.UNKNOWN_OPERATION:
        page = b"<html><head><title>404 Page Not Found</title></head><body><h1>404 Page Not Found</h1></body></html>"
        return Rendered(404, page, "text/html")
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, jsonio.dumps({"result": False, "error": failure_text(outcome, op)}), "text/html")


def failure_text(failure: Failure, op: Operation | None) -> str:
    """What the panel says for a failure: its own sentence where it has one."""
    resource = op.resource if op else ""
    code = failure.code
    if code is Code.UNAUTHORIZED:
        return failure.message if failure.reason.about_key_dates else "Invalid API key."
    if code is Code.FORBIDDEN and failure.reason is Reason.IP:
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
