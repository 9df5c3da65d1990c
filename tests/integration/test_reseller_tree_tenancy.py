"""A reseller-bound key and the panel's registered users (resellers, admins), toward an admin API.

The Reseller API lets a reseller reach only its own tree (hasPermissions('user'): users whose owner_id leads to it),
never edit its own account (processUser returns false), put a sub-reseller only in a group its group may make
(`subresellers`), and give credits only from its own balance. Toward an admin API nothing on the panel checks
any of that: the gateway's tenancy must, or a reseller's bot takes the panel (the admin's password, the admin
group) through `edit_user`, reads every account, or makes credits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream

SHOP_CODE = "shopcode"
SELLER_KEY = "pg_test_seller_key_000000000000000000000"
Client = TestClient[Any, Any]


@pytest.fixture
async def panel(aiohttp_server: AiohttpServer) -> tuple[XtreamMastersSim, str]:
    admin = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(admin.app())
    return admin, str(server.make_url("")).rstrip("/")


async def _gateway(url: str, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path) -> Client:
    """Reseller 88's bot: every operation its policy names, bound to 88 (as tests/integration/test_xui_reseller.py
    configures it for transfers)."""
    (policies_dir / "seller.yaml").write_text("allow: ['*']\n")
    config = make_config(url, policies_dir, tmp_path, upstream=xm_upstream(url),
                         keys=[{"id": "boss", "digest": digest_of(SELLER_KEY), "policy": "seller", "reseller_id": 88}],
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    return await aiohttp_client(build_app(config))


async def _call(client: Client, path: str = f"/{SHOP_CODE}/", **params: Any) -> Any:
    resp = await client.post(path, data={"api_key": SELLER_KEY, **params})
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


XM = f"/{ACCESS_CODE}/admin/index.php"


async def test_a_reseller_bot_cannot_take_over_the_admin_or_another_reseller(
    panel: tuple[XtreamMastersSim, str], aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, url = panel
    gateway = await _gateway(url, aiohttp_client, policies_dir, tmp_path)
    users = sim.tables["users"]
    before = {uid: dict(row) for uid, row in users.items()}
    admin_row = await _call(gateway, action="get_user", id="1")
    assert admin_row["status"] != "STATUS_SUCCESS", admin_row  # the panel's admin is not in 88's tree
    takeover = await _call(gateway, action="edit_user", id="1", password="owned_by_88")
    assert takeover["status"] != "STATUS_SUCCESS", takeover
    promoted = await _call(gateway, action="edit_user", id="88", member_group_id="1")
    assert promoted["status"] != "STATUS_SUCCESS", promoted
    sub_promoted = await _call(gateway, action="edit_user", id="90", member_group_id="1")
    assert sub_promoted["status"] != "STATUS_SUCCESS", sub_promoted
    rival = await _call(gateway, action="disable_user", id="89")
    assert rival["status"] != "STATUS_SUCCESS", rival
    gone = await _call(gateway, action="delete_user", id="89")
    assert gone["status"] != "STATUS_SUCCESS", gone
    # the same through the Xtream-Masters face, which the same key may speak
    xm_takeover = await _call(gateway, XM, action="edit_user", id="1", password="owned_by_88")
    assert xm_takeover["status"] != "STATUS_SUCCESS", xm_takeover
    minted = await _call(gateway, XM, action="adjust_credits", id="90", credits="1000")
    assert minted["status"] != "STATUS_SUCCESS", minted
    set_outright = await _call(gateway, XM, action="edit_user", id="90", credits="99999")
    assert set_outright["status"] != "STATUS_SUCCESS", set_outright
    for uid in (1, 88, 89, 90):
        for column in ("password", "member_group_id", "status", "credits", "owner_id"):
            assert users[uid][column] == before[uid][column], (uid, column)


async def test_a_reseller_bot_sees_and_manages_its_own_tree(
    panel: tuple[XtreamMastersSim, str], aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, url = panel
    gateway = await _gateway(url, aiohttp_client, policies_dir, tmp_path)
    listed = await _call(gateway, action="get_users")
    assert listed["status"] == "STATUS_SUCCESS", listed
    assert [row["id"] for row in listed["data"]] == ["90"], listed  # not the admin, not reseller 89
    mine = await _call(gateway, action="get_user", id="90")
    assert mine["status"] == "STATUS_SUCCESS" and mine["data"]["username"] == "harbour_sub", mine
    edited = await _call(gateway, action="edit_user", id="90", notes="moved north")
    assert edited["status"] == "STATUS_SUCCESS", edited
    assert sim.tables["users"][90]["notes"] == "moved north"
    made = await _call(gateway, action="create_user", username="north_sub_2", password="north_pw_2")
    assert made["status"] == "STATUS_SUCCESS", made
    row = next(r for r in sim.tables["users"].values() if r["username"] == "north_sub_2")
    # owned by 88, in the group 88's group may make (Sub-Resellers), as processUser makes it
    assert (row["owner_id"], row["member_group_id"]) == ("88", "3")


async def test_a_reseller_bot_sees_the_connections_and_activity_of_its_own_lines_only(
    panel: tuple[XtreamMastersSim, str], aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # table.php (reseller): `lines.member_id IN reports`; the admin API answers every line's, with their IPs
    sim, url = panel
    gateway = await _gateway(url, aiohttp_client, policies_dir, tmp_path)
    for table in ("lines_live", "line_activity"):
        rows = sim.tables[table]
        rows[99] = {**rows[1], "activity_id": "999", "user_id": "21", "user_ip": "192.0.2.21"}  # line 21 is 88's
    for action in ("live_connections", "activity_logs"):
        answer = await _call(gateway, action=action)
        assert answer["status"] == "STATUS_SUCCESS", answer
        assert [row["user_id"] for row in answer["data"]] == ["21"], (action, answer)
        assert answer["recordsTotal"] == "1", answer


@pytest.mark.xfail(strict=True, reason="processUser charges create_sub_resellers_price (and needs the group's "
                   "create_sub_resellers); toward an admin API the gateway creates the sub-reseller free: a charge "
                   "needs a plan of its own (charge, create, refund), like gateway.plans.purchase")  # fmt: skip
async def test_a_sub_reseller_made_through_an_admin_api_costs_what_the_panel_charges(
    panel: tuple[XtreamMastersSim, str], aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, url = panel
    sim.tables["users_groups"][2]["create_sub_resellers_price"] = "25"
    gateway = await _gateway(url, aiohttp_client, policies_dir, tmp_path)
    before = int(sim.tables["users"][88]["credits"])
    made = await _call(gateway, action="create_user", username="paid_sub_01", password="paid_pw_01")
    assert made["status"] == "STATUS_SUCCESS", made
    assert int(sim.tables["users"][88]["credits"]) == before - 25


async def test_a_reseller_cannot_pair_its_device_with_another_resellers_line(
    panel: tuple[XtreamMastersSim, str], aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # processMAG pairs the device with `pair_id`'s line, and syncDevices() copies that line's row (expiry,
    # bouquets, outputs, owner) onto the device's line: a box riding on another reseller's paid subscription,
    # past the policy's exp_date guard
    sim, url = panel
    gateway = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path)))
    theirs = sim.tables["lines"][41]
    assert theirs["member_id"] == "89"
    tomorrow = "2027-01-01"
    resp = await gateway.post(XM, data={"api_key": KEYS["reseller"], "action": "create_mag", "mac": "00:1A:79:00:00:B1",
                                        "exp_date": tomorrow, "pair_id": "41"})  # fmt: skip
    answer = await resp.json(content_type=None)
    assert answer["status"] != "STATUS_SUCCESS", answer
    assert not [d for d in sim.tables["mag_devices"].values() if d["mac"] == "00:1A:79:00:00:B1"]
    own = await gateway.post(XM, data={"api_key": KEYS["reseller"], "action": "create_mag", "mac": "00:1A:79:00:00:B2",
                                       "exp_date": tomorrow, "pair_id": "21"})  # its own line: allowed  # fmt: skip
    assert (await own.json(content_type=None))["status"] == "STATUS_SUCCESS"
