"""What the client side keeps across requests and reloads: the stream session, the stream counters, the `/_o/`
origin ids, the hosts to hide, the shared live channels and provider slots; and the upstream players are sent
to."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import aiohttp

from gateway.clientside.channel_registry import Closable
from gateway.clientside.hls_share import SharedHls
from gateway.clientside.hosts import HostBook, Shared, discover
from gateway.clientside.limits import MemoryCounter, RedisCounter, StreamCounter
from gateway.clientside.provider_lines import ProviderPool
from gateway.clientside.rewrite import Origins, Rewriter
from gateway.clientside.shared_live import SharedLive
from gateway.clientside.viewer_check import ViewerChecks
from gateway.clientside.watching import Watching
from gateway.config import Config, Upstream
from gateway.exchange import GatewayState
from gateway.redis.link import Link, warm

# Memory per player slower than the panel (bench section 5: ~1 MiB each before this and gateway.clientside.relay's
# limits): aiohttp 3.14's default read_bufsize is 256 KiB, so reading the panel paused only above 512 KiB.
READ_BUFSIZE = 4 * 1024  # stream session: pause reading above 2x this, i.e. after one recv() of relay.SLOW_RECV
DISCONNECT_POLL = 1.0  # seconds between checks for a vanished player while the upstream is silent
STOP_GRACE = 2 * DISCONNECT_POLL  # at shutdown, how long streams get to end by themselves before being cut
WORKERS_KEY_ENV = "PANELGATE_WORKERS_ORIGIN_KEY"  # set by `serve --workers N` for its workers (gateway.server)


@dataclass
class ClientSideRuntime:
    """What outlives requests and reloads: the session, the stream counter, origin ids, the hosts to hide."""

    hosts: HostBook = field(default_factory=HostBook)
    memory_counter: MemoryCounter = field(default_factory=MemoryCounter)
    stopping: bool = False  # the server is shutting down: running streams end, at their next chunk or poll
    streaming: set[asyncio.Transport] = field(default_factory=set)  # players' connections relaying a body now
    live: SharedLive = field(default_factory=SharedLive)  # shared live channels (gateway.clientside.live)
    hls: SharedHls = field(default_factory=SharedHls)  # shared live HLS channels (gateway.clientside.hls_live)
    providers: ProviderPool = field(default_factory=ProviderPool)
    checks: ViewerChecks = field(default_factory=ViewerChecks)
    watching: Watching = field(default_factory=Watching)  # streams per line, for the status page
    _session: aiohttp.ClientSession | None = None
    _redis: RedisCounter | None = None
    _hosts_link: Link | None = None
    _origins: Origins | None = None
    _origins_secret: bytes = b""
    # the last Rewriter and what it was made from: it keeps the panel's origins it learned (rewrite.Rewriter)
    _rewriter: tuple[tuple[str, str, frozenset[str]], Rewriter] | None = None
    # read once: `serve --workers N` sets it before its workers start (request code does not read the environment)
    _workers_secret: bytes = field(default_factory=lambda: _workers_key())

    def __post_init__(self) -> None:
        self.live.more = self.hls.counts  # one set of gauges and one /readyz count for every shared channel
        self.hls.on_count = self.live.counted

    def idle_channels(self) -> list[Closable]:
        """Shared channels nobody watches (lingering), MPEG-TS and HLS: each gives its provider slot up at once
        when another channel wants one."""
        return [*self.live.idle(), *self.hls.idle()]

    async def close_idle(self, scope: str) -> None:
        """A line about to open another stream: its lingering channels close first, or the panel would count
        them against its `max_connections` until their linger ends."""
        lingering: list[Closable] = [*self.live.idle(scope), *self.hls.idle(scope)]
        for channel in lingering:
            await channel.close()

    def origins(self, config: Config) -> Origins:
        """The `/_o/` ids under `client_side.origin_secret`; without one, under the key `serve --workers N` made
        for its workers, or a random one for this process. A reload that changes the secret starts a new set."""
        secret = config.client_side.origin_secret or self._workers_secret
        if self._origins is None or secret != self._origins_secret:
            self._origins, self._origins_secret = Origins(secret or None), secret
        return self._origins

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=60),
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
                read_bufsize=READ_BUFSIZE,
            )
        return self._session

    def counter(self, config: Config) -> StreamCounter:
        """The stream counts: shared through the `streams` Redis endpoint, or this process's. After a reload that
        changes the endpoint, running streams release their leases through the counter they took them from."""
        endpoint = config.redis.endpoint("streams")
        if endpoint is None:
            return self.memory_counter
        if self._redis is None or self._redis.link is None or self._redis.link.endpoint != endpoint:
            self._redis = RedisCounter(endpoint)
        return self._redis

    def shared_hosts(self, config: Config) -> Shared | None:
        """The Redis set of host names replicas share, None without a `hosts` Redis endpoint."""
        endpoint = config.redis.endpoint("hosts")
        if endpoint is None:
            return None
        if self._hosts_link is None or self._hosts_link.endpoint != endpoint:
            self._hosts_link = Link(endpoint, "hosts")
        return Shared(self._hosts_link, self._hosts_link.prefix + "names")

    def learn_host(self, host: str, config: Config) -> None:
        self.hosts.learn([host], self.shared_hosts(config))

    async def warm(self, config: Config) -> None:
        """Connect the client side's Redis links before the listener opens (gateway.redis.link.warm)."""
        counter = self.counter(config)
        shared = self.shared_hosts(config)
        await warm([counter.link if isinstance(counter, RedisCounter) else None, shared.link if shared else None,
                    self.providers.leases(config).link])  # fmt: skip

    async def discover_hosts(self, state: GatewayState, *, ask_panel: bool) -> list[str]:
        """The names other replicas met, then (`ask_panel`) the panel's own list of its servers."""
        shared = self.shared_hosts(state.config)
        if shared is not None:
            await self.hosts.sync(shared)
        return await discover(state, upstream_of(state.config).name, self.hosts, shared) if ask_panel else []

    def rewriter(self, config: Config) -> Rewriter:
        self.hosts.refresh(self.shared_hosts(config))
        names = self.hosts.names(config)
        known = self.origins(config).known()
        names.update(origin.split("://", 1)[1].rsplit(":", 1)[0].strip("[]") for origin in known)
        made_from = (config.public_url, upstream_of(config).url, frozenset(names))
        if self._rewriter is None or self._rewriter[0] != made_from:
            self._rewriter = (made_from, Rewriter(*made_from))
        return self._rewriter[1]

    def report(self, config: Config) -> dict[str, object]:
        """/readyz: shared live channels, their viewers, the upstream connections saved, provider slots."""
        shared = config.redis.endpoint("slots") is not None
        return {**self.live.report(), "hls": self.hls.report(), "enabled": config.client_side.shared_live,
                "slots": "redis" if shared else "memory", "provider_lines": self.providers.report(config)}  # fmt: skip

    def status(self) -> dict[str, object]:
        """The status page's streams: per line, and the shared live channels with their viewers (a channel's
        scope is said, never the digest of its line's credentials)."""
        channels = [{"stream": key.stream, "format": key.ext, "viewers": len(channel.viewers),
                     "shared_by": "provider lines" if key.scope == "provider" else "one line",
                     "lingering": channel.idle}
                    for key, channel in self.live.channels.items()]  # fmt: skip
        channels.sort(key=lambda c: (-int(str(c["viewers"])), str(c["stream"])))
        return {"lines": self.watching.report(), "channels": channels}

    async def stop_streams(self) -> None:
        """Shutdown: every running stream ends at its next chunk (or disconnect poll). A player that stopped
        reading (live TV on pause) keeps its stream waiting for its socket to drain, which no flag reaches: after
        STOP_GRACE its connection is aborted, which ends that wait."""
        self.stopping = True
        await self.live.stop()  # every shared channel closed and its provider slot given back, now
        await self.hls.close()
        deadline = time.monotonic() + STOP_GRACE
        while self.streaming and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for transport in list(self.streaming):
            transport.abort()

    async def close(self) -> None:
        await self.hosts.close()
        await self.live.close()
        await self.hls.close()
        await self.providers.close()
        if self._session is not None:
            await self._session.close()
        if self._redis is not None:
            await self._redis.close()
        if self._hosts_link is not None:
            await self._hosts_link.close()



def _workers_key() -> bytes:
    try:
        return bytes.fromhex(os.environ.get(WORKERS_KEY_ENV, ""))
    except ValueError:
        return b""


def upstream_of(config: Config) -> Upstream:
    return config.upstreams[config.client_side.upstream or config.default_upstream]
