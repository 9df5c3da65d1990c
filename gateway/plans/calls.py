"""The plan of a canonical Call on an upstream panel, whatever its dialect can express.

A call runs in the shape gateway.plans.shape gives it:
- direct: the upstream runs the operation, addressed the way the client addressed it, in one call;
- compound: the record is first found by a read (username+password, MAC or username -> id), then acted on;
- fan-out: a batch of ids becomes one call per id, the answers merged;
- unsupported: a clear failure naming the operation and the upstream, before anything is sent.
On the way it holds the record it writes (one writer per record), sends an edit whole where the panel rebuilds
the row from the request (gateway.plans.whole_row), moves credits for clients that set them outright
(gateway.plans.credits), and completes answers the client's panel would give in full (gateway.plans.lineinfo).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Generator
from dataclasses import replace
from typing import Any

from gateway.catalogue import Kind, Operation, catalogue
from gateway.dialects.registry import dialect
from gateway.model import Call, Code, Failure, Outcome, Reason, Ref, Result
from gateway.plans import credits, lineinfo, purchase, transfer, whole_row
from gateway.plans.commands import Command, Hold, Plan, Send, SendAll, Toward
from gateway.plans.shape import LOOKUPS, Shape, shape_of

# The column of a list row that holds the id the resource's other operations take. MAG and Enigma2 list rows
# carry their line's id as `id` and the device's own id under its own name (XM get_mags, XC stb rows).
ID_COLUMNS: dict[str, str] = {"mag": "mag_id", "enigma": "device_id"}
PANEL_PAGE = 1000  # table.php answers at most this many rows per call, whatever `length` asks
LOOKUP_PAGE = PANEL_PAGE  # a lookup's page: the most the panel gives at once
LOOKUP_PAGES = 50  # a lookup reads at most this many pages of matches (50,000 rows) before answering NOT_FOUND
PASSWORD_LENGTH = 10  # as MidnightStreamer makes them up


def plan(call: Call, op: Operation, toward: Toward) -> Plan:
    """The plan of `call` on `toward`'s upstream."""
    shape = shape_of(op, call.target.kind, toward.dialect)
    upstream = toward.upstream
    if shape.kind == "unsupported":
        message = f"{op.name} addressed by {call.target.kind} is not supported by upstream {upstream.name} "
        why = f": {shape.detail}" if shape.detail else ""
        return Failure(Code.UNSUPPORTED, f"{message}({upstream.dialect}){why}", reason=Reason.UNSUPPORTED)
    refuse = dialect(toward.dialect).refusal
    refusal = refuse(op, call.args, upstream) if refuse is not None else None
    if refusal:
        return Failure(Code.UNSUPPORTED, f"{refusal}; nothing was sent", reason=Reason.UNSUPPORTED)
    foreign = toward.face.foreign_fields(op, call.args, upstream)
    if foreign:
        return Failure(Code.UNSUPPORTED, f"{', '.join(foreign)}: upstream {upstream.name} ({upstream.dialect}) "
                       "has no place for this value, nothing was sent", reason=Reason.UNSUPPORTED)  # fmt: skip
    if purchase.emulable(op, toward.face):
        return (yield from purchase.sell(plan, call, op, toward))
    if transfer.emulable(op, toward.face):
        return (yield from transfer.transfer(call, toward))
    amount = call.args.get("credits")
    if op.name == "reseller.adjust_credits" and toward.face.WHOLE_CREDITS and isinstance(amount, float):
        return Failure(Code.UNSUPPORTED, f"credits {amount}: upstream {upstream.name} moves whole credits"
                       " only, nothing was sent", reason=Reason.UNSUPPORTED)  # fmt: skip
    if shape.kind == "fan-out":
        return (yield from _fan_out(call, op))
    if op.name == "reseller.create" and toward.foreign(call):
        grouped = yield from credits.with_reseller_group(call, toward)
        if isinstance(grouped, Failure):
            return grouped
        call = grouped
        if dialect(call.dialect).answers_reseller_password:
            call = _with_password(call)
            return _answer_password((yield from _planned(call, op, toward, shape)), call)
    return (yield from _planned(call, op, toward, shape))


def _planned(call: Call, op: Operation, toward: Toward, shape: Shape) -> Plan:
    if credits.needs_adjustment(call, op, toward):
        if op.name == "reseller.create":
            return (yield from credits.create_then_credit(plan, call, op, toward))
        return (yield from credits.edit_to_balance(plan, resolve, call, op, toward))
    listed: dict[str, Any] | None = None
    if shape.kind == "compound":
        found = yield from resolve(call.target, op)
        if isinstance(found, Failure):
            return found
        record_id, listed = found
        call = replace(call, target=Ref(id=record_id))
    elif call.target.kind == "id" and not toward.face.native(op, "id"):
        call = replace(call, target=Ref(ids=(call.target.id or 0,)))
    if call.target.id is not None and op.name in dialect(toward.dialect).unscoped:
        # the panel would act on anyone's record: it must first show it to this caller
        get = catalogue().operations[f"{op.resource}.get"]
        seen = yield Send(Call(get.name, target=Ref(id=call.target.id)), get)
        if isinstance(seen, Failure):
            return Failure(Code.NOT_FOUND, f"no such {op.resource}") if seen.code is Code.NOT_FOUND else seen
    if call.target.id is not None and (op.name in whole_row.EDITS or op.name == "reseller.adjust_credits"):
        outcome = yield from _one_writer(call, op, toward)
    elif op.kind is Kind.READ and toward.face.PAGES_LISTS and _int(call.args.get("limit")) > PANEL_PAGE:
        outcome = yield from _page_by_page(call, op)
    else:
        outcome = yield Send(call, op)
    if isinstance(outcome, Failure):
        return (yield from credits.explain_credit_failure(call, op, toward, outcome))
    return (yield from _complete_row(call, op, toward, outcome, listed))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _page_by_page(call: Call, op: Operation) -> Plan:
    """A list asked for more rows than table.php answers at once (it cuts `length` to 1000: a reseller key's list,
    read whole for tenancy, would stop at its first 1000 records), read a page at a time until the rows asked for,
    or the panel's recordsTotal, are all in."""
    start, wanted = _int(call.args.get("start")), _int(call.args.get("limit"))
    rows: list[Any] = []
    first: Result | None = None
    while len(rows) < wanted:
        limit = min(PANEL_PAGE, wanted - len(rows))
        page: Outcome = yield Send(replace(call, args={**call.args, "start": start + len(rows), "limit": limit}), op)
        if isinstance(page, Failure) or not isinstance(page.data, list):
            return page if first is None or isinstance(page, Failure) else first
        first = first or page
        rows.extend(page.data)
        total = page.total
        if len(page.data) < limit or total is None or start + len(rows) >= total:
            break
    assert first is not None
    total = first.total
    filtered = None if total is None else (total if total < wanted else wanted)
    return Result(data=rows, total=total, filtered=filtered, extra=first.extra)


def _one_writer(call: Call, op: Operation, toward: Toward) -> Plan:
    """An edit, or a credit move, holding its record: one writer per record at a time. Toward a panel that
    rebuilds an edited row from the request alone (XUI.one), the edit is sent whole: the record is read first
    and the client's fields go on top of its current values (gateway.plans.whole_row)."""
    busy = yield Hold(f"{toward.upstream.name}:{op.resource}:{call.target.id}", toward.upstream.timeout)
    if isinstance(busy, Failure):
        return busy
    if toward.face.WHOLE_ROW_EDITS and op.name in whole_row.EDITS:
        read = catalogue().operations[whole_row.EDITS[op.name]]
        current = yield Send(Call(read.name, target=call.target), read)
        if isinstance(current, Failure):
            return current
        call = replace(call, args={**whole_row.current_args(op.resource, current.data), **call.args})
    outcome: Outcome = yield Send(call, op)
    return outcome


def resolve(ref: Ref, op: Operation) -> Generator[Command, Any, tuple[int, dict[str, Any]] | Failure]:
    """The id of the record `ref` names, found with the resource's list operation, and the row it was in."""
    lookup = catalogue().operations[LOOKUPS[(op.resource, ref.kind)]]
    needle = ref.username if ref.kind in ("credentials", "username") else ref.mac
    # The search is a LIKE over several columns (a numeric username matches every line expiring that year), so
    # the exact row may be past the first page: pages follow while the panel counts more rows than were read.
    start = 0
    for _ in range(LOOKUP_PAGES):
        args: dict[str, Any] = {"search": {"value": needle}, "limit": LOOKUP_PAGE}
        if start:
            args["start"] = start
        listing = yield Send(Call(lookup.name, args), lookup)
        if isinstance(listing, Failure):
            return listing
        rows = listing.data if isinstance(listing.data, list) else []
        for row in rows:
            if isinstance(row, dict) and _matches(row, ref):
                try:
                    return int(row[ID_COLUMNS.get(op.resource, "id")]), row
                except (KeyError, TypeError, ValueError):
                    break
        start += len(rows)
        if not rows or not _counts_more(listing.total, start):
            break
    what = "line" if ref.kind == "credentials" else op.resource
    return Failure(Code.NOT_FOUND, f"no {what} matches the given {ref.kind}")


def _counts_more(total: Any, read: int) -> bool:
    """Whether a paged list's total (table.php's recordsTotal, a string) counts more rows than `read`; a list
    answered whole has none."""
    try:
        return total is not None and int(total) > read
    except (TypeError, ValueError):
        return False


def _fan_out(call: Call, op: Operation) -> Plan:
    """One call per id of a batch, and per server where the client named several: a panel that takes one
    server_id per call is asked once per (id, server), since widening a set of servers to "all of them" would
    start streams where the client did not ask."""
    ids = call.target.ids
    servers = call.args.get("servers")
    if isinstance(servers, list) and len(servers) > 1:
        args = {k: v for k, v in call.args.items() if k != "servers"}
        pairs = [(i, int(s)) for i in ids for s in servers]
        sends = tuple(Send(replace(call, target=Ref(id=i), args={**args, "server_id": s}), op) for i, s in pairs)
        keys = [i for i, _ in pairs]
    else:
        sends = tuple(Send(replace(call, target=Ref(id=i)), op) for i in ids)
        keys = list(ids)
    outcomes: list[Outcome] = yield SendAll(sends)
    failed: dict[int, Failure] = {}
    for record_id, outcome in zip(keys, outcomes, strict=True):
        if isinstance(outcome, Failure):
            failed.setdefault(record_id, outcome)
    return _merge_fan_out(op, list(ids), failed)


def _complete_row(call: Call, op: Operation, toward: Toward, outcome: Outcome,
                  listed: dict[str, Any] | None) -> Plan:  # fmt: skip
    """A created line or MAG comes back as its full row, as panels that return rows promise, when the upstream
    answered with less (XC v2 returns only id, username and password for a line, nothing for a MAG). A client of
    the upstream's own dialect expects what that panel answers, and gets it without the extra read."""
    if not isinstance(outcome, Result) or not toward.foreign(call):
        return outcome
    if op.name == "line.get":
        return (yield from lineinfo.complete(call, toward, outcome, listed))
    if op.name == "mag.create" and outcome.data is None:
        get = catalogue().operations["mag.get"]
        mac = call.args.get("mac")
        if not isinstance(mac, str) or not toward.face.native(get, "mac"):
            return outcome
        row = yield Send(Call(get.name, target=Ref(mac=mac)), get)
        return row if isinstance(row, Result) and isinstance(row.data, dict) and row.data else outcome
    # only a client whose panel answers a created line's row gets it; the others answer id and credentials
    if op.name != "line.create" or not isinstance(outcome.data, dict) or not dialect(call.dialect).answers_created_row:
        return outcome
    created: dict[str, Any] = outcome.data
    if set(created) - {"id", "username", "password"}:
        return outcome
    get = catalogue().operations["line.get"]
    username, password = created.get("username"), created.get("password")
    if not (isinstance(username, str) and isinstance(password, str)):
        return outcome
    if toward.face.native(get, "credentials"):  # XC v2's user/info
        ref = Ref(username=username, password=password)
    elif toward.face.native(get, "username"):  # MidnightStreamer's line/info
        ref = Ref(username=username)
    else:
        return outcome
    row = yield Send(Call(get.name, target=ref), get)
    if isinstance(row, Result) and isinstance(row.data, dict):
        return Result(data={**row.data, **created})
    return outcome


def _with_password(call: Call) -> Call:
    """MidnightStreamer's resellers/new makes up a password when none is given and answers it; a panel that
    stores resellers' passwords hashed (Xtream-Masters) answers none, so the gateway makes it up instead."""
    password = call.args.get("password")
    if isinstance(password, str) and password:
        return call
    made = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(PASSWORD_LENGTH))
    return replace(call, args={**call.args, "password": made})


def _answer_password(outcome: Outcome, call: Call) -> Outcome:
    """The created reseller's answer with the password it was given, as MidnightStreamer answers it."""
    if not isinstance(outcome, Result) or not isinstance(outcome.data, dict):
        return outcome
    shown = outcome.data.get("password")
    if isinstance(shown, str) and shown and not shown.startswith("$"):  # a plain password the panel answered
        return outcome
    return replace(outcome, data={**outcome.data, "password": call.args.get("password")})


def _merge_fan_out(op: Operation, ids: list[int], failed: dict[int, Failure]) -> Outcome:
    """One outcome for a batch: success, the common failure when every id failed alike, or PARTIAL_FAILURE
    naming the ids that failed."""
    if not failed:
        return Result(data=None, extra={"ids": ids})
    codes = {f.code for f in failed.values()}
    if len(failed) == len(ids) and len(codes) == 1:
        return next(iter(failed.values()))
    detail = ", ".join(f"{i}: {f.code.value}" for i, f in failed.items())
    done = [i for i in ids if i not in failed]
    return Failure(Code.PARTIAL_FAILURE, f"{op.name} done for {done}, failed for {detail}")


def _matches(row: dict[str, Any], ref: Ref) -> bool:
    if ref.kind == "credentials":
        return row.get("username") == ref.username and row.get("password") == ref.password
    if ref.kind == "username":
        return row.get("username") == ref.username
    return str(row.get("mac", "")).upper() == (ref.mac or "").upper()
