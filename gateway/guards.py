"""Parameter guards: limits a policy puts on the values a key may send (`max_connections <= 2`, ...).

Guards read canonical args, so one rule holds whatever dialect the client speaks: `package: {one_of: [3, 7],
trials: false}` holds for a Reseller API sale, its renewal and a MidnightStreamer subscription plan alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GUARD_KINDS = ("max", "min", "equals", "max_days_ahead", "subset_of", "forbidden", "one_of", "trials")
DAY = 86_400


@dataclass(frozen=True)
class Guard:
    field: str
    kind: str
    limit: Any = None

    def violation(self, args: dict[str, Any], operation: str, now: float) -> str | None:
        """Why `args` break this guard, or None. A value of the wrong type breaks every guard but `forbidden`:
        a guard must never be passed (or crash) because a dialect delivered "5" where 5 was meant."""
        present = self.field in args
        value = args.get(self.field)
        if self.kind == "forbidden":
            return f"{self.field} may not be sent" if present else None
        if self.kind == "trials":
            # `package: {one_of: [3, 7], trials: false}`: what a key may sell, in one guard of its package
            return f"{self.field} may not be sold as a trial" if present and args.get("is_trial") and not self.limit \
                else None  # fmt: skip
        if self.kind == "max_days_ahead":
            if self.field == "exp_date" and args.get("no_expire"):
                return f"{self.field} may be at most {self.limit} days ahead: no_expire may not be sent"
            if operation.endswith(".create") and (not present or value is None):
                return f"{self.field} is required and at most {self.limit} days ahead"
            if present and (not _number(value) or value > now + self.limit * DAY):
                return f"{self.field} may be at most {self.limit} days ahead"
            return None
        if not present or value is None:
            return None
        if self.kind in ("max", "min") and not _number(value):
            return f"{self.field} must be a number"
        if self.kind == "max" and value > self.limit:
            return f"{self.field} {value} is above the limit {self.limit}"
        if self.kind == "min" and value < self.limit:
            return f"{self.field} {value} is below the limit {self.limit}"
        if self.kind == "equals" and (type(value) is not type(self.limit) or value != self.limit):
            return f"{self.field} must be {self.limit!r}"
        if self.kind == "one_of" and value not in self.limit:
            return f"{self.field} may only be one of {list(self.limit)}, not {value!r}"
        if self.kind == "subset_of":
            if not isinstance(value, list | tuple) or not all(_number(item) for item in value):
                return f"{self.field} must be a list of ids"
            extra = sorted(set(value) - set(self.limit))
            if extra:
                return f"{self.field} may only contain {sorted(self.limit)}, not {extra}"
        return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
