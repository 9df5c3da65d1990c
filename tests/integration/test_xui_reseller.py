"""The XUI.one Reseller API behind the gateway, both faces, through real sockets against the simulated panel (one
panel's tables served as its admin API and as its Reseller API, as XUI.one serves both).

The oracle for a sale is the simulated Reseller API itself: the same `create_line&package=3` made there directly
and made through the gateway toward the admin API must cost the same credits and give the same line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from gateway.sim.xui_reseller import XuiResellerSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream

SHOP_CODE = "shopcode"  # the gateway's Reseller API access code
RESELLER_CODE = "rescode"  # the simulated panel's
SELLER_KEY = "pg_test_seller_key_000000000000000000000"  # a Reseller API client's, bound to reseller 88
SHOP_KEY = "pg_test_shop_key_00000000000000000000000000"  # policy shop: packages 3 and 7, no trials
Client = TestClient[Any, Any]


@dataclass
class Panel:
    admin: XtreamMastersSim
    reseller: XuiResellerSim
    admin_url: str
    reseller_url: str

    def credits(self, user: int) -> int:
        return int(self.admin.tables["users"][user]["credits"])

    def line(self, username: str) -> dict[str, Any]:
        return next(r for r in self.admin.tables["lines"].values() if r["username"] == username)


@pytest.fixture
async def panel(aiohttp_server: AiohttpServer) -> Panel:
    admin = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    reseller = XuiResellerSim(panel=admin, access_code=RESELLER_CODE)
    admin_server = await aiohttp_server(admin.app())
    reseller_server = await aiohttp_server(reseller.app())
    return Panel(admin, reseller, str(admin_server.make_url("")).rstrip("/"),
                 str(reseller_server.make_url("")).rstrip("/"))  # fmt: skip


def _keys() -> list[dict[str, Any]]:
    return [{"id": "seller-88", "digest": digest_of(SELLER_KEY), "policy": "reseller", "reseller_id": 88},
            {"id": "shop-88", "digest": digest_of(SHOP_KEY), "policy": "shop", "reseller_id": 88}]  # fmt: skip


async def _gateway(aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
                   upstream: dict[str, Any]) -> Client:  # fmt: skip
    config = make_config(upstream["url"], policies_dir, tmp_path, upstream=upstream, keys=_keys(),
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    return await aiohttp_client(build_app(config))


async def _call(client: Client, key: str, path: str = f"/{SHOP_CODE}/", **params: Any) -> Any:
    resp = await client.post(path, data={"api_key": key, **params})
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


async def _direct(panel: Panel, **params: Any) -> Any:
    """The Reseller API itself, called as reseller 88 (the oracle)."""
    answer = panel.reseller.answer({"api_key": panel.reseller.key_of(88), **params})
    return answer


async def test_a_sale_through_an_admin_api_charges_what_the_reseller_api_charges_once(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, xm_upstream(panel.admin_url))
    before = panel.credits(88)
    direct = await _direct(panel, action="create_line", package="3", username="oracle_line", password="oracle_pw1")
    assert direct["status"] == "STATUS_SUCCESS"
    price = before - panel.credits(88)
    assert price == 10  # package 3's official price
    panel.admin.reset_received()
    through = await _call(gateway, SELLER_KEY, action="create_line", package="3", username="through_line",
                          password="through_pw1")  # fmt: skip
    assert through["status"] == "STATUS_SUCCESS", through
    assert before - panel.credits(88) == 2 * price  # charged exactly the panel's price, once
    assert [a for a, _ in panel.admin.received].count("adjust_credits") == 1
    oracle, made = panel.line("oracle_line"), panel.line("through_line")
    for column in ("member_id", "max_connections", "is_restreamer", "is_trial", "allowed_outputs", "package_id"):
        assert made[column] == oracle[column], column
    assert sorted(made["bouquet"]) == sorted(oracle["bouquet"])
    assert abs(int(made["exp_date"]) - int(oracle["exp_date"])) < 120  # now + 12 months, both
    assert through["data"]["username"] == "through_line"


async def test_what_the_balance_does_not_cover_is_refused_with_nothing_written(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, xm_upstream(panel.admin_url))
    panel.admin.tables["users"][88]["credits"] = "9"
    panel.admin.reset_received()
    answer = await _call(gateway, SELLER_KEY, action="create_line", package="3", username="too_dear1")
    assert answer["status"] == "STATUS_INSUFFICIENT_CREDITS"
    assert panel.credits(88) == 9
    assert not [a for a, _ in panel.admin.received if a in ("create_line", "adjust_credits")]
    wrong = await _call(gateway, SELLER_KEY, action="create_line", package="999")
    assert wrong["status"] == "STATUS_INVALID_TYPE"


async def test_a_renewal_through_an_admin_api_extends_from_the_expiry_and_charges_again(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, xm_upstream(panel.admin_url))
    sold = await _call(gateway, SELLER_KEY, action="create_line", package="1", username="renew_me1",
                       password="renew_pw1")  # fmt: skip
    line_id, expiry, credits = sold["data"]["id"], int(sold["data"]["exp_date"]), panel.credits(88)
    renewed = await _call(gateway, SELLER_KEY, action="edit_line", id=line_id, package="1")
    assert renewed["status"] == "STATUS_SUCCESS", renewed
    assert credits - panel.credits(88) == 1  # package 1: one credit a month
    row = panel.line("renew_me1")
    assert int(row["exp_date"]) > expiry + 27 * 86400  # a month on top of the month it had
    assert row["password"] == "renew_pw1"  # the whole-row edit kept what the renewal did not name


async def test_a_reseller_fronting_its_provider_gives_a_shop_one_guard(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    upstream = {"dialect": "xui_reseller", "url": panel.reseller_url, "access_code": RESELLER_CODE,
                "api_key": panel.reseller.key_of(88), "timeout": 5, "budget": None}  # fmt: skip
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, upstream)
    before = panel.credits(88)
    sold = await _call(gateway, SHOP_KEY, action="create_line", package="3", username="shop_sold1",
                       password="shop_pass1")  # fmt: skip
    assert sold["status"] == "STATUS_SUCCESS", sold
    assert before - panel.credits(88) == 10
    panel.reseller.received.clear()
    for refused in ({"package": "5"}, {"package": "3", "trial": "1"}):
        answer = await _call(gateway, SHOP_KEY, action="create_line", **refused)
        assert answer["status"] == "STATUS_FORBIDDEN", answer
    assert panel.reseller.received == []  # refused before anything was sent
    info = await _call(gateway, SHOP_KEY, action="user_info")
    assert info["status"] == "STATUS_SUCCESS" and "api_key" not in info["data"]
    assert panel.reseller.key_of(88) not in str(info)


async def test_other_dialects_toward_a_reseller_api_what_can_and_cannot_be_said(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    gateway = await _seller(panel, aiohttp_client, policies_dir, tmp_path)
    panel.reseller.received.clear()
    xc = await _call(gateway, SELLER_KEY, "/api.php?action=user&sub=create",
                     **{"user_data[username]": "xc_line01", "user_data[max_connections]": "2"})  # fmt: skip
    assert xc["result"] is False and "package" in xc["message"], xc
    lookup = await _call(gateway, SELLER_KEY, "/api.php?action=user&sub=info", username="ahmed01", password="x")
    assert lookup["result"] is False and "by id only" in lookup["message"], lookup
    minted = await _call(gateway, SELLER_KEY, f"/{ACCESS_CODE}/admin/index.php", action="adjust_credits", id="90",
                         credits="5")  # fmt: skip
    assert minted["status"] == "STATUS_UNSUPPORTED" and "own balance" in minted["error"], minted
    assert panel.reseller.received == []  # all refused before sending, each saying why
    before = panel.credits(88)
    ms = await _call(gateway, SELLER_KEY, "/api/line/new", **{"data[username]": "ms_line001",
                                                               "data[password]": "ms_pass001",
                                                               "data[subscription_plan_id]": "2"})  # fmt: skip
    assert ms["result"] is True, ms
    assert panel.line("ms_line001")["package_id"] == "2" and before - panel.credits(88) == 3
    line_id = panel.line("ms_line001")["id"]
    off = await _call(gateway, SELLER_KEY, f"/{ACCESS_CODE}/admin/index.php", action="disable_line", id=line_id)
    assert off == {"status": "STATUS_SUCCESS"} and panel.line("ms_line001")["enabled"] == "0"


async def _seller(panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path) -> Client:
    """A gateway in front of reseller 88's Reseller API, its key bound to 88 and free to do what 88 may."""
    (policies_dir / "seller.yaml").write_text("allow: ['*']\n")
    upstream = {"dialect": "xui_reseller", "url": panel.reseller_url, "access_code": RESELLER_CODE,
                "api_key": panel.reseller.key_of(88), "timeout": 5, "budget": None}  # fmt: skip
    config = make_config(upstream["url"], policies_dir, tmp_path, upstream=upstream,
                         keys=[{"id": "boss", "digest": digest_of(SELLER_KEY), "policy": "seller", "reseller_id": 88}],
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    return await aiohttp_client(build_app(config))


async def test_a_transfer_to_oneself_is_refused_and_to_a_sub_reseller_moves_credits(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    gateway = await _seller(panel, aiohttp_client, policies_dir, tmp_path)
    mine, theirs = panel.credits(88), panel.credits(90)
    selfish = await _call(gateway, SELLER_KEY, action="adjust_credits", id="88", credits="10")
    assert selfish["status"] == "STATUS_FORBIDDEN" and panel.credits(88) == mine
    moved = await _call(gateway, SELLER_KEY, action="adjust_credits", id="90", credits="10", note="gift")
    assert moved == {"status": "STATUS_SUCCESS"}
    assert (panel.credits(88), panel.credits(90)) == (mine - 10, theirs + 10)


async def test_a_reseller_api_client_manages_sub_resellers_on_midnightstreamer(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    from tests.integration.ms_fixtures import ms_stack

    stack = await ms_stack("ms", aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                           access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    key = "pg_test_admin_key_0000000000000000000000000"  # tests.conftest.KEYS["admin"]
    made = await _call(stack.client, key, action="create_user", username="xr_sub_001", password="xr_pass_01",
                       email="sub@x.test")  # fmt: skip
    assert made["status"] == "STATUS_SUCCESS", made
    stored = next(r for r in stack.sim.tables["resellers"].values() if r["username"] == "xr_sub_001")
    edited = await _call(stack.client, key, action="edit_user", id=stored["id"], notes="moved")
    assert edited["status"] == "STATUS_SUCCESS", edited
    assert stack.sim.tables["resellers"][int(stored["id"])]["notes"] == "moved"
    listed = await _call(stack.client, key, action="get_users")
    assert "xr_sub_001" in [r["username"] for r in listed["data"]]
    sold = await _call(stack.client, key, action="create_line", package="3", member_id="88")
    assert sold["status"] == "STATUS_UNSUPPORTED" and "(midnight)" in sold["error"], sold  # it has no packages


async def test_a_transfer_through_an_admin_api_moves_credits_within_the_tree_only(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    (policies_dir / "seller.yaml").write_text("allow: ['*']\n")
    config = make_config(panel.admin_url, policies_dir, tmp_path, upstream=xm_upstream(panel.admin_url),
                         keys=[{"id": "boss", "digest": digest_of(SELLER_KEY), "policy": "seller", "reseller_id": 88}],
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    gateway = await aiohttp_client(build_app(config))
    mine, theirs = panel.credits(88), panel.credits(90)
    moved = await _call(gateway, SELLER_KEY, action="adjust_credits", id="90", credits="10", note="gift")
    assert moved == {"status": "STATUS_SUCCESS"}, moved
    assert (panel.credits(88), panel.credits(90)) == (mine - 10, theirs + 10)
    stranger = await _call(gateway, SELLER_KEY, action="adjust_credits", id="89", credits="1")  # not in 88's tree
    too_much = await _call(gateway, SELLER_KEY, action="adjust_credits", id="90", credits=str(mine))
    assert stranger["status"] == too_much["status"] == "STATUS_FAILURE"
    assert (panel.credits(88), panel.credits(90), panel.credits(89)) == (mine - 10, theirs + 10, 120)


async def test_packages_through_an_admin_api_are_the_resellers_own_at_its_own_price(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # getPackages(): the packages of the reseller's group, each at its override of the official price; the admin
    # API's get_packages answers every package at the official price
    panel.admin.tables["users"][88]["override_packages"] = '{"3": {"official_credits": "7"}}'
    panel.admin.tables["packages"][5]["groups"] = "[3]"  # sold to sub-resellers only
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, xm_upstream(panel.admin_url))
    direct = await _direct(panel, action="packages")
    through = await _call(gateway, SELLER_KEY, action="packages")
    assert through["status"] == "STATUS_SUCCESS", through
    offered = {int(p["id"]): p["official_credits"] for p in through["data"]}
    assert offered == {int(p["id"]): p["official_credits"] for p in direct["data"]}  # the oracle
    assert 5 not in offered and offered[3] == 7
    before = panel.credits(88)
    sold = await _call(gateway, SELLER_KEY, action="create_line", package="3", username="override1",
                       password="override_pw1")  # fmt: skip
    assert sold["status"] == "STATUS_SUCCESS" and before - panel.credits(88) == 7  # what the list said
    cannot = await _call(gateway, SELLER_KEY, action="create_line", package="5")
    assert cannot["status"] == "STATUS_INVALID_PACKAGE", cannot


async def test_a_device_sold_through_an_admin_api_is_locked_as_its_package_says(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # processMAG: `$rArray['lock_device'] = $rPackage['lock_device']`; the admin API's processMAG sets it only
    # when the request names it, so a sale that does not send it makes an unlocked box of a locked package
    panel.admin.tables["packages"][3]["lock_device"] = "1"
    gateway = await _gateway(aiohttp_client, policies_dir, tmp_path, xm_upstream(panel.admin_url))
    direct = await _direct(panel, action="create_mag", package="3", mac="00:1A:79:00:00:A1")
    assert direct["status"] == "STATUS_SUCCESS", direct
    through = await _call(gateway, SELLER_KEY, action="create_mag", package="3", mac="00:1A:79:00:00:A2")
    assert through["status"] == "STATUS_SUCCESS", through
    boxes = {row["mac"]: row for row in panel.admin.tables["mag_devices"].values()}
    assert boxes["00:1A:79:00:00:A1"]["lock_device"] == "1"  # the oracle
    assert boxes["00:1A:79:00:00:A2"]["lock_device"] == "1"


async def test_a_reseller_api_upstream_is_not_made_to_touch_other_resellers_lines(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # index.php's delete_/disable_/enable_ (and convert_ of devices) check only that the record exists: reseller
    # 88's key disables reseller 89's customer. A key not bound to a reseller (the operator's own, a shop's
    # script) must not turn the provider's panel bug against the provider's other resellers.
    upstream = {"dialect": "xui_reseller", "url": panel.reseller_url, "access_code": RESELLER_CODE,
                "api_key": panel.reseller.key_of(88), "timeout": 5, "budget": None}  # fmt: skip
    config = make_config(upstream["url"], policies_dir, tmp_path, upstream=upstream,
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    gateway = await aiohttp_client(build_app(config))
    admin_key = "pg_test_admin_key_0000000000000000000000000"  # tests.conftest.KEYS["admin"], bound to no reseller
    theirs = panel.admin.tables["lines"][41]
    assert theirs["member_id"] == "89" and theirs["enabled"] == "1"
    for action in ("disable_line", "delete_line"):
        answer = await _call(gateway, admin_key, action=action, id="41")
        assert answer["status"] != "STATUS_SUCCESS", (action, answer)
    assert panel.admin.tables["lines"][41]["enabled"] == "1"
    mine = await _call(gateway, admin_key, action="disable_line", id="21")  # 88's own line
    assert mine == {"status": "STATUS_SUCCESS"}, mine
    assert panel.admin.tables["lines"][21]["enabled"] == "0"


async def test_a_partial_edit_of_a_sub_reseller_on_a_reseller_api_keeps_what_it_did_not_name(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # the Reseller API's processUser writes email, reseller_dns and notes from the request alone (NULL when not
    # sent) and makes the caller the owner unless owner_id names one of its tree
    users = panel.admin.tables["users"]
    users[91] = {**users[90], "id": "91", "username": "harbour_sub2", "owner_id": "90", "api_key": "",
                 "email": "sub2@example.com", "reseller_dns": "sub2.example.com"}  # fmt: skip
    gateway = await _seller(panel, aiohttp_client, policies_dir, tmp_path)
    before = dict(users[91])
    edited = await _call(gateway, SELLER_KEY, f"/{ACCESS_CODE}/admin/index.php", action="edit_user", id="91",
                         notes="renamed")  # fmt: skip
    assert edited["status"] == "STATUS_SUCCESS", edited
    after = users[91]
    assert after["notes"] == "renamed"
    for column in ("email", "reseller_dns", "owner_id", "member_group_id", "username"):
        assert after[column] == before[column], (column, after[column], before[column])


async def test_a_partial_edit_of_a_line_on_a_reseller_api_keeps_its_notes_and_contact(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # the Reseller API's processLine: `$rArray['contact'] = $rData['contact']; $rArray['reseller_notes'] = ...`
    line = panel.admin.tables["lines"][21]
    line.update(reseller_notes="VIP, pays yearly", contact="+44 20 7946 0000")
    gateway = await _seller(panel, aiohttp_client, policies_dir, tmp_path)
    edited = await _call(gateway, SELLER_KEY, f"/{ACCESS_CODE}/admin/index.php", action="edit_line", id="21",
                         password="new_secret_21")  # fmt: skip
    assert edited["status"] == "STATUS_SUCCESS", edited
    row = panel.admin.tables["lines"][21]
    assert row["password"] == "new_secret_21"
    assert (row["reseller_notes"], row["contact"]) == ("VIP, pays yearly", "+44 20 7946 0000")


async def test_a_partial_edit_on_a_reseller_api_leaves_a_sub_resellers_line_its_own(
    panel: Panel, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    # processLine: `$rOwner = $rData['member_id']; hasPermissions('user', $rOwner) ? $rOwner : the caller`
    panel.admin.tables["lines"][22]["member_id"] = "90"  # a line of 88's sub-reseller
    upstream = {"dialect": "xui_reseller", "url": panel.reseller_url, "access_code": RESELLER_CODE,
                "api_key": panel.reseller.key_of(88), "timeout": 5, "budget": None}  # fmt: skip
    config = make_config(upstream["url"], policies_dir, tmp_path, upstream=upstream)
    gateway = await aiohttp_client(build_app(config))
    admin_key = "pg_test_admin_key_0000000000000000000000000"  # tests.conftest.KEYS["admin"]: 88's own operator
    edited = await _call(gateway, admin_key, f"/{ACCESS_CODE}/admin/index.php", action="edit_line", id="22",
                         password="new_secret_22")  # fmt: skip
    assert edited["status"] == "STATUS_SUCCESS", edited
    assert panel.admin.tables["lines"][22]["member_id"] == "90"
