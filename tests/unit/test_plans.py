"""Plans without a socket: each cell's exact calls, and the decisions of the compound plans, played against a
scripted panel (gateway.plans is sans-IO: it yields what it would send, and is told what came back)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue import catalogue
from gateway.config import Upstream
from gateway.matrix import call_lines
from gateway.model import NO_REF, Call, Code, Failure, Outcome, Ref, Result
from gateway.plans.calls import plan
from gateway.plans.commands import Hold, Send, SendAll, Toward

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plans" / "calls.txt"
OPS = catalogue().operations


def upstream(dialect: str) -> Toward:
    return Toward(Upstream(name="main", dialect=dialect, url="http://panel.test", access_code="code", api_key="k"))


def test_every_cells_calls_are_the_golden_ones() -> None:
    """`panelgate matrix --calls`, pinned: a change in what any cell sends shows here, to be read and accepted
    (PANELGATE_UPDATE_GOLDEN=1 rewrites the file)."""
    lines = call_lines()
    if os.environ.get("PANELGATE_UPDATE_GOLDEN"):
        GOLDEN.write_text("\n".join(lines) + "\n")
    assert lines == GOLDEN.read_text().splitlines()


Answer = Outcome | Callable[[Call], Outcome]


class Playbook:
    """Drives a plan step by step: each expected command is checked as the plan yields it, and answered."""

    def __init__(self, call: Call, toward: Toward) -> None:
        self.gen = plan(call, OPS[call.operation], toward)
        self.reply: Any = None
        self.outcome: Outcome | None = None

    def expect(self, operation: str, answer: Answer, **check: Any) -> Call:
        command = self.gen.send(self.reply)
        assert isinstance(command, Send), command
        assert command.op.name == operation, (command.op.name, operation)
        for name, value in check.items():
            assert command.call.args.get(name) == value, (name, command.call.args.get(name))
        self.reply = answer(command.call) if callable(answer) else answer
        return command.call

    def expect_hold(self, record: str, answer: Failure | None = None) -> None:
        command = self.gen.send(self.reply)
        assert isinstance(command, Hold) and command.record == record, command
        self.reply = answer

    def expect_all(self, operation: str, answers: list[Outcome]) -> tuple[Send, ...]:
        command = self.gen.send(self.reply)
        assert isinstance(command, SendAll) and {s.op.name for s in command.sends} == {operation}, command
        self.reply = answers
        return command.sends

    def end(self) -> Outcome:
        with pytest.raises(StopIteration) as done:
            self.gen.send(self.reply)
        outcome: Outcome = done.value.value
        return outcome


LINE = {"id": "7", "username": "alice01", "password": "pw", "member_id": "88", "bouquet": "[1,2]",
        "allowed_outputs": "[1,2]", "allowed_ips": "[]", "allowed_ua": "[]", "max_connections": "2",
        "enabled": "1", "admin_enabled": "1", "exp_date": "1900000000", "is_trial": "1", "is_restreamer": "0",
        "is_isplock": "0", "is_stalker": "0", "bypass_ua": "0"}  # fmt: skip


def test_xc_user_edit_on_xtream_masters_finds_holds_reads_then_sends_whole() -> None:
    call = Call("line.edit", {"max_connections": 3}, target=Ref(username="alice01", password="pw"),
                dialect="xtream_codes_v2")  # fmt: skip
    book = Playbook(call, upstream("xtream_masters"))
    book.expect("line.list", Result(data=[{**LINE, "id": "6", "password": "other"}, LINE]), search={"value": "alice01"})
    book.expect_hold("main:line:7")
    book.expect("line.get", Result(data=LINE))
    sent = book.expect("line.edit", Result(data=LINE), max_connections=3, bouquets=[1, 2], is_trial=True,
                       exp_date=1900000000, username="alice01", password="pw")  # fmt: skip
    assert sent.target == Ref(id=7)
    assert isinstance(book.end(), Result)


def test_an_edit_whose_record_is_held_elsewhere_sends_nothing() -> None:
    call = Call("line.edit", {"max_connections": 3}, target=Ref(id=7), dialect="xtream_masters")
    book = Playbook(call, upstream("xtream_masters"))
    busy = Failure(Code.UPSTREAM_UNAVAILABLE, "record main:line:7 is being changed", retryable=True, retry_after=1)
    book.expect_hold("main:line:7", busy)
    assert book.end() is busy


def test_absolute_credits_become_an_adjustment_and_a_late_failure_is_partial() -> None:
    call = Call("reseller.edit", {"credits": 75, "email": "n@x"}, target=Ref(id=88), dialect="midnight")
    book = Playbook(call, upstream("xtream_masters"))
    book.expect("reseller.get", Result(data={"id": "88", "credits": "500", "member_group_id": "2"}))
    book.expect_hold("main:reseller:88")
    book.expect("reseller.get", Result(data={"id": "88", "credits": "500", "member_group_id": "2",
                                             "username": "north_tv"}))  # fmt: skip
    book.expect("reseller.edit", Result(data=None), email="n@x", credits=500, member_group_id=2)
    book.expect_hold("main:reseller:88")  # the adjustment holds the same record (the driver holds it once)
    book.expect("reseller.adjust_credits", Failure(Code.UPSTREAM_UNAVAILABLE, "down"), credits=-425)
    outcome = book.end()
    assert isinstance(outcome, Failure) and outcome.code is Code.PARTIAL_FAILURE
    assert "reseller 88 was updated" in outcome.message


def test_a_batch_fans_out_and_names_what_failed() -> None:
    call = Call("stream.start", {"server_id": -1}, target=Ref(ids=(1, 2, 3)), dialect="xtream_codes_v2")
    book = Playbook(call, upstream("xtream_masters"))
    sends = book.expect_all("stream.start", [Result(), Failure(Code.NOT_FOUND), Result()])
    assert [s.call.target.id for s in sends] == [1, 2, 3]
    outcome = book.end()
    assert isinstance(outcome, Failure) and outcome.code is Code.PARTIAL_FAILURE
    assert outcome.message == "stream.start done for [1, 3], failed for 2: NOT_FOUND"


def test_a_refused_debit_is_explained_by_the_balance() -> None:
    call = Call("reseller.adjust_credits", {"credits": -50}, target=Ref(id=90), dialect="xtream_codes_v2")
    book = Playbook(call, upstream("xtream_masters"))
    book.expect_hold("main:reseller:90")
    book.expect("reseller.adjust_credits", Failure(Code.FAILURE))
    book.expect("reseller.get", Result(data={"id": "90", "credits": "15"}))
    outcome = book.end()
    assert isinstance(outcome, Failure) and outcome.code is Code.INSUFFICIENT_CREDITS


@pytest.mark.parametrize(
    ("call", "dialect", "words"),
    [
        (Call("line.edit", {"max_connections": 2}, target=Ref(id=7), dialect="xtream_masters"), "xtream_codes_v2",
         "line.edit addressed by id is not supported"),
        (Call("line.edit", {"access_output": [1]}, target=Ref(username="a", password="b"), dialect="xtream_codes_v2"),
         "midnight", "not supported"),
        (Call("reseller.adjust_credits", {"credits": 2.5}, target=Ref(id=88), dialect="xtream_codes_v2"),
         "xtream_masters", "moves whole credits only"),
        (Call("mag.edit", {"max_connections": 2}, target=Ref(mac="00:1A:79:00:00:01"), dialect="xtream_codes_v2"),
         "xtream_masters", ""),  # allowed on the documented panel (XUI.one fixes it: tests/integration/test_xui_one)
    ],
)
def test_refusals_send_nothing(call: Call, dialect: str, words: str) -> None:
    book = Playbook(call, upstream(dialect))
    if not words:
        book.expect("mag.list", Result(data=[]))
        assert isinstance(book.end(), Failure)
        return
    outcome = book.end()
    assert isinstance(outcome, Failure) and words in outcome.message


def test_a_midnightstreamer_reseller_gets_a_group_a_password_and_its_credits() -> None:
    call = Call("reseller.create", {"username": "newres", "credits": 5}, target=NO_REF, dialect="midnight")
    book = Playbook(call, upstream("xtream_masters"))
    book.expect("group.list", Result(data=[{"group_id": "1", "is_admin": "1", "is_reseller": "0"},
                                           {"group_id": "2", "is_admin": "0", "is_reseller": "1"}]))  # fmt: skip
    created = book.expect("reseller.create", Result(data={"id": "91", "username": "newres", "password": "$6$x"}),
                          member_group_id=2)  # fmt: skip
    made = created.args["password"]
    assert isinstance(made, str) and len(made) == 10 and "credits" not in created.args
    book.expect_hold("main:reseller:91")
    book.expect("reseller.adjust_credits", Result(), credits=5)
    outcome = book.end()
    assert isinstance(outcome, Result) and outcome.data["password"] == made and outcome.data["credits"] == 5


async def test_the_driver_releases_what_a_plan_held_however_it_ends() -> None:
    from gateway.plans.driver import drive
    from gateway.plans.rehearsal import Rehearsal
    from gateway.record_locks import RecordLocks

    locks = RecordLocks()

    class Broken(Rehearsal):
        async def send(self, call: Call, op: Any) -> Outcome:
            if op.name == "reseller.edit":
                raise RuntimeError("the transport broke")
            return await super().send(call, op)

    call = Call("reseller.edit", {"notes": "x"}, target=Ref(id=88), dialect="xtream_masters")
    with pytest.raises(RuntimeError):
        await drive(plan(call, OPS["reseller.edit"], upstream("xtream_masters")), Broken(call.target), locks)
    # held again at once: the failed plan let go of it
    outcome, trace = await drive(plan(call, OPS["reseller.edit"], upstream("xtream_masters")),
                                 Rehearsal(call.target), locks)  # fmt: skip
    assert isinstance(outcome, Result)
    assert [s.op.name for s, _ in trace.sent] == ["reseller.get", "reseller.edit"]


BUYER = {"id": "88", "credits": "25", "member_group_id": "2", "override_packages": '{"3":{"official_credits":"7"}}'}
GROUP = {"group_id": "2", "is_reseller": "1", "total_allowed_gen_trials": "2", "total_allowed_gen_in": "day",
         "minimum_username_length": "8", "minimum_password_length": "8", "allow_restrictions": "1"}  # fmt: skip
PACKAGE = {"id": "3", "groups": "[2]", "is_line": "1", "official_credits": "10", "official_duration": "1",
           "official_duration_in": "months", "bouquets": "[4,5]", "output_formats": "[1,2]", "max_connections": "2",
           "trial_credits": "1", "trial_duration": "24", "trial_duration_in": "hours"}  # fmt: skip


def _sale(**args: Any) -> Playbook:
    call = Call("line.create_from_package", {"package": 3, "member_id": 88, **args}, dialect="xui_reseller")
    book = Playbook(call, upstream("xtream_masters"))
    book.expect_hold("main:reseller:88")
    book.expect("reseller.get", Result(data=BUYER))
    book.expect("group.get", Result(data=GROUP))
    book.expect("package.get", Result(data=PACKAGE))
    return book


def test_a_sale_on_an_admin_api_charges_the_resellers_own_price_then_creates() -> None:
    from gateway.plans import purchase

    purchase.CLOCK = lambda: 1_800_000_000.0
    try:
        book = _sale(username="shopper01")
        book.expect("reseller.adjust_credits", Result(), credits=-7)  # the reseller's override of package 3
        created = book.expect("line.create", Result(data={"id": "70", "username": "shopper01"}), max_connections=2,
                              bouquets=[4, 5], access_output=[1, 2], is_trial=False, member_id=88)  # fmt: skip
        assert created.args["exp_date"] == 1_800_000_000 + 31 * 86400  # 2027-01-15 + 1 month, in UTC
        assert len(created.args["password"]) == 10  # made up, as the panel does
        assert isinstance(book.end(), Result)
    finally:
        purchase.CLOCK = __import__("time").time


def test_a_sale_whose_create_fails_is_refunded_and_a_failed_refund_is_partial() -> None:
    book = _sale(username="taken0001")
    book.expect("reseller.adjust_credits", Result(), credits=-7)
    exists = Failure(Code.EXISTS_USERNAME, echo={"username": "taken0001"})
    book.expect("line.create", exists)
    book.expect("reseller.adjust_credits", Result(), credits=7)
    assert book.end() is exists
    book = _sale(username="taken0001")
    book.expect("reseller.adjust_credits", Result(), credits=-7)
    book.expect("line.create", exists)
    book.expect("reseller.adjust_credits", Failure(Code.UPSTREAM_UNAVAILABLE, "down", retryable=True), credits=7)
    outcome = book.end()
    assert isinstance(outcome, Failure) and outcome.code is Code.PARTIAL_FAILURE
    assert "7 credits were charged" in outcome.message and "refund failed" in outcome.message


def test_a_sale_whose_create_may_have_happened_is_not_refunded_blindly() -> None:
    book = _sale(username="shopper02")
    book.expect("reseller.adjust_credits", Result(), credits=-7)
    book.expect("line.create", Failure(Code.UPSTREAM_UNAVAILABLE, "timed out after sending", retryable=False))
    outcome = book.end()
    assert isinstance(outcome, Failure) and outcome.code is Code.PARTIAL_FAILURE and "unknown" in outcome.message


def test_a_trial_over_the_groups_quota_is_refused_before_any_charge() -> None:
    from gateway.plans import purchase

    purchase.CLOCK = lambda: 1_800_000_000.0
    try:
        book = _sale(is_trial=True)
        trials = [{"id": "1", "is_trial": "1"}, {"id": "2", "is_trial": "1"}]
        command = book.gen.send(book.reply)  # the three lists go out as one batch
        assert isinstance(command, SendAll) and [s.op.name for s in command.sends] == ["line.list", "mag.list",
                                                                                        "enigma.list"]
        book.reply = [Result(data=trials), Result(data=[]), Result(data=[])]
        recent = {"created_at": str(1_800_000_000 - 3600)}
        book.expect_all("line.get", [Result(data=recent), Result(data=recent)])
        outcome = book.end()
        assert isinstance(outcome, Failure) and outcome.code is Code.NO_TRIALS
    finally:
        purchase.CLOCK = __import__("time").time
