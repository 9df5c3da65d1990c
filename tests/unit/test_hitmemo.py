"""The hit plans' memo is bounded by count and by bytes, least recently used first (gateway.hitmemo)."""

from __future__ import annotations

from typing import Any

from gateway.hitmemo import MAX_BYTES, MAX_PLANS, HitMemo, HitPlan, RequestKey


def _plan(size: int) -> HitPlan:
    nothing: Any = None
    return HitPlan(raw=nothing, client_ip=nothing, key=nothing, call=nothing, op=nothing, members=(), page=None,
                   grace_until=None, tenant="admin", size=size)  # fmt: skip


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


def test_every_pipeline_step_is_either_remembered_or_run_on_each_hit() -> None:
    """A step added to ADMIN_PIPELINE must be placed in gateway.hitpath's lists: if it depends on state, a
    remembered hit has to run it too."""
    from gateway import hitpath
    from gateway.app import ADMIN_PIPELINE

    names = [step.__name__ for step in ADMIN_PIPELINE]
    known = hitpath.PURE_STEPS + hitpath.STATEFUL_STEPS + hitpath.NOT_ON_A_HIT
    assert sorted(names) == sorted(known)
