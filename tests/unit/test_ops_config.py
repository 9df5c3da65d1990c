"""The operators' config sections, each parsed beside its owner: idempotency, key lifecycle, quotas, key files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_config
from gateway.idempotency.settings import IdempotencySettings
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
