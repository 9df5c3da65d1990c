"""Xtream Codes v2's upstream face: a canonical Call as api.php's `action`/`sub` with `user_data[...]`, and its
answers read back into canonical outcomes."""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.catalogue import Operation
from gateway.dialects.base import UpstreamRequest, never_verbatim
from gateway.dialects.xtream_codes_v2.vocabulary import ACTIONS, BY_OPERATION, NAME, columns
from gateway.model import Call, Code, Failure, Outcome, Result
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream

CREDITS_BY_ADJUSTMENT = True  # reg_user/credits is the only way credits move
PAGES_LISTS = False  # reg_user/list, server/list: every row, no totals
WHOLE_CREDITS = False  # reg_user credits are decimals (%.2f)
WHOLE_ROW_EDITS = False
NAMES_AS_SENT = False  # not checked: walked
verbatim = never_verbatim

# Fields of a read that shape the answer (show_columns, ...), which api.php does not take: dropped, not refused,
# since the gateway cuts the answer itself where it must.
_READ_ONLY = frozenset({"show_columns", "hide_columns", "start", "limit", "search", "order", "filter", "owner"})


def native(op: Operation, ref_kind: str) -> bool:
    """Whether an XC v2 panel runs `op` addressed by `ref_kind` in one call."""
    pair = BY_OPERATION.get(op.name)
    if pair is None:
        return False
    return ref_kind in ACTIONS[pair][1].split("|")


def foreign_fields(op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
    """Fields of a line or MAG write that api.php's users table has no column for (it would answer an SQL error,
    `PARAMETER ERROR`, maybe after writing part of it), and an edit's "never expires": user/edit writes the
    column as given, so an empty exp_date is 0 there, a line expired since 1970 (only a create stores NULL)."""
    if op.resource not in ("line", "mag") or op.kind.value == "read":
        return ()
    table = columns(op.resource)
    foreign = {name for name in args if not table.carries(name) and name not in _READ_ONLY}
    if op.name.endswith(".edit") and "exp_date" in args and args["exp_date"] is None:
        foreign.add("exp_date")
    return tuple(sorted(foreign))


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    """The api.php request for `call`: its key as api_pass, the record's address, then user_data[...]."""
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
        data = columns(op.resource).write(args, declared=op.fields)
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
    """The canonical outcome of an api.php answer."""
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
