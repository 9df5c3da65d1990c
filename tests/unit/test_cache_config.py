"""The `cache` section of the config: defaults, validation naming the YAML path, TTL globs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import CacheConfig, ConfigError, parse_config

REPO = Path(__file__).resolve().parent.parent.parent


def parse(cache: Any = None, **extra: Any) -> CacheConfig:
    data: dict[str, Any] = {
        "upstreams": {"main": {"dialect": "xtream_masters", "url": "http://p:1", "access_code": "a", "api_key": "k"}},
        "policies_dir": str(REPO / "policies"),
        **extra,
    }
    if cache is not None:
        data["cache"] = cache
    return parse_config(data, base_dir=REPO, env={}).cache


def test_no_section_caches_nothing() -> None:
    assert parse().backend == "off"


def test_a_section_defaults_to_memory_and_a_url_to_redis() -> None:
    assert parse({}).backend == "memory"
    cfg = parse({"redis_url": "redis+sentinel://s1:26379,s2:26379/mymaster/2"})
    assert cfg.backend == "redis"
    assert parse({"redis_url": ""}).backend == "memory"  # `${REDIS_URL:-}` left empty


def test_ttl_globs_most_specific_wins() -> None:
    cfg = parse({"ttl": {"default": 30, "*.list": 10, "package.*": 300, "package.list": 5, "line.get": 0}})
    assert cfg.ttl_for("package.list") == 5
    assert cfg.ttl_for("package.get") == 300
    assert cfg.ttl_for("bouquet.list") == 10
    assert cfg.ttl_for("line.get") == 0
    assert cfg.ttl_for("account.info") == 30
    assert parse({"ttl": 12}).ttl_for("line.list") == 12


@pytest.mark.parametrize(
    ("cache", "path"),
    [
        ({"backend": "disk"}, "cache.backend"),
        ({"backend": "redis"}, "cache.backend"),  # and no Redis anywhere
        ({"redis_url": "http://127.0.0.1:6379"}, "cache.redis_url"),
        ({"ttl": {"pakage.*": 10}}, "cache.ttl.pakage.*"),
        ({"ttl": {"line.create": 10}}, "cache.ttl.line.create"),  # not a read
        ({"ttl": {"default": -1}}, "cache.ttl.default"),
        ({"stale_if_error": "long"}, "cache.stale_if_error"),
        ({"max_entries": 0}, "cache.max_entries"),
        ({"timeout": 0}, "cache.timeout"),
        ({"tll": 5}, "cache.tll"),
        ([1], "cache"),
    ],
)
def test_errors_name_the_yaml_path(cache: Any, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(cache)
    assert err.value.path == path, str(err.value)


def test_shipped_reference_config_has_a_cache_section() -> None:
    import yaml

    data = yaml.safe_load((REPO / "config" / "gateway.yaml").read_text())
    assert "cache" in data
