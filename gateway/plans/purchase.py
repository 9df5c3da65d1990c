"""A package sale or renewal (the Reseller API's create_line / edit_line with a package) on a panel whose API has no
such action but lets the gateway read packages, resellers and groups, write records and move credits (an admin
API): the gateway does what ResellerAPI::processLine does, with the numbers it uses (gateway.plans.purchase_terms).

The buyer is held for the whole sale (one sale per reseller at a time through the gateway), its balance read, the
price charged once, then the record written; a write that fails is refunded, and when the refund fails too the
answer is a PARTIAL_FAILURE that says what was charged. A write whose fate is unknown (sent, then the panel went
silent) is never refunded blindly: PARTIAL_FAILURE says so.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Generator
from typing import Any

from gateway.catalogue import Catalogue, Operation, catalogue
from gateway.dialects.base import UpstreamFace
from gateway.model import Call, Code, Failure, Outcome, Ref, Result
from gateway.plans import purchase_terms as terms
from gateway.plans.commands import Command, Hold, Plan, Send, SendAll, Toward

# sale or renewal -> the write that carries it on an admin API
EMULATED = {"line.create_from_package": "line.create", "line.renew": "line.edit",
            "mag.create_from_package": "mag.create", "mag.renew": "mag.edit",
            "enigma.create_from_package": "enigma.create", "enigma.renew": "enigma.edit"}  # fmt: skip
READS = ("package.get", "reseller.get", "group.get", "reseller.adjust_credits")
TRIAL_FILTER = 5  # table.php `filter`: trial lines
CLOCK: Callable[[], float] = time.time  # the tests' clock

Planner = Callable[[Call, Operation, Toward], Plan]


def emulable(op: Operation, face: UpstreamFace, cat: Catalogue | None = None) -> bool:
    """Whether a panel of `face` can be sold through without the action: it reads what the price depends on,
    writes the record and moves credits, each in one call."""
    cat = cat or catalogue()
    if op.name not in EMULATED or face.native(op, op.target.value):
        return False
    write = cat.operations[EMULATED[op.name]]
    return face.native(write, op.target.value) and all(face.native(cat.operations[n], "id") for n in READS)


def _read(name: str, record: int) -> Generator[Command, Any, Outcome]:
    op = catalogue().operations[name]
    outcome: Outcome = yield Send(Call(name, target=Ref(id=record)), op)
    return outcome


def _row(outcome: Outcome) -> dict[str, Any] | None:
    return outcome.data if isinstance(outcome, Result) and isinstance(outcome.data, dict) else None


def _line_of(row: dict[str, Any]) -> dict[str, Any]:
    """A device row nests its line under `user`; a line row is its own."""
    nested = row.get("user")
    return nested if isinstance(nested, dict) else row


def sell(planner: Planner, call: Call, op: Operation, toward: Toward) -> Plan:
    """The sale (or renewal) of `call`'s package, charged to its buyer."""
    now, kind, args = CLOCK(), op.resource, dict(call.args)
    current: dict[str, Any] | None = None
    if op.target.value == "id":
        got = yield from _read(f"{kind}.get", call.target.id or 0)
        current = _row(got)
        if current is None:
            return got if isinstance(got, Failure) else Failure(Code.NOT_FOUND, f"no such {kind}")
    buyer_id = terms.intval(args.get("member_id") or (_line_of(current).get("member_id") if current else 0))
    if buyer_id <= 0:
        return Failure(Code.INVALID_INPUT, "member_id: a sale needs the reseller who pays (a key bound to a "
                       "reseller, or member_id)", subject="member_id")  # fmt: skip
    busy = yield Hold(f"{toward.upstream.name}:reseller:{buyer_id}", toward.upstream.timeout)
    if isinstance(busy, Failure):
        return busy
    buyer = yield from _buyer(buyer_id)
    if isinstance(buyer, Failure):
        return buyer
    package = _row((yield from _read("package.get", terms.intval(args.get("package")))))
    refused = terms.sale_refusal(kind, package, buyer, call.echo)
    if refused is not None or package is None:
        return refused or Failure(Code.INVALID_TYPE)
    trial = bool(args.get("is_trial"))
    if trial and not (yield from _may_trial(buyer, now)):
        return Failure(Code.NO_TRIALS, "this reseller may make no more trials now", echo=call.echo)
    price = terms.cost(package, buyer, trial)
    if price > buyer.credits:
        return Failure(Code.INSUFFICIENT_CREDITS, f"the package costs {price} credits, the balance is "
                       f"{buyer.credits}", echo=call.echo)  # fmt: skip
    record = yield from _record(kind, args, package, buyer, trial, current, now, toward, call.echo)
    if isinstance(record, Failure):
        return record
    return (yield from _charge_then_write(planner, call, op, toward, buyer, price, record))


def _buyer(buyer_id: int) -> Generator[Command, Any, terms.Buyer | Failure]:
    got = yield from _read("reseller.get", buyer_id)
    row = _row(got)
    if row is None:
        return got if isinstance(got, Failure) else Failure(Code.NOT_FOUND, "no such reseller")
    group = _row((yield from _read("group.get", terms.intval(row.get("member_group_id")))))
    if group is None or not terms.flag(group.get("is_reseller")):
        return Failure(Code.NO_PERMISSIONS, f"user {buyer_id} is not a reseller")
    return terms.Buyer(row, group)


def _may_trial(buyer: terms.Buyer, now: float) -> Generator[Command, Any, bool]:
    """canGenerateTrials(): the buyer's trial records created within the window, under its group's quota."""
    start = terms.trial_window_start(buyer, now)
    if start is None:
        return False
    quota = terms.intval(buyer.group.get("total_allowed_gen_trials"))
    cat = catalogue()
    lists = [cat.operations[f"{kind}.list"] for kind in ("line", "mag", "enigma")]
    wanted = {"owner": buyer.id, "filter": TRIAL_FILTER, "limit": 1000}
    found: list[Outcome] = yield SendAll(tuple(Send(Call(o.name, wanted), o) for o in lists))
    ids = {terms.intval(r.get("id")) for f in found if isinstance(f, Result) and isinstance(f.data, list)
           for r in f.data if isinstance(r, dict) and terms.flag(r.get("is_trial", "1"))}  # fmt: skip
    if len(ids) < quota:
        return True  # fewer trials than the quota in all: fewer in any window
    get = cat.operations["line.get"]  # a device's list row carries its line's id
    rows: list[Outcome] = yield SendAll(tuple(Send(Call(get.name, target=Ref(id=i)), get) for i in sorted(ids)))
    recent = [r for r in map(_row, rows) if r is not None and terms.intval(r.get("created_at")) >= start]
    return len(recent) < quota


def _record(kind: str, args: dict[str, Any], package: dict[str, Any], buyer: terms.Buyer, trial: bool,
            current: dict[str, Any] | None, now: float, toward: Toward,
            echo: Any) -> Generator[Command, Any, dict[str, Any] | Failure]:  # fmt: skip
    """The canonical fields of the record the sale writes, as processLine sets them."""
    line = _line_of(current) if current is not None else None
    compatible = True
    if line is not None and terms.intval(line.get("package_id")) > 0 and terms.flag(package.get("check_compatible")):
        old = _row((yield from _read("package.get", terms.intval(line.get("package_id")))))
        compatible = terms.compatible(old, package)
    out: dict[str, Any] = {k: v for k, v in args.items() if k in _KEPT}
    out.update(terms.package_settings(package))
    out.update(member_id=buyer.id if not args.get("member_id") else args["member_id"], is_trial=trial,
               exp_date=terms.expiry(package, trial, line, compatible, now, toward.upstream.timezone),
               bouquets=terms.bouquets(package, buyer, args.get("bouquets")),
               contact=args.get("contact") or "", reseller_notes=args.get("reseller_notes") or "")  # fmt: skip
    if buyer.may("allow_restrictions"):
        out.update(allowed_ips=args.get("allowed_ips") or [], is_isplock=bool(args.get("is_isplock")))
        if kind == "line":
            out.update(allowed_ua=args.get("allowed_ua") or [], bypass_ua=bool(args.get("bypass_ua")))
    if kind != "line":
        out["lock_device"] = terms.flag(package.get("lock_device"))  # processMAG / processEnigma: the package's
        return out
    for what in ("username", "password"):
        given = args.get(what) if buyer.may(f"allow_change_{what}") else None
        kept = line.get(what) if line is not None else None
        if isinstance(given, str) and given and len(given) < buyer.minimum(what) and given != kept:
            code = Code.INVALID_USERNAME if what == "username" else Code.INVALID_PASSWORD
            return Failure(code, f"{what} is shorter than {buyer.minimum(what)} characters", echo=echo)
        if given:
            out[what] = given
        elif line is None:
            out[what] = _random(max(10, buyer.minimum(what)))
        else:
            out.pop(what, None)
    return out


# what a buyer's request carries straight onto the record (the rest the package or the panel decides)
_KEPT = ("mac", "parent_password", "sn", "stb_type", "image_version", "hw_version", "device_id", "device_id2", "ver",
         "modem_mac", "local_ip", "enigma_version", "cpu", "lversion")  # fmt: skip


def _random(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _adjust(buyer: terms.Buyer, amount: int, why: str) -> Generator[Command, Any, Outcome]:
    op = catalogue().operations["reseller.adjust_credits"]
    outcome: Outcome = yield Send(Call(op.name, {"credits": amount, "reason": why}, target=Ref(id=buyer.id)), op)
    return outcome


def _charge_then_write(planner: Planner, call: Call, op: Operation, toward: Toward, buyer: terms.Buyer,
                       price: int, record: dict[str, Any]) -> Plan:  # fmt: skip
    """Charge once, then write; refund a write that certainly did not happen."""
    what = f"{op.name} of package {record['package']}"
    if price > 0:
        charged = yield from _adjust(buyer, -price, f"panelgate: {what}")
        if isinstance(charged, Failure):
            if charged.code in (Code.FAILURE, Code.NOT_FOUND):
                # the balance fell between the read and the charge (someone else spent it): nothing was done
                return Failure(Code.INSUFFICIENT_CREDITS, "the balance changed: not enough credits", echo=call.echo)
            if charged.code in (Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR) and not charged.retryable:
                # sent, never answered: the charge may stand, and a client retrying on "unavailable" pays twice
                return Failure(Code.PARTIAL_FAILURE, f"whether {price} credits were charged for the {what} is "
                               f"unknown ({charged.message or charged.code.value}); nothing was written")  # fmt: skip
            return charged
    write = catalogue().operations[EMULATED[op.name]]
    written = yield from planner(Call(write.name, record, target=call.target, dialect=call.dialect), write, toward)
    if isinstance(written, Result) or price == 0:
        return written
    if written.code in (Code.UPSTREAM_UNAVAILABLE, Code.UPSTREAM_ERROR) and not written.retryable:
        return Failure(Code.PARTIAL_FAILURE, f"{price} credits were charged for the {what}, and whether the "
                       f"{op.resource} was written is unknown ({written.message or written.code.value})")  # fmt: skip
    refunded = yield from _adjust(buyer, price, f"panelgate: refund of a failed {what}")
    if isinstance(refunded, Failure):
        return Failure(Code.PARTIAL_FAILURE, f"{price} credits were charged for the {what}, which failed "
                       f"({written.code.value}), and the refund failed too ({refunded.code.value})")  # fmt: skip
    return written
