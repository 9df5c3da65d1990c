"""Configuration: YAML read once at start-up, `${ENV}` interpolated, validated into frozen objects.

Every error names the YAML path and the bad value, so `panelgate check` tells an operator exactly what to fix.
Request code only ever sees the typed objects defined here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from gateway.cache.settings import CacheConfig, parse_cache
from gateway.clientside.settings import ClientSide, parse_client_side
from gateway.health import HealthSettings, parse_health
from gateway.idempotency import settings as idempotency
from gateway.key_files import files_of, read_key_files
from gateway.keyconfig import KeyConfig, parse_keys
from gateway.listeners import ClientTimeouts, Listen, parse_client_timeouts, parse_listen
from gateway.policy import Policy, load_policies, load_policy
from gateway.rate import Rate, parse_rate
from gateway.redis.settings import RedisSettings, parse_redis, without
from gateway.settings import ConfigError, IPNetwork, Reader, http_url, interpolate, show, yaml_problem
from gateway.upstream_config import parse_access_codes, parse_code_dialects, parse_pools, parse_upstreams
from gateway.upstream_settings import Upstream

__all__ = ["CacheConfig", "ClientSide", "ClientTimeouts", "Config", "ConfigError", "KeyConfig", "Listen", "Upstream",
           "load_config", "load_policy", "parse_config"]  # fmt: skip

# Ten wrong keys from one address, then one more guess every six seconds.
DEFAULT_AUTH_THROTTLE = Rate(per_second=10 / 60, burst=10)


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
    cache: CacheConfig = field(default_factory=CacheConfig)
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    access_codes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # access code -> the client dialect answering at it, where several share its path (XUI.one's `/{code}/`)
    code_dialects: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    health: HealthSettings = field(default_factory=HealthSettings)
    access_log: str = "text"  # text | json | off
    auth_throttle: Rate | None = DEFAULT_AUTH_THROTTLE
    client_side: ClientSide = field(default_factory=ClientSide)
    client_timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    idempotency: idempotency.IdempotencySettings = field(default_factory=idempotency.IdempotencySettings)
    keys_from: str = ""  # a file or directory of more keys (gateway.key_files), as an absolute path
    source: str = ""

    @property
    def watched(self) -> tuple[str, ...]:
        """What a reload reads beside the config itself (`serve --watch` watches them too): `keys_from` (a
        directory's time changes when a file is added or removed) and its files."""
        if not self.keys_from:
            return ()
        return tuple(dict.fromkeys((self.keys_from, *(str(f) for f in files_of(Path(self.keys_from))))))

    @property
    def default_upstream(self) -> str:
        return next(iter(self.upstreams))

    def members(self, target: str) -> tuple[str, ...]:
        """The upstreams behind a target name: a pool's members in order, or the upstream itself."""
        return self.pools.get(target, (target,))

    def timezone_of(self, target: str) -> str:
        """The time zone the panels behind `target` read dates in (a pool's members are one panel's replicas)."""
        return self.upstreams[self.members(target)[0]].timezone


def parse_config(data: Any, *, base_dir: Path, env: Mapping[str, str] | None = None, source: str = "") -> Config:
    """Validate a parsed YAML document into a Config; raises ConfigError naming the bad path. Each section is
    parsed beside its owner; this only assembles them."""
    data = interpolate(data, "", os.environ if env is None else env)
    r = Reader(data, "")
    upstreams = parse_upstreams(r.get("upstreams"))
    pools = parse_pools(r.get("pools"), upstreams)
    targets = {**{n: (n,) for n in upstreams}, **pools}
    policies = load_policies(base_dir / r.text("policies_dir", "policies"), "policies_dir")
    entries = [(k, f"keys[{i}]", "") for i, k in enumerate(r.items("keys"))]
    keys_from = r.text("keys_from", "")
    if keys_from:
        keys_from = str((base_dir / keys_from).resolve())
        entries += read_key_files(Path(keys_from))
    keys = parse_keys(entries, targets, policies)
    redis = parse_redis(r)
    cache = parse_cache(r.get("cache"), "cache", redis)
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
        client_side=parse_client_side(r.get("client_side"), "client_side", upstreams),
        client_timeouts=parse_client_timeouts(r.get("client_timeouts"), "client_timeouts"),
        idempotency=idempotency.parse(r.get("idempotency"), "idempotency"),
        keys_from=keys_from,
        source=source,
    )
    if config.audit_log is not None and not isinstance(config.audit_log, str):
        raise ConfigError("audit_log", f"expected a file path, got {show(config.audit_log)}")
    r.done()
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read {p}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"cannot read {p}: the file is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{p} is not valid YAML: {yaml_problem(exc)}") from None
    return parse_config(data, base_dir=p.parent, env=env, source=str(p))
