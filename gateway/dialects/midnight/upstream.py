"""MidnightStreamer Pro's upstream face: a canonical Call as the panel's `POST /api/{group}/{verb}` with
`data[...]` fields, and its answers read back into canonical outcomes."""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.catalogue import Operation
from gateway.dialects.base import UpstreamRequest, never_verbatim
from gateway.dialects.fieldmap import FieldMap
from gateway.dialects.midnight.vocabulary import BY_OPERATION, CREATED_NAME, ENDPOINTS, FIELDS, NAME
from gateway.model import Call, Code, Failure, Outcome, Result
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream

# Credits move only through add_credits on an Xtream panel; here `data[credits]` sets them outright.
CREDITS_BY_ADJUSTMENT = False
PAGES_LISTS = False  # resellers/list: every row
WHOLE_CREDITS = True  # its credits are whole numbers
WHOLE_ROW_EDITS = False
NAMES_AS_SENT = False  # not checked: walked
verbatim = never_verbatim

# Fields a client of another dialect may send that mean nothing here, dropped rather than refused: an
# Xtream-Masters create_user must name a reseller group, and MidnightStreamer has no groups.
_MEANINGLESS: dict[str, frozenset[str]] = {"reseller": frozenset({"member_group_id"})}
_WRITES = frozenset({"line.create", "line.edit", "mag.create", "mag.edit", "reseller.create", "reseller.edit"})


def native(op: Operation, ref_kind: str) -> bool:
    """Whether a MidnightStreamer panel runs `op` addressed by `ref_kind` in one call."""
    endpoint = BY_OPERATION.get(op.name)
    return endpoint is not None and ref_kind in ENDPOINTS[endpoint][1].split("|")


def foreign_fields(op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
    """Fields of a line, MAG or reseller write with no MidnightStreamer field (the panel would answer a bare
    "Database error." for an unknown column, maybe after writing the rest)."""
    if op.name not in _WRITES:
        return ()
    table = FIELDS.get(op.resource, FieldMap())
    meaningless = _MEANINGLESS.get(op.resource, frozenset())
    return tuple(sorted(name for name in args if not table.carries(name) and name not in meaningless))


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    """The panel request for `call`: its key, the record's address, then `data[...]` in the panel's names."""
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
    data = FIELDS.get(op.resource, FieldMap()).write(args, keep_unknown=True)
    if op.name == "reseller.create":
        data = {(CREATED_NAME if name == "username" else name): value for name, value in data.items()}
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
    return FIELDS[resource].to_canonical(row) if resource in FIELDS else dict(row)


def decode(op: Operation, status: int, body: bytes) -> Outcome:
    """The canonical outcome of a panel answer; anything but the panel's JSON is an upstream error."""
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
