"""gateway.guards: a value of the wrong type breaks the guard, never passes it or crashes it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.guards import DAY, Guard

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
