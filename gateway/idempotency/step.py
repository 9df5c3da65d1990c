"""The pipeline step of idempotent writes (see gateway.idempotency): the key taken out of the request, the
request's fingerprints, and the step around everything that may write."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from typing import Any

from gateway.catalogue import Kind
from gateway.exchange import Exchange, Next
from gateway.heartbeat import beating
from gateway.idempotency.store import DONE, Fingerprints, IdempotencyStore, Record
from gateway.model import Code, Failure, Outcome, Reason, Refused

HEADER = "Idempotency-Key"
PARAM = "idempotency_key"
MAX_KEY_LENGTH = 255
POLL_FIRST, POLL_MAX = 0.02, 0.25  # seconds between looks at a record another replica holds


def _invalid(message: str, subject: str) -> Refused:
    return Refused(Failure(Code.INVALID_INPUT, message, reason=Reason.BAD_INPUT, subject=subject))


async def take_key(ex: Exchange) -> None:
    """Take the idempotency key out of the request (header or parameter) before a dialect reads its parameters:
    every dialect refuses a parameter its operation does not declare, and the key must never reach a panel."""
    assert ex.raw is not None
    raw = ex.raw
    headers = ex.request.headers.getall(HEADER, [])
    given = [(HEADER, v) for v in headers] + [(PARAM, v) for v in (raw.query.get(PARAM), raw.body.get(PARAM))
                                              if v is not None]  # fmt: skip
    if len({str(v) for _, v in given}) > 1:
        raise _invalid("the idempotency key is given more than once, with different values", HEADER)
    if not given:
        return
    subject, key = given[0]
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " < c <= "~" for c in key):
        raise _invalid(f"{subject} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces", subject)
    ex.raw = replace(raw, query={k: v for k, v in raw.query.items() if k != PARAM},
                     body={k: v for k, v in raw.body.items() if k != PARAM}, idempotency_key=key)  # fmt: skip


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprints(ex: Exchange) -> Fingerprints:
    """The request as the gateway understood it (its canonical call) and as the client sent it (its parameters
    without the key it presented): either one matching makes a duplicate. The second keeps a retry of
    `exp_date=+1 month` a duplicate although it is read as a date a second later."""
    assert ex.call is not None and ex.raw is not None
    call, raw = ex.call, ex.raw
    canonical = {"operation": call.operation, "args": call.args, "target": asdict(call.target), "route": call.route}
    secret = ex.face.credentials(raw).api_key
    params = {k: v for k, v in {**raw.query, **raw.body}.items() if secret is None or v != secret}
    path = raw.path.replace(secret, "") if secret else raw.path
    return Fingerprints(_digest(canonical), _digest({"dialect": ex.face.NAME, "path": path, "params": params}))


def _record_key(ex: Exchange, key: str) -> str:
    assert ex.key is not None
    return f"{ex.key.id}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _kept(ex: Exchange, outcome: Outcome) -> bool:
    """Whether an outcome answers duplicates: not a failure that provably wrote nothing, because it never left for
    the panel, or because nothing but reads did (a lookup by username, or the current row an edit toward XUI.one
    starts from, that timed out): its retry must run, or it would be told of that timeout for `ttl` seconds."""
    if not isinstance(outcome, Failure) or outcome.code is Code.PARTIAL_FAILURE:
        return True
    return not outcome.retryable and ex.may_have_written


def _count(ex: Exchange, result: str) -> None:
    ex.idempotency = result
    ex.state.metrics.idempotent_requests.labels(result).inc()


async def idempotent(ex: Exchange, next: Next) -> Outcome:
    """The pipeline step: around everything that may write, so a duplicate is answered before any of it runs."""
    key = ex.raw.idempotency_key if ex.raw is not None else None
    if key is None or ex.op is None or ex.op.kind is Kind.READ:
        return await next(ex)
    store, settings = ex.state.idempotency, ex.state.config.idempotency
    record_key, prints = _record_key(ex, key), fingerprints(ex)
    deadline = time.monotonic() + settings.wait
    while True:
        owner, found = await store.claim(record_key, prints)
        if found is None:
            return await _first(ex, next, store, record_key, owner, prints)
        _same_request(ex, key, found, prints)
        found = await _settled(store, record_key, found, deadline)
        if found is None:
            continue  # the first one gave up (it wrote nothing): this one runs
        _same_request(ex, key, found, prints)
        if found.state != DONE or found.outcome is None:
            _count(ex, "busy")
            raise Refused(Failure(Code.FAILURE, f"the first request with this {HEADER} is still running; retry "
                                  "later with the same key", reason=Reason.IDEMPOTENCY_BUSY,
                                  retry_after=1.0))  # fmt: skip
        _count(ex, "replayed")
        ex.response_headers["Idempotent-Replayed"] = "true"
        if isinstance(found.outcome, Failure) and found.outcome.retry_after:
            # the first answer's Retry-After spoke of its moment: this key answers the same failure however long
            # the client waits, so it is not told to retry after some seconds (a new request needs a new key)
            return replace(found.outcome, retry_after=0.0)
        return found.outcome


def _same_request(ex: Exchange, key: str, found: Record, prints: Fingerprints) -> None:
    if not found.fingerprints.match(prints):
        _count(ex, "mismatch")
        hours = ex.state.config.idempotency.ttl / 3600
        raise Refused(Failure(Code.INVALID_INPUT, f"{HEADER} {key!r} was used for a different request in the last "
                              f"{hours:g} h; send a new key with a new request", reason=Reason.IDEMPOTENCY_MISMATCH,
                              subject=HEADER))  # fmt: skip


async def _settled(store: IdempotencyStore, key: str, found: Record, deadline: float) -> Record | None:
    """The record once it is done, or None once its claim is given up; as it stands when `deadline` passes."""
    pause = POLL_FIRST
    while found.state != DONE and time.monotonic() < deadline:
        await store.changed(key, min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(POLL_MAX, pause * 2)
        latest = await store.get(key)
        if latest is None:
            return None
        found = latest
    return found


async def _first(ex: Exchange, next: Next, store: IdempotencyStore, key: str, owner: str,
                 prints: Fingerprints) -> Outcome:  # fmt: skip
    """Run the request that holds the claim, to its end even when its client goes away: that client's retry is
    what the kept outcome is for (a server that cancels handlers of lost connections would otherwise cut a write
    the panel may have made, and leave nothing to answer the retry with)."""
    task = asyncio.get_running_loop().create_task(_run_first(ex, next, store, key, owner, prints))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return await asyncio.shield(task)


_RUNNING: set[asyncio.Task[Outcome]] = set()  # first requests whose clients left: kept until they finish


async def _run_first(ex: Exchange, next: Next, store: IdempotencyStore, key: str, owner: str,
                     prints: Fingerprints) -> Outcome:  # fmt: skip
    async with _kept_alive(store, key, owner, prints):
        try:
            outcome = await next(ex)
        except Refused:
            await store.release(key, owner)  # refused before anything was sent
            raise
    # Any other exception leaves the claim to expire: whether the panel wrote is unknown.
    if _kept(ex, outcome):
        await store.finish(key, owner, prints, outcome)
        _count(ex, "stored")
    else:
        await store.release(key, owner)
        _count(ex, "released")
    return outcome


@contextlib.asynccontextmanager
async def _kept_alive(store: IdempotencyStore, key: str, owner: str, prints: Fingerprints) -> AsyncIterator[None]:
    async with beating(store.pending_ttl / 3, lambda: store.heartbeat(key, owner, prints)):
        yield

