"""Helpers every dialect shares: refusing bad input, finding the gateway key, reading panels' array columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway import jsonio
from gateway.dialects.base import RawRequest
from gateway.fields import FieldError
from gateway.model import Code, Credentials, Failure, Reason, Refused
from gateway.phpform import FormError, Params, merge


def invalid(message: str, code: Code = Code.INVALID_INPUT, echo: Any = None, subject: str = "") -> Refused:
    """A refusal of unreadable client input (audited as `bad_input`)."""
    return Refused(Failure(code, message, echo=echo, reason=Reason.BAD_INPUT, subject=subject))


def unreadable(error: FieldError, echo: Any = None) -> Refused:
    """The refusal of a field the client gave and the gateway cannot read, naming it as the client did."""
    return invalid(str(error), error.code, echo, subject=error.field)


def merged(request: RawRequest, *, strict: tuple[str, ...] | None = None) -> Params:
    """GET and POST merged like PHP's `$_REQUEST`, POST winning.

    Names in `strict` (every name when `strict` is None) must not differ between query and body: an
    ambiguous request is refused, never guessed.
    """
    try:
        if strict is None:
            return merge(request.query, request.body)
        merge({k: v for k, v in request.query.items() if k in strict},
              {k: v for k, v in request.body.items() if k in strict})  # fmt: skip
    except FormError as exc:
        raise invalid(str(exc)) from None
    return {**request.query, **request.body}


def action_of(params: Params, known: Any) -> str:
    """The `action` parameter, refused when missing, repeated or not one of `known` (a container of names)."""
    action = params.get("action")
    if action is None:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, "action is required", reason=Reason.UNKNOWN_ACTION))
    if not isinstance(action, str):
        raise invalid("action must be a single value")
    if action not in known:
        raise Refused(Failure(Code.UNKNOWN_OPERATION, f"unknown action {action[:60]!r}", reason=Reason.UNKNOWN_ACTION))
    return action


def presented_key(request: RawRequest, params: Params) -> Credentials:
    """The gateway key from the `api_key` parameter, the `X-API-Key` header or a key in the path; every one
    given must agree."""
    given = params.get("api_key")
    if given is not None and not isinstance(given, str):
        raise invalid("api_key must be a single value")
    found = {v for v in (given, request.api_key_header, request.match.get("key")) if v}
    if len(found) > 1:
        raise invalid("the key is given more than once with different values")
    return Credentials(api_key=found.pop() if found else None)


def json_array(value: Any) -> list[Any]:
    """A panel's array column as a list: JSON text (`"[1,2]"`, as panels store it), a list, or the JSON object
    PHP's array_unique() leaves (index -> value); anything else is an empty list."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = jsonio.loads(value.encode())
        except (ValueError, RecursionError):
            return []
    if isinstance(value, dict):
        value = list(value.values())
    return list(value) if isinstance(value, list) else []


def unix_text(value: Any) -> Any:
    """A MySQL DATETIME as FROM_UNIXTIME() wrote it (read as UTC) back to the UNIX time XC v2 and
    MidnightStreamer answer."""
    if isinstance(value, str) and len(value) == 19 and value[4] == "-" and value[10] == " ":
        try:
            return str(int(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()))
        except ValueError:
            return value
    return value
