"""Absolute reseller credits on panels that only move credits by adjustment.

A MidnightStreamer client sets credits outright (`resellers/new` and `resellers/update` with `data[credits]`);
Xtream panels move them only through an adjustment, which their credit log records. So a create becomes
"create, then add the credits", and an update becomes "read the balance, edit, then adjust by the
difference". When a later step fails after an earlier one wrote, the answer is a PARTIAL_FAILURE that says
what was done: never a success. Plans (generators): they yield their calls, gateway.plans.driver sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

from gateway.catalogue import Operation, catalogue
from gateway.model import Call, Code, Failure, Outcome, Ref, Result
from gateway.plans.commands import Command, Plan, Send, Toward
from gateway.plans.shape import ABSOLUTE_CREDITS

# A plan of a whole call, given by gateway.plans.calls (the steps here run whole calls of their own).
Planner = Callable[[Call, Operation, Toward], Plan]


def needs_adjustment(call: Call, op: Operation, toward: Toward) -> bool:
    """True when `call` sets credits outright and its upstream can only adjust them."""
    return (
        op.name in ABSOLUTE_CREDITS
        and isinstance(call.args.get("credits"), int)
        and toward.foreign(call)
        and toward.face.CREDITS_BY_ADJUSTMENT
    )


def _step_failed(what: str, failure: Failure) -> Failure:
    detail = failure.message or failure.code.value
    return Failure(Code.PARTIAL_FAILURE, f"{what}, but setting its credits failed ({detail})", echo=failure.echo)


def _adjust(plan: Planner, toward: Toward, reseller_id: int, amount: int) -> Plan:
    adjust = catalogue().operations["reseller.adjust_credits"]
    return plan(Call(adjust.name, {"credits": amount}, target=Ref(id=reseller_id)), adjust, toward)


def with_reseller_group(call: Call, toward: Toward) -> Generator[Command, Any, Call | Failure]:
    """A reseller created by a client whose panel has no groups (MidnightStreamer) on a panel that requires one
    (Xtream-Masters' create_user refuses INVALID_GROUP without `member_group_id`): the panel's first reseller
    group (not an admin group), read from its group list. Unchanged when the panel has no groups to read."""
    groups = catalogue().get("group.list")
    if groups is None or "member_group_id" in call.args or not toward.face.native(groups, "none"):
        return call
    listing = yield Send(Call(groups.name), groups)
    if isinstance(listing, Failure):
        return listing
    ids = []
    for row in listing.data if isinstance(listing.data, list) else []:
        if isinstance(row, dict) and str(row.get("is_reseller")) == "1" and str(row.get("is_admin")) != "1":
            try:
                ids.append(int(row["group_id"]))
            except (KeyError, TypeError, ValueError):
                continue
    if not ids:
        return Failure(Code.INVALID_INPUT, "the panel has no reseller group: give data[member_group_id]")
    return replace(call, args={**call.args, "member_group_id": min(ids)})


def create_then_credit(plan: Planner, call: Call, op: Operation, toward: Toward) -> Plan:
    credits = int(call.args["credits"])
    args = {k: v for k, v in call.args.items() if k != "credits"}
    created = yield from plan(replace(call, args=args), op, toward)
    if isinstance(created, Failure) or credits == 0:
        return created
    row = created.data if isinstance(created.data, dict) else {}
    try:
        reseller_id = int(row["id"])
    except (KeyError, TypeError, ValueError):
        return Failure(Code.PARTIAL_FAILURE, "the reseller was created, but the panel did not say its id, so its "
                                             "credits were not set")
    adjusted = yield from _adjust(plan, toward, reseller_id, credits)
    if isinstance(adjusted, Failure):
        return _step_failed(f"reseller {row.get('username', reseller_id)} was created (id {reseller_id})", adjusted)
    return Result(data={**row, "credits": credits})


def edit_to_balance(plan: Planner, resolve: Callable[[Ref, Operation], Generator[Command, Any, Any]],
                    call: Call, op: Operation, toward: Toward) -> Plan:  # fmt: skip
    get = catalogue().operations["reseller.get"]
    target = call.target
    if target.kind != "id":
        found = yield from resolve(target, op)
        if isinstance(found, Failure):
            return found
        target = Ref(id=found[0])
    assert target.id is not None
    current = yield from plan(Call(get.name, target=target), get, toward)
    if isinstance(current, Failure):
        return current
    try:
        balance = int(float(current.data["credits"]))
    except (KeyError, TypeError, ValueError):
        return Failure(Code.UPSTREAM_ERROR, "the panel did not report the reseller's current credits")
    others = {k: v for k, v in call.args.items() if k != "credits"}
    wrote = False
    if others:
        edited = yield from plan(replace(call, args=others, target=target), op, toward)
        if isinstance(edited, Failure):
            return edited
        wrote = True
    difference = int(call.args["credits"]) - balance
    if difference:
        adjusted = yield from _adjust(plan, toward, target.id, difference)
        if isinstance(adjusted, Failure):
            return _step_failed(f"reseller {target.id} was updated", adjusted) if wrote else adjusted
    return Result(data=None)


def explain_credit_failure(call: Call, op: Operation, toward: Toward, failure: Failure) -> Plan:
    """An XM panel answers a plain STATUS_FAILURE both for an unknown reseller and for a debit beyond the
    balance; a client of another dialect (XC v2 says NOT ENOUGH CREDITS, and its scripts rely on it) is told
    which, from the reseller's balance read after the refusal. Clients of the upstream's own dialect get the
    panel's answer unchanged."""
    credits = call.args.get("credits")
    get = catalogue().get("reseller.get")
    if (
        op.name != "reseller.adjust_credits"
        or not toward.foreign(call)
        or failure.code not in (Code.NOT_FOUND, Code.FAILURE)
        or not isinstance(credits, int)
        or credits >= 0
        or call.target.id is None
        or get is None
        or not toward.face.native(get, "id")
    ):
        return failure
    row: Outcome = yield Send(Call(get.name, target=Ref(id=call.target.id)), get)
    if not isinstance(row, Result) or not isinstance(row.data, dict):
        return failure
    try:
        balance = float(row.data["credits"])
    except (KeyError, TypeError, ValueError):
        return failure
    if balance + credits < 0:
        return Failure(Code.INSUFFICIENT_CREDITS, f"the balance is {row.data['credits']}, not enough credits")
    return failure
