"""A cached read answered from a remembered plan (gateway.hitmemo): the stateful steps only.

`answer` first checks the cache (it changes nothing): the generations of the call's tags, on every hit (a
write, on any replica, changes them and so the key), then the entry under the key. The entry last read under
a key is kept by the plan while the cache's decoded entries keep it, so a hit on unchanged generations does
not read the backend: an entry never changes under its key and is fresh until a wall-clock time. Only when
the entry is fresh does it run what depends on state, in the pipeline's order: the auth-failure throttle, the
key's dates (and its last use), the rate limit, the quotas. A refusal there is the one the whole pipeline would
give, since every step before it passed with the same inputs. Anything else (no fresh entry, a rotated-out
secret past its grace) answers None and the whole pipeline runs, counting nothing twice. The answer's bytes are
kept with the entry they were rendered from (while the cache's derived memo keeps them), so a hit on an
unchanged entry sends them without paging, filtering or rendering again.

The policy's guards are pure here: a plan is remembered only after they passed, their inputs (the call's
arguments, the operation, the policy) are the plan's, and the one guard that reads the clock
(`max_days_ahead`: value <= now + limit) only passes more easily as time goes on (tests/unit/test_guards.py
holds every guard kind to that).

What is remembered, and when (`remember`): a GET without an Idempotency-Key that reached the cache step as a
cacheable read (HIT or MISS) and whose steps were all pure for it: not a reseller's lookup of an addressed
record's owner (tenancy asks the panel), no date argument (`+1 month` is read against the clock).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

from aiohttp import web

from gateway import paging, routing, security, tenancy
from gateway.catalogue import FieldType, Kind
from gateway.dialects.base import Rendered
from gateway.exchange import Exchange
from gateway.hitmemo import PLAN_OVERHEAD, Based, HitPlan, RequestKey
from gateway.keys import digest_of
from gateway.quotas import step as quotas

_REMEMBERED = ("HIT", "MISS")
# Every step of ADMIN_PIPELINE, by what a remembered hit does with it (a test holds the pipeline to these lists,
# so a new step cannot be skipped on hits unnoticed): decided once and remembered, or run again on each hit.
PURE_STEPS = ("decode_request", "resolve_client_ip", "authenticate", "check_ip_allowlist", "take_key",
              "resolve_operation", "check_scope", "route_upstream", "tenancy", "check_guards", "idempotent",
              "page_whole_list")
STATEFUL_STEPS = ("throttle_auth_failures", "check_key_dates", "rate_limit", "counted", "cache")
NOT_ON_A_HIT = ("forward",)


def request_key(request: web.Request, face_name: str) -> RequestKey | None:
    """What a plan is remembered under, or None when the request may not use one (not a GET, or an
    Idempotency-Key header). Every header a pure step reads is in it."""
    if request.method != "GET":
        return None
    headers = request.headers
    if "Idempotency-Key" in headers:
        return None
    forwarded = tuple(headers.getall("X-Forwarded-For", ()))
    return (face_name, request.raw_path, request.remote, forwarded, headers.get("X-API-Key"))


async def answer(ex: Exchange, plan: HitPlan, render: Callable[[], Rendered]) -> Rendered | None:
    """The answer of a fresh cached entry for `plan`, after the stateful steps (`render()`: the outcome left in
    `ex.outcome`, in the client's dialect); None: run the pipeline."""
    store = ex.state.cache
    if store is None or not store.enabled:
        return None
    if plan.grace_until is not None and time.time() >= plan.grace_until:
        return None  # authenticate refuses it now (and names the key in the audit)
    candidates = routing.healthy_first(ex.state.upstream_client.health, plan.members)
    upstream = candidates[0].name
    based = plan.bases.get(upstream)
    if based is None:
        based = plan.bases[upstream] = Based(store.key_base(upstream, plan.op, plan.call, plan.tenant),
                                             store.generation_names(upstream, plan.op.tags))  # fmt: skip
    # the invalidation check, on every hit
    generations = store.backend.generations_here(based.names) or await store.backend.generations(based.names)
    if generations != based.generations:
        based.generations, based.key, based.entry = generations, store.key_from(based.digest, generations), None
    now = time.time()
    entry = based.entry() if based.entry is not None else None
    if entry is None or not entry.fresh(now):
        entry = await store.get(based.key)
        if entry is None or not entry.fresh(now):
            return None  # the Exchange is untouched: the pipeline starts from scratch
        based.entry = weakref.ref(entry)
    ex.raw, ex.client_ip, ex.key, ex.call, ex.op, ex.page = (plan.raw, plan.client_ip, plan.key, plan.call,
                                                              plan.op, plan.page)  # fmt: skip
    ex.candidates, ex.upstream = candidates, candidates[0]
    await security.throttle_auth_failures(ex, plan.auth_bucket)
    await security.check_key_dates(ex)
    await security.rate_limit(ex)
    if plan.key.quotas:
        await quotas.take(ex)
    ex.response_headers["X-Cache"] = "HIT"
    plan.tally.looked()  # a hit, as the cache step counts one: before the answer is rendered
    # the bytes kept are those of the entry this hit read: another hit may have read a newer one meanwhile (the
    # steps above can wait on Redis), so bytes and entry are kept as a pair, and only the pair's entry uses them
    kept = based.rendered
    rendered = kept[1]() if kept is not None and kept[0]() is entry else None
    if rendered is None:
        # the page of a shared Result, and its bytes, are remembered with it (cache.derived, byte-bounded): a plan
        # keeps neither a Result of its own, which would hold a decoded entry alive after the cache let it go,
        # nor the bytes (only weak references to the derived memo's and to the entry)
        ex.shared = store.derived
        ex.outcome = tenancy.filter_list(ex, paging.page_whole(ex, entry.result))
        rendered = render()
        based.rendered = (weakref.ref(entry), weakref.ref(rendered))
    return rendered


def record(plan: HitPlan, latency: float) -> None:
    """The metrics of an answer `answer` gave (a read's success: no audit line), as gateway.app's _record."""
    plan.tally.add(latency)


def remember(ex: Exchange, at: RequestKey) -> None:
    """Keep the plan of a request the whole pipeline answered, when it may be replayed (module docstring)."""
    raw, key, call, op, client_ip = ex.raw, ex.key, ex.call, ex.op, ex.client_ip
    if raw is None or key is None or call is None or op is None or client_ip is None or not ex.candidates:
        return
    if ex.response_headers.get("X-Cache") not in _REMEMBERED or op.kind is not Kind.READ:
        return
    if raw.idempotency_key is not None or not tenancy.rewrites_only(key.reseller_id, op):
        return
    if any(op.fields.get(name) is FieldType.DATE for name in call.args):
        return
    grace_until = None
    presented = ex.face.credentials(raw).api_key
    if presented:
        digest = digest_of(presented)
        if digest not in ex.state.keys_by_digest:
            if digest not in ex.state.previous_digests:
                return
            grace_until = ex.state.previous_digests[digest][1]  # an old secret in its grace after `key rotate`
    elif not key.ip_only:
        return
    members = routing.members_of(ex)
    tenant = "admin" if key.reseller_id is None else str(key.reseller_id)
    ex.state.hits.put(at, HitPlan(raw=raw, client_ip=client_ip, key=key, call=call, op=op, members=members,
                                  page=ex.page, grace_until=grace_until, tenant=tenant,
                                  auth_bucket=security.auth_bucket(client_ip),
                                  tally=ex.state.metrics.hit_tally(ex.face.NAME, op.name),
                                  size=_size_of(at, call.args)))  # fmt: skip


def _size_of(at: RequestKey, args: object) -> int:
    """What a plan holds, roughly, in bytes: its key's parts (every X-Forwarded-For line a client sent is in it),
    the raw request decoded, the call's arguments."""
    forwarded = sum(len(line) for line in at[3])
    return PLAN_OVERHEAD + 4 * len(at[1]) + forwarded + len(at[4] or "") + 2 * len(repr(args))
