"""Absolute reseller credits on panels that only move credits by adjustment.

A MidnightStreamer client sets credits outright (`resellers/new` and `resellers/update` with `data[credits]`);
Xtream panels move them only through an adjustment, which their credit log records. So a create becomes
"create, then add the credits", and an update becomes "read the balance, edit, then adjust by the
difference". When a later step fails after an earlier one wrote, the answer is a PARTIAL_FAILURE that says
what was done: never a success.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.catalogue import Operation, catalogue
from gateway.model import Call, Code, Failure, Outcome, Ref, Result

if TYPE_CHECKING:
    from gateway.planner import Runner

COMPOUND_OPERATIONS = ("reseller.create", "reseller.edit")


def needs_adjustment(call: Call, op: Operation, runner: Runner) -> bool:
    """True when `call` sets credits outright and its upstream can only adjust them."""
    return (
        op.name in COMPOUND_OPERATIONS
        and isinstance(call.args.get("credits"), int)
        and call.dialect != runner.upstream.dialect
        and runner.face.CREDITS_BY_ADJUSTMENT
    )


def _step_failed(what: str, failure: Failure) -> Failure:
    detail = failure.message or failure.code.value
    return Failure(Code.PARTIAL_FAILURE, f"{what}, but setting its credits failed ({detail})", echo=failure.echo)


async def _adjust(runner: Runner, reseller_id: int, amount: int) -> Outcome:
    adjust = catalogue().operations["reseller.adjust_credits"]
    return await runner.run(Call(adjust.name, {"credits": amount}, target=Ref(id=reseller_id)), adjust)


async def with_reseller_group(runner: Runner, call: Call) -> Call | Failure:
    """A reseller created by a client whose panel has no groups (MidnightStreamer) on a panel that requires one
    (Xtream-Masters' create_user refuses INVALID_GROUP without `member_group_id`): the panel's first reseller
    group (not an admin group), read from its group list. Unchanged when the panel has no groups to read."""
    groups = catalogue().get("group.list")
    if groups is None or "member_group_id" in call.args or not runner.face.native(groups, "none"):
        return call
    listing = await runner.send(Call(groups.name), groups)
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


async def create_then_credit(runner: Runner, call: Call, op: Operation) -> Outcome:
    credits = int(call.args["credits"])
    args = {k: v for k, v in call.args.items() if k != "credits"}
    created = await runner.run(replace(call, args=args), op)
    if isinstance(created, Failure) or credits == 0:
        return created
    row = created.data if isinstance(created.data, dict) else {}
    try:
        reseller_id = int(row["id"])
    except (KeyError, TypeError, ValueError):
        return Failure(Code.PARTIAL_FAILURE, "the reseller was created, but the panel did not say its id, so its "
                                             "credits were not set")
    adjusted = await _adjust(runner, reseller_id, credits)
    if isinstance(adjusted, Failure):
        return _step_failed(f"reseller {row.get('username', reseller_id)} was created (id {reseller_id})", adjusted)
    return Result(data={**row, "credits": credits})


async def edit_to_balance(runner: Runner, call: Call, op: Operation) -> Outcome:
    get = catalogue().operations["reseller.get"]
    target = call.target
    if target.kind != "id":
        found = await runner.resolve(target, op)
        if isinstance(found, Failure):
            return found
        target = Ref(id=found)
    assert target.id is not None
    current = await runner.run(Call(get.name, target=target), get)
    if isinstance(current, Failure):
        return current
    try:
        balance = int(float(current.data["credits"]))
    except (KeyError, TypeError, ValueError):
        return Failure(Code.UPSTREAM_ERROR, "the panel did not report the reseller's current credits")
    others = {k: v for k, v in call.args.items() if k != "credits"}
    wrote = False
    if others:
        edited = await runner.run(replace(call, args=others, target=target), op)
        if isinstance(edited, Failure):
            return edited
        wrote = True
    difference = int(call.args["credits"]) - balance
    if difference:
        adjusted = await _adjust(runner, target.id, difference)
        if isinstance(adjusted, Failure):
            return _step_failed(f"reseller {target.id} was updated", adjusted) if wrote else adjusted
    return Result(data=None)
