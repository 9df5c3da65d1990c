"""The hit plans' memo is bounded by count and by bytes, least recently used first (gateway.hitmemo)."""

from __future__ import annotations

from typing import Any

from gateway.hitmemo import MAX_BYTES, MAX_PLANS, HitMemo, HitPlan, RequestKey


def _plan(size: int) -> HitPlan:
    nothing: Any = None
    return HitPlan(raw=nothing, client_ip=nothing, key=nothing, call=nothing, op=nothing, members=(), page=None,
                   grace_until=None, tenant="admin", size=size, tally=nothing)  # fmt: skip


def _at(n: int) -> RequestKey:
    return ("xtream_masters", f"/admin/admin/index.php?api_key=k&action=get_lines&start={n}", "127.0.0.1", (), None)


def test_bounded_by_count_least_recently_used_first() -> None:
    memo = HitMemo()
    for n in range(MAX_PLANS):
        memo.put(_at(n), _plan(100))
    assert memo.get(_at(0)) is not None  # used: now the most recent
    for n in range(MAX_PLANS, MAX_PLANS + 10):
        memo.put(_at(n), _plan(100))
    assert len(memo) == MAX_PLANS
    assert memo.get(_at(0)) is not None and memo.get(_at(1)) is None


def test_bounded_by_bytes() -> None:
    memo = HitMemo()
    for n in range(10):
        memo.put(_at(n), _plan(MAX_BYTES // 4))
    assert len(memo) == 4
    memo.put(_at(99), _plan(MAX_BYTES + 1))  # larger than the whole budget: not kept, nothing evicted
    assert memo.get(_at(99)) is None and len(memo) == 4


def test_a_plan_put_again_is_charged_once() -> None:
    memo = HitMemo()
    for _ in range(10):
        memo.put(_at(0), _plan(MAX_BYTES // 4))
    for n in range(1, 4):
        memo.put(_at(n), _plan(MAX_BYTES // 4))
    assert len(memo) == 4 and all(memo.get(_at(n)) is not None for n in range(4))
    memo.discard(_at(0))
    memo.put(_at(9), _plan(MAX_BYTES // 4))
    assert len(memo) == 4 and memo.get(_at(1)) is not None


def test_every_pipeline_step_is_either_remembered_or_run_on_each_hit() -> None:
    """A step added to ADMIN_PIPELINE must be placed in gateway.hitpath's lists: if it depends on state, a
    remembered hit has to run it too."""
    from gateway import hitpath
    from gateway.app import ADMIN_PIPELINE

    names = [step.__name__ for step in ADMIN_PIPELINE]
    known = hitpath.PURE_STEPS + hitpath.STATEFUL_STEPS + hitpath.NOT_ON_A_HIT
    assert sorted(names) == sorted(known)


def test_a_plan_is_charged_for_the_forwarded_lines_and_key_in_its_key() -> None:
    """A client may vary X-Forwarded-For (it is in the key even when ignored): each line it sends is charged,
    so ~1 MB of headers per request cannot hold 4,096 plans of ~1 MB under a bound of a few megabytes."""
    from gateway.hitpath import _size_of

    plain = _size_of(_at(0), {"limit": 25})
    padded = ("xtream_masters", _at(0)[1], "127.0.0.1", ("1.2.3.4" * 1000,) * 100, "k" * 8000)
    assert _size_of(padded, {"limit": 25}) >= plain + 700_000 + 8000
    memo = HitMemo()
    for n in range(10):
        at = ("xtream_masters", _at(n)[1], "127.0.0.1", ("1.2.3.4" * 1000,) * 100, None)
        memo.put(at, _plan(_size_of(at, {"limit": 25})))
    assert len(memo) <= MAX_BYTES // 700_000
