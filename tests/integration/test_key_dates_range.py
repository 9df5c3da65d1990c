"""A key's dates the gateway cannot write back are refused where the config names them. `expires_at: 1767225600000`
(a JavaScript millisecond time, the year 57971) loaded, and then every place that writes the date failed: the
status page answered 500 on every refresh, `key list` died with a traceback, and with `not_before` every call of the
key was answered "internal gateway error"."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import LIVE, build_admin_app, build_app
from gateway.config import ConfigError
from gateway.keys import digest_of
from tests.conftest import KEYS, AiohttpClient, make_config

MILLISECONDS = 1767225600000  # 2026-01-01T00:00:00Z in JavaScript's Date.now() units


@pytest.mark.parametrize("field", ["expires_at", "not_before"])
def test_a_time_in_milliseconds_is_refused_naming_it(policies_dir: Path, tmp_path: Path, field: str) -> None:
    key = {"id": "shop", "digest": digest_of(KEYS["admin"]), "policy": "admin", field: MILLISECONDS}
    with pytest.raises(ConfigError, match=rf"keys\[0\]\.{field}: .*milliseconds"):
        make_config("http://127.0.0.1:9", policies_dir, tmp_path, keys=[key])
    key[field] = "9999-12-31T23:00:00-05:00"  # past the year 9999 in UTC
    with pytest.raises(ConfigError, match=rf"keys\[0\]\.{field}: .*after 9999"):
        make_config("http://127.0.0.1:9", policies_dir, tmp_path, keys=[key])


async def test_the_latest_time_accepted_is_shown_on_the_status_page(
    aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    key = {"id": "shop", "digest": digest_of(KEYS["admin"]), "policy": "admin", "expires_at": 253402300799}
    client = await aiohttp_client(build_app(make_config("http://127.0.0.1:9", policies_dir, tmp_path, keys=[key])))
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
    resp = await admin.get("/status.json")
    assert resp.status == 200 and (await resp.json())["keys"][0]["expires_at"] == "9999-12-31T23:59:59Z"
