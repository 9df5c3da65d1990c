"""A credit transfer (the Reseller API's adjust_credits) on a panel that only adjusts balances (an admin API): the
gateway does what APIWrapper::adjustCredits does (src/includes/api/reseller/index.php), as two adjustments.

The giver is the call's `owner` (a reseller-bound key's reseller: tenancy sets it), the receiver a user of its
tree (owner_id up the chain leads to the giver), and neither balance may go below zero. Both are held while it runs.
The giver is debited first; when the credit then fails, the debit is given back, and when that fails too the
answer is a PARTIAL_FAILURE that says so; a credit sent but never answered may stand, so it is not undone: a
PARTIAL_FAILURE says so. A transfer to oneself, which the panel turns into credits made out of nothing, is refused.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from gateway.catalogue import Operation, catalogue
from gateway.dialects.base import UpstreamFace
from gateway.model import Call, Code, Failure, Outcome, Ref, Result
from gateway.plans.commands import Command, Hold, Plan, Send, Toward
from gateway.plans.purchase_terms import intval

NEEDS = ("reseller.get", "reseller.adjust_credits")
MAX_DEPTH = 16  # a tree deeper than this is not looked up further (nor is a loop in owner_id)


def emulable(op: Operation, face: UpstreamFace) -> bool:
    cat = catalogue()
    return (op.name == "reseller.transfer_credits" and not face.native(op, "id")
            and all(face.native(cat.operations[n], "id") for n in NEEDS))  # fmt: skip


def _user(user_id: int) -> Generator[Command, Any, dict[str, Any] | Failure]:
    get = catalogue().operations["reseller.get"]
    found: Outcome = yield Send(Call(get.name, target=Ref(id=user_id)), get)
    if isinstance(found, Failure):
        return found
    return found.data if isinstance(found.data, dict) else Failure(Code.NOT_FOUND, "no such reseller")


def _adjust(user_id: int, amount: int, why: str) -> Generator[Command, Any, Outcome]:
    op = catalogue().operations["reseller.adjust_credits"]
    outcome: Outcome = yield Send(Call(op.name, {"credits": amount, "reason": why}, target=Ref(id=user_id)), op)
    return outcome


def _unknown(failure: Failure) -> bool:
    """A credit move sent whose answer never came: the panel may have made it."""
    return failure.code in (Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR) and not failure.retryable


def transfer(call: Call, toward: Toward) -> Plan:
    """Move `call.args["credits"]` from its `owner` to the reseller `call.target` names."""
    amount, target, giver = intval(call.args.get("credits")), call.target.id or 0, intval(call.args.get("owner"))
    if giver <= 0:
        return Failure(Code.INVALID_INPUT, "owner: a transfer needs the reseller who gives (a key bound to a "
                       "reseller, or owner)", subject="owner")  # fmt: skip
    if target == giver:
        return Failure(Code.FORBIDDEN, "credits cannot be transferred to oneself")
    # Both balances are held (in one order, so two transfers between the same two never wait on each other): an
    # edit of the receiver re-sends its balance whole (gateway.plans.whole_row), and one read before the credit
    # and written after it would take the credit back while the giver stays debited.
    for record in sorted({giver, target}):
        busy = yield Hold(f"{toward.upstream.name}:reseller:{record}", toward.upstream.timeout)
        if isinstance(busy, Failure):
            return busy
    receiver = yield from _user(target)
    if isinstance(receiver, Failure):
        return Failure(Code.FAILURE, "no such reseller in this tree") if receiver.code is Code.NOT_FOUND else receiver
    owner, depth = intval(receiver.get("owner_id")), 0
    while owner != giver:  # up the tree: the receiver must be below the giver
        if owner <= 0 or depth >= MAX_DEPTH:
            return Failure(Code.FAILURE, "no such reseller in this tree")
        above = yield from _user(owner)
        if isinstance(above, Failure):
            return above
        owner, depth = intval(above.get("owner_id")), depth + 1
    mine = yield from _user(giver)
    if isinstance(mine, Failure):
        return mine
    if intval(mine.get("credits")) - amount < 0 or intval(receiver.get("credits")) + amount < 0:
        return Failure(Code.FAILURE, "a balance would go below zero")
    debited = yield from _adjust(giver, -amount, f"panelgate: transfer to {target}")
    if isinstance(debited, Failure):
        if _unknown(debited):
            why = debited.message or debited.code.value
            return Failure(Code.PARTIAL_FAILURE, f"whether {amount} credits were taken from reseller {giver} is "
                           f"unknown ({why}); nothing was given to {target}")  # fmt: skip
        return debited
    credited = yield from _adjust(target, amount, f"panelgate: transfer from {giver}")
    if isinstance(credited, Result):
        return Result(data=None)
    if _unknown(credited):
        # the credit may have been made: giving the debit back too would make credits out of nothing
        return Failure(Code.PARTIAL_FAILURE, f"{amount} credits were taken from reseller {giver}, and whether they "
                       f"were given to {target} is unknown ({credited.message or credited.code.value}); "
                       "nothing was given back")  # fmt: skip
    undone = yield from _adjust(giver, amount, f"panelgate: transfer to {target} undone")
    if isinstance(undone, Failure):
        return Failure(Code.PARTIAL_FAILURE, f"{amount} credits were taken from reseller {giver} but could not be "
                       f"given to {target}, nor given back ({undone.code.value})")  # fmt: skip
    return credited
