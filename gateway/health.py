"""Upstream health: a circuit breaker per upstream, fed by real traffic and by active probes.

closed -> (N consecutive failures) -> open -> (cool-down) -> half-open: one request probes
-> success closes, failure opens again. While open, requests to that upstream fail fast (nothing is sent),
and reads in a pool go to the next upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.settings import Reader

log = logging.getLogger("panelgate.health")


@dataclass(frozen=True)
class HealthSettings:
    interval: float = 10.0  # seconds between active probes of each upstream (0 turns probes off)
    failures: int = 5  # consecutive failures that open the breaker
    cooldown: float = 15.0  # seconds an open breaker waits before letting one probe through


def parse_health(data: Any, path: str) -> HealthSettings:
    """`health: {interval: 10, failures: 5, cooldown: 15}`"""
    if data is None:
        return HealthSettings()
    r = Reader(data, path)
    settings = HealthSettings(
        interval=r.seconds("interval", 10.0),
        failures=r.integer("failures", 5, low=1, high=1000),
        cooldown=r.seconds("cooldown", 15.0),
    )
    r.done()
    return settings


@dataclass
class Breaker:
    name: str
    settings: HealthSettings
    state: str = "closed"  # closed | open | half_open
    consecutive_failures: int = 0
    opened_at: float = 0.0
    last_error: str = ""
    last_success: float = 0.0
    _probe_out: bool = field(default=False, repr=False)

    def allow(self) -> bool:
        """Whether a request may go to this upstream now (at most one at a time while half-open)."""
        if self.state == "closed":
            return True
        if self.state == "open" and time.monotonic() - self.opened_at >= self.settings.cooldown:
            self.state = "half_open"
            self._probe_out = False
        if self.state == "half_open" and not self._probe_out:
            self._probe_out = True
            return True
        return False

    def available(self) -> bool:
        """Whether routing should prefer this upstream (does not take the half-open probe slot): closed, or ready
        to let a probe through (past its cool-down, or half-open with no probe out: one answered busy)."""
        return self.state == "closed" or (
            self.state == "open" and time.monotonic() - self.opened_at >= self.settings.cooldown
        ) or (self.state == "half_open" and not self._probe_out)

    def release(self) -> None:
        """A call that learnt nothing of the upstream's health (busy, over budget, cancelled) gives back the
        half-open probe slot it may hold, so the next call probes; otherwise the breaker stays half-open for good."""
        if self.state == "half_open":
            self._probe_out = False

    def success(self) -> None:
        if self.state != "closed":
            log.info("upstream %s recovered", self.name)
        self.state, self.consecutive_failures, self._probe_out = "closed", 0, False
        self.last_success = time.time()

    def failure(self, error: str) -> None:
        self.consecutive_failures += 1
        self.last_error = error[:200]
        if self.state == "half_open" or self.consecutive_failures >= self.settings.failures:
            if self.state != "open":
                log.warning("upstream %s marked down: %s", self.name, self.last_error)
            self.state, self.opened_at, self._probe_out = "open", time.monotonic(), False

    def report(self) -> dict[str, object]:
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_success": int(self.last_success) or None,
        }


class Health:
    """Breakers by upstream name. Kept across config reloads so a reload does not forget a dead panel."""

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        self.breakers: dict[str, Breaker] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def configure(self, settings: HealthSettings) -> None:
        """New thresholds after a reload; breakers keep their state."""
        self.settings = settings
        for breaker in self.breakers.values():
            breaker.settings = settings

    def breaker(self, name: str) -> Breaker:
        if name not in self.breakers:
            self.breakers[name] = Breaker(name, self.settings)
        return self.breakers[name]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
