"""Parameter guards: limits a policy puts on the values a key may send (`max_connections <= 2`, ...).

Guards read canonical args, so one rule holds whatever dialect the client speaks: `package: {one_of: [3, 7],
trials: false}` holds for a Reseller API sale, its renewal and a MidnightStreamer subscription plan alike. Each kind
is one entry of KINDS: what its limit must be in the config, and what breaks it, side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.settings import ConfigError, show

DAY = 86_400


@dataclass(frozen=True)
class Guard:
    field: str
    kind: str
    limit: Any = None

    def violation(self, args: dict[str, Any], operation: str, now: float) -> str | None:
        """Why `args` break this guard, or None. A value of the wrong type breaks every guard but `forbidden`:
        a guard must never be passed (or crash) because a dialect delivered "5" where 5 was meant."""
        return KINDS[self.kind].check(self, args, operation, now)


@dataclass(frozen=True)
class GuardKind:
    limit_error: Callable[[Any], str | None]  # what is wrong with a limit the config gives, or None
    check: Callable[[Guard, dict[str, Any], str, float], str | None]  # what breaks it, or None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _given(check: Callable[[Guard, Any], str | None]) -> Callable[[Guard, dict[str, Any], str, float], str | None]:
    """A check of a value that holds only when the value is sent (and not null)."""

    def run(guard: Guard, args: dict[str, Any], operation: str, now: float) -> str | None:
        value = args.get(guard.field)
        return None if value is None else check(guard, value)

    return run


def _max(g: Guard, value: Any) -> str | None:
    if not _number(value):
        return f"{g.field} must be a number"
    return f"{g.field} {value} is above the limit {g.limit}" if value > g.limit else None


def _min(g: Guard, value: Any) -> str | None:
    if not _number(value):
        return f"{g.field} must be a number"
    return f"{g.field} {value} is below the limit {g.limit}" if value < g.limit else None


def _equals(g: Guard, value: Any) -> str | None:
    return f"{g.field} must be {g.limit!r}" if type(value) is not type(g.limit) or value != g.limit else None


def _subset_of(g: Guard, value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(_number(item) for item in value):
        return f"{g.field} must be a list of ids"
    extra = sorted(set(value) - set(g.limit))
    return f"{g.field} may only contain {sorted(g.limit)}, not {extra}" if extra else None


def _forbidden(g: Guard, args: dict[str, Any], operation: str, now: float) -> str | None:
    return f"{g.field} may not be sent" if g.field in args else None


def _max_days_ahead(g: Guard, args: dict[str, Any], operation: str, now: float) -> str | None:
    present, value = g.field in args, args.get(g.field)
    if g.field == "exp_date" and args.get("no_expire"):
        return f"{g.field} may be at most {g.limit} days ahead: no_expire may not be sent"
    if operation.endswith(".create") and (not present or value is None):
        return f"{g.field} is required and at most {g.limit} days ahead"
    if present and (not _number(value) or value > now + g.limit * DAY):
        return f"{g.field} may be at most {g.limit} days ahead"
    return None


def _one_of(g: Guard, value: Any) -> str | None:
    return f"{g.field} may only be one of {list(g.limit)}, not {value!r}" if value not in g.limit else None


def _trials(g: Guard, args: dict[str, Any], operation: str, now: float) -> str | None:
    """`package: {trials: false}`: what the key sells is never sold as a trial (`is_trial` beside the package)."""
    sold_as_trial = g.field in args and bool(args.get("is_trial"))
    return f"{g.field} may not be sold as a trial" if sold_as_trial and not g.limit else None


def _needs_number(limit: Any) -> str | None:
    return None if _number(limit) else f"expected a number, got {show(limit)}"


def _needs_days(limit: Any) -> str | None:
    return None if _number(limit) and limit > 0 else f"expected a positive number of days, got {show(limit)}"


def _needs_ids(limit: Any) -> str | None:
    ids = isinstance(limit, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in limit)
    return None if ids else f"expected a list of ids, got {show(limit)}"


def _needs_true(limit: Any) -> str | None:
    return None if limit is True else f"expected true, got {show(limit)}"


def _needs_values(limit: Any) -> str | None:
    values = isinstance(limit, list) and bool(limit) and all(
        isinstance(i, int | str) and not isinstance(i, bool) for i in limit)  # fmt: skip
    return None if values else f"expected a list of values, got {show(limit)}"


def _needs_flag(limit: Any) -> str | None:
    return None if isinstance(limit, bool) else f"expected true or false, got {show(limit)}"


def _needs_scalar(limit: Any) -> str | None:
    return None if isinstance(limit, bool | int | str) else f"expected a single value, got {show(limit)}"


KINDS: dict[str, GuardKind] = {
    "max": GuardKind(_needs_number, _given(_max)),
    "min": GuardKind(_needs_number, _given(_min)),
    "equals": GuardKind(_needs_scalar, _given(_equals)),
    "max_days_ahead": GuardKind(_needs_days, _max_days_ahead),
    "subset_of": GuardKind(_needs_ids, _given(_subset_of)),
    "forbidden": GuardKind(_needs_true, _forbidden),
    "one_of": GuardKind(_needs_values, _given(_one_of)),
    "trials": GuardKind(_needs_flag, _trials),
}
GUARD_KINDS = tuple(KINDS)


def parse_guards(data: Any, path: str) -> tuple[Guard, ...]:
    """`guards: {max_connections: {max: 2}, exp_date: {max_days_ahead: 31}, credits: {forbidden: true}}`"""
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of field -> rule, got {show(data)}")
    guards: list[Guard] = []
    for field_name, rules in data.items():
        where = f"{path}.{field_name}"
        if not isinstance(rules, dict) or not rules:
            raise ConfigError(where, f"expected a mapping such as {{max: 2}}, got {show(rules)}")
        for kind, limit in rules.items():
            if kind not in KINDS:
                raise ConfigError(f"{where}.{kind}", f"unknown guard; use one of {', '.join(GUARD_KINDS)}")
            problem = KINDS[kind].limit_error(limit)
            if problem:
                raise ConfigError(f"{where}.{kind}", problem)
            guards.append(Guard(str(field_name), kind, tuple(limit) if kind in ("subset_of", "one_of") else limit))
    return tuple(guards)
