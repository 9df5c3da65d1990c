"""A quota counts calls that did something: one the gateway refused after counting it (no upstream can carry it)
or one that never left for the panel (unreachable) does not use up the day's allowance, so a billing system that
retries through a panel outage can still create its lines once the panel is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.integration.ms_fixtures import ms_stack

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
QUOTA = {"operations": ["line.create"], "limit": 1, "per": "day"}


def _keys() -> list[dict[str, Any]]:
    return [{"id": "admin", "digest": digest_of(KEYS["admin"]), "policy": "admin", "quotas": [QUOTA]}]


async def _create(client: Any, username: str) -> dict[str, Any]:
    resp = await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "create_line", "username": username,
                                            "password": "pw123456"})  # fmt: skip
    body: dict[str, Any] = await resp.json(content_type=None)
    return body


async def test_calls_that_never_reached_the_panel_do_not_use_up_the_quota(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server: TestServer = await aiohttp_server(sim.app())
    url, port = str(server.make_url("")).rstrip("/"), server.port
    await server.close()  # the panel is down: connections refused, nothing sent
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path, keys=_keys())))
    for _ in range(3):
        assert (await _create(client, "outage1"))["status"] == "STATUS_UPSTREAM_UNAVAILABLE"
    await aiohttp_server(sim.app(), port=port)
    body = await _create(client, "outage1")
    assert body["status"] == "STATUS_SUCCESS", body
    assert (await _create(client, "outage2"))["status"] == "STATUS_RATE_LIMITED"  # the quota still holds


async def test_calls_refused_as_unsupported_do_not_use_up_the_quota(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    to_ms = await ms_stack("ms", aiohttp_server, aiohttp_client, policies_dir, tmp_path, keys=_keys())
    refused = await to_ms.xm("create_line", username="msq1", password="pw-msq1", admin_notes="vip")
    assert refused["status"] != "STATUS_SUCCESS" and "nothing was sent" in refused["error"]
    assert to_ms.sim.received == []
    created = await to_ms.xm("create_line", username="msq1", password="pw-msq1")
    assert created["status"] == "STATUS_SUCCESS", created
