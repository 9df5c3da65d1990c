"""The XUI.one Reseller API's upstream face: a canonical Call as a POST to `/{code}/` with the reseller's key, and
its answers read back (the admin API's envelope, so its decoder).

What a reseller may not do is refused before sending, naming why, rather than sent and silently dropped by
processData(): a line or device is sold from a package (which decides connections, restreaming, outputs and the
expiry), credits are moved from the reseller's own balance (never made), and a reseller sets only its own
customer's fields.
"""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.catalogue import FieldType, Kind, Operation, catalogue
from gateway.dialects.base import UpstreamRequest, never_verbatim
from gateway.dialects.xtream_masters.upstream import decode as admin_decode
from gateway.dialects.xui_reseller.client import accepted
from gateway.dialects.xui_reseller.vocabulary import ACTIONS, BY_OPERATION, NAME, SOLD_AS, fields_of
from gateway.model import Call, Code, Failure, Outcome
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream

CREDITS_BY_ADJUSTMENT = True  # credits move only through adjust_credits (a transfer from the caller's balance)
PAGES_LISTS = True  # table.php: start, length, recordsTotal
WHOLE_CREDITS = True  # intval()
# edit_line rebuilds contact, reseller_notes, the allowed IPs and user agents and the ISP lock from the request
# alone (NULL, [] or 0 when not sent): an edit is sent whole (gateway.plans.whole_row).
WHOLE_ROW_EDITS = True
NAMES_AS_SENT = False  # not checked: walked
verbatim = never_verbatim

_TARGETS = {operation: ref for operation, ref in ACTIONS.values()}


def native(op: Operation, ref_kind: str) -> bool:
    """Whether the Reseller API runs `op`, addressed by `ref_kind`, in one call (a plain create when it names a
    package: refusal() says so otherwise)."""
    if op.name not in BY_OPERATION:
        return False
    return ref_kind == ("none" if op.name in SOLD_AS else _TARGETS.get(op.name, "id"))


def refusal(op: Operation, args: dict[str, Any], upstream: Upstream) -> str | None:
    """Why a call the Reseller API has an action for still cannot be sent, or None."""
    if op.name in SOLD_AS and not args.get("package"):
        return (f"{op.name}: upstream {upstream.name} is a Reseller API, which sells lines and devices from a "
                "package only: name one (package)")  # fmt: skip
    return None


def foreign_fields(op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
    """The fields of a write a reseller may not set (the package or the panel's owner decides them): sent, the
    panel would drop them and answer a success that is not what the client asked for."""
    if op.kind is Kind.READ:
        return ()
    allowed = _accepted(op)
    return tuple(sorted(name for name in args if name not in allowed))


def _accepted(op: Operation) -> frozenset[str]:
    """What a Reseller API client may send for `op` (a plain create being a sale)."""
    return accepted(catalogue().operations[f"{op.resource}.create_from_package"] if op.name in SOLD_AS else op)


def encode(call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
    """A POST to the Reseller API: the reseller's key and the action first, then the args in its own form."""
    action = BY_OPERATION.get(op.name)
    if action is None or not native(op, call.target.kind):
        raise ValueError(f"{op.name} by {call.target.kind} is not native to {NAME}: the planner must adapt it")
    form: list[tuple[str, str]] = [("api_key", upstream.api_key), ("action", action)]
    if call.target.id is not None:
        form.append(("id", str(call.target.id)))
    form += flatten(_params(op, call.args))
    if action == "get_user" and "hide_columns" not in call.args:
        # index.php adds `password` to hide_columns with in_array(.., null): a TypeError (an empty answer) unless
        # the request has hide_columns of its own
        form.append(("hide_columns", "password"))
    return UpstreamRequest("POST", f"/{upstream.access_code}/", form, secret_fields=frozenset({"api_key"}))


def _params(op: Operation, args: dict[str, Any]) -> Params:
    """The args the panel reads for `op` in its own form. A whole-row edit's re-sent values that a reseller may
    not set (the connections, the expiry: processData() would drop them) are not sent at all."""
    table = fields_of(op.resource)
    allowed = _accepted(op)
    out: Params = {}
    for name, value in args.items():
        ftype = op.fields.get(name)
        if value is None or ftype is None or name not in allowed or (name == "owner" and op.kind is not Kind.READ):
            continue  # (a transfer's giver is the key the panel is called with)
        wire = table.wire_of(name)
        if ftype is FieldType.FLAG:
            if value:
                out[wire] = "1"  # `trial` is read by value, the others by presence: a false flag is left out
        elif name == "hide_columns":
            out[wire] = ",".join([*value, "password"] if op.name == "reseller.get" else value)
        else:
            out[wire] = fields.wire(ftype, value)
    return out


def decode(op: Operation, status: int, body: bytes) -> Outcome:
    """The admin API's decoding (the same envelope and parseError()); an empty body is a PHP error there."""
    if not body.strip():
        return Failure(Code.UPSTREAM_ERROR, f"upstream answered HTTP {status} with an empty body (a PHP error)")
    outcome = admin_decode(op, status, body)
    if isinstance(outcome, Failure) and outcome.code is Code.UNSUPPORTED:
        return Failure(Code.UNSUPPORTED, f"the upstream Reseller API does not know the action for {op.name}")
    return outcome
