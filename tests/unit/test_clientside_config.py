"""The `client_side` config section."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from gateway.clientside.runtime import WORKERS_KEY_ENV, ClientSideRuntime
from gateway.config import ClientSide, ConfigError, parse_config
from tests.conftest import UPSTREAM_KEY, xm_upstream


def _config(tmp_path: Path, side: object = None) -> object:
    (tmp_path / "policies").mkdir(exist_ok=True)
    data = {"upstreams": {"main": xm_upstream("http://panel:8000"), "b": xm_upstream("http://b:8000")}}
    if side is not None:
        data["client_side"] = side
    return parse_config(data, base_dir=tmp_path, env={})


def test_defaults_when_absent(tmp_path: Path) -> None:
    assert _config(tmp_path).client_side == ClientSide()  # type: ignore[attr-defined]


def test_origin_secret_is_derived_from_the_given_secret_only(tmp_path: Path) -> None:
    assert _config(tmp_path).client_side.origin_secret == b""  # type: ignore[attr-defined]
    one, two = (_config(tmp_path, {"origin_secret": "s" * 32}).client_side for _ in range(2))  # type: ignore
    assert len(one.origin_secret) == 64 and one.origin_secret == two.origin_secret  # replicas agree
    assert b"s" * 32 not in one.origin_secret and UPSTREAM_KEY.encode() not in one.origin_secret
    assert "origin_secret" not in repr(one)  # a secret is never in a repr (logs, tracebacks)


@pytest.mark.parametrize(("side", "path"), [
    ({"upstream": "nope"}, "client_side.upstream"),
    ({"blocked_ips": ["not-an-ip"]}, "client_side.blocked_ips[0]"),
    ({"blocked_user_agents": [""]}, "client_side.blocked_user_agents"),
    ({"max_stream_per_line": 1}, "client_side.max_stream_per_line"),
    ({"stream_read_timeout": 0}, "client_side.stream_read_timeout"),
    ({"redis_url": "http://x"}, "client_side.redis_url"),
    ({"origin_secret": "s" * 31}, "client_side.origin_secret"),
    ({"upstream_hosts": "panel.example.net"}, "client_side.upstream_hosts"),
    ({"upstream_hosts": ["ok.example.net", "http://panel.example.net"]}, "client_side.upstream_hosts[1]"),
    ({"upstream_hosts": ["panel.example.net:8080"]}, "client_side.upstream_hosts[0]"),
    ({"upstream_hosts": ["*.example.net"]}, "client_side.upstream_hosts[0]"),
    ({"upstream_hosts": [8080]}, "client_side.upstream_hosts[0]"),
    ({"hls_viewer_timeout": 0}, "client_side.hls_viewer_timeout"),
    ({"hls_cache_mib": 4}, "client_side.hls_cache_mib"),
    ({"hls_cache_mib": "lots"}, "client_side.hls_cache_mib"),
])  # fmt: skip
def test_errors_name_the_path(tmp_path: Path, side: object, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, side)
    assert err.value.path == path


def test_shared_hls_settings(tmp_path: Path) -> None:
    side = _config(tmp_path, {"hls_viewer_timeout": 12.5, "hls_cache_mib": 64}).client_side  # type: ignore
    assert (side.hls_viewer_timeout, side.hls_cache_bytes) == (12.5, 64 << 20)


def test_workers_of_one_serve_share_a_key_without_origin_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 ) -> None:  # fmt: skip
    """`serve --workers N` puts one random key in its workers' environment: each worker's runtime uses it."""
    config = _config(tmp_path)
    url = "http://lb.example:8080/hls/x/1_100.ts"
    alone_a, alone_b = ClientSideRuntime(), ClientSideRuntime()
    assert alone_b.origins(config).url(alone_a.origins(config).id_for(url)) is None  # type: ignore[arg-type]
    monkeypatch.setenv(WORKERS_KEY_ENV, secrets.token_hex(64))
    worker_a, worker_b = ClientSideRuntime(), ClientSideRuntime()
    assert worker_b.origins(config).url(worker_a.origins(config).id_for(url)) == url  # type: ignore[arg-type]
    given = _config(tmp_path, {"origin_secret": "g" * 40})  # the config's secret wins over the workers' key
    assert ClientSideRuntime().origins(given).url(worker_a.origins(config).id_for(url)) is None  # type: ignore


def test_upstream_hosts_are_host_names_as_urls_compare_them(tmp_path: Path) -> None:
    side = _config(tmp_path, {"upstream_hosts": ["Panel.Example.NET", "203.0.113.10", "2001:DB8::1", "cdn.example.org.",
                                                 "panel.example.net"]}).client_side  # type: ignore[attr-defined]
    assert side.upstream_hosts == ("panel.example.net", "203.0.113.10", "[2001:db8::1]", "cdn.example.org")
