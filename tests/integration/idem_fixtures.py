"""Helpers of the idempotency tests that change the store under a write (reloads, Redis outages, failed reads)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.sim.faults import FaultInjector
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpServer

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"


async def create(client: TestClient[Any, Any], key: str, username: str) -> tuple[dict[str, Any], dict[str, str]]:
    resp = await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "create_line", "username": username,
                                            "password": "pw123456"}, headers={"Idempotency-Key": key})  # fmt: skip
    return await resp.json(content_type=None), dict(resp.headers)


async def slow_panel(aiohttp_server: AiohttpServer, delay: float) -> tuple[XtreamMastersSim, FaultInjector, str]:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    faults = FaultInjector(delay=delay)
    faults.set("create_line", "slow")
    server = await aiohttp_server(faults.wrap(sim.app()))
    return sim, faults, str(server.make_url("")).rstrip("/")
