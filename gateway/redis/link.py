"""One feature's calls to Redis: bounded in all, and sent to the feature's fallback while the deployment is out.

redis-py's socket timeouts each bound one step (connecting, the handshake, each read), so one call could wait
several; `bounded()` puts one deadline over the whole call.

The rate limits, the cache, the record locks, the stream caps and the host names each hold a `Link`. Sharing a
deployment, each used to find it frozen on its own: one request waited for the rate limit's call, then the
cache's. An `Outage` is shared by every link to one deployment in this process: the first failure sends the
others to their fallbacks at once; after `retry_after` seconds one call (the probe) tries again while the rest
stay on their fallbacks, and its success ends the outage for all. Each outage is counted, with when it began and
ended, for /readyz and /metrics (gateway.redis.status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)

from gateway.redis.client import RedisClient, connect
from gateway.redis.settings import Endpoint
from gateway.redis.url import RedisURL

log = logging.getLogger("panelgate.redis")
T = TypeVar("T")
# What a failing or failing-over deployment raises (a Cluster's slot-map errors are not RedisErrors).
FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)
# Answers of a server that cannot take the command now: a cluster without a master for a slot, a demoted master.
_UNAVAILABLE_ANSWERS = (ClusterDownError, ReadOnlyError, TryAgainError)


class Unavailable(Exception):
    """Redis was not asked (its deployment is out: `asked` False) or did not answer: the caller uses its fallback.
    A command that was asked may still have run (a frozen server runs it when it resumes)."""

    def __init__(self, message: str, *, asked: bool) -> None:
        super().__init__(message)
        self.asked = asked


async def bounded(call: Awaitable[T], timeout: float) -> T:
    """`call`, or TimeoutError after `timeout` seconds in all (connect, handshake and command together)."""
    async with asyncio.timeout(timeout):
        return await call


def tagged(prefix: str, tag: str, rest: str = "") -> str:
    """A key whose Cluster slot is `tag`'s alone: every key with the same tag is in one slot, so one script or
    transaction may use them together. Braces (and %) in the tag are escaped: a `}` in a line's name must not
    end the tag early and put its keys in different slots. An empty tag (which Redis ignores, hashing the whole
    key) becomes `%`, which no escaped tag can be."""
    safe = tag.replace("%", "%25").replace("{", "%7B").replace("}", "%7D") or "%"
    return f"{prefix}{{{safe}}}{rest}"


class Outage:
    """One deployment's health as this process saw it last."""

    def __init__(self, label: str) -> None:
        self.label = label  # the redacted URL
        self.until = 0.0  # monotonic time before which nobody tries
        self.failed_at = 0.0
        self.probing = False
        self.down_since: float | None = None  # wall clock; None while the deployment answers
        self.outages = 0
        self.last: tuple[float, float] | None = None  # (began, ended), wall clock, of the last outage that ended
        self.errors: Counter[str] = Counter()  # by feature
        self.last_error = ""

    @property
    def up(self) -> bool:
        return self.down_since is None

    @property
    def down(self) -> bool:
        """Within a back-off: nothing tries (not even a probe)."""
        return time.monotonic() < self.until

    def admit(self) -> bool | None:
        """True: call. None: call as this deployment's one probe (the caller must `end_probe`). False: fallback."""
        if self.down_since is None and not self.down:
            return True
        if self.down or self.probing:
            return False
        self.probing = True
        return None

    def end_probe(self) -> None:
        self.probing = False

    def failed(self, feature: str, backoff: float, exc: BaseException) -> bool:
        """Record a failure; False when it was the command's own error (the server answered)."""
        if isinstance(exc, ResponseError) and not isinstance(exc, _UNAVAILABLE_ANSWERS):
            return False
        self.errors[feature] += 1
        self.last_error = f"{feature}: {type(exc).__name__}"  # exception texts may name hosts; never passwords
        self.failed_at = time.monotonic()
        self.until = max(self.until, self.failed_at + backoff)
        if self.down_since is None:
            self.down_since = time.time()
            self.outages += 1
            log.warning("redis %s failed (%s: %s); shared state falls back to this process for %.1fs",
                        self.label, feature, type(exc).__name__, backoff)  # fmt: skip
        return True

    def answered(self, started: float) -> None:
        """A call begun at `started` (monotonic) succeeded: the deployment is back, unless one failed since."""
        if started < self.failed_at:
            return
        self.until = 0.0
        if self.down_since is not None:
            now = time.time()
            self.last = (self.down_since, now)
            log.warning("redis %s answers again after %.1fs; shared state is shared again", self.label,
                        now - self.down_since)  # fmt: skip
            self.down_since = None


_OUTAGES: dict[RedisURL, Outage] = {}  # in memory only; never the URL's text (it may hold a password)


def outage(url: RedisURL) -> Outage:
    found = _OUTAGES.get(url)
    if found is None:
        found = _OUTAGES[url] = Outage(url.redacted())
    return found


class Link:
    """One feature's client of a deployment. `await link.call(lambda c: c.get(k))` returns Redis' answer or
    raises Unavailable, at most `timeout` seconds later; the caller then uses its fallback."""

    def __init__(self, endpoint: Endpoint, feature: str) -> None:
        self.endpoint = endpoint
        self.feature = feature
        self.prefix = endpoint.prefix
        self.timeout = endpoint.timeout
        self.client: RedisClient = connect(endpoint.url, endpoint.timeout)
        self.outage = outage(endpoint.url)
        self.errors = 0  # this link's failures (the outage counts every link's, by feature)

    @property
    def available(self) -> bool:
        """False while the deployment is out for this process (calls go to the fallback without trying)."""
        return self.outage.up and not self.outage.down

    async def call(self, fn: Callable[[RedisClient], Awaitable[T]], *, force: bool = False) -> T:
        """`fn(client)`, bounded. `force` calls even during an outage (a release or a replay that must not wait
        for the back-off; still bounded, and its success ends the outage)."""
        admitted = True if force else self.outage.admit()
        if admitted is False:
            raise Unavailable(f"redis {self.outage.label} is out", asked=False)
        started = time.monotonic()
        try:
            value = await bounded(fn(self.client), self.timeout)
        except FAILURES as exc:
            if self.outage.failed(self.feature, self.endpoint.retry_after, exc):
                self.errors += 1
            raise Unavailable(f"redis {self.outage.label}: {type(exc).__name__}", asked=True) from exc
        finally:
            if admitted is None:
                self.outage.end_probe()
        self.outage.answered(started)
        return value

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.aclose(), self.timeout * 4)
        except (*FAILURES, RuntimeError):
            pass  # nothing to close cleanly on a dead server, or on a loop that is gone
