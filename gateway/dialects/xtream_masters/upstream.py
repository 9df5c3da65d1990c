"""Xtream-Masters / XUI.one's upstream face: a canonical Call as a POST to the panel's admin path (its key and
action first, then the args in the panel's own form), and its answers read back into canonical outcomes."""

from __future__ import annotations

from typing import Any

import simdjson

from gateway import fastbytes, fields, jsonio
from gateway.catalogue import FieldType, Operation, Target
from gateway.dialects.base import UpstreamRequest
from gateway.dialects.xtream_masters.client import php_counts
from gateway.dialects.xtream_masters.vocabulary import CONTROL, NAME, fields_of
from gateway.fields import unix_to_date
from gateway.model import Call, Code, Failure, Outcome, Result
from gateway.phpform import Params, flatten
from gateway.upstream_settings import Upstream
from gateway.verbatim import VerbatimResult

# Credits move through adjust_credits, which the panel writes to its credit log; a create or edit never sets them.
CREDITS_BY_ADJUSTMENT = True
PAGES_LISTS = True  # table.php: start, limit, recordsTotal
WHOLE_CREDITS = True  # adjust_credits: intval()
WHOLE_ROW_EDITS = True  # XUI.one rebuilds an edited row from the request (gateway.plans.whole_row)
NAMES_AS_SENT = True  # data and extra are the panel's own objects


def native(op: Operation, ref_kind: str) -> bool:
    """Whether an Xtream-Masters panel runs `op` addressed by `ref_kind` in one call."""
    return op.xm_action is not None and ref_kind == op.target.value


def panel_params(op: Operation, args: dict[str, Any], timezone: str = "UTC") -> Params:
    """Canonical args back to the panel's parameters, honouring its quirks. Only the fields `op` declares are
    written (by construction none of them is a name the envelope uses: the catalogue refuses those)."""
    table = fields_of(op.resource)
    out: Params = {}
    for name, value in args.items():
        ftype = op.fields.get(name)
        if ftype is FieldType.DATE and value is None and "no_expire" in op.fields:
            out["no_expire"] = "1"  # never expires: said outright, since an absent date may also mean "unchanged"
            continue
        if value is None or ftype is None:
            continue
        wire, entry = table.wire_of(name), table.entry(name)
        if ftype is FieldType.DATE:
            out[wire] = unix_to_date(value, timezone)
        elif entry is not None and entry.write is not None:
            out[wire] = entry.write(value)
        elif ftype is FieldType.FLAG:
            if value:
                out[wire] = "1"  # presence is what the panel reads: a false flag is left out
        elif name == "override_packages":
            out.update(_overrides(value))
        elif name == "servers":
            # XC v2 names a set of servers; the panel takes one server_id, -1 meaning all of them.
            if "server_id" not in args:
                out["server_id"] = str(value[0]) if len(value) == 1 else "-1"
        else:
            out[wire] = fields.wire(ftype, value)
    if op.name.endswith(".create"):  # an edit is sent whole instead (gateway.plans.whole_row): it has them
        for wire, default in table.defaults(op.fields).items():
            out.setdefault(wire, default)
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
        echo = {k: v for k, v in echo.items() if k not in CONTROL}
    if name == "FAILURE":
        code = Code.NOT_FOUND if op.target is Target.ID else Code.FAILURE
        return Failure(code, str(error) if isinstance(error, str) else "", echo=echo)
    try:
        code = Code(name)
    except ValueError:
        return Failure(Code.FAILURE, f"upstream status {name[:40]}", echo=echo)
    return Failure(code, str(error) if isinstance(error, str) else "", echo=echo)


# One parser, reused (it keeps its buffers): only answers up to this size, so it never holds more than a few MB.
_CHECKER = simdjson.Parser()
_CHECKER_MAX = 1 << 20
# An answer with fewer `{` and `[` than this nests less deep than the standard library's parser can read from
# anywhere in the pipeline (Python's recursion limit is 1,000 frames), whichever parser `jsonio.loads` picks.
_SHALLOW = 400


def verbatim(op: Operation, status: int, body: bytes) -> VerbatimResult | None:
    """The answer as a VerbatimResult when `decode` reads it as a success, whatever its content, and rendering
    that gives the same members at the top: HTTP 200, well-formed JSON (UTF-8, numbers within 64 bits, no lone
    surrogate escape, not too deep for `jsonio.loads`) whose top-level object has each key once, `status`
    `STATUS_SUCCESS`, `data` not null, and the panel's counts as `client.php_counts` writes them. Anything else
    (None) goes through `decode`, as before."""
    if status != 200 or not body.startswith(b"{"):
        return None
    if fastbytes.count(body, b"{") + fastbytes.count(body, b"[") >= _SHALLOW and jsonio.needs_standard_library(body):
        return None
    parser = _CHECKER if len(body) <= _CHECKER_MAX else simdjson.Parser()
    try:
        doc = parser.parse(body)
        # the parser's document is valid only until its next parse: read what is needed, keep none of it
        same = isinstance(doc, simdjson.Object) and _renders_as_sent(doc)
        del doc
    except (ValueError, RuntimeError):  # invalid JSON, UTF-8 or escapes; an integer past 64 bits; too deep
        return None
    return VerbatimResult.of(NAME, body, lambda: decode(op, status, body)) if same else None


def _renders_as_sent(doc: simdjson.Object) -> bool:
    """Whether `client.render(decode(doc))` writes the top-level members `doc` has (each once), and a success."""
    keys = list(doc)
    if len(set(keys)) != len(keys) or doc["status"] != "STATUS_SUCCESS" or ("data" in keys and doc["data"] is None):
        return False
    counts: dict[str, Any] = {name: doc[name] for name in ("recordsTotal", "recordsFiltered") if name in keys}
    if not counts:
        return True
    total = _count(counts.get("recordsTotal"))
    if total is None:
        return False
    rendered = php_counts(total, _count(counts.get("recordsFiltered")))
    if counts.get("recordsFiltered") == total and type(counts.get("recordsFiltered")) is int:
        rendered["recordsFiltered"] = total  # a limit equal to the total: table.php writes it, php_counts cannot
    return all(type(counts.get(name)) is type(value) and counts.get(name) == value for name, value in rendered.items())


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
