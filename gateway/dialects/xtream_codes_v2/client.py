"""Xtream Codes v2's client face: `/api.php?action=user&sub=create` with `user_data[...]` read into a Call, and
outcomes answered as api.php answers (`{"result": true, ..}`, `{"result": false, "error": "EXISTS"}`).

Lines are addressed by username+password and MAGs by MAC, never by id; stream starts take a batch of ids.
The plans bridge those differences; this module only translates.
"""

from __future__ import annotations

from typing import Any

from gateway import fields, jsonio
from gateway.catalogue import Catalogue, Operation, catalogue
from gateway.dialects.base import RawRequest, Rendered
from gateway.dialects.common import invalid, merged, presented_key, unreadable
from gateway.dialects.xtream_codes_v2.rows import reg_user_row, server_row, user_info
from gateway.dialects.xtream_codes_v2.vocabulary import ACTIONS, BY_OPERATION, NAME, columns
from gateway.fields import FieldError, int_list, mac, to_int
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Reason, Ref, Refused, Result
from gateway.phpform import Params

# Top-level parameters api.php reads, per way of addressing the record (besides action, sub and the key).
_TOP_LEVEL: dict[str, frozenset[str]] = {
    "none": frozenset({"user_data"}),
    "credentials": frozenset({"username", "password", "user_data"}),
    "mac": frozenset({"mac", "user_data"}),
    "ids": frozenset({"stream_ids", "servers"}),
    "id|username": frozenset({"id", "username", "amount"}),
}
# The old panel's own key: scripts moved from it may still send it; it is never the gateway's key nor forwarded.
_IGNORED = frozenset({"api_pass"})
# Parameters that decide what runs and who asks: given in both the query and the body, they must agree.
_CONTROL = ("action", "sub", "api_key")


def expresses() -> dict[str, str]:
    """Operations a client of this dialect can call, with how each addresses its record."""
    return {op: ref.split("|")[0] for op, ref in ACTIONS.values()}


def _merged(request: RawRequest) -> Params:
    """GET and POST merged as api.php reads `$_REQUEST`: POST wins, except that the action, the sub and the key
    must not differ between them."""
    return merged(request, strict=_CONTROL)


def credentials(request: RawRequest) -> Credentials:
    """The gateway key from `api_key`, `X-API-Key` or a `/k/{key}/api.php` prefix; all given must agree."""
    return presented_key(request, _merged(request))


def user_data_args(op: Operation, data: Any) -> dict[str, Any]:
    """Canonical args from a `user_data[...]` array: only the table's columns that `op` takes, each typed."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FieldError("user_data", "must be an array (user_data[column]=value)")
    action, sub = BY_OPERATION[op.name]
    return columns(op.resource).read(op, data, shown=lambda column: f"user_data[{column}]",
                                     refusal=f"is not a column {action}/{sub} sets")  # fmt: skip


def _with_flat(data: Any, flat: Params) -> Any:
    """user_data with a line's columns given beside it rather than in it (`username=..&max_connections=2`, as
    some scripts send them): the same columns, refused when both places name one with different values."""
    if not flat:
        return data
    if data is not None and not isinstance(data, dict):
        return data  # refused by user_data_args
    merged = dict(data or {})
    for column, value in flat.items():
        if column in merged and merged[column] != value:
            raise FieldError(column, f"differs from user_data[{column}]")
        merged[column] = value
    return merged


def _ref(ref_kind: str, params: Params) -> Ref:
    if ref_kind == "credentials":
        username, password = params.get("username"), params.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            raise FieldError("user/pass", "username and password are required", Code.NOT_FOUND)
        return Ref(username=username, password=password)
    if ref_kind == "mac":
        return Ref(mac=mac("mac", params.get("mac", "")))
    if ref_kind == "ids":
        ids = int_list("stream_ids", params.get("stream_ids", []))
        if not ids:
            raise FieldError("stream_ids", "at least one stream id is required")
        return Ref(ids=tuple(ids))
    if ref_kind == "id|username":
        if "id" in params:
            return Ref(id=to_int("id", params["id"], low=1))
        username = params.get("username")
        if not isinstance(username, str) or not username:
            raise FieldError("id", "id or username is required")
        return Ref(username=username)
    return NO_REF


def parse(request: RawRequest, cat: Catalogue | None = None) -> Call:
    """The canonical Call of a client request; unknown actions, parameters and columns are refused here."""
    cat = cat or catalogue()
    params = _merged(request)
    action, sub = params.get("action"), params.get("sub")
    if not isinstance(action, str) or not isinstance(sub, str | type(None)):
        if action is None:
            raise Refused(Failure(Code.UNKNOWN_OPERATION, "action is required", reason=Reason.UNKNOWN_ACTION))
        raise invalid("action and sub must be single values")
    entry = ACTIONS.get((action, sub or ""))
    if entry is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, f"unknown action {action[:40]}/{(sub or '')[:40]}",
                              reason=Reason.UNKNOWN_ACTION))
    operation, ref_kind = entry
    op = cat.operations[operation]
    try:
        envelope = set(_CONTROL) | _IGNORED | _TOP_LEVEL[ref_kind]
        flat: Params = {}
        if op.kind.value != "read" and op.resource in ("line", "mag"):
            table = columns(op.resource)
            flat = {k: v for k, v in params.items() if k not in envelope and table.field_of(k) is not None}
        unknown = sorted(set(params) - envelope - set(flat))
        if unknown:
            raise FieldError(unknown[0], f"is not a parameter of {action}/{sub}")
        target = _ref(ref_kind, params)
        args = user_data_args(op, _with_flat(params.get("user_data"), flat))
        if operation == "reseller.adjust_credits":
            args["credits"] = fields.number("amount", params.get("amount", ""))  # the panel formats %.2f
        if "servers" in params:
            args["servers"] = int_list("servers", params["servers"])
        elif ref_kind == "ids":
            # api.php starts/stops a stream on every server that carries it when no servers[] is given;
            # canonically that is server_id -1, which an XC v2 upstream gets back as no servers[] at all.
            args["server_id"] = -1
    except FieldError as exc:
        raise unreadable(exc) from None
    return Call(operation=operation, args=args, target=target, dialect=NAME, raw_action=f"{action}/{sub}")


def list_page(op: Operation, args: dict[str, Any]) -> Page | None:
    """api.php answers whole lists: its clients expect no page."""
    return None


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    """api.php's own answer for a canonical outcome (an unknown action: an empty page, as api.php gives)."""
    if isinstance(outcome, Result):
        return Rendered(200, jsonio.dumps(success_body(outcome, op)))
    if outcome.code is Code.UNKNOWN_OPERATION:
        return Rendered(outcome.http_status if http_status_codes else 200, b"", "text/html")
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, jsonio.dumps(failure_body(outcome, op)))


def success_body(result: Result, op: Operation | None) -> Any:
    name = op.name if op else ""
    data = result.data
    if name == "line.create" and isinstance(data, dict):
        return {"result": True, "created_id": _int(data.get("id")), "username": data.get("username"),
                "password": data.get("password")}
    if name == "line.get":
        return {"result": True, "user_info": user_info(data)}
    if name == "mag.get":
        return {"result": True, "mag_device": data, "user_info": data}
    if name == "reseller.list" and isinstance(data, list):
        return [reg_user_row(row) for row in data]
    if name == "server.list" and isinstance(data, list):
        return [server_row(row) for row in data]
    if name in ("server.list", "reseller.list", "stream.online", "stream.offline"):
        return data
    return {"result": True}


def failure_body(failure: Failure, op: Operation | None) -> dict[str, Any]:
    code = failure.code
    resource = op.resource if op else ""
    if code is Code.UNAUTHORIZED:
        return {"result": False, "0": "KEY WRONG", **({"message": failure.message} if failure.reason.about_key_dates
                                                      else {})}  # fmt: skip
    if code is Code.FORBIDDEN and failure.reason is Reason.IP:
        return {"result": False, "0": "IP FORBIDDEN"}
    if code is Code.INSUFFICIENT_CREDITS:
        # XC v2 answers result:true here and changes nothing; scripts written for it test the error key.
        return {"result": True, "error": "NOT ENOUGH CREDITS"}
    if code in (Code.EXISTS_USERNAME, Code.EXISTS_MAC):
        return {"result": False, "error": "EXISTS"}
    if code is Code.NOT_FOUND:
        error = "PARAMETER ERROR (user/pass)" if failure.subject == "user/pass" else "NOT EXISTS"
        return {"result": False, "error": error}
    if code is Code.INVALID_MAC or (resource == "mag" and code is Code.INVALID_INPUT and _about_mac(failure)):
        return {"result": False, "error": "PARAMETER ERROR (mac)"}
    if code in (Code.INVALID_INPUT, Code.INVALID_DATE, Code.INVALID_PACKAGE, Code.INVALID_USERNAME):
        return {"result": False, "error": "PARAMETER ERROR", "message": failure.message}
    body: dict[str, Any] = {"result": False, "error": code.value}
    if failure.message:
        body["message"] = failure.message
    return body


def _about_mac(failure: Failure) -> bool:
    return failure.subject.removeprefix("user_data[").removesuffix("]") == "mac"


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
