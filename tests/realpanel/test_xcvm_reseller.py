"""The Reseller API dialect against the real XUI.one panel (XC_VM), opt-in like tests/realpanel/test_xcvm.py.

The panel's own Reseller API is the oracle: a sale made there and the same sale made through the gateway toward
the panel's admin API must cost the same and give the same line. Every line made here is deleted and every credit
spent is given back through the admin API, so the panel ends as it began.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import digest_of
from tests.conftest import AiohttpClient, make_config
from tests.realpanel.test_xcvm import ENV_FILE, _env

pytestmark = pytest.mark.skipif(not ENV_FILE, reason="no real panel: run `make realpanel PANEL_ENV=...panel.env`")
KEY = "pg_realpanel_seller_key_0000000000000000"
CODE = "pgshop"  # the gateway's Reseller API access code


class Oracle:
    """Direct calls to the panel's two APIs, and what to undo afterwards."""

    def __init__(self, env: dict[str, str], session: aiohttp.ClientSession) -> None:
        self.env, self.session = env, session
        self.lines: list[str] = []
        self.spent = 0

    async def _post(self, url: str, key: str, **params: str) -> Any:
        async with self.session.post(url, data={"api_key": key, **params}) as resp:
            text = await resp.text()
            return json.loads(text) if text else None

    async def admin(self, **params: str) -> Any:
        return await self._post(self.env["XCVM_ADMIN_API"], self.env["XCVM_ADMIN_KEY"], **params)

    async def reseller(self, **params: str) -> Any:
        return await self._post(self.env["XCVM_RESELLER_API"], self.env["XCVM_RESELLER_KEY"], **params)

    async def credits(self) -> int:
        info = await self.reseller(action="user_info")
        return int(info["data"]["credits"])

    async def undo(self) -> None:
        for line_id in self.lines:
            await self.admin(action="delete_line", id=line_id)
        if self.spent:
            await self.admin(action="adjust_credits", id=self.env["XCVM_RESELLER_ID"], credits=str(self.spent),
                             reason="panelgate realpanel test refund")  # fmt: skip


@pytest.fixture
async def oracle() -> AsyncIterator[Oracle]:
    async with aiohttp.ClientSession() as session:
        panel = Oracle(_env(), session)
        try:
            yield panel
        finally:
            await panel.undo()


async def _gateway(aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, oracle: Oracle,
                   upstream: dict[str, Any]) -> TestClient[Any, Any]:  # fmt: skip
    (policies_dir / "seller.yaml").write_text("allow: ['*']\n")
    reseller = int(oracle.env["XCVM_RESELLER_ID"])
    config = make_config(oracle.env["XCVM_BASE"], policies_dir, tmp_path, upstream=upstream,
                         keys=[{"id": "seller", "digest": digest_of(KEY), "policy": "seller", "reseller_id": reseller}],
                         access_codes={CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    return await aiohttp_client(build_app(config))


async def _through(gateway: TestClient[Any, Any], **params: str) -> Any:
    resp = await gateway.post(f"/{CODE}/", data={"api_key": KEY, **params})
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


async def test_a_sale_through_the_admin_api_costs_what_the_reseller_api_charges(
    oracle: Oracle, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    env = oracle.env
    info = await oracle.admin(action="user_info")
    upstream = {"dialect": "xtream_masters", "flavour": "xui_one", "url": env["XCVM_BASE"],
                "access_code": env["XCVM_ADMIN_CODE"], "api_key": env["XCVM_ADMIN_KEY"],
                "timezone": info["data"].get("timezone") or "Europe/London"}  # fmt: skip
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, oracle, upstream)
    name = "pg_" + secrets.token_hex(4)
    start = await oracle.credits()
    direct = await oracle.reseller(action="create_line", package="1", username=name + "d", password="pw_" + name)
    assert direct["status"] == "STATUS_SUCCESS", direct
    oracle.lines.append(direct["data"]["id"])
    price = start - await oracle.credits()
    oracle.spent += price
    through = await _through(gateway, action="create_line", package="1", username=name + "g", password="pw_" + name)
    assert through["status"] == "STATUS_SUCCESS", through
    oracle.lines.append(through["data"]["id"])
    oracle.spent += start - price - await oracle.credits()
    assert oracle.spent == 2 * price  # the same price, charged once
    made = (await oracle.admin(action="get_line", id=through["data"]["id"]))["data"]
    for column in ("member_id", "max_connections", "is_restreamer", "is_trial", "bouquet", "allowed_outputs"):
        assert made[column] == direct["data"][column], column
    assert abs(int(made["exp_date"]) - int(direct["data"]["exp_date"])) < 120


async def test_a_reseller_fronting_its_provider(
    oracle: Oracle, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    env = oracle.env
    upstream = {"dialect": "xui_reseller", "url": env["XCVM_BASE"], "access_code": env["XCVM_RESELLER_CODE"],
                "api_key": env["XCVM_RESELLER_KEY"]}  # fmt: skip
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, oracle, upstream)
    info = await _through(gateway, action="user_info")
    assert info["status"] == "STATUS_SUCCESS" and "api_key" not in info["data"]
    assert env["XCVM_RESELLER_KEY"] not in json.dumps(info)
    name = "pg_" + secrets.token_hex(4)
    start = await oracle.credits()
    sold = await _through(gateway, action="create_line", package="1", username=name, password="pw_" + name)
    assert sold["status"] == "STATUS_SUCCESS", sold
    oracle.lines.append(sold["data"]["id"])
    oracle.spent += start - await oracle.credits()
    got = await _through(gateway, action="get_line", id=sold["data"]["id"])
    assert got["data"]["username"] == name
    selfish = await _through(gateway, action="adjust_credits", id=env["XCVM_RESELLER_ID"], credits="10")
    assert selfish["status"] == "STATUS_FORBIDDEN"  # the panel would have made 10 credits out of nothing
    assert await oracle.credits() == start - oracle.spent
    xc = await gateway.post("/api.php?action=user&sub=info", data={"api_key": KEY, "username": name,
                                                                     "password": "pw_" + name})  # fmt: skip
    answer = await xc.json(content_type=None)
    assert answer["result"] is False and "by id only" in answer["message"]  # its lists answer nothing
