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
