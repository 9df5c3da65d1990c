"""A rate, the settings of a token bucket (gateway.ratelimit): tokens per second with bursts; and its config
form, shared by a key's `rate` and the `auth_throttle`. A leaf, so config does not load the limiter's Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.settings import ConfigError, Reader


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


def parse_rate(data: Any, path: str) -> Rate | None:
    """`{per_second: 20, burst: 40}` or `{per_minute: 10, burst: 10}`."""
    if data is None:
        return None
    r = Reader(data, path)
    per_second = r.get("per_second")
    per_minute = r.get("per_minute")
    if (per_second is None) == (per_minute is None):
        raise ConfigError(path, "give exactly one of per_second or per_minute")
    value = r.number("per_second" if per_second is not None else "per_minute", 1.0)
    rate = value if per_second is not None else value / 60
    burst = r.integer("burst", max(1, int(value)), low=1, high=1_000_000)
    r.done()
    return Rate(per_second=rate, burst=burst)
