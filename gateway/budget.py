"""How fast the gateway calls each panel: a token bucket per upstream, waited for in a bounded queue.

Behind the gateway every tenant shares one address at the panel, and XUI.one's nginx allows 20 requests a second
per address (`limit_req`, burst, then HTTP 503 that PHP never sees). Past the panel's budget a call waits here for
a token, up to `max_wait` seconds with at most `queue` calls waiting; past that it fails at once with a
Retry-After, and never reaches the panel to be refused there. With Redis (`redis.url`) the buckets are shared by
every worker and replica through the rate limiter (gateway.ratelimit, prefix `rate_limits`, bucket
`budget:<upstream>`), since the panel counts them all as one address. While Redis fails over each process keeps
the budget alone (docs/deploy.md states the cost).
"""

from __future__ import annotations

import asyncio
import collections
import random
import time

from gateway.metrics import Metrics
from gateway.ratelimit import Limiter, Rate
from gateway.upstream_settings import Upstream


class OverBudget(Exception):
    """No token within the wait: `retry_after` seconds until the panel can take another call."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutboundBudget:
    """Tokens per upstream. `limiter` and `metrics` are the gateway state's (set again on each reload)."""

    def __init__(self) -> None:
        self.limiter = Limiter()
        self.metrics: Metrics | None = None
        self._waiting: collections.Counter[str] = collections.Counter()

    async def take(self, upstream: Upstream) -> None:
        """Wait for a token of `upstream`'s budget (OverBudget past max_wait or a full queue)."""
        budget = upstream.budget
        if budget is None:
            return
        rate = Rate(per_second=budget.per_second, burst=budget.burst)
        key = f"budget:{upstream.name}"
        started = time.monotonic()
        decision = await self.limiter.take(key, rate)
        if decision.allowed:
            return
        if self._waiting[upstream.name] >= budget.queue:
            self._refused(upstream)
            raise OverBudget(f"upstream {upstream.name} is at its request budget; nothing was sent",
                             self._waiting[upstream.name] / budget.per_second)  # fmt: skip
        self._waiting[upstream.name] += 1
        try:
            while not decision.allowed:
                waited = time.monotonic() - started
                if waited + decision.retry_after > budget.max_wait:
                    self._refused(upstream)
                    raise OverBudget(f"upstream {upstream.name} is at its request budget ({budget.per_second:g}/s); "
                                     "nothing was sent", max(decision.retry_after, 1.0))  # fmt: skip
                # a little jitter, so the waiters of one refill do not all ask again in the same instant
                await asyncio.sleep(decision.retry_after * (1 + random.random() / 4))
                decision = await self.limiter.take(key, rate)
        finally:
            self._waiting[upstream.name] -= 1
        if self.metrics is not None:
            self.metrics.upstream_budget_wait.labels(upstream.name).observe(time.monotonic() - started)

    def _refused(self, upstream: Upstream) -> None:
        if self.metrics is not None:
            self.metrics.upstream_over_budget.labels(upstream.name).inc()
