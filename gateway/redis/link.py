"""One feature's calls to Redis: bounded in all, and sent to the feature's fallback while the deployment is out.

redis-py's socket timeouts each bound one step (connecting, the handshake, each read), so one call could wait
several; `bounded()` puts one deadline over the whole call.

The rate limits, the cache, the record locks, the stream caps, the provider slots, the host names, idempotent
writes, quotas and keys' last use each hold a `Link` (the last three through `MaybeLink`). Sharing a
deployment, each used to find it frozen on its own: one request waited for the rate limit's call, then the
cache's. An `Outage` is shared by every link to one deployment in this process: the first failure sends the
others to their fallbacks at once, and no request waits on that deployment again until it answers. A background
task pings it every PROBE_EVERY seconds (each ping bounded by the timeout; on a Cluster, every master), and the
first answer ends the outage for every feature: the process is back on Redis at most PROBE_EVERY + timeout after
a promoted master answers. Should that task not run, one request's call probes after `retry_after` seconds.
Each outage is counted, with when it began and ended, for /readyz and /metrics (gateway.redis.status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterDownError, ReadOnlyError, ResponseError, TryAgainError

from gateway.redis.client import RedisClient, connect
from gateway.redis.settings import Endpoint
from gateway.redis.url import RedisURL

log = logging.getLogger("panelgate.redis")
T = TypeVar("T")
PROBE_EVERY = 0.25  # seconds between background pings of a deployment that is out
RETRY_EVERY = 0.25  # seconds between background tries of work that must reach Redis (gateway.redis.link.Backlog)
WARM_WITHIN = 2.0  # seconds a client may take to connect (a Cluster's slot map, a Sentinel's master) at start-up
# What a failing or failing-over deployment raises: RedisErrors, a Cluster's slot-map errors (not RedisErrors),
# socket errors, timeouts; and anything else the client lets out while a server dies under it (redis-py's cluster
# client was seen raising AttributeError on a connection torn down mid-write). A Redis client's fault must become
# the feature's fallback, never an error of the request: only cancellation passes.
FAILURES = (Exception,)
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
        self.prober: asyncio.Task[None] | None = None  # the background pings while out (gateway.redis.link.Link)

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

    def failed(self, feature: str | None, backoff: float, exc: BaseException) -> bool:
        """Record a failure (a feature's, or a background ping's: None); False when it was the command's own
        error (the server answered)."""
        if feature is not None:  # counted either way: the feature's call went to its fallback
            self.errors[feature] += 1
            self.last_error = f"{feature}: {type(exc).__name__}"  # exception texts may name hosts; not passwords
        if isinstance(exc, ResponseError) and not isinstance(exc, _UNAVAILABLE_ANSWERS):
            return False
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
    """One feature's client of a deployment. `await link.run("GET", key)` (or `link.call(fn)` for more than one
    command) returns Redis' answer or raises Unavailable, at most `timeout` seconds later; the caller then uses
    its fallback."""

    def __init__(self, endpoint: Endpoint, feature: str) -> None:
        self.endpoint = endpoint
        self.feature = feature
        self.prefix = endpoint.prefix
        self.timeout = endpoint.timeout
        self.client: RedisClient = connect(endpoint.url, endpoint.timeout)
        self.outage = outage(endpoint.url)
        self.errors = 0  # this link's failures (the outage counts every link's, by feature)
        self._prober: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """False while the deployment is out for this process (calls go to the fallback without trying)."""
        return self.outage.up and not self.outage.down

    async def call(self, fn: Callable[[RedisClient], Awaitable[T]], *, force: bool = False) -> T:
        """`fn(client)`, bounded. `force` calls even during an outage (a release or a replay that must not wait
        for the back-off; still bounded). Its success ends the outage, except on a Cluster: there it shows only
        that one master answers, and the background pings ask every master."""
        admitted = True if force else self.outage.admit()
        if admitted is False:
            raise Unavailable(f"redis {self.outage.label} is out", asked=False)
        started = time.monotonic()
        try:
            value = await bounded(fn(self.client), self.timeout)
        except FAILURES as exc:
            # an error answer (a full Redis' OOM, a failed disk's MISCONF) is no outage, but the call still went to
            # the fallback: counted, or /readyz said a feature shared with no error while each process went alone
            self.errors += 1
            if self.outage.failed(self.feature, self.endpoint.retry_after, exc):
                self._watch()
            raise Unavailable(f"redis {self.outage.label}: {type(exc).__name__}", asked=True) from exc
        finally:
            if admitted is None:
                self.outage.end_probe()
        if not force or self.endpoint.url.kind != "cluster":
            self.outage.answered(started)
        return value

    async def run(self, *command: Any, force: bool = False) -> Any:
        """One command, as `call` runs it: `await link.run("ZREM", key, token)` (a Cluster routes it by its keys,
        which must share one slot)."""
        return await self.call(lambda c: c.execute_command(*command), force=force)

    def _watch(self) -> None:
        """Ping the deployment in the background until it answers, unless a task of this loop already does."""
        running = self.outage.prober
        loop = asyncio.get_running_loop()
        if running is not None and not running.done() and running.get_loop() is loop:
            return
        self._prober = self.outage.prober = loop.create_task(self._ping_until_back())

    async def _ping_until_back(self) -> None:
        while not self.outage.up:
            await asyncio.sleep(PROBE_EVERY)
            started = time.monotonic()
            try:
                await bounded(self._ping(), self.timeout)
            except FAILURES as exc:
                self.outage.failed(None, self.endpoint.retry_after, exc)
            else:
                self.outage.answered(started)

    async def warm(self) -> None:
        """Connect before the first request needs it: a Cluster client reads the slot map, a Sentinel client asks
        for the master, each opens its first connection, which a loaded machine may not do within one call's
        timeout. Bounded by WARM_WITHIN; a failure starts the outage (and its background pings) at once."""
        started = time.monotonic()
        try:
            await bounded(self._ping(), WARM_WITHIN)
        except FAILURES as exc:
            if self.outage.failed(self.feature, self.endpoint.retry_after, exc):
                self.errors += 1
                self._watch()
        else:
            self.outage.answered(started)

    async def _ping(self) -> None:
        if isinstance(self.client, RedisCluster):
            # every master: a promoted replica answers only once the client read the new slot map
            await self.client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            await self.client.ping()

    async def close(self) -> None:
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()
        with contextlib.suppress(*FAILURES):  # nothing to close cleanly on a dead server, or a loop that is gone
            await asyncio.wait_for(self.client.aclose(), self.timeout * 4)

class Backlog:
    """Work that must reach Redis eventually, without a request waiting for it: a slot's release, a lock's, an
    invalidation. `soon()` runs `work` in the background every RETRY_EVERY seconds until it no longer raises
    Unavailable, so it is done at most RETRY_EVERY + timeout after the deployment answers again."""

    def __init__(self, work: Callable[[], Awaitable[object]]) -> None:
        self.work = work
        self.task: asyncio.Task[None] | None = None

    def soon(self) -> None:
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RETRY_EVERY)
            try:
                await self.work()
            except Unavailable:
                continue
            return

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):  # RuntimeError: its loop is gone
                await self.task


async def warm(links: Iterable[Link | None]) -> None:
    """Warm these links together (at start-up and on a reload, before they take requests)."""
    await asyncio.gather(*(link.warm() for link in {id(k): k for k in links if k is not None}.values()))


class MaybeLink:
    """A feature's Link when the config gives it a Redis, else none: then every call is Unavailable and the
    feature keeps its state in process memory, as it does during an outage."""

    def __init__(self, endpoint: Endpoint | None, feature: str) -> None:
        self.link = Link(endpoint, feature) if endpoint is not None else None
        self.prefix = endpoint.prefix if endpoint is not None else ""

    @property
    def shared(self) -> bool:
        """True while state is shared through Redis (False: none configured, or it is out)."""
        return self.link is not None and self.link.available

    async def run(self, fn: Callable[[RedisClient], Awaitable[T]]) -> T:
        if self.link is None:
            raise Unavailable("no redis configured", asked=False)
        return await self.link.call(fn)

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
