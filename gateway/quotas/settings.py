"""A key's quotas as the config gives them (gateway.quotas), parsed with the key's entry (gateway.keyconfig)."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.key_lifecycle import duration
from gateway.settings import ConfigError, Reader, show

DAY = 86400.0


@dataclass(frozen=True)
class Quota:
    operations: tuple[str, ...]  # globs over catalogue operation names
    limit: int
    window: float  # seconds of a rolling window; 0: a calendar day in `timezone`
    timezone: str = "UTC"

    def matches(self, operation: str) -> bool:
        return any(fnmatch.fnmatchcase(operation, glob) for glob in self.operations)

    @property
    def span(self) -> float:
        """The seconds it counts over (a calendar day: 86400)."""
        return self.window or DAY

    @property
    def id(self) -> str:
        """A stable name for its counters: the same quota keeps its count across reloads and replicas."""
        text = "|".join((*self.operations, str(self.window), self.timezone))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """`50 line.create per day (UTC)`, `200 line.*, mag.* per 3600 s`."""
        what = ", ".join(self.operations)
        per = f"per {self.window:g} s" if self.window else f"per day ({self.timezone})"
        return f"{self.limit} {what} {per}"


def parse(r: Reader, key: str, operations: Iterable[str]) -> tuple[Quota, ...]:
    """The `quotas` list of one key entry (its reader `r`); globs must match some operation of `operations`."""
    names = tuple(operations)
    quotas: list[Quota] = []
    for i, item in enumerate(r.items(key)):
        sub = Reader(item, f"{r.at(key)}[{i}]")
        globs = sub.get("operations")
        globs = [globs] if isinstance(globs, str) else globs
        if not isinstance(globs, list) or not globs or not all(isinstance(g, str) for g in globs):
            raise ConfigError(sub.at("operations"), f"expected an operation glob or a list of them, got {show(globs)}")
        for glob in globs:
            if not any(fnmatch.fnmatchcase(name, glob) for name in names):
                raise ConfigError(sub.at("operations"), f"{glob!r} matches no operation")
        per, window = sub.get("per"), sub.get("window")
        if (per is None) == (window is None):
            raise ConfigError(sub.path, "give exactly one of `per: day` or `window: SECONDS` (such as 3600 or 1h)")
        if per is not None and per != "day":
            raise ConfigError(sub.at("per"), f"expected day, got {show(per)}")
        seconds = _window(window, sub.at("window")) if window is not None else 0.0
        zone = sub.text("timezone", "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(sub.at("timezone"), f"{zone!r} is not a time zone") from None
        if window is not None and sub.get("timezone") is not None:
            raise ConfigError(sub.at("timezone"), "only a calendar day (`per: day`) has a time zone")
        quotas.append(Quota(tuple(globs), sub.integer("limit", low=1, high=100_000_000), seconds, zone))
        sub.done()
    return tuple(quotas)


def _window(value: object, path: str) -> float:
    try:
        seconds = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else duration(
            str(value))
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None
    if not 1 <= seconds <= 366 * DAY:
        raise ConfigError(path, f"{seconds:g} seconds is not between 1 s and 366 days")
    return seconds
