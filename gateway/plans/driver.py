"""The one place a plan's commands are carried out: sends through a transport, records held through the locks.

Plans (gateway.plans.calls) decide; this module only does what they say, in order, and keeps the trace of what
was sent, which the pipeline reads (may a failed write be tried on another upstream? only if it was one call
that never reached the panel) and the audit counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.catalogue import Operation
from gateway.model import Call, Code, Failure, Outcome
from gateway.plans.commands import Hold, Plan, Send, SendAll
from gateway.record_locks import RecordBusy, RecordLocks

FAN_OUT_CONCURRENCY = 4  # calls of one batch in flight at once: a panel is not asked for more


class Transport(Protocol):
    async def send(self, call: Call, op: Operation) -> Outcome:
        """One call to the upstream, its answer decoded (never raises for the panel's failures)."""
        ...


@dataclass
class Trace:
    """What a plan sent, in order, with what came back."""

    sent: list[tuple[Send, Outcome]] = field(default_factory=list)

    def only_send(self) -> tuple[Send, Outcome] | None:
        return self.sent[0] if len(self.sent) == 1 else None


async def drive(plan: Plan, transport: Transport, locks: RecordLocks | None = None) -> tuple[Outcome, Trace]:
    """Run `plan` to its outcome; every record it held is released when it ends, however it ends."""
    trace = Trace()
    held: set[str] = set()
    async with contextlib.AsyncExitStack() as stack:
        reply: Any = None
        while True:
            try:
                command = plan.send(reply)
            except StopIteration as done:
                return done.value, trace
            if isinstance(command, Send):
                reply = await _send(transport, command, trace)
            elif isinstance(command, SendAll):
                reply = await _send_all(transport, command, trace)
            elif isinstance(command, Hold):
                reply = None
                if locks is not None and command.record not in held:
                    try:
                        await stack.enter_async_context(locks.hold(command.record, wait=command.wait))
                        held.add(command.record)
                    except RecordBusy as busy:
                        reply = Failure(Code.UPSTREAM_UNAVAILABLE, f"{busy}; nothing was sent, try again",
                                        retryable=True, retry_after=1.0)  # fmt: skip
            else:  # pragma: no cover - a plan yielding anything else is a bug in the plan
                raise TypeError(f"a plan yielded {command!r}")


async def _send_all(transport: Transport, command: SendAll, trace: Trace) -> list[Outcome]:
    gate = asyncio.Semaphore(FAN_OUT_CONCURRENCY)

    async def one(send: Send) -> Outcome:
        async with gate:
            return await _send(transport, send, trace)

    return list(await asyncio.gather(*(one(s) for s in command.sends)))


async def _send(transport: Transport, send: Send, trace: Trace) -> Outcome:
    outcome = await transport.send(send.call, send.op)
    trace.sent.append((send, outcome))
    return outcome
