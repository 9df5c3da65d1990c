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

The config (gateway.config) calls `parse_section` and `legacy_endpoints`; this module imports nothing that
loads a client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gateway.redis.url import RedisURL, RedisURLError, parse_url

if TYPE_CHECKING:
    from gateway.config import _Reader

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
    from gateway.config import ConfigError  # the shared error type lives with the config reader

    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a Redis URL, got a {type(value).__name__}")
    try:
        return parse_url(value)
    except RedisURLError as exc:
        raise ConfigError(path, str(exc)) from None


def checked_prefix(r: _Reader, key: str, default: str) -> str:
    from gateway.config import ConfigError

    prefix = r.text(key, default)
    if "{" in prefix or "}" in prefix:
        raise ConfigError(r.at(key), "a prefix may not hold { or }: they would change which Cluster slot keys use")
    return prefix


def parse_section(r: _Reader) -> tuple[RedisURL | None, dict[str, Endpoint]]:
    """The `redis:` section (its reader): the URL, and an endpoint per feature when there is one."""
    from gateway.config import _Reader

    url = checked_url(r.get("url"), r.at("url"))
    timeout = r.number("timeout", DEFAULT_TIMEOUT)
    retry_after = r.number("retry_after", DEFAULT_RETRY_AFTER)
    given = r.get("prefixes", {})
    prefixes = _Reader({} if given is None else given, r.at("prefixes"))
    chosen = {feature: checked_prefix(prefixes, feature, default) for feature, default in PREFIXES.items()}
    prefixes.done()
    r.done()
    if url is None:
        return None, {}
    return url, {f: Endpoint(url, prefix, timeout, retry_after) for f, prefix in chosen.items()}


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


def legacy_endpoints(r: _Reader, section: str) -> dict[str, Endpoint]:
    """The endpoints one section's deprecated keys give (read from its reader, so they are not unknown keys)."""
    present = [key for (s, key) in LEGACY if s == section and key in r.data]
    for key in present:
        warn_deprecated(f"{section}.{key}")
    if section == "rate_limits":
        url = checked_url(r.get("redis_url"), r.at("redis_url"))
        prefix = checked_prefix(r, "prefix", PREFIXES["rate_limits"])
        timeout = r.number("timeout", DEFAULT_TIMEOUT)
        if url is None:
            return {}
        # as before: the record locks and the upstreams' budgets shared the rate limits' Redis
        return {"rate_limits": Endpoint(url, prefix, timeout), "locks": Endpoint(url, prefix + "lock:", timeout)}
    if section == "cache":
        url = checked_url(r.get("redis_url"), r.at("redis_url"))
        prefix = checked_prefix(r, "prefix", PREFIXES["cache"])
        timeout, retry_after = r.number("timeout", DEFAULT_TIMEOUT), r.number("retry_after", DEFAULT_RETRY_AFTER)
        return {} if url is None else {"cache": Endpoint(url, prefix, timeout, retry_after)}
    assert section == "client_side", section
    url = checked_url(r.get("redis_url"), r.at("redis_url"))
    prefix = checked_prefix(r, "redis_prefix", PREFIXES["streams"])
    if url is None:
        return {}
    # the old stream counter waited 0.5 s per call; the host names lived beside the stream counts
    return {"streams": Endpoint(url, prefix, 0.5), "hosts": Endpoint(url, prefix + "hosts:", 0.5)}
