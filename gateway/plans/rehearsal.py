"""A panel that answers every call with a plausible success: what a plan sends, shown without a panel.

`panelgate matrix --calls` drives every cell's plan against it and prints the calls; the unit tests pin those
sequences (tests/golden/plans/calls.txt). The answers are shaped like the panels' (a lookup finds the record the
client named, a create answers only its id and credentials as XC v2 does), so each compound step is taken.
"""

from __future__ import annotations

from typing import Any

from gateway.catalogue import Operation
from gateway.dialects.registry import upstream_face
from gateway.model import NO_REF, Call, Outcome, Ref, Result
from gateway.plans.calls import plan
from gateway.plans.commands import Toward
from gateway.plans.driver import drive
from gateway.upstream_settings import Upstream

REF_EXAMPLES: dict[str, Ref] = {
    "none": NO_REF,
    "id": Ref(id=7),
    "ids": Ref(ids=(7, 8)),
    "credentials": Ref(username="alice01", password="alice-pass"),
    "username": Ref(username="alice01"),
    "mac": Ref(mac="00:1A:79:00:00:07"),
}


# a package every kind of record is sold from, to the rehearsal's reseller group, for 5 credits a month
PACKAGE = {"id": "3", "groups": "[2]", "is_line": "1", "is_mag": "1", "is_e2": "1", "official_credits": "5",
           "official_duration": "1", "official_duration_in": "months", "bouquets": "[1]", "output_formats": "[1,2]",
           "max_connections": "1"}  # fmt: skip


class Rehearsal:
    """A transport whose panel holds the record `ref` names, and says yes to everything else."""

    def __init__(self, ref: Ref) -> None:
        self.ref = ref

    def _row(self) -> dict[str, Any]:
        return {"id": "7", "mag_id": "7", "device_id": "7", "username": self.ref.username or "alice01",
                "password": self.ref.password or "alice-pass", "mac": self.ref.mac or "00:1A:79:00:00:07",
                "member_id": "88", "credits": "10", "bouquet": "[1]", "exp_date": None,
                "member_group_id": "2"}  # fmt: skip

    async def send(self, call: Call, op: Operation) -> Outcome:
        if op.name == "package.get":
            return Result(data=PACKAGE)
        if op.name == "group.get":
            return Result(data={"group_id": "2", "is_reseller": "1", "total_allowed_gen_trials": "10"})
        if op.name == "group.list":
            return Result(data=[{"group_id": "2", "is_reseller": "1", "is_admin": "0"}])
        if op.name == "bouquet.list":
            return Result(data=[{"id": "1", "bouquet_channels": "[1]", "bouquet_series": "[]"}])
        if op.name.endswith(".list"):
            return Result(data=[self._row()], total=1, filtered=1)
        if op.name.endswith(".get"):
            return Result(data=self._row())
        if op.name.endswith(".create"):
            return Result(data={"id": "9", "username": "alice01", "password": "alice-pass"})
        return Result(data=None)


def example_call(op: Operation, ref_kind: str, client: str) -> Call:
    """A call of `op` as a `client` dialect's client would make it, addressed by `ref_kind`."""
    args: dict[str, Any] = {}
    sets_credits = not upstream_face(client).CREDITS_BY_ADJUSTMENT  # its clients set a balance outright
    if op.name in ("reseller.adjust_credits", "reseller.transfer_credits") or (
        sets_credits and op.name in ("reseller.create", "reseller.edit")
    ):
        args["credits"] = 5
    if op.name in ("mag.create", "mag.create_from_package", "enigma.create_from_package"):
        args["mac"] = "00:1A:79:00:00:09"
    if op.name == "reseller.transfer_credits":
        args["owner"] = 88  # a reseller key's transfer: tenancy names the giver
    if op.name.endswith((".create_from_package", ".renew")):
        args.update(package=3, member_id=88)  # a reseller key's sale: tenancy names the buyer
    return Call(op.name, args, target=REF_EXAMPLES[ref_kind], dialect=client)


async def calls_of(op: Operation, ref_kind: str, client: str, upstream: Upstream) -> list[str]:
    """The operations a cell's plan sends, in order (`x2` for a batch of two)."""
    call = example_call(op, ref_kind, client)
    _, trace = await drive(plan(call, op, Toward(upstream)), Rehearsal(call.target))
    names = [send.op.name for send, _ in trace.sent]
    out: list[str] = []
    for name in names:
        if out and out[-1].split(" x")[0] == name and op.name == name and call.target.kind == "ids":
            head, _, count = out[-1].partition(" x")
            out[-1] = f"{head} x{int(count or 1) + 1}"
        else:
            out.append(name)
    return out
