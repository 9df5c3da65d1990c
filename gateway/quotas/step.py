"""The pipeline step of key quotas (gateway.quotas): count the call, say how much is left, refuse past the limit."""

from __future__ import annotations

import math

from gateway.exchange import Exchange, Next
from gateway.model import Code, Failure, Outcome, Reason, Refused
from gateway.quotas.counter import Taken
from gateway.quotas.settings import Quota


def _headers(ex: Exchange, counted: list[tuple[Quota, Taken]]) -> None:
    """`RateLimit-Policy` names every quota the call counted against; `RateLimit-Limit`, `-Remaining` and `-Reset`
    speak of the one closest to its limit (or of the key's token bucket, when that has less left)."""
    policy = ", ".join(f'{q.limit};w={q.span:g};comment="{", ".join(q.operations)}"' for q, _ in counted)
    ex.response_headers["RateLimit-Policy"] = policy
    quota, tightest = min(counted, key=lambda c: c[1].remaining)
    bucket_left = ex.response_headers.get("RateLimit-Remaining")
    if bucket_left is not None and int(bucket_left) < tightest.remaining:
        return
    ex.response_headers["RateLimit-Limit"] = str(quota.limit)
    ex.response_headers["RateLimit-Remaining"] = str(tightest.remaining)
    ex.response_headers["RateLimit-Reset"] = str(max(1, math.ceil(tightest.reset)))


def _nothing_sent(ex: Exchange, outcome: Outcome) -> bool:
    """A call the gateway refused after counting it (no upstream can carry it), or whose failure never left for the
    panel (unreachable, its budget or a record lock refusing it) with no write of it sent before: it did nothing,
    so it does not count."""
    if not isinstance(outcome, Failure):
        return False
    if outcome.reason is Reason.UNSUPPORTED:
        return True
    return outcome.retryable and outcome.code is not Code.PARTIAL_FAILURE and not ex.may_have_written


async def counted(ex: Exchange, next: Next) -> Outcome:
    """The pipeline step: the call counted (`take`), and given back when it did nothing after all."""
    taken = await take(ex)
    try:
        outcome = await next(ex)
    except Refused:
        for one in taken:
            await ex.state.quotas.give_back(one)
        raise
    if taken and _nothing_sent(ex, outcome):
        for one in taken:
            await ex.state.quotas.give_back(one)
    return outcome


async def take(ex: Exchange) -> list[Taken]:
    """Count this call against each of its key's quotas that matches its operation; refuse it past any limit.
    Returns what was counted."""
    assert ex.key is not None and ex.op is not None
    quotas = [q for q in ex.key.quotas if q.matches(ex.op.name)]
    counted: list[tuple[Quota, Taken]] = []
    for quota in quotas:
        taken = await ex.state.quotas.take(ex.key.id, quota)
        counted.append((quota, taken))
        if taken.allowed:
            continue
        for _, earlier in counted[:-1]:
            await ex.state.quotas.give_back(earlier)
        _headers(ex, counted)
        minutes = math.ceil(taken.reset / 60)
        raise Refused(Failure(Code.RATE_LIMITED, f"quota of key {ex.key.id} used up: at most {quota.describe()}; "
                              f"{ex.op.name} may be called again in {minutes // 60} h {minutes % 60} min",
                              reason=Reason.QUOTA, retry_after=taken.reset))  # fmt: skip
    if counted:
        _headers(ex, counted)
    return [taken for _, taken in counted]
