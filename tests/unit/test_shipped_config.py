"""The configs shipped in config/ must load: they are the documentation operators copy from."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.keys import digest_of

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_reference_config_loads() -> None:
    config = load_config(CONFIG / "gateway.yaml", env={"MAIN_PANEL_KEY": "k"})
    assert config.upstreams["main"].api_key == "k"
    assert {k.id for k in config.keys} == {"ops-admin", "reseller-88", "legacy-billing-script"}
    assert config.redis.endpoints == {}  # PANELGATE_REDIS_URL unset: every state per process
    shared = load_config(CONFIG / "gateway.yaml", env={"MAIN_PANEL_KEY": "k", "PANELGATE_REDIS_URL": "redis://r:6379/0"})
    assert set(shared.redis.endpoints) == {"cache", "rate_limits", "locks", "streams", "hosts", "slots"}
    assert shared.cache.backend == "redis"
    reseller = next(k for k in config.keys if k.id == "reseller-88")
    assert reseller.reseller_id == 88 and reseller.rate is not None and reseller.rate.burst == 20


def test_demo_config_loads_with_generated_keys() -> None:
    env = {
        "DEMO_UPSTREAM_KEY": "up",
        "DEMO_ADMIN_DIGEST": digest_of("a"),
        "DEMO_RESELLER_DIGEST": digest_of("r"),
    }
    config = load_config(CONFIG / "demo.yaml", env=env)
    assert [k.policy.name for k in config.keys] == ["admin", "reseller"]


def test_demo_config_without_its_keys_fails_loudly() -> None:
    with pytest.raises(ValueError, match="DEMO_UPSTREAM_KEY"):
        load_config(CONFIG / "demo.yaml", env={})
