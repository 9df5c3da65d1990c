"""The panel's host names the client side hides, known before the first player request.

A URL on one of these hosts, anywhere in a playlist, an EPG, a player_api or portal answer, becomes a `public_url`
URL (gateway.clientside.rewrite). Where they come from:
- every configured upstream's URL host, and `client_side.upstream_hosts` (names no API reports: a CDN for logos,
  an old domain still in EPG files): known from the config alone;
- the panel's list of its servers (`server.list`: on Xtream-Masters/XUI `get_servers`, each server's `domain_name`,
  a comma list, `server_ip` and `private_ip`). Panels write these into lists instead of the host a client used
  (XUI's `use_mdomain_in_lists`, load balancers, proxies), so they are asked for at start-up, before the listener
  opens (each worker for itself), and every REDISCOVER seconds. Only when health probes run (`health.interval`
  above 0): a gateway told not to call its upstreams in the background does not. XC v2 and MidnightStreamer
  report no host names; their names come from the config and from logins;
- the host a panel reports in a player's login (`server_info.url`).
With Redis (the `hosts` endpoint of the `redis:` section), what any process learns is added to a shared set that
every process reads back at start-up and at most every SYNC_EVERY seconds: a replica hides what another one met.
Its calls go through the Redis layer (bounded; while Redis is out, each process keeps what it knows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway.catalogue import catalogue
from gateway.config import Config, host_name
from gateway.dialects.registry import dialect
from gateway.exchange import GatewayState
from gateway.model import Call, Result
from gateway.plans.commands import single
from gateway.plans.driver import drive
from gateway.plans.transport import UpstreamTransport
from gateway.redis.client import RedisClient
from gateway.redis.link import Link, Unavailable

log = logging.getLogger("panelgate.clientside")

SYNC_EVERY = 30.0  # seconds between reads of the shared set
REDISCOVER = 600.0  # seconds between asks for the panel's servers
DISCOVER_TIMEOUT = 5.0  # at most this long before the listener opens
MAX_LEARNED = 256  # learned names; a panel with more servers than this is not a panel we know
SHARED_TTL = 30 * 86400  # a name nobody meets for a month leaves the shared set
SERVER_FIELDS = ("domain_name", "server_ip", "private_ip")


def configured(config: Config) -> set[str]:
    names = {host_name(urlsplit(u.url).hostname) or "" for u in config.upstreams.values()}
    names.update(config.client_side.upstream_hosts)
    names.discard("")
    return names


@dataclass(frozen=True)
class Shared:
    """Where the set shared by replicas lives: the `hosts` Redis endpoint, and the key of the set."""

    link: Link
    key: str


@dataclass
class HostBook:
    learned: set[str] = field(default_factory=set)
    unpublished: set[str] = field(default_factory=set)  # learned while Redis was out: published at the next sync
    redis_errors: int = 0
    _synced_at: float = float("-inf")
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def names(self, config: Config) -> set[str]:
        return configured(config) | self.learned

    def learn(self, values: Iterable[str], shared: Shared | None) -> list[str]:
        """Add host names (anything else is ignored); the new ones are also published when shared."""
        new: list[str] = []
        for value in values:
            name = host_name(value)
            if name and name not in self.learned and len(self.learned) < MAX_LEARNED:
                self.learned.add(name)
                new.append(name)
        if new and shared is not None:
            self.spawn(self._publish(shared, new))
        return new

    def refresh(self, shared: Shared | None) -> None:
        """Read the shared set in the background when it was last read more than SYNC_EVERY seconds ago."""
        now = time.monotonic()
        if shared is not None and now - self._synced_at >= SYNC_EVERY:
            self._synced_at = now
            self.spawn(self.sync(shared))

    async def sync(self, shared: Shared) -> None:
        self._synced_at = time.monotonic()
        try:
            members = await shared.link.run("SMEMBERS", shared.key)
        except Unavailable as exc:
            self._failed(exc)
            return
        self.learn((m.decode("utf-8", "replace") if isinstance(m, bytes) else str(m) for m in members), None)
        if self.unpublished:
            names, self.unpublished = sorted(self.unpublished), set()
            await self._publish(shared, names)

    async def _publish(self, shared: Shared, names: list[str]) -> None:
        async def publish(client: RedisClient) -> None:
            await client.sadd(shared.key, *names)
            await client.expire(shared.key, SHARED_TTL)

        try:
            await shared.link.call(publish)
        except Unavailable as exc:
            self.unpublished.update(names)
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.redis_errors += 1
        log.warning("upstream host names: redis failed (%s); using what this process knows", exc)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def discover(state: GatewayState, upstream_name: str, book: HostBook, shared: Shared | None) -> list[str]:
    """Ask the panel for its servers and learn their names and addresses; the new ones are returned."""
    upstream = state.config.upstreams[upstream_name]
    op_name = dialect(upstream.dialect).server_list  # a list whose rows name the panel's hosts, if it has one
    if op_name is None:
        return []
    op = catalogue().operations[op_name]
    sender = UpstreamTransport(upstream, state.upstream_client, state.metrics, request_id="host-discovery")
    outcome, _ = await drive(single(Call(op.name), op), sender)
    if not isinstance(outcome, Result) or not isinstance(outcome.data, list):
        log.warning("upstream host names: %s did not list its servers", upstream.name)
        return []
    values = [part for row in outcome.data if isinstance(row, dict) for name in SERVER_FIELDS
              for part in str(row.get(name) or "").split(",")]  # fmt: skip
    return book.learn(values, shared)
