"""Xtream-Masters / XUI.one's client face: `/{code}/admin/index.php?api_key=..&action=..` read into a Call, and
outcomes answered as the panel answers (`{"status": "STATUS_SUCCESS", "data": ..}`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway import fields, jsonio
from gateway.catalogue import Catalogue, FieldType, Operation, Target, catalogue
from gateway.dialects.base import RawRequest, Rendered
from gateway.dialects.common import action_of, merged, presented_key, unreadable
from gateway.dialects.xtream_masters.vocabulary import BARE_LIST_ACTIONS, CONTROL, NAME, fields_of
from gateway.fields import FieldError, date_to_unix, to_int
from gateway.model import NO_REF, Call, Code, Credentials, Failure, Outcome, Page, Ref, Result
from gateway.phpform import Params
from gateway.verbatim import VerbatimResult


def expresses() -> dict[str, str]:
    """Operations a client of this dialect can call, with how each addresses its record."""
    return {op.name: op.target.value for op in catalogue().operations.values() if op.xm_action is not None}


def credentials(request: RawRequest) -> Credentials:
    """The gateway key the client presented: `api_key` parameter or `X-API-Key` header, never both differing."""
    return presented_key(request, merged(request))


def parse(request: RawRequest, cat: Catalogue | None = None) -> Call:
    """Canonical Call for a client request; unknown actions, undeclared parameters and unreadable values are
    refused here."""
    cat = cat or catalogue()
    params = merged(request)
    action = action_of(params, cat.by_xm_action)
    op = cat.by_xm_action[action]
    echo = {k: v for k, v in params.items() if k not in CONTROL}
    try:
        args = canonical_args(op, echo, timezone=request.timezone)
        target = Ref(id=args.pop("id")) if op.target is Target.ID else NO_REF
    except FieldError as exc:
        raise unreadable(exc, echo) from None
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
    table = fields_of(op.resource)
    names = {table.wire_of(name): name for name in op.fields}
    args: dict[str, Any] = {}
    for name, value in params.items():
        if name == "id" and op.target is Target.ID:
            args["id"] = to_int("id", value, low=1)
            continue
        canonical = names.get(name)
        if canonical is None:
            raise FieldError(name, f"is not a parameter of {op.xm_action or op.name}")
        entry = table.field_of(name)
        if op.fields[canonical] is FieldType.DATE:
            args[canonical] = date_to_unix(name, value, timezone)  # as the panel reads it, in its time zone
        elif entry is not None and entry.read is not None:
            args[canonical] = entry.read(name, value)
        else:
            args[canonical] = fields.read(name, op.fields[canonical], value)
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


def render(outcome: Outcome, op: Operation | None, *, http_status_codes: bool = False) -> Rendered:
    """The panel's own response shape for a canonical outcome."""
    if isinstance(outcome, Result):
        if isinstance(outcome, VerbatimResult) and outcome.untouched and outcome.dialect == NAME and (
                op is None or op.xm_action not in BARE_LIST_ACTIONS):  # fmt: skip
            # the panel's own answer, of this dialect, read by nothing: what rendering its value would give, as
            # the panel spelled it (and without decoding it: gateway.verbatim)
            return Rendered(200, outcome.body)
        if op is not None and op.xm_action in BARE_LIST_ACTIONS and isinstance(outcome.data, list):
            return Rendered(200, jsonio.dumps(outcome.data))
        body: dict[str, Any] = {"status": "STATUS_SUCCESS"}
        if outcome.data is not None:
            body["data"] = outcome.data
        if outcome.total is not None:
            body.update(php_counts(outcome.total, outcome.filtered))
        body.update(outcome.extra)
        return Rendered(200, jsonio.dumps(body))
    status = outcome.http_status if http_status_codes else 200
    return Rendered(status, jsonio.dumps(failure_body(outcome)))


def php_counts(total: int, filtered: int | None) -> dict[str, Any]:
    """The panel's counts as PHP produces them: the total is a MySQL string, and the filtered count is
    `total < limit ? total : limit` (table.php), which keeps the string when the total is the smaller one. (A page
    exactly as long as the list gets the limit, an int, there; the limit is not in a Result, so the string is
    written: the same number.)"""
    shown = total if filtered is None else filtered
    return {"recordsTotal": str(total), "recordsFiltered": str(shown) if shown == total else shown}


def failure_body(failure: Failure) -> dict[str, Any]:
    """The panel's failure shape: its status word, the client's own input echoed where the panel echoes it."""
    code = failure.code
    if code is Code.UNAUTHORIZED:
        return {"status": "STATUS_FAILURE", "error": failure.message if failure.reason.about_key_dates else
                "Invalid API key."}  # fmt: skip
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
