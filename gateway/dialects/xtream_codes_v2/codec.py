"""Xtream Codes v2 admin API (`/api.php?action=user&sub=create`, `user_data[...]`), both faces.

Lines are addressed by username+password and MAGs by MAC, never by id; stream starts take a batch of ids.
The planner bridges those differences; this module only translates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway import fields, jsonio
from gateway.catalogue import Catalogue, Operation, catalogue
from gateway.dialects.base import RawRequest, Rendered, UpstreamRequest
from gateway.dialects.common import invalid, json_array, merged, presented_key
from gateway.fields import FieldError, int_list, mac, scalar, to_int
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Ref, Refused, Result
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream

NAME = "xtream_codes_v2"
CREDITS_BY_ADJUSTMENT = True  # reg_user/credits is the only way credits move
PAGES_LISTS = False  # reg_user/list, server/list: every row, no totals
WHOLE_CREDITS = False  # reg_user credits are decimals (%.2f)
WHOLE_ROW_EDITS = False

# (action, sub) -> (operation, how the record is addressed)
ACTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("user", "create"): ("line.create", "none"),
    ("user", "edit"): ("line.edit", "credentials"),
    ("user", "info"): ("line.get", "credentials"),
    ("stb", "create"): ("mag.create", "none"),
    ("stb", "edit"): ("mag.edit", "mac"),
    ("stb", "info"): ("mag.get", "mac"),
    ("server", "list"): ("server.list", "none"),
    ("stream", "online"): ("stream.online", "none"),
    ("stream", "offline"): ("stream.offline", "none"),
    ("stream", "start"): ("stream.start", "ids"),
    ("stream", "stop"): ("stream.stop", "ids"),
    ("vod", "start"): ("movie.start", "ids"),
    ("vod", "stop"): ("movie.stop", "ids"),
    ("reg_user", "list"): ("reseller.list", "none"),
    ("reg_user", "credits"): ("reseller.adjust_credits", "id|username"),
}
BY_OPERATION = {op: action for action, (op, _) in ACTIONS.items()}

_Converter = Callable[[str, Any], Any]
# user_data column -> (canonical name, converter) where they differ from the canonical field (a converter of None:
# the canonical field's type decides).
_USER_DATA: dict[str, tuple[str, _Converter | None]] = {
    "exp_date": ("exp_date", lambda f, v: None if scalar(f, v).strip() in ("", "null") else to_int(f, v)),
    "bouquet": ("bouquets", int_list),
    "max_connections": ("max_connections", lambda f, v: to_int(f, v, high=10_000)),
    "member_id": ("member_id", to_int),
    "force_server_id": ("force_server_id", to_int),
}
_CANONICAL_TO_COLUMN = {canonical: column for column, (canonical, _) in _USER_DATA.items()}
# The columns of api.php's `users` (lines) table a request may set; the rest are the panel's own (ids, creation
# stamps, ISP lock state). user_data goes into SQL as given, so any other name is an SQL error there.
LINE_COLUMNS = frozenset({
    "member_id", "username", "password", "exp_date", "admin_enabled", "enabled", "admin_notes", "reseller_notes",
    "bouquet", "max_connections", "is_restreamer", "allowed_ips", "allowed_ua", "is_trial", "pair_id",
    "force_server_id", "is_isplock", "forced_country", "is_stalker", "bypass_ua",
})  # fmt: skip
_MAG_COLUMNS = frozenset({"mac"})  # stb/create and stb/edit: the device's MAC beside its line's columns
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


def _columns_for(op: Operation) -> frozenset[str]:
    return LINE_COLUMNS | (_MAG_COLUMNS if op.resource == "mag" else frozenset())


def expresses() -> dict[str, str]:
    """Operations a client of this dialect can call, with how each addresses its record."""
    return {op: ref.split("|")[0] for op, ref in ACTIONS.values()}


def native(op: Operation, ref_kind: str) -> bool:
    """Whether an XC v2 panel runs `op` addressed by `ref_kind` in one call."""
    pair = BY_OPERATION.get(op.name)
    if pair is None:
        return False
    return ref_kind in ACTIONS[pair][1].split("|")


# --- client face -------------------------------------------------------------------------------------------


# Parameters that decide what runs and who asks: given in both the query and the body, they must agree.
_CONTROL = ("action", "sub", "api_key")


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
    allowed = _columns_for(op)
    args: dict[str, Any] = {}
    for column, value in data.items():
        shown = f"user_data[{column}]"
        canonical, convert = _USER_DATA.get(column, (column, None))
        if column not in allowed or canonical not in op.fields:
            raise FieldError(shown, f"is not a column {BY_OPERATION[op.name][0]}/{BY_OPERATION[op.name][1]} sets")
        args[canonical] = convert(shown, value) if convert else fields.read(shown, op.fields[canonical], value)
    return args


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
    cat = cat or catalogue()
    params = _merged(request)
    action, sub = params.get("action"), params.get("sub")
    if not isinstance(action, str) or not isinstance(sub, str | type(None)):
        if action is None:
            raise Refused(Failure(Code.UNKNOWN_OPERATION, "action is required", reason="unknown_action"))
        raise invalid("action and sub must be single values")
    entry = ACTIONS.get((action, sub or ""))
    if entry is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, f"unknown action {action[:40]}/{(sub or '')[:40]}",
                              reason="unknown_action"))
    operation, ref_kind = entry
    op = cat.operations[operation]
    try:
        envelope = set(_CONTROL) | _IGNORED | _TOP_LEVEL[ref_kind]
        flat = {k: v for k, v in params.items() if k not in envelope and k in _columns_for(op)}
        if op.kind.value == "read" or op.resource not in ("line", "mag"):
            flat = {}
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
        raise invalid(str(exc), exc.code) from None
    return Call(operation=operation, args=args, target=target, dialect=NAME, raw_action=f"{action}/{sub}")


def list_page(op: Operation, args: dict[str, Any]) -> Page | None:
    """api.php answers whole lists: its clients expect no page."""
    return None


def _json(data: Any) -> bytes:
    return jsonio.dumps(data)


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    if isinstance(outcome, Result):
        return Rendered(200, _json(success_body(outcome, op)))
    if outcome.code is Code.UNKNOWN_OPERATION:
        return Rendered(outcome.http_status if http_status_codes else 200, b"", "text/html")
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, _json(failure_body(outcome, op)))


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
    if name in ("server.list", "reseller.list", "stream.online", "stream.offline"):
        return data
    return {"result": True}


REG_USER_COLUMNS = ("id", "username", "credits", "group_id", "group_name", "last_login", "date_registered", "email",
                    "ip", "status")  # fmt: skip


def reg_user_row(row: Any) -> Any:
    """A reseller row as api.php's reg_user/list answers it, whichever panel it came from: exactly its columns,
    the group as `group_id`, dates as UNIX time (XUI.one's table answers `2026-12-02 14:08:22`)."""
    if not isinstance(row, dict):
        return row
    out = {column: row.get(column) for column in REG_USER_COLUMNS}
    if out["group_id"] is None:
        out["group_id"] = row.get("member_group_id")
    for column in ("last_login", "date_registered"):
        out[column] = _unix_text(out[column])
    return out


def _unix_text(value: Any) -> Any:
    """A MySQL DATETIME as FROM_UNIXTIME() wrote it (read as UTC) back to the UNIX time XC v2 answers."""
    if isinstance(value, str) and len(value) == 19 and value[4] == "-" and value[10] == " ":
        try:
            return str(int(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()))
        except ValueError:
            return value
    return value


def user_info(row: Any) -> Any:
    """A line row as api.php's user/info answers it: bouquets, allowed IPs and user agents as arrays (another
    panel stores them as JSON text), bouquets in id order, the live connections as `active_cons`."""
    if not isinstance(row, dict):
        return row
    out = dict(row)
    for column in ("bouquet", "allowed_ips", "allowed_ua"):
        if isinstance(out.get(column), str):
            out[column] = json_array(out[column])
    if isinstance(out.get("bouquet"), list):
        out["bouquet"] = sorted(out["bouquet"], key=lambda v: (not str(v).isdigit(), int(v) if str(v).isdigit()
                                                                   else 0, str(v)))  # fmt: skip
    if "active_cons" not in out and "active_connections" in out:
        out["active_cons"] = str(out["active_connections"])
    if "output_formats" not in out and "allowed_outputs" in out:
        out["output_formats"] = _output_formats(json_array(out["allowed_outputs"]), out.get("id"))
    if "pair_line_info" not in out and out.get("pair_id") in (None, "", "0", 0):
        out["pair_line_info"] = []  # api.php's answer for a line that is not paired
    return out


# The access_output rows every Xtream Codes panel (and its descendants) is installed with: id -> name, key, ext.
ACCESS_OUTPUTS: dict[str, tuple[str, str, str]] = {"1": ("HLS", "m3u8", "m3u8"), "2": ("MPEGTS", "ts", "ts"),
                                                   "3": ("RTMP", "rtmp", "")}  # fmt: skip


def _output_formats(ids: list[Any], line_id: Any) -> Any:
    """user/info's `output_formats` (output key -> its access_output row) from a line's allowed output ids; an
    empty PHP array (a JSON list) when there are none."""
    formats: dict[str, dict[str, Any]] = {}
    for output_id in ids:
        known = ACCESS_OUTPUTS.get(str(output_id))
        if known is not None:
            name, key, ext = known
            formats[key] = {"access_output_id": str(output_id), "output_name": name, "output_key": key,
                            "output_ext": ext, "user_id": None if line_id is None else str(line_id)}  # fmt: skip
    return formats or []


def failure_body(failure: Failure, op: Operation | None) -> dict[str, Any]:
    code = failure.code
    resource = op.resource if op else ""
    if code is Code.UNAUTHORIZED:
        return {"result": False, "0": "KEY WRONG"}
    if code is Code.FORBIDDEN and failure.reason == "ip":
        return {"result": False, "0": "IP FORBIDDEN"}
    if code is Code.INSUFFICIENT_CREDITS:
        # XC v2 answers result:true here and changes nothing; scripts written for it test the error key.
        return {"result": True, "error": "NOT ENOUGH CREDITS"}
    if code in (Code.EXISTS_USERNAME, Code.EXISTS_MAC):
        return {"result": False, "error": "EXISTS"}
    if code is Code.NOT_FOUND:
        error = "PARAMETER ERROR (user/pass)" if failure.message.startswith("user/pass") else "NOT EXISTS"
        return {"result": False, "error": error}
    if code is Code.INVALID_MAC or (resource == "mag" and code is Code.INVALID_INPUT and "mac" in failure.message):
        return {"result": False, "error": "PARAMETER ERROR (mac)"}
    if code in (Code.INVALID_INPUT, Code.INVALID_DATE, Code.INVALID_PACKAGE, Code.INVALID_USERNAME):
        return {"result": False, "error": "PARAMETER ERROR", "message": failure.message}
    body: dict[str, Any] = {"result": False, "error": code.value}
    if failure.message:
        body["message"] = failure.message
    return body


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


# --- upstream face -----------------------------------------------------------------------------------------


def user_data(op: Operation, args: dict[str, Any]) -> dict[str, Any]:
    """Canonical args as XC v2 `user_data[...]` columns: the declared fields this panel has a column for."""
    out: dict[str, Any] = {}
    allowed = _columns_for(op)
    for name, value in args.items():
        column = _CANONICAL_TO_COLUMN.get(name, name)
        if value is None or name not in op.fields or column not in allowed:
            continue
        if name in ("bouquets", "allowed_ips", "allowed_ua"):
            out[column] = json.dumps(list(value), separators=(",", ":"))
        elif isinstance(value, bool):
            out[column] = "1" if value else "0"
        else:
            out[column] = str(value) if isinstance(value, int) else value
    return out


# Fields of a read that shape the answer (show_columns, ...), which api.php does not take: dropped, not refused,
# since the gateway cuts the answer itself where it must.
_READ_ONLY = frozenset({"show_columns", "hide_columns", "start", "limit", "search", "order", "filter", "owner"})


def foreign_fields(op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
    """Fields of a line or MAG write that api.php's users table has no column for (it would answer an SQL error,
    `PARAMETER ERROR`, maybe after writing part of it)."""
    if op.resource not in ("line", "mag") or op.kind.value == "read":
        return ()
    allowed = _columns_for(op)
    return tuple(sorted(n for n in args if _CANONICAL_TO_COLUMN.get(n, n) not in allowed and n not in _READ_ONLY))


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    pair = BY_OPERATION.get(op.name)
    if pair is None or not native(op, call.target.kind):
        raise ValueError(f"{op.name} by {call.target.kind} is not native to {NAME}")
    action, sub = pair
    params: Params = {}
    if upstream.api_key:
        params["api_pass"] = upstream.api_key
    ref = call.target
    if ref.kind == "credentials":
        params["username"], params["password"] = ref.username, ref.password
    elif ref.kind == "mac":
        params["mac"] = ref.mac
    elif ref.kind == "ids":
        params["stream_ids"] = [str(i) for i in ref.ids]
    elif ref.kind == "id":
        params["id"] = str(ref.id)
    elif ref.kind == "username":
        params["username"] = ref.username
    args = dict(call.args)
    if op.name == "reseller.adjust_credits":
        params["amount"] = str(args.pop("credits"))
    servers = args.pop("servers", None)
    server_id = args.pop("server_id", None)
    if servers:
        params["servers"] = [str(s) for s in servers]
    elif isinstance(server_id, int) and server_id > 0:
        params["servers"] = [str(server_id)]
    if op.resource in ("line", "mag") and op.kind.value != "read":
        data = user_data(op, args)
        if data:
            params["user_data"] = data
    return UpstreamRequest(
        method="POST",
        path=f"/api.php?action={action}&sub={sub}",
        form=flatten(params),
        secret_fields=frozenset({"api_pass"}),
    )


_ERRORS: dict[str, Code] = {
    "EXISTS": Code.EXISTS_USERNAME,
    "NOT EXISTS": Code.NOT_FOUND,
    "PARAMETER ERROR": Code.INVALID_INPUT,
    "PARAMETER ERROR (user/pass)": Code.NOT_FOUND,
    "PARAMETER ERROR (mac)": Code.INVALID_MAC,
}


def decode(op: Operation, status: int, body: bytes) -> Outcome:
    if status >= 500:
        # A PHP fatal error (often an empty body): the panel broke, it did not say it lacks the action.
        return Failure(Code.UPSTREAM_ERROR, f"upstream answered HTTP {status}")
    if not body.strip():
        return Failure(Code.UNSUPPORTED, f"the upstream XC v2 panel does not know {op.name}")
    try:
        doc = jsonio.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Failure(Code.UPSTREAM_ERROR, f"upstream answered HTTP {status} with a body that is not JSON")
    if op.name in ("server.list", "reseller.list", "stream.online", "stream.offline"):
        if isinstance(doc, dict) and doc.get("result") is False:
            return _failure(op, doc)
        return Result(data=doc)
    if not isinstance(doc, dict) or "result" not in doc:
        return Failure(Code.UPSTREAM_ERROR, "upstream answered without a result")
    if doc.get("error") == "NOT ENOUGH CREDITS":
        return Failure(Code.INSUFFICIENT_CREDITS, "not enough credits")
    if doc["result"] is not True:
        return _failure(op, doc)
    if op.name == "line.create":
        return Result(data={"id": doc.get("created_id"), "username": doc.get("username"),
                            "password": doc.get("password")})
    if op.name == "line.get":
        return Result(data=doc.get("user_info"))
    if op.name == "mag.get":
        # stb/info splits the device and its line; the canonical MAG row is both, the device winning.
        line, device = doc.get("user_info"), doc.get("mag_device")
        return Result(data={**(line if isinstance(line, dict) else {}), **(device if isinstance(device, dict) else {})})
    return Result(data=None)


def _failure(op: Operation, doc: dict[str, Any]) -> Failure:
    refusal = doc.get("0")
    if refusal in ("IP FORBIDDEN", "KEY WRONG"):
        # The panel refused the gateway itself (address not whitelisted, or api_pass wrong): an operator problem.
        return Failure(Code.UPSTREAM_ERROR, "the upstream panel refused the gateway's credentials or address")
    error = doc.get("error")
    if not isinstance(error, str):
        return Failure(Code.FAILURE, "the upstream panel reported no change")
    code = _ERRORS.get(error, Code.FAILURE)
    if code is Code.EXISTS_USERNAME and op.resource == "mag":
        code = Code.EXISTS_MAC
    return Failure(code, error)
