"""Remembered hit plans: what the admin pipeline decided for a raw request, before its cache lookup.

Decoding, the client address, the key, its IP allow-list, the parse, the policy scope, the route, tenancy's
rewrite and the cache key's digest are a pure function of the raw request (method, path and query string, the
`X-API-Key` and `X-Forwarded-For` headers), the socket peer and the config in force. For a cached read they
are most of a hit's work, so the decisions are kept here per raw request, and gateway.hitpath runs only the
steps that depend on state (throttle, key dates, rate limit, quotas, the cache's generations; guards passed
when the plan was remembered, see gateway.hitpath).

The memo belongs to one GatewayState: a reload (`swap_state`) builds a new state with an empty memo, so keys
revoked, rotated or re-scoped, policies and routes all take effect with the config that changes them. It is
bounded by count and by bytes (least recently used go first).
"""

from __future__ import annotations

import ipaddress
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.catalogue import Operation
    from gateway.config import KeyConfig
    from gateway.dialects.base import RawRequest
    from gateway.model import Call, Page
    from gateway.tally import Tally
    from gateway.upstream_settings import Upstream

MAX_PLANS = 4096
MAX_BYTES = 8 << 20
PLAN_OVERHEAD = 1024  # bytes a plan holds beyond its request target: objects shared with the config, roughly

# The request as the memo knows it: dialect, raw path with query, peer, X-Forwarded-For lines, X-API-Key.
RequestKey = tuple[str, str, str | None, tuple[str, ...], str | None]


@dataclass
class HitPlan:
    """What the pure steps decided for one raw request that reached the cache with a cacheable read."""

    raw: RawRequest
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    key: KeyConfig
    call: Call
    op: Operation
    members: tuple[Upstream, ...]  # the upstreams that may serve it, in config order (healthy first per hit)
    page: Page | None  # a reseller's page (tenancy)
    grace_until: float | None  # the key was given by a rotated-out secret, accepted until then
    tenant: str
    size: int
    tally: Tally  # where its hits are counted
    auth_bucket: str = ""  # the client address's auth-failure throttle bucket
    # per upstream name: the cache key's digest without generations, the generations' names, and the last
    # generations seen with the key they made (a hit on unchanged generations does not hash again)
    bases: dict[str, Based] = field(default_factory=dict)


@dataclass
class Based:
    digest: Any
    names: list[str]
    generations: tuple[str, list[int]] | None = None
    key: str = ""
    # the entry last read under `key`, while the cache's decoded entries keep it (ResponseCache.get): entries
    # are fresh until a wall-clock time and never change under their key (a write changes the generations)
    entry: weakref.ref[Any] | None = None
    # (an entry, its answer as rendered): the derived memo holds the bytes; a hit on that entry sends them as they are
    rendered: tuple[weakref.ref[Any], weakref.ref[Any]] | None = None


def _charge(plan: HitPlan) -> int:
    return max(plan.size, MAX_BYTES // MAX_PLANS)  # so the byte bound is a count bound as well


class HitMemo:
    """Plans by raw request, least recently used first: an OrderedDict (C) rather than cachetools' LRUCache, whose
    get() hashed the request key three times in Python calls on each cache hit."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._plans: OrderedDict[RequestKey, HitPlan] = OrderedDict()
        self._bytes = 0

    def get(self, key: RequestKey) -> HitPlan | None:
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def put(self, key: RequestKey, plan: HitPlan) -> None:
        charge = _charge(plan)
        if charge > self.max_bytes:
            return
        self.discard(key)
        while self._plans and self._bytes + charge > self.max_bytes:
            _, oldest = self._plans.popitem(last=False)
            self._bytes -= _charge(oldest)
        self._plans[key] = plan
        self._bytes += charge

    def discard(self, key: RequestKey) -> None:
        plan = self._plans.pop(key, None)
        if plan is not None:
            self._bytes -= _charge(plan)

    def __len__(self) -> int:
        return len(self._plans)
