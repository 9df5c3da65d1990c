"""The operators' config sections, each parsed beside its owner: idempotency, key lifecycle, quotas, key files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import ConfigError, load_config
from gateway.idempotency.settings import IdempotencySettings
from gateway.keys import digest_of
from tests.unit.test_config import ENV, base_config, workdir, write

__all__ = ["workdir"]  # a fixture: pytest finds it by name in this module


def _load(workdir: Path, **sections: Any) -> Any:
    return load_config(write(workdir, {**base_config(), **sections}), env=ENV)


def test_idempotency_defaults_and_settings(workdir: Path) -> None:
    assert _load(workdir).idempotency == IdempotencySettings()
    config = _load(workdir, idempotency={"ttl": 3600, "wait": 5, "pending_ttl": 10, "max_entries": 50})
    assert config.idempotency == IdempotencySettings(ttl=3600, wait=5, pending_ttl=10, max_entries=50)


@pytest.mark.parametrize(
    ("section", "path"),
    [({"ttl": 0}, "idempotency.ttl"), ({"wait": "long"}, "idempotency.wait"),
     ({"max_entries": 0}, "idempotency.max_entries"), ({"tll": 5}, "idempotency.tll"),
     ("24h", "idempotency")],
)  # fmt: skip
def test_idempotency_errors_name_their_path(workdir: Path, section: Any, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(workdir, idempotency=section)
    assert caught.value.path == path


def _key(**extra: Any) -> dict[str, Any]:
    return {**base_config()["keys"][1], **extra}


@pytest.mark.parametrize(
    "given", ["2027-01-01T00:00:00Z", "2027-01-01T01:00:00+01:00", "2027-01-01 00:00:00", 1798761600]
)
def test_key_dates_read_in_every_form(workdir: Path, given: Any) -> None:
    config = _load(workdir, keys=[_key(expires_at=given, not_before="2026-12-01")])
    life = config.keys[0].lifecycle
    assert (life.expires_at, life.not_before) == (1798761600.0, 1796083200.0)


def test_a_yaml_timestamp_is_a_time_too(workdir: Path) -> None:
    path = write(workdir, base_config())
    text = path.read_text().replace("policy: admin", "policy: admin\n  expires_at: 2027-01-01T00:00:00Z")
    path.write_text(text)
    assert load_config(path, env=ENV).keys[1].lifecycle.expires_at == 1798761600.0


@pytest.mark.parametrize(
    ("extra", "path"),
    [({"expires_at": "next year"}, "keys[0].expires_at"), ({"not_before": True}, "keys[0].not_before"),
     ({"expires_at": "2026-01-01", "not_before": "2026-02-01"}, "keys[0].expires_at"),
     ({"previous_secrets": [{"digest": "sha256:zz", "until": 1}]}, "keys[0].previous_secrets[0].digest"),
     ({"previous_secrets": [{"digest": base_config()["keys"][0]["digest"], "until": 1}]},
      "keys[1].digest"),
     ({"quotas": [{"operations": ["line.crate"], "limit": 5, "per": "day"}]}, "keys[0].quotas[0].operations"),
     ({"quotas": [{"operations": "line.*", "limit": 5}]}, "keys[0].quotas[0]"),
     ({"quotas": [{"operations": "line.*", "limit": 5, "per": "week"}]}, "keys[0].quotas[0].per"),
     ({"quotas": [{"operations": "line.*", "limit": 5, "window": "forever"}]}, "keys[0].quotas[0].window"),
     ({"quotas": [{"operations": "line.*", "limit": 0, "window": 60}]}, "keys[0].quotas[0].limit"),
     ({"quotas": [{"operations": "line.*", "limit": 5, "per": "day", "timezone": "Mars/Base"}]},
      "keys[0].quotas[0].timezone"),
     ({"quotas": [{"operations": "line.*", "limit": 5, "window": 60, "timezone": "UTC"}]},
      "keys[0].quotas[0].timezone")],
)  # fmt: skip
def test_key_lifecycle_and_quota_errors_name_their_path(workdir: Path, extra: dict[str, Any], path: str) -> None:
    keys = [_key(**extra), base_config()["keys"][0]]
    with pytest.raises(ConfigError) as caught:
        _load(workdir, keys=keys)
    assert caught.value.path == path


def test_quotas_are_read(workdir: Path) -> None:
    quotas = [{"operations": ["line.create"], "limit": 50, "per": "day", "timezone": "Europe/Berlin"},
              {"operations": "line.*", "limit": 200, "window": "1h"}]  # fmt: skip
    day, hour = _load(workdir, keys=[_key(quotas=quotas)]).keys[0].quotas
    assert (day.limit, day.window, day.timezone, day.describe()) == (50, 0.0, "Europe/Berlin",
                                                                     "50 line.create per day (Europe/Berlin)")
    assert (hour.operations, hour.window, hour.matches("line.get"), hour.matches("mag.get")) == (("line.*",), 3600,
                                                                                                 True, False)
    assert day.id != hour.id


def test_keys_from_a_directory_and_a_file(workdir: Path) -> None:
    (workdir / "keys.d").mkdir()
    (workdir / "keys.d" / "b.yaml").write_text(yaml.safe_dump({"id": "b", "digest": digest_of("b"), "policy": "admin"}))
    (workdir / "keys.d" / "a.yaml").write_text(yaml.safe_dump([{"id": "a", "digest": digest_of("a"),
                                                                "policy": "admin"}]))  # fmt: skip
    config = _load(workdir, keys_from="keys.d")
    assert [(k.id, Path(k.source).name) for k in config.keys] == [("reseller-88", ""), ("ops", ""), ("a", "a.yaml"),
                                                                   ("b", "b.yaml")]  # fmt: skip
    assert config.watched == (str(workdir / "keys.d"), str(workdir / "keys.d" / "a.yaml"),
                              str(workdir / "keys.d" / "b.yaml"))  # fmt: skip
    (workdir / "keys.yaml").write_text(yaml.safe_dump([{"id": "ops", "digest": digest_of("c"), "policy": "admin"}]))
    with pytest.raises(ConfigError) as caught:
        _load(workdir, keys_from="keys.yaml")
    assert caught.value.path == f"keys_from: {workdir / 'keys.yaml'}[0].id"
    with pytest.raises(ConfigError) as caught:
        _load(workdir, keys_from="nowhere")
    assert caught.value.path == "keys_from"
