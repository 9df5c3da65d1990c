"""The `client_side` config section."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import ClientSide, ConfigError, parse_config
from tests.conftest import UPSTREAM_KEY, xm_upstream


def _config(tmp_path: Path, side: object = None) -> object:
    (tmp_path / "policies").mkdir(exist_ok=True)
    data = {"upstreams": {"main": xm_upstream("http://panel:8000"), "b": xm_upstream("http://b:8000")}}
    if side is not None:
        data["client_side"] = side
    return parse_config(data, base_dir=tmp_path, env={})


def test_defaults_when_absent(tmp_path: Path) -> None:
    side = _config(tmp_path).client_side  # type: ignore[attr-defined]
    assert replace(side, origin_secret=b"") == ClientSide()
    assert len(side.origin_secret) == 64  # from the upstream's API key: see the tests below


def test_origin_secret_is_shared_by_replicas_and_never_the_key_itself(tmp_path: Path) -> None:
    one, two = (_config(tmp_path).client_side for _ in range(2))  # type: ignore[attr-defined]
    assert one.origin_secret == two.origin_secret and UPSTREAM_KEY.encode() not in one.origin_secret
    other = _config(tmp_path, {"upstream": "b"}).client_side  # type: ignore[attr-defined]
    assert other.origin_secret == one.origin_secret  # both test upstreams share one key
    given = _config(tmp_path, {"origin_secret": "s" * 32}).client_side  # type: ignore[attr-defined]
    assert len(given.origin_secret) == 64 and given.origin_secret != one.origin_secret
    assert "origin_secret" not in repr(given)  # a secret is never in a repr (logs, tracebacks)


def test_no_key_anywhere_means_per_process_ids(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir(exist_ok=True)
    data = {"upstreams": {"xc": {"dialect": "xtream_codes_v2", "url": "http://xc:80"}}}
    assert parse_config(data, base_dir=tmp_path, env={}).client_side.origin_secret == b""


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
    ({"origin_secret": "short"}, "client_side.origin_secret"),
])  # fmt: skip
def test_errors_name_the_path(tmp_path: Path, side: object, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, side)
    assert err.value.path == path
