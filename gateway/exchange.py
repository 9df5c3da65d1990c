"""The state of one admin request as it moves through the pipeline, and the app-wide state it reads."""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.audit import AuditLog
from gateway.cache.derived import DerivedMemo
from gateway.cache.store import ResponseCache
from gateway.catalogue import Catalogue, Operation
from gateway.config import Config, KeyConfig, Upstream
from gateway.dialects.base import ClientFace, RawRequest
from gateway.hitmemo import HitMemo
from gateway.idempotency.store import IdempotencyStore
from gateway.keyuse import KeyUse
from gateway.metrics import Metrics
from gateway.model import Call, Outcome
from gateway.quotas.counter import QuotaCounter
from gateway.ratelimit import Limiter
from gateway.upstream import UpstreamClient

if TYPE_CHECKING:
    from gateway.model import Page

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Request ids need to be unique, not secret: a random prefix per process and a counter (uuid4 per request was a
# visible share of a cache hit's time).
_ID_PREFIX = os.urandom(12).hex()
_ID_SEQUENCE = itertools.count()


def _reseed_ids() -> None:
    global _ID_PREFIX, _ID_SEQUENCE  # a forked worker must not repeat its parent's ids
    _ID_PREFIX, _ID_SEQUENCE = os.urandom(12).hex(), itertools.count()


os.register_at_fork(after_in_child=_reseed_ids)


@dataclass
class GatewayState:
    """Everything request code reads, built once at start-up from the Config."""

    config: Config
    catalogue: Catalogue
    keys_by_digest: dict[str, KeyConfig]
    ip_only_keys: tuple[KeyConfig, ...]
    previous_digests: dict[str, tuple[KeyConfig, float]]  # secrets replaced by `key rotate` -> key, valid until
    limiter: Limiter
    upstream_client: UpstreamClient
    metrics: Metrics
    audit: AuditLog
    idempotency: IdempotencyStore  # records of writes sent with an Idempotency-Key (gateway.idempotency)
    quotas: QuotaCounter  # keys' calls per day or window (gateway.quotas)
    keyuse: KeyUse  # when each key was last used (gateway.keyuse)
    cache: ResponseCache | None = None  # reads answered from cache (gateway.cache)
    hits: HitMemo = field(default_factory=HitMemo)  # plans of cached reads, per raw request (gateway.hitmemo)
    loaded_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Live:
    """The state in force. A reload replaces `state` whole; a request keeps the one it started with."""

    state: GatewayState
    # sections /readyz adds beside its own, by name: what parts of the app that hold runtime state report
    readiness: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    # sections the status page (gateway.status) adds, by name: the same for what it shows
    status: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)  # slots: made per request, its fields read and set at every step
class Exchange:
    request: web.Request
    state: GatewayState
    face: ClientFace
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    raw: RawRequest | None = None
    client_ip: IPAddress | None = None
    key: KeyConfig | None = None
    call: Call | None = None
    op: Operation | None = None
    upstream: Upstream | None = None
    candidates: tuple[Upstream, ...] = ()  # the upstreams that may serve this call, in the order to try
    upstream_calls: int = 0  # calls sent to panels for this request (the plan's trace; in the audit line)
    may_have_written: bool = False  # a write of this request was sent, and may have reached a panel
    outcome: Outcome | None = None
    page: Page | None = None  # a list page the gateway cuts (tenancy, or for an upstream that does not page)
    response_headers: dict[str, str] = field(default_factory=dict)
    shared: DerivedMemo | None = None  # set on a cache hit: the outcome is shared, derive from it through this
    idempotency: str = ""  # what an Idempotency-Key did: stored, replayed, released, mismatch, busy (audited)

    @staticmethod
    def request_id_of(request: web.Request) -> str:
        """Keep a caller's X-Request-Id when it is harmless, so logs join up across hops."""
        given = request.headers.get("X-Request-Id", "")
        return given if given and _REQUEST_ID.fullmatch(given) else f"{_ID_PREFIX}{next(_ID_SEQUENCE):08x}"


# The admin pipeline is an onion: each step gets the request and the rest of the pipeline, and may act before
# it, after it, around it (a cache, a lock) or instead of it (a refusal, a hit).
Next = Callable[[Exchange], Awaitable[Outcome]]
Step = Callable[[Exchange, Next], Awaitable[Outcome]]


Look = Callable[[Exchange], Awaitable[None]]


class Check:
    """A step that only looks (and raises Refused to stop the request): it runs, then the rest does."""

    def __init__(self, look: Look) -> None:
        self.look = look
        self.__name__ = self.__qualname__ = look.__name__

    async def __call__(self, ex: Exchange, next: Next) -> Outcome:
        await self.look(ex)
        return await next(ex)


def check(look: Look) -> Check:
    """`look` as a step of the pipeline."""
    return Check(look)


def compose(steps: tuple[Step, ...]) -> Next:
    """The pipeline as one function, built once: `steps[0]` outermost, the last one innermost.

    Every step that is still running when the innermost awaits the panel is a coroutine frame the event loop
    passes through each time the request resumes (each piece of the panel's answer): consecutive looks run in
    one frame, one after the other, and a step is handed the rest without a frame of its own."""
    runs: list[Step | list[Look]] = []
    for step in steps:
        if not isinstance(step, Check):
            runs.append(step)
        elif runs and isinstance(runs[-1], list):
            runs[-1].append(step.look)
        else:
            runs.append([step.look])
    handler: Next = _end
    for run in reversed(runs):
        handler = _looks(tuple(run), handler) if isinstance(run, list) else _bind(run, handler)
    return handler


async def _end(_: Exchange) -> Outcome:
    raise AssertionError("the innermost step must answer, not call on")


def _looks(looks: tuple[Look, ...], rest: Next) -> Next:
    async def looked(ex: Exchange) -> Outcome:
        for look in looks:
            await look(ex)
        return await rest(ex)

    return looked


def _bind(step: Step, rest: Next) -> Next:
    def bound(ex: Exchange) -> Awaitable[Outcome]:
        return step(ex, rest)  # the step's own coroutine: no frame between it and the one that awaits it

    return bound
