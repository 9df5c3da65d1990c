"""get_users' `filter` (table.php reg_users: -1 active, -2 disabled, N the member group) asked of a panel that
answers reseller lists whole (XC v2 reg_user/list, MidnightStreamer resellers/list): the gateway cuts the page
itself, and must apply the filter too, not answer every user with recordsTotal counting them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import ACCESS_CODE, KEYS, AiohttpClient, AiohttpServer, Stack
from tests.integration.xc_fixtures import xm_client_stack


async def test_get_users_filter_by_group_and_status_in_front_of_xc_v2(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    st = await xm_client_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    groups = {str(u["id"]): str(u["member_group_id"]) for u in st.sim.tables["reg_users"].values()}
    resellers = sorted(i for i, g in groups.items() if g == "2")
    assert resellers and len(resellers) < len(groups)
    body = await st.xm(action="get_users", filter="2")
    assert body["status"] == "STATUS_SUCCESS"
    assert sorted(str(row["id"]) for row in body["data"]) == resellers
    assert str(body["recordsTotal"]) == str(len(resellers))
    st.sim.tables["reg_users"][89]["status"] = "0"
    disabled = await st.xm(action="get_users", filter="-2")
    assert [str(row["id"]) for row in disabled["data"]] == ["89"], disabled
    active = await st.xm(action="get_users", filter="-1")
    assert "89" not in [str(row["id"]) for row in active["data"]] and len(active["data"]) == len(groups) - 1


async def test_get_users_filter_is_table_phps_in_front_of_xtream_masters(stack: Stack) -> None:
    """-1 active, -2 disabled, any other value a member group (also past 5): passed to the panel as given."""
    async def users(**params: str) -> Any:
        resp = await stack.client.post(f"/{ACCESS_CODE}/admin/index.php",
                                       data={"api_key": KEYS["admin"], "action": "get_users", **params})  # fmt: skip
        return await resp.json(content_type=None)

    accounts = stack.sim.tables["users"]
    resellers = sorted(str(k) for k, u in accounts.items() if u["member_group_id"] == "2")
    body = await users(filter="2")
    assert body["status"] == "STATUS_SUCCESS", body
    assert sorted(str(row["id"]) for row in body["data"]) == resellers
    accounts[89]["status"] = "0"
    assert [str(row["id"]) for row in (await users(filter="-2"))["data"]] == ["89"]
    assert "89" not in [str(row["id"]) for row in (await users(filter="-1"))["data"]]
    assert (await users(filter="7"))["status"] == "STATUS_SUCCESS"  # a group id past the lines' 1..5
