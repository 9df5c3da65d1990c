"""Configuration: YAML read once at start-up, `${ENV}` interpolated, validated into frozen objects.

Every error names the YAML path and the bad value, so `panelgate check` tells an operator exactly what to fix.
Request code only ever sees the typed objects defined here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from gateway.catalogue import catalogue
from gateway.health import HealthSettings, parse_health
from gateway.keyconfig import KeyConfig, parse_keys, parse_rate
from gateway.listeners import ClientTimeouts, Listen, parse_client_timeouts, parse_listen
from gateway.policy import Policy, load_policies, load_policy
from gateway.ratelimit import Rate
from gateway.redis.settings import RedisSettings, legacy_seen, parse_redis, without
from gateway.settings import ConfigError, IPNetwork, Reader, http_url, interpolate, show
from gateway.upstream_config import parse_access_codes, parse_code_dialects, parse_pools, parse_upstreams
from gateway.upstream_settings import Upstream

__all__ = ["ClientTimeouts", "Config", "ConfigError", "KeyConfig", "Listen", "Upstream", "load_config",
           "load_policy", "parse_config"]  # fmt: skip

# The section parsers' shared machinery, under the names this module's own parsers use.
_Reader = Reader
_show = show

# Ten wrong keys from one address, then one more guess every six seconds.
DEFAULT_AUTH_THROTTLE = Rate(per_second=10 / 60, burst=10)


# Client-side answers cached per line (gateway.clientside.cached): `cache.ttl` globs may name these as well as
# the catalogue's read operations (`player.*`, `playlist.m3u_plus`, ...).
CLIENT_SIDE_READS = (
    "player.get_live_categories", "player.get_vod_categories", "player.get_series_categories",
    "player.get_live_streams", "player.get_vod_streams", "player.get_series", "playlist.m3u", "playlist.m3u_plus",
)  # fmt: skip


@dataclass(frozen=True)
class CacheConfig:
    """Caching of read operations. Without a `cache` section nothing is cached (`backend: off`)."""

    backend: str = "off"  # off | memory | redis (the `redis:` section's)
    ttl: tuple[tuple[str, float], ...] = ()  # (operation glob, seconds): exact names first, then longest glob
    default_ttl: float = 30.0
    stale_if_error: float = 300.0  # seconds past its TTL an entry may answer when the upstream fails
    max_entries: int = 10_000  # in-process entries (the memory backend, and the fallback when Redis fails)
    max_megabytes: int = 256  # and their size: a cached playlist can be megabytes, and lines are many

    def ttl_for(self, operation: str) -> float:
        return next((s for p, s in self.ttl if fnmatch.fnmatchcase(operation, p)), self.default_ttl)


@dataclass(frozen=True)
class ProviderLine:
    """A line of the provider's panel that the gateway streams live channels with (gateway.clientside.provider_lines):
    `name` labels it in metrics, logs and Redis keys; the credentials never leave the upstream request."""

    name: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    max_connections: int = 1


@dataclass(frozen=True)
class ClientSide:
    """The client side (players): player_api.php, get.php, xmltv.php and the stream relay (gateway.clientside)."""

    upstream: str = ""  # the upstream players' traffic goes to ("" = the first upstream)
    blocked_ips: tuple[IPNetwork, ...] = ()  # refused before any upstream call
    blocked_user_agents: tuple[str, ...] = ()  # case-insensitive substrings of the User-Agent
    max_streams_per_line: int = 0  # concurrent streams per line at the gateway; 0 = no cap
    stream_read_timeout: float = 30.0  # seconds without a byte from the upstream before a stream is dropped
    connect_timeout: float = 10.0
    api_timeout: float = 30.0  # total time for player_api.php answers (streams have no total timeout)
    # the key of `/_o/{id}` HLS ids (gateway.clientside.rewrite.Origins); b"" = per process (or per `serve`)
    origin_secret: bytes = field(default=b"", repr=False)
    # more of the panel's host names to hide in what players get (gateway.clientside.hosts), lower-cased
    upstream_hosts: tuple[str, ...] = ()
    # live channels: one upstream connection per channel for all its viewers (gateway.clientside.shared_live)
    shared_live: bool = True
    live_linger: float = 5.0  # seconds a channel's upstream connection outlives its last viewer
    viewer_buffer: int = 1 << 20  # bytes a viewer may fall behind live before it is skipped forward
    viewer_check_ttl: float = 60.0  # seconds a viewer's standing on the panel (login check) is remembered
    provider_lines: tuple[ProviderLine, ...] = ()
    # shared live HLS (gateway.clientside.hls_share): how long a viewer counts after its last request, and the
    # memory the segments of every channel may hold together
    hls_viewer_timeout: float = 30.0
    hls_cache_bytes: int = 256 << 20


@dataclass(frozen=True)
class Config:
    listen: Listen
    admin_listen: Listen
    public_url: str
    trusted_proxies: tuple[IPNetwork, ...]
    upstreams: Mapping[str, Upstream]
    policies: Mapping[str, Policy]
    keys: tuple[KeyConfig, ...]
    audit_log: str | None
    http_status_codes: bool = False
    max_body_bytes: int = 1 << 20
    redis: RedisSettings = field(default_factory=RedisSettings)  # where shared state lives (gateway.redis.settings)
    cache: CacheConfig = CacheConfig()
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    access_codes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # access code -> the client dialect answering at it, where several share its path (XUI.one's `/{code}/`)
    code_dialects: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    health: HealthSettings = field(default_factory=HealthSettings)
    access_log: str = "text"  # text | json | off
    auth_throttle: Rate | None = DEFAULT_AUTH_THROTTLE
    client_side: ClientSide = ClientSide()
    client_timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    source: str = ""

    @property
    def default_upstream(self) -> str:
        return next(iter(self.upstreams))

    def members(self, target: str) -> tuple[str, ...]:
        """The upstreams behind a target name: a pool's members in order, or the upstream itself."""
        return self.pools.get(target, (target,))

    def timezone_of(self, target: str) -> str:
        """The time zone the panels behind `target` read dates in (a pool's members are one panel's replicas)."""
        return self.upstreams[self.members(target)[0]].timezone


def _choice(r: _Reader, key: str, choices: tuple[str, ...], default: str) -> str:
    return r.choice(key, choices, default)


def _seconds(r: _Reader, key: str, default: float) -> float:
    return r.seconds(key, default)


def _cache(data: Any, path: str, redis: RedisSettings) -> CacheConfig:
    """`{backend: redis, ttl: {default: 30, "package.*": 300}, stale_if_error: 300}`; redis is the `redis:`
    section's (the default when there is one)."""
    if data is None:
        return CacheConfig()
    r = _Reader(data, path)
    legacy_seen(r, "cache")
    shared = redis.endpoint("cache") is not None
    backend = _choice(r, "backend", ("off", "memory", "redis"), "redis" if shared else "memory")
    if backend == "redis" and not shared:
        raise ConfigError(r.at("backend"), "redis needs a Redis: set redis.url")
    ttl_raw = r.get("ttl", {})
    if not isinstance(ttl_raw, dict):
        ttl_raw = {"default": ttl_raw}
    ttl_reader = _Reader(ttl_raw, r.at("ttl"))
    reads = [op for op in catalogue().operations.values() if op.kind.value == "read"]
    globs: list[tuple[str, float]] = []
    for pattern in ttl_raw:
        seconds = _seconds(ttl_reader, str(pattern), 0.0)
        names = (*(op.name for op in reads), *CLIENT_SIDE_READS)
        if pattern != "default" and not any(fnmatch.fnmatchcase(n, str(pattern)) for n in names):
            raise ConfigError(ttl_reader.at(str(pattern)), "matches no read operation")
        if pattern != "default":
            globs.append((str(pattern), seconds))
    # An exact name beats any glob; among globs the longest (most specific) pattern wins.
    globs.sort(key=lambda g: (any(c in g[0] for c in "*?["), -len(g[0])))
    cache = CacheConfig(
        backend=backend,
        ttl=tuple(globs),
        default_ttl=_seconds(ttl_reader, "default", 30.0),
        stale_if_error=_seconds(r, "stale_if_error", 300.0),
        max_entries=r.integer("max_entries", 10_000, low=1, high=10_000_000),
        max_megabytes=r.integer("max_megabytes", 256, low=1, high=1_000_000),
    )
    r.done()
    return cache


def _client_side(data: Any, path: str, upstreams: Mapping[str, Upstream]) -> ClientSide:
    """`client_side: {upstream: main, blocked_ips: [...], blocked_user_agents: [...], max_streams_per_line: 2}`"""
    if data is None:
        return ClientSide()
    r = _Reader(data, path)
    upstream = r.text("upstream", "")
    if upstream and upstream not in upstreams:
        raise ConfigError(r.at("upstream"), f"no upstream named {upstream!r}")
    agents = tuple(str(a) for a in r.items("blocked_user_agents"))
    if any(not a.strip() for a in agents):
        raise ConfigError(r.at("blocked_user_agents"), "an empty pattern would block every player")
    legacy_seen(r, "client_side")
    # Replicas read each other's `/_o/` ids only with a shared secret. Never derived from an upstream's API key:
    # an id and a guessed URL would let anyone test guesses of that key offline.
    given = r.text("origin_secret", "")
    if given and len(given) < 32:
        raise ConfigError(r.at("origin_secret"), "must be at least 32 characters (e.g. `openssl rand -hex 32`)")
    side = ClientSide(
        upstream=upstream,
        blocked_ips=r.networks("blocked_ips"),
        blocked_user_agents=agents,
        max_streams_per_line=r.integer("max_streams_per_line", 0, high=10_000),
        stream_read_timeout=r.number("stream_read_timeout", 30.0),
        connect_timeout=r.number("connect_timeout", 10.0),
        api_timeout=r.number("api_timeout", 30.0),
        origin_secret=_origin_secret(given),
        upstream_hosts=_hosts(r, "upstream_hosts"),
        shared_live=r.flag("shared_live", True),
        live_linger=_seconds(r, "live_linger", 5.0),
        viewer_buffer=r.integer("viewer_buffer_kib", 1024, low=64, high=1 << 20) * 1024,
        viewer_check_ttl=_seconds(r, "viewer_check_ttl", 60.0),
        provider_lines=_provider_lines(r, "provider_lines"),
        hls_viewer_timeout=r.number("hls_viewer_timeout", 30.0),
        hls_cache_bytes=r.integer("hls_cache_mib", 256, low=8, high=1 << 16) << 20,
    )
    r.done()
    return side


def _provider_lines(r: _Reader, key: str) -> tuple[ProviderLine, ...]:
    """`provider_lines: [{name: p1, username: ${P1_USER}, password: ${P1_PASS}, max_connections: 2}]`"""
    lines: list[ProviderLine] = []
    for i, item in enumerate(r.items(key)):
        sub = _Reader(item, f"{r.at(key)}[{i}]")
        name = sub.text("name", f"line{i + 1}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) or name in {line.name for line in lines}:
            raise ConfigError(sub.at("name"), f"{_show(name)} must be unique, 1-40 of A-Z a-z 0-9 _ . -")
        username, password = sub.text("username"), sub.text("password")
        if not username or not password or "/" in username + password:
            raise ConfigError(sub.at("username"), "username and password must be non-empty, without `/`")
        lines.append(ProviderLine(name, username, password, sub.integer("max_connections", 1, low=1, high=10_000)))
        sub.done()
    return tuple(lines)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def host_name(value: object) -> str | None:
    """A bare host name or IP address, lower-cased as URLs compare it (IPv6 in brackets, as URLs write it);
    None for anything else: a URL, a port, a path, a wildcard."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return text.rstrip(".") if _HOST_NAME.fullmatch(text) else None
    return f"[{address}]" if address.version == 6 else str(address)


def _hosts(r: _Reader, key: str) -> tuple[str, ...]:
    names: list[str] = []
    for i, item in enumerate(r.items(key)):
        name = host_name(item)
        if name is None:
            raise ConfigError(f"{r.at(key)}[{i}]", f"{_show(item)} is not a host name or IP address (no scheme, "
                              "port or path)")  # fmt: skip
        names.append(name)
    return tuple(dict.fromkeys(names))


def _origin_secret(material: str) -> bytes:
    if not material:
        return b""
    return hmac.new(material.encode(), b"panelgate origin ids v1", hashlib.sha512).digest()


def parse_config(data: Any, *, base_dir: Path, env: Mapping[str, str] | None = None, source: str = "") -> Config:
    """Validate a parsed YAML document into a Config; raises ConfigError naming the bad path. Each section is
    parsed beside its owner; this only assembles them."""
    data = interpolate(data, "", os.environ if env is None else env)
    r = _Reader(data, "")
    upstreams = parse_upstreams(r.get("upstreams"))
    pools = parse_pools(r.get("pools"), upstreams)
    targets = {**{n: (n,) for n in upstreams}, **pools}
    policies = load_policies(base_dir / r.text("policies_dir", "policies"), "policies_dir")
    keys = parse_keys(r.items("keys"), targets, policies)
    redis = parse_redis(r)
    cache = _cache(r.get("cache"), "cache", redis)
    if cache.backend != "redis":  # `backend: memory` (or off) keeps the cache out of Redis
        redis = without(redis, "cache")
    config = Config(
        listen=parse_listen(r, "listen", "0.0.0.0", 8080),
        admin_listen=parse_listen(r, "admin_listen", "127.0.0.1", 9090),
        public_url=http_url(r.text("public_url", "http://127.0.0.1:8080"), "public_url"),
        trusted_proxies=r.networks("trusted_proxies"),
        upstreams=MappingProxyType(upstreams),
        policies=MappingProxyType(policies),
        keys=keys,
        audit_log=r.get("audit_log"),
        http_status_codes=r.flag("http_status_codes", False),
        max_body_bytes=r.integer("max_body_bytes", 1 << 20, low=1024, high=1 << 30),
        redis=redis,
        cache=cache,
        pools=MappingProxyType(pools),
        access_codes=MappingProxyType(parse_access_codes(r.get("access_codes"), targets)),
        code_dialects=MappingProxyType(parse_code_dialects(r.get("access_codes"))),
        health=parse_health(r.get("health"), "health"),
        access_log=r.choice("access_log", ("text", "json", "off"), "text"),
        auth_throttle=(
            parse_rate(r.get("auth_throttle"), "auth_throttle")
            if r.get("auth_throttle", "default") != "default"
            else DEFAULT_AUTH_THROTTLE
        ),
        client_side=_client_side(r.get("client_side"), "client_side", upstreams),
        client_timeouts=parse_client_timeouts(r.get("client_timeouts"), "client_timeouts"),
        source=source,
    )
    if config.audit_log is not None and not isinstance(config.audit_log, str):
        raise ConfigError("audit_log", f"expected a file path, got {_show(config.audit_log)}")
    r.done()
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{p} is not valid YAML: {exc}") from None
    return parse_config(data, base_dir=p.parent, env=env, source=str(p))
