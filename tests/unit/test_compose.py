"""The admin pipeline's composition (gateway.exchange.compose): steps run in the list's order, around-steps wrap
the rest, a refusal stops what follows, and the coroutine frames the event loop passes through on every resume
are one per run of looks and one per around-step, not two per step."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from gateway.exchange import Exchange, Next, Step, check, compose
from gateway.model import Code, Failure, Outcome, Refused, Result


def _pipeline(log: list[str], refuse_at: str = "") -> tuple[Step, ...]:
    def look(name: str) -> Step:
        async def looked(_: Any) -> None:
            log.append(name)
            if name == refuse_at:
                raise Refused(Failure(Code.FORBIDDEN, name))

        looked.__name__ = name
        return check(looked)

    def around(name: str) -> Step:
        async def step(ex: Any, next: Next) -> Outcome:
            log.append(f"{name} before")
            outcome = await next(ex)
            log.append(f"{name} after")
            return outcome

        step.__name__ = name
        return step

    async def innermost(_: Any, __: Next) -> Outcome:
        log.append("innermost")
        frames, frame = 0, sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "run":  # up to the test's own coroutine
            frames, frame = frames + 1, frame.f_back
        log.append(f"{frames} frames above")
        return Result(data=[])

    return (look("a"), look("b"), look("c"), around("x"), look("d"), look("e"), around("y"), innermost)


async def run(pipeline: Next) -> Outcome:
    return await pipeline(Exchange.__new__(Exchange))


async def test_steps_run_in_order_and_around_steps_wrap_the_rest() -> None:
    log: list[str] = []
    outcome = await run(compose(_pipeline(log)))
    assert isinstance(outcome, Result)
    assert log == ["a", "b", "c", "x before", "d", "e", "y before", "innermost",
                   # the looks' run, x, the second run, y: four frames between the innermost and the caller
                   "4 frames above", "y after", "x after"]  # fmt: skip


@pytest.mark.parametrize(("refuse_at", "ran"), [("b", ["a", "b"]), ("e", ["a", "b", "c", "x before", "d", "e"])])
async def test_a_refusing_look_stops_every_later_step(refuse_at: str, ran: list[str]) -> None:
    log: list[str] = []
    with pytest.raises(Refused):
        await run(compose(_pipeline(log, refuse_at)))
    assert log == ran  # around-steps let a refusal through (x's "after" is not reached)


async def test_the_innermost_must_answer() -> None:
    async def calls_on(ex: Exchange, next: Next) -> Outcome:
        return await next(ex)

    with pytest.raises(AssertionError, match="innermost step must answer"):
        await run(compose((check(_noop), calls_on)))


async def _noop(_: Exchange) -> None:
    return None
