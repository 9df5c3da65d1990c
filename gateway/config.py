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
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from gateway.catalogue import catalogue
from gateway.dialects.registry import BY_NAME
from gateway.guards import GUARD_KINDS, Guard
from gateway.health import HealthSettings
from gateway.keys import is_digest
from gateway.policy import Policy
from gateway.ratelimit import Rate
from gateway.upstream_settings import ADMIN_PATHS, Budget, Upstream

# Ten wrong keys from one address, then one more guess every six seconds.
DEFAULT_AUTH_THROTTLE = Rate(per_second=10 / 60, burst=10)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A config file that cannot run; the message starts with the YAML path of the problem."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


@dataclass(frozen=True)
class Listen:
    host: str
    port: int


@dataclass(frozen=True)
class KeyConfig:
    id: str
    digest: str = field(repr=False)
    policy: Policy
    upstream: str  # the default target: an upstream or a pool
    reseller_id: int | None = None
    allowed_ips: tuple[IPNetwork, ...] = ()
    rate: Rate | None = None
    ip_only: bool = False  # no secret: a legacy XC v2 script is identified by its source address alone
    targets: tuple[str, ...] = ()  # every upstream or pool this key may use (the default first)


@dataclass(frozen=True)
class RateLimits:
    redis_url: str | None = field(default=None, repr=False)
    prefix: str = "panelgate:rl:"
    timeout: float = 0.25


CACHE_REDIS_SCHEMES = (
    "redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"
)


# Client-side answers cached per line (gateway.clientside.cached): `cache.ttl` globs may name these as well as
# the catalogue's read operations (`player.*`, `playlist.m3u_plus`, ...).
CLIENT_SIDE_READS = (
    "player.get_live_categories", "player.get_vod_categories", "player.get_series_categories",
    "player.get_live_streams", "player.get_vod_streams", "player.get_series", "playlist.m3u", "playlist.m3u_plus",
)  # fmt: skip


@dataclass(frozen=True)
class CacheConfig:
    """Caching of read operations. Without a `cache` section nothing is cached (`backend: off`)."""

    backend: str = "off"  # off | memory | redis
    redis_url: str | None = field(default=None, repr=False)
    prefix: str = "panelgate:cache:"
    ttl: tuple[tuple[str, float], ...] = ()  # (operation glob, seconds): exact names first, then longest glob
    default_ttl: float = 30.0
    stale_if_error: float = 300.0  # seconds past its TTL an entry may answer when the upstream fails
    max_entries: int = 10_000  # in-process entries (the memory backend, and the fallback when Redis fails)
    max_megabytes: int = 256  # and their size: a cached playlist can be megabytes, and lines are many
    timeout: float = 0.25  # seconds per Redis call before falling back to memory
    retry_after: float = 5.0  # seconds before a failed Redis is tried again

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
    redis_url: str | None = field(default=None, repr=False)  # share stream counts across replicas
    redis_prefix: str = "panelgate:streams:"
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
class ClientTimeouts:
    """Seconds a client connection may take (gateway.clienttimeouts), like nginx's client_header_timeout,
    client_body_timeout (here for the whole body) and keepalive_timeout. Applied at start-up only."""

    header: float = 10.0  # from a connection's start, or a request's first byte, to the end of its header
    body: float = 30.0  # from the end of the header to the end of the body
    keepalive: float = 75.0  # idle between two requests


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
    rate_limits: RateLimits = RateLimits()
    cache: CacheConfig = CacheConfig()
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    access_codes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    health: HealthSettings = field(default_factory=HealthSettings)
    access_log: str = "text"  # text | json | off
    auth_throttle: Rate | None = DEFAULT_AUTH_THROTTLE
    client_side: ClientSide = ClientSide()
    client_timeouts: ClientTimeouts = ClientTimeouts()
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


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, path: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(path, f"environment variable {name} is not set")

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, _join(path, str(k)), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Typed access to one YAML mapping, remembering its path for error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a mapping, got {_show(data)}")
        self.data: dict[str, Any] = data
        self.path = path
        self._seen: set[str] = set()

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        return self.data.get(key, default)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default)
        if value is None:
            raise ConfigError(self.at(key), "is required")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(self.at(key), f"expected a string, got {_show(value)}")
        return str(value)

    def integer(self, key: str, default: int | None = None, *, low: int = 0, high: int | None = None) -> int:
        value = self.get(key, default)
        if value is None:
            raise ConfigError(self.at(key), "is required")
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            value = int(value)  # `${PORT}` interpolates to text
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.at(key), f"expected an integer, got {_show(value)}")
        if value < low or (high is not None and value > high):
            raise ConfigError(self.at(key), f"{value} is out of range {low}..{high if high else 'inf'}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(self.at(key), f"expected a positive number, got {_show(value)}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self.at(key), f"expected true or false, got {_show(value)}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(self.at(key), f"expected a list, got {_show(value)}")
        return value

    def done(self) -> None:
        """Refuse unknown keys: a typo such as `alowed_ips` must not silently disable a restriction."""
        unknown = sorted(str(k) for k in set(self.data) - self._seen)
        if unknown:
            raise ConfigError(self.at(str(unknown[0])), "unknown setting")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _listen(r: _Reader, key: str, default_host: str, default_port: int) -> Listen:
    sub = _Reader(r.get(key, {"host": default_host, "port": default_port}), r.at(key))
    listen = Listen(host=sub.text("host", default_host), port=sub.integer("port", default_port, high=65535))
    sub.done()
    return listen


def _networks(r: _Reader, key: str) -> tuple[IPNetwork, ...]:
    nets: list[IPNetwork] = []
    for i, item in enumerate(r.items(key)):
        try:
            nets.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ConfigError(f"{r.at(key)}[{i}]", f"{_show(item)} is not an IP address or CIDR") from None
    return tuple(nets)


def _http_url(value: str, path: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(path, f"{_show(value)} is not an http(s) URL")
    return value.rstrip("/")


def _upstream(name: str, data: Any, path: str) -> Upstream:
    """An upstream, under its dialect's own rules (gateway/dialects/<name>/: which key it takes, whether it has an
    access code)."""
    r = _Reader(data, path)
    name_of_dialect = r.text("dialect")
    if name_of_dialect not in BY_NAME:
        raise ConfigError(r.at("dialect"), f"{name_of_dialect!r} is not one of {', '.join(BY_NAME)}")
    dialect = BY_NAME[name_of_dialect]
    flavour = r.text("flavour", "xtream_masters")
    if flavour not in ADMIN_PATHS:
        raise ConfigError(r.at("flavour"), f"{flavour!r} is not one of {', '.join(ADMIN_PATHS)}")
    up = Upstream(
        name=name,
        dialect=dialect.name,
        url=_http_url(r.text("url"), r.at("url")),
        access_code=r.text("access_code", ""),
        api_key=r.text(dialect.upstream_key, ""),
        timeout=r.number("timeout", 10.0),
        flavour=flavour,
        admin_path=r.text("admin_path", ADMIN_PATHS[flavour]),
        timezone=_timezone(r.text("timezone", "UTC"), r.at("timezone")),
        budget=_budget(r.get("budget", {}), r.at("budget")),
    )
    for key in ("access_code", "flavour", "admin_path"):
        if not dialect.access_code and r.data.get(key) is not None:
            raise ConfigError(r.at(key), f"{dialect.name} upstreams have no {key}: only xtream_masters ones do")
    if not up.admin_path.startswith("/") or "{code}" not in up.admin_path:
        raise ConfigError(r.at("admin_path"), f"expected a path with {{code}}, such as /{{code}}/: {up.admin_path!r}")
    if dialect.access_code and not re.fullmatch(r"[A-Za-z0-9_-]+", up.access_code):
        raise ConfigError(r.at("access_code"), f"{up.access_code!r} is not a valid access code")
    if dialect.requires_key and not up.api_key:
        raise ConfigError(r.at(dialect.upstream_key), f"is required for a {dialect.name} upstream")
    r.done()
    return up


def _timezone(name: str, path: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, f"{name!r} is not a time zone (use an IANA name such as Europe/London)") from None
    return name


def _budget(data: Any, path: str) -> Budget | None:
    """`budget: {per_second: 20, burst: 20, max_wait: 5, queue: 200}`; `budget: null` sends without a limit."""
    if data is None:
        return None
    r = _Reader(data, path)
    default = Budget()
    budget = Budget(
        per_second=r.number("per_second", default.per_second),
        burst=r.integer("burst", default.burst, low=1, high=100_000),
        max_wait=_seconds(r, "max_wait", default.max_wait),
        queue=r.integer("queue", default.queue, low=0, high=1_000_000),
    )
    if budget.per_second <= 0:
        raise ConfigError(r.at("per_second"), f"expected a positive number, got {_show(budget.per_second)}")
    r.done()
    return budget


def load_policy(path: Path) -> Policy:
    """Read one policy file (`allow`/`deny` lists of operation globs)."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(where, f"cannot read policy: {exc}") from None
    r = _Reader(data, where)
    patterns: dict[str, tuple[str, ...]] = {}
    operations = catalogue().operations.values()
    for field_name in ("allow", "deny"):
        items = tuple(str(p) for p in r.items(field_name))
        for i, pattern in enumerate(items):
            # A typo such as `line.delet` in deny would otherwise silently leave the operation allowed.
            if not any(op.matches(pattern) for op in operations):
                raise ConfigError(f"{r.at(field_name)}[{i}]", f"{pattern!r} matches no operation")
        patterns[field_name] = items
    description = r.text("description", "")
    guards = _guards(r.get("guards"), r.at("guards"))
    r.done()
    return Policy(
        name=path.stem, allow=patterns["allow"], deny=patterns["deny"], description=description, guards=guards
    )


def _guards(data: Any, path: str) -> tuple[Guard, ...]:
    """`guards: {max_connections: {max: 2}, exp_date: {max_days_ahead: 31}, credits: {forbidden: true}}`"""
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of field -> rule, got {_show(data)}")
    guards: list[Guard] = []
    for field_name, rules in data.items():
        where = f"{path}.{field_name}"
        if not isinstance(rules, dict) or not rules:
            raise ConfigError(where, f"expected a mapping such as {{max: 2}}, got {_show(rules)}")
        for kind, limit in rules.items():
            at = f"{where}.{kind}"
            if kind not in GUARD_KINDS:
                raise ConfigError(at, f"unknown guard; use one of {', '.join(GUARD_KINDS)}")
            number = isinstance(limit, int | float) and not isinstance(limit, bool)
            if kind in ("max", "min") and not number:
                raise ConfigError(at, f"expected a number, got {_show(limit)}")
            if kind == "max_days_ahead" and (not number or limit <= 0):
                raise ConfigError(at, f"expected a positive number of days, got {_show(limit)}")
            if kind == "subset_of" and not (
                isinstance(limit, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in limit)
            ):
                raise ConfigError(at, f"expected a list of ids, got {_show(limit)}")
            if kind == "forbidden" and limit is not True:
                raise ConfigError(at, f"expected true, got {_show(limit)}")
            if kind == "equals" and not isinstance(limit, bool | int | str):
                raise ConfigError(at, f"expected a single value, got {_show(limit)}")
            guards.append(Guard(str(field_name), kind, tuple(limit) if kind == "subset_of" else limit))
    return tuple(guards)


def _policies(directory: Path, path: str) -> dict[str, Policy]:
    if not directory.is_dir():
        raise ConfigError(path, f"{str(directory)!r} is not a directory")
    return {p.stem: load_policy(p) for p in sorted(directory.glob("*.yaml"))}


def _key(data: Any, path: str, upstreams: Mapping[str, Any], policies: Mapping[str, Policy]) -> KeyConfig:
    r = _Reader(data, path)
    key_id = r.text("id")
    ip_only = r.flag("ip_only", False)
    if ip_only:
        if r.data.get("digest") is not None:
            raise ConfigError(r.at("digest"), "an ip_only key has no digest: its source address identifies it")
        if not r.data.get("allowed_ips"):
            raise ConfigError(r.at("allowed_ips"), "an ip_only key needs the addresses that identify it")
        digest = f"ip-only:{key_id}"
    else:
        digest = r.text("digest")
        if not is_digest(digest):
            raise ConfigError(r.at("digest"), "expected 'sha256:' and 64 hex digits (see `panelgate key new`)")
    policy_name = r.text("policy")
    if policy_name not in policies:
        raise ConfigError(r.at("policy"), f"no policy named {policy_name!r} (have: {', '.join(policies)})")
    given = r.get("upstream", next(iter(upstreams)))
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(r.at("upstream"), f"expected an upstream or pool name, or a list of them, got {_show(given)}")
    for i, name in enumerate(names):
        if name not in upstreams:
            where = r.at("upstream") if isinstance(given, str) else f"{r.at('upstream')}[{i}]"
            raise ConfigError(where, f"no upstream or pool named {name!r}")
    upstream = names[0]
    reseller = r.get("reseller_id")
    if reseller is not None and (isinstance(reseller, bool) or not isinstance(reseller, int) or reseller <= 0):
        raise ConfigError(r.at("reseller_id"), f"expected a positive integer, got {_show(reseller)}")
    key = KeyConfig(
        id=key_id,
        digest=digest,
        policy=policies[policy_name],
        upstream=upstream,
        reseller_id=reseller,
        allowed_ips=_networks(r, "allowed_ips"),
        rate=_rate(r.get("rate"), r.at("rate")),
        ip_only=ip_only,
        targets=tuple(names),
    )
    r.done()
    return key


def _pools(data: Any, upstreams: Mapping[str, Upstream]) -> dict[str, tuple[str, ...]]:
    """`pools: {name: [upstream, ...]}`: reads fail over in order; members must speak one dialect."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("pools", f"expected a mapping of pool name -> list of upstreams, got {_show(data)}")
    pools: dict[str, tuple[str, ...]] = {}
    for name, members in data.items():
        where = f"pools.{name}"
        if name in upstreams:
            raise ConfigError(where, "a pool cannot have the name of an upstream")
        if not isinstance(members, list) or not members:
            raise ConfigError(where, f"expected a list of upstream names, got {_show(members)}")
        for i, member in enumerate(members):
            if not isinstance(member, str) or member not in upstreams:
                raise ConfigError(f"{where}[{i}]", f"no upstream named {member!r}")
        dialects = {upstreams[m].dialect for m in members}
        if len(dialects) > 1:
            raise ConfigError(where, f"members speak different dialects ({', '.join(sorted(dialects))})")
        pools[str(name)] = tuple(str(m) for m in members)
    return pools


def _access_codes(data: Any, targets: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """`access_codes: {code: upstream-or-pool}`: the Xtream-Masters path code a client uses selects it."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("access_codes", f"expected a mapping of code -> upstream or pool, got {_show(data)}")
    for code, target in data.items():
        if not isinstance(target, str) or target not in targets:
            raise ConfigError(f"access_codes.{code}", f"no upstream or pool named {target!r}")
    return {str(c): str(t) for c, t in data.items()}


def _health(data: Any, path: str) -> HealthSettings:
    if data is None:
        return HealthSettings()
    r = _Reader(data, path)
    settings = HealthSettings(
        interval=_seconds(r, "interval", 10.0),
        failures=r.integer("failures", 5, low=1, high=1000),
        cooldown=_seconds(r, "cooldown", 15.0),
    )
    r.done()
    return settings


def _choice(r: _Reader, key: str, choices: tuple[str, ...], default: str) -> str:
    value = r.text(key, default)
    if value not in choices:
        raise ConfigError(r.at(key), f"{value!r} is not one of {', '.join(choices)}")
    return value


def _rate(data: Any, path: str) -> Rate | None:
    """`{per_second: 20, burst: 40}` or `{per_minute: 10, burst: 10}`."""
    if data is None:
        return None
    r = _Reader(data, path)
    per_second = r.get("per_second")
    per_minute = r.get("per_minute")
    if (per_second is None) == (per_minute is None):
        raise ConfigError(path, "give exactly one of per_second or per_minute")
    value = r.number("per_second" if per_second is not None else "per_minute", 1.0)
    rate = value if per_second is not None else value / 60
    burst = r.integer("burst", max(1, int(value)), low=1, high=1_000_000)
    r.done()
    return Rate(per_second=rate, burst=burst)


def _rate_limits(data: Any, path: str) -> RateLimits:
    if data is None:
        return RateLimits()
    r = _Reader(data, path)
    url = r.get("redis_url") or None  # `${REDIS_URL:-}` left empty means no Redis
    if url is not None and (not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigError(r.at("redis_url"), "expected a redis://, rediss:// or unix:// URL")
    limits = RateLimits(
        redis_url=url or None, prefix=r.text("prefix", "panelgate:rl:"), timeout=r.number("timeout", 0.25)
    )
    r.done()
    return limits


def _seconds(r: _Reader, key: str, default: float) -> float:
    value = r.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(r.at(key), f"expected a number of seconds >= 0, got {_show(value)}")
    return float(value)


def _cache(data: Any, path: str) -> CacheConfig:
    """`{backend: redis, redis_url: ..., ttl: {default: 30, "package.*": 300}, stale_if_error: 300}`"""
    if data is None:
        return CacheConfig()
    r = _Reader(data, path)
    url = r.get("redis_url") or None  # `${REDIS_URL:-}` left empty means no Redis
    if url is not None and (not isinstance(url, str) or url.split("://", 1)[0] not in CACHE_REDIS_SCHEMES):
        raise ConfigError(r.at("redis_url"), f"expected a URL with a scheme of {', '.join(CACHE_REDIS_SCHEMES)}")
    backend = _choice(r, "backend", ("off", "memory", "redis"), "redis" if url else "memory")
    if backend == "redis" and url is None:
        raise ConfigError(r.at("redis_url"), "is required with backend: redis")
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
        redis_url=url,
        prefix=r.text("prefix", "panelgate:cache:"),
        ttl=tuple(globs),
        default_ttl=_seconds(ttl_reader, "default", 30.0),
        stale_if_error=_seconds(r, "stale_if_error", 300.0),
        max_entries=r.integer("max_entries", 10_000, low=1, high=10_000_000),
        max_megabytes=r.integer("max_megabytes", 256, low=1, high=1_000_000),
        timeout=r.number("timeout", 0.25),
        retry_after=r.number("retry_after", 5.0),
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
    url = r.get("redis_url") or None
    if url is not None and (not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigError(r.at("redis_url"), "expected a redis://, rediss:// or unix:// URL")
    # Replicas read each other's `/_o/` ids only with a shared secret. Never derived from an upstream's API key:
    # an id and a guessed URL would let anyone test guesses of that key offline.
    given = r.text("origin_secret", "")
    if given and len(given) < 32:
        raise ConfigError(r.at("origin_secret"), "must be at least 32 characters (e.g. `openssl rand -hex 32`)")
    side = ClientSide(
        upstream=upstream,
        blocked_ips=_networks(r, "blocked_ips"),
        blocked_user_agents=agents,
        max_streams_per_line=r.integer("max_streams_per_line", 0, high=10_000),
        stream_read_timeout=r.number("stream_read_timeout", 30.0),
        connect_timeout=r.number("connect_timeout", 10.0),
        api_timeout=r.number("api_timeout", 30.0),
        redis_url=url,
        redis_prefix=r.text("redis_prefix", "panelgate:streams:"),
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


def _client_timeouts(data: Any, path: str) -> ClientTimeouts:
    """`client_timeouts: {header: 10, body: 30, keepalive: 75}` (seconds, each more than 0 and at most an hour)."""
    if data is None:
        return ClientTimeouts()
    r = _Reader(data, path)
    values = {name: r.number(name, default) for name, default in vars(ClientTimeouts()).items()}
    for name, value in values.items():
        if value > 3600:
            raise ConfigError(r.at(name), f"{value:g} seconds is more than an hour")
    r.done()
    return ClientTimeouts(**values)


def _origin_secret(material: str) -> bytes:
    if not material:
        return b""
    return hmac.new(material.encode(), b"panelgate origin ids v1", hashlib.sha512).digest()


def parse_config(data: Any, *, base_dir: Path, env: Mapping[str, str] | None = None, source: str = "") -> Config:
    """Validate a parsed YAML document into a Config; raises ConfigError naming the bad path."""
    data = _interpolate(data, "", os.environ if env is None else env)
    r = _Reader(data, "")
    ups_raw = r.get("upstreams")
    if not isinstance(ups_raw, dict) or not ups_raw:
        raise ConfigError("upstreams", "at least one upstream is required")
    upstreams = {str(n): _upstream(str(n), d, f"upstreams.{n}") for n, d in ups_raw.items()}
    pools = _pools(r.get("pools"), upstreams)
    targets = {**{n: (n,) for n in upstreams}, **pools}
    policies_dir = base_dir / r.text("policies_dir", "policies")
    policies = _policies(policies_dir, "policies_dir")
    keys_raw = r.items("keys")
    keys = tuple(_key(k, f"keys[{i}]", targets, policies) for i, k in enumerate(keys_raw))
    seen: dict[str, str] = {}
    for i, k in enumerate(keys):
        for attr, value in (("id", k.id), ("digest", k.digest)):
            tag = f"{attr}:{value}"
            if tag in seen:
                shown = f"{value!r} " if attr == "id" else ""  # a digest is not echoed: it may be a pasted key
                raise ConfigError(f"keys[{i}].{attr}", f"{shown}duplicates {seen[tag]}")
            seen[tag] = f"keys[{i}]"
    public_url = _http_url(r.text("public_url", "http://127.0.0.1:8080"), "public_url")
    config = Config(
        listen=_listen(r, "listen", "0.0.0.0", 8080),
        admin_listen=_listen(r, "admin_listen", "127.0.0.1", 9090),
        public_url=public_url,
        trusted_proxies=_networks(r, "trusted_proxies"),
        upstreams=MappingProxyType(upstreams),
        policies=MappingProxyType(policies),
        keys=keys,
        audit_log=r.get("audit_log"),
        http_status_codes=r.flag("http_status_codes", False),
        max_body_bytes=r.integer("max_body_bytes", 1 << 20, low=1024, high=1 << 30),
        rate_limits=_rate_limits(r.get("rate_limits"), "rate_limits"),
        cache=_cache(r.get("cache"), "cache"),
        pools=MappingProxyType(pools),
        access_codes=MappingProxyType(_access_codes(r.get("access_codes"), targets)),
        health=_health(r.get("health"), "health"),
        access_log=_choice(r, "access_log", ("text", "json", "off"), "text"),
        auth_throttle=(
            _rate(r.get("auth_throttle"), "auth_throttle")
            if r.get("auth_throttle", "default") != "default"
            else DEFAULT_AUTH_THROTTLE
        ),
        client_side=_client_side(r.get("client_side"), "client_side", upstreams),
        client_timeouts=_client_timeouts(r.get("client_timeouts"), "client_timeouts"),
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
