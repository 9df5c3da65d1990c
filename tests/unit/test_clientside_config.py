"""The `client_side` config section."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ClientSide, ConfigError, parse_config
from tests.conftest import xm_upstream


def _config(tmp_path: Path, side: object = None) -> object:
    (tmp_path / "policies").mkdir(exist_ok=True)
    data = {"upstreams": {"main": xm_upstream("http://panel:8000"), "b": xm_upstream("http://b:8000")}}
    if side is not None:
        data["client_side"] = side
    return parse_config(data, base_dir=tmp_path, env={})


def test_defaults_when_absent(tmp_path: Path) -> None:
    assert _config(tmp_path).client_side == ClientSide()  # type: ignore[attr-defined]


def test_full_section(tmp_path: Path) -> None:
    side = _config(tmp_path, {"upstream": "b", "blocked_ips": ["192.0.2.0/24"], "blocked_user_agents": ["curl"],
                              "max_streams_per_line": 2, "stream_read_timeout": 15,
                              "redis_url": "redis://127.0.0.1:6379/0"}).client_side  # type: ignore[attr-defined]
    assert side.upstream == "b" and side.max_streams_per_line == 2 and side.stream_read_timeout == 15.0
    assert str(side.blocked_ips[0]) == "192.0.2.0/24" and side.blocked_user_agents == ("curl",)


@pytest.mark.parametrize(("side", "path"), [
    ({"upstream": "nope"}, "client_side.upstream"),
    ({"blocked_ips": ["not-an-ip"]}, "client_side.blocked_ips[0]"),
    ({"blocked_user_agents": [""]}, "client_side.blocked_user_agents"),
    ({"max_stream_per_line": 1}, "client_side.max_stream_per_line"),
    ({"stream_read_timeout": 0}, "client_side.stream_read_timeout"),
    ({"redis_url": "http://x"}, "client_side.redis_url"),
])  # fmt: skip
def test_errors_name_the_path(tmp_path: Path, side: object, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, side)
    assert err.value.path == path
