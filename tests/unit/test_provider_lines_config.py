"""`client_side.provider_lines` and the shared live settings: parsed once, errors name the YAML path, and a
provider line's credentials never show in a repr (what a log line or an error would print)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ClientSide, ConfigError, parse_config
from tests.conftest import xm_upstream


def _side(tmp_path: Path, side: dict[str, Any], env: dict[str, str] | None = None) -> ClientSide:
    (tmp_path / "policies").mkdir(exist_ok=True)
    data = {"upstreams": {"main": xm_upstream("http://panel:8000")}, "client_side": side}
    return parse_config(data, base_dir=tmp_path, env=env or {}).client_side


def test_provider_lines_from_the_environment(tmp_path: Path) -> None:
    side = _side(tmp_path, {"live_linger": 0, "viewer_buffer_kib": 256, "provider_lines": [
        {"username": "${P_USER}", "password": "${P_PASS}", "max_connections": 3}, {"name": "b", "username": "u",
                                                                                   "password": "p"}]},
                 env={"P_USER": "prov-user", "P_PASS": "prov-secret-pass"})  # fmt: skip
    first, second = side.provider_lines
    assert (first.name, first.username, first.password, first.max_connections) == (
        "line1",
        "prov-user",
        "prov-secret-pass",
        3,
    )
    assert (second.name, second.max_connections) == ("b", 1)
    assert side.live_linger == 0 and side.viewer_buffer == 256 * 1024
    assert "prov-secret-pass" not in repr(side) and "prov-user" not in repr(side)


@pytest.mark.parametrize(("side", "path"), [
    ({"provider_lines": [{"username": "u"}]}, "client_side.provider_lines[0].password"),
    ({"provider_lines": [{"username": "u", "password": "p", "max_connections": 0}]},
     "client_side.provider_lines[0].max_connections"),
    ({"provider_lines": [{"name": "a", "username": "u", "password": "p"}, {"name": "a", "username": "v",
                                                                           "password": "q"}]},
     "client_side.provider_lines[1].name"),
    ({"provider_lines": [{"username": "u", "password": "p", "colour": 1}]}, "client_side.provider_lines[0].colour"),
    ({"live_linger": -1}, "client_side.live_linger"),
    ({"viewer_buffer_kib": 1}, "client_side.viewer_buffer_kib"),
    ({"shared_live": "yes"}, "client_side.shared_live"),
])  # fmt: skip
def test_a_bad_setting_names_its_path(tmp_path: Path, side: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _side(tmp_path, side)
    assert caught.value.path == path
    assert "secret" not in str(caught.value)
