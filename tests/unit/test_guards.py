"""gateway.guards: a value of the wrong type breaks the guard, never passes it or crashes it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.guards import DAY, KINDS, Guard

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("guard", "args", "problem"),
    [
        (Guard("max_connections", "max", 2), {"max_connections": 2}, None),
        (Guard("max_connections", "max", 2), {"max_connections": 3}, "above the limit"),
        (Guard("max_connections", "max", 2), {"max_connections": "9"}, "must be a number"),
        (Guard("max_connections", "max", 2), {"max_connections": True}, "must be a number"),
        (Guard("max_connections", "max", 2), {"max_connections": ["9"]}, "must be a number"),
        (Guard("credits", "min", 0), {"credits": "-5"}, "must be a number"),
        (Guard("credits", "min", 0), {"credits": -5}, "below the limit"),
        (Guard("is_restreamer", "equals", False), {"is_restreamer": False}, None),
        (Guard("is_restreamer", "equals", False), {"is_restreamer": "0"}, "must be False"),
        (Guard("is_restreamer", "equals", False), {"is_restreamer": 0}, "must be False"),
        (Guard("exp_date", "max_days_ahead", 31), {"exp_date": int(NOW + 30 * DAY)}, None),
        (Guard("exp_date", "max_days_ahead", 31), {"exp_date": int(NOW + 32 * DAY)}, "at most 31 days"),
        (Guard("exp_date", "max_days_ahead", 31), {"exp_date": str(int(NOW))}, "at most 31 days"),
        (Guard("exp_date", "max_days_ahead", 31), {"no_expire": True}, "no_expire may not be sent"),
        (Guard("exp_date", "max_days_ahead", 31), {"exp_date": int(NOW), "no_expire": True}, "no_expire"),
        (Guard("exp_date", "max_days_ahead", 31), {"exp_date": int(NOW), "no_expire": False}, None),
        (Guard("bouquets", "subset_of", (1, 2)), {"bouquets": [1]}, None),
        (Guard("bouquets", "subset_of", (1, 2)), {"bouquets": [3]}, "may only contain"),
        (Guard("bouquets", "subset_of", (1, 2)), {"bouquets": ["1"]}, "must be a list of ids"),
        (Guard("bouquets", "subset_of", (1, 2)), {"bouquets": "[1]"}, "must be a list of ids"),
        (Guard("credits", "forbidden", True), {"credits": 0}, "may not be sent"),
    ],
)
def test_guards_compare_typed_values(guard: Guard, args: dict[str, Any], problem: str | None) -> None:
    found = guard.violation(args, "line.edit", NOW)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


LIMITS: dict[str, list[Any]] = {"max": [2], "min": [1], "equals": [1, "x"], "max_days_ahead": [31],
                                "subset_of": [(1, 2)], "forbidden": [True], "one_of": [(3, 7)], "trials": [False]}
VALUES: list[Any] = [None, 0, 1, 3, 7, "1", "x", [1], [1, 5], True, False, 1_900_000_000, 2_000_000_000, 1.5]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_guard_passed_once_passes_later_too(kind: str) -> None:
    """A remembered cache hit (gateway.hitpath) does not run the guards again: for the same call, a guard that
    passed must pass at any later time (only max_days_ahead reads the clock, and it only gets easier)."""
    assert kind in LIMITS, "a new guard kind: say here which limits to try it with"
    now = 1_900_000_000.0
    passed = 0
    for limit in LIMITS[kind]:
        for field in ("exp_date", "package", "max_connections"):
            guard = Guard(field, kind, limit)
            for value in VALUES:
                for operation in ("line.create", "line.update", "line.list"):
                    for extra in ({}, {"no_expire": True}, {"is_trial": True}):
                        args = {field: value, **extra} if value is not None else dict(extra)
                        if guard.violation(args, operation, now) is None:
                            passed += 1
                            for later in (now + 1, now + 86_400, now + 400 * 86_400):
                                assert guard.violation(args, operation, later) is None, (guard, args, operation)
    assert passed
