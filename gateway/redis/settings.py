"""The `redis:` config section: one Redis for every shared state, each feature under its own key prefix.

```yaml
redis:
  url: ${PANELGATE_REDIS_URL:-}   # any form of gateway.redis.url; empty: no Redis, every state per process
  timeout: 0.25                   # seconds per call in all (connect included) before the feature's fallback
  retry_after: 5                  # seconds a failed Redis is left alone (one call probes it then)
  prefixes: {cache: "panelgate:cache:", rate_limits: "panelgate:rl:", ...}
```

Before this section each feature had its own keys (`rate_limits.redis_url`, `.prefix`, `.timeout`; `cache.redis_url`,
`.prefix`, `.timeout`, `.retry_after`; `client_side.redis_url`, `.redis_prefix`). They still work, with a
deprecation warning logged once per key, when there is no `redis:` section; beside one they are an error, since
two answers to "which Redis" would be a guess.

The config (gateway.config) calls `parse_redis` with its reader; the cache and client-side sections call
`legacy_seen`. A leaf: it imports the config machinery (gateway.settings) and the URL rules, nothing that loads a
client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.redis.url import RedisURL, RedisURLError, parse_url
from gateway.settings import ConfigError, Reader

log = logging.getLogger("panelgate.config")

# Each feature that keeps state in Redis, and its default key prefix.
PREFIXES: Mapping[str, str] = MappingProxyType({
    "cache": "panelgate:cache:",  # response entries and generation counters
    "rate_limits": "panelgate:rl:",  # key buckets, auth throttle, upstream budgets
    "locks": "panelgate:lock:",  # one writer per panel record
    "streams": "panelgate:streams:",  # concurrent streams per line
    "hosts": "panelgate:hosts:",  # the panel's host names to hide
    "slots": "panelgate:slots:",  # provider slot pools (gateway.redis.leases)
})  # fmt: skip
DEFAULT_TIMEOUT = 0.25
DEFAULT_RETRY_AFTER = 5.0
_WARNED: set[str] = set()  # deprecated keys already warned about in this process


@dataclass(frozen=True)
class Endpoint:
    """Where one feature keeps its state: the deployment, the feature's key prefix, and how long to wait."""

    url: RedisURL
    prefix: str
    timeout: float = DEFAULT_TIMEOUT
    retry_after: float = DEFAULT_RETRY_AFTER


@dataclass(frozen=True)
class RedisSettings:
    """Each feature's endpoint (a feature without one keeps its state in process memory)."""

    endpoints: Mapping[str, Endpoint] = field(default_factory=lambda: MappingProxyType({}))

    def endpoint(self, feature: str) -> Endpoint | None:
        assert feature in PREFIXES, feature
        return self.endpoints.get(feature)

    def deployments(self) -> dict[RedisURL, tuple[str, ...]]:
        """Each Redis in use and the features that use it."""
        found: dict[RedisURL, list[str]] = {}
        for feature, endpoint in self.endpoints.items():
            found.setdefault(endpoint.url, []).append(feature)
        return {url: tuple(features) for url, features in found.items()}


def checked_url(value: Any, path: str) -> RedisURL | None:
    """A URL from the config (None for an empty value: `${REDIS_URL:-}` left unset means no Redis)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a Redis URL, got a {type(value).__name__}")
    try:
        return parse_url(value)
    except RedisURLError as exc:
        raise ConfigError(path, str(exc)) from None


def checked_prefix(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(path, f"expected a key prefix such as 'panelgate:cache:', got {value!r:.60}")
    if "{" in value or "}" in value:
        raise ConfigError(path, "a prefix may not hold { or }: they would change which Cluster slot keys use")
    return value


def parse_section(r: Reader) -> dict[str, Endpoint]:
    """The `redis:` section (its reader): an endpoint per feature, none without a URL."""
    url = checked_url(r.get("url"), r.at("url"))
    timeout = r.number("timeout", DEFAULT_TIMEOUT)
    retry_after = r.number("retry_after", DEFAULT_RETRY_AFTER)
    given = r.get("prefixes") or {}
    if not isinstance(given, dict):
        raise ConfigError(r.at("prefixes"), f"expected a mapping of feature -> prefix ({', '.join(PREFIXES)})")
    for feature in given:
        if feature not in PREFIXES:
            raise ConfigError(f"{r.at('prefixes')}.{feature}", f"unknown feature; use one of {', '.join(PREFIXES)}")
    chosen = {f: checked_prefix(given.get(f, default), f"{r.at('prefixes')}.{f}")
              for f, default in PREFIXES.items()}  # fmt: skip
    r.done()
    if url is None:
        return {}
    return {f: Endpoint(url, prefix, timeout, retry_after) for f, prefix in chosen.items()}


# The deprecated keys: (section, key) -> what replaces it.
LEGACY = {
    ("rate_limits", "redis_url"): "redis.url", ("rate_limits", "prefix"): "redis.prefixes.rate_limits",
    ("rate_limits", "timeout"): "redis.timeout", ("cache", "redis_url"): "redis.url",
    ("cache", "prefix"): "redis.prefixes.cache", ("cache", "timeout"): "redis.timeout",
    ("cache", "retry_after"): "redis.retry_after", ("client_side", "redis_url"): "redis.url",
    ("client_side", "redis_prefix"): "redis.prefixes.streams",
}  # fmt: skip


def legacy_keys(data: Mapping[str, Any]) -> list[str]:
    """The deprecated keys present in a config document, as YAML paths."""
    found = []
    for section, key in LEGACY:
        part = data.get(section)
        if isinstance(part, dict) and key in part:
            found.append(f"{section}.{key}")
    return found


def warn_deprecated(path: str) -> None:
    if path not in _WARNED:
        _WARNED.add(path)
        section, key = path.split(".", 1)
        log.warning("config: %s is deprecated; use %s (one redis: section for every feature)", path,
                    LEGACY[(section, key)])  # fmt: skip


def legacy_endpoints(r: Reader, section: str) -> dict[str, Endpoint]:
    """The endpoints one section's deprecated keys give (read from its reader, so they are not unknown keys)."""
    present = [key for (s, key) in LEGACY if s == section and key in r.data]
    for key in present:
        warn_deprecated(f"{section}.{key}")

    def url_of(key: str) -> RedisURL | None:
        return checked_url(r.get(key), r.at(key))

    def prefix_of(key: str, feature: str) -> str:
        return checked_prefix(r.get(key, PREFIXES[feature]), r.at(key))

    if section == "rate_limits":
        url = url_of("redis_url")
        prefix = prefix_of("prefix", "rate_limits")
        timeout = r.number("timeout", DEFAULT_TIMEOUT)
        if url is None:
            return {}
        # as before: the record locks and the upstreams' budgets shared the rate limits' Redis
        return {"rate_limits": Endpoint(url, prefix, timeout), "locks": Endpoint(url, prefix + "lock:", timeout)}
    if section == "cache":
        url = url_of("redis_url")
        prefix = prefix_of("prefix", "cache")
        timeout, retry_after = r.number("timeout", DEFAULT_TIMEOUT), r.number("retry_after", DEFAULT_RETRY_AFTER)
        return {} if url is None else {"cache": Endpoint(url, prefix, timeout, retry_after)}
    assert section == "client_side", section
    url = url_of("redis_url")
    prefix = prefix_of("redis_prefix", "streams")
    if url is None:
        return {}
    # the old stream counter waited 0.5 s per call; the host names and provider slots lived beside the stream counts
    return {"streams": Endpoint(url, prefix, 0.5), "hosts": Endpoint(url, prefix + "hosts:", 0.5),
            "slots": Endpoint(url, prefix + "provider:", 0.5)}


def parse_redis(r: Reader) -> RedisSettings:
    """From the config's top-level reader: the `redis:` section, or else the deprecated keys of rate_limits, cache
    and client_side, each feature on the Redis its own section named. (A cache that is not `backend: redis`
    drops its endpoint afterwards: `without`.)"""
    legacy = legacy_keys(r.data)
    section = r.get("redis")
    if section is not None and legacy:
        name, key = legacy[0].split(".", 1)
        raise ConfigError(legacy[0], f"is replaced by {LEGACY[(name, key)]}: with a redis: section, remove it")
    found: dict[str, Endpoint] = {}
    limits = r.get("rate_limits")  # nothing but deprecated keys are left in this section
    if limits is not None:
        reader = Reader(limits, "rate_limits")
        found.update(legacy_endpoints(reader, "rate_limits"))
        reader.done()
    if section is not None:
        return RedisSettings(MappingProxyType(parse_section(Reader(section, "redis"))))
    for name in ("cache", "client_side"):  # the rest of these sections is read by their own parsers
        if isinstance(r.data.get(name), dict):
            found.update(legacy_endpoints(Reader(r.data[name], name), name))
    return RedisSettings(MappingProxyType(found))


def legacy_seen(r: Reader, section: str) -> None:
    """The deprecated keys of `section` (its reader) were read by parse_redis: not unknown settings there."""
    for name, key in LEGACY:
        if name == section:
            r.get(key)


def without(settings: RedisSettings, feature: str) -> RedisSettings:
    return RedisSettings(MappingProxyType({f: e for f, e in settings.endpoints.items() if f != feature}))
