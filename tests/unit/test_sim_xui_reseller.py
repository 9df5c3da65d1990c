"""The simulated Reseller API against what XC_VM's reseller_api.php does (and what was measured on it)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sim.xui_reseller import XuiResellerSim


def _sim(**kwargs: Any) -> tuple[XuiResellerSim, Any]:
    sim = XuiResellerSim(**kwargs)
    key = sim.key_of(88)

    def call(**params: Any) -> Any:
        return sim.answer({"api_key": key, **params})

    return sim, call


def credits(sim: XuiResellerSim, user: int = 88) -> int:
    return int(sim.state.table("users")[user]["credits"])


def test_a_sale_costs_the_packages_price_or_the_resellers_override() -> None:
    sim, call = _sim()
    assert call(action="create_line", package="3", username="sale_one1")["status"] == "STATUS_SUCCESS"
    assert credits(sim) == 490
    sim.state.table("users")[88]["override_packages"] = '{"3":{"official_credits":"4"}}'
    assert call(action="packages")["data"][2]["official_credits"] == 4
    call(action="create_line", package="3", username="sale_two1")
    assert credits(sim) == 486


@pytest.mark.parametrize(
    ("params", "status"),
    [({"username": "nopackage"}, "STATUS_INVALID_PACKAGE"), ({"package": "99"}, "STATUS_INVALID_TYPE"),
     ({"package": "3", "username": "short"}, "STATUS_INVALID_USERNAME"),
     ({"package": "3", "password": "short"}, "STATUS_INVALID_PASSWORD"),
     ({"package": "3", "username": "ahmed01xx", "max_connections": "9"}, "STATUS_SUCCESS")],
)  # fmt: skip
def test_the_panels_refusals_of_a_sale(params: dict[str, str], status: str) -> None:
    _, call = _sim()
    answer = call(action="create_line", **params)
    assert answer["status"] == status
    if status == "STATUS_SUCCESS":
        assert answer["data"]["max_connections"] == "2"  # the package's, never the request's


def test_trials_stop_at_the_groups_quota_and_cost_the_trial_price() -> None:
    sim, call = _sim()
    sim.state.table("users_groups")[2]["total_allowed_gen_trials"] = "2"
    for _ in range(2):
        assert call(action="create_line", package="4", trial="1")["status"] == "STATUS_SUCCESS"
    assert call(action="create_line", package="4", trial="1")["status"] == "STATUS_NO_TRIALS"


def test_a_renewal_extends_a_compatible_package_and_restarts_another() -> None:
    _, call = _sim()
    line = call(action="create_line", package="1", username="renewal01")["data"]
    same = call(action="edit_line", id=line["id"], package="1")["data"]
    assert int(same["exp_date"]) > int(line["exp_date"]) + 27 * 86400
    other = call(action="edit_line", id=line["id"], package="3")["data"]  # other bouquets: incompatible
    # now + 12 months (restarted), not the 2 months it had + 12
    assert int(same["exp_date"]) + 280 * 86400 < int(other["exp_date"]) < int(same["exp_date"]) + 330 * 86400


def test_the_measured_bugs_are_reproduced_unless_php_bugs_is_off() -> None:
    sim, call = _sim()
    assert call(action="get_lines") == {"status": "STATUS_SUCCESS", "data": []}
    assert call(action="disable_line", id="1") == {"status": "STATUS_SUCCESS"}  # the admin's line
    assert sim.state.table("lines")[1]["enabled"] == "0"
    assert call(action="adjust_credits", id="88", credits="10") == {"status": "STATUS_SUCCESS"}
    assert credits(sim) == 510  # credits made out of nothing, as XC_VM does
    sim, call = _sim(php_bugs=False)
    assert call(action="disable_line", id="1") == {"status": "STATUS_FAILURE"}
    assert call(action="adjust_credits", id="88", credits="10") == {"status": "STATUS_FAILURE"}
    assert call(action="get_lines")["recordsTotal"] == "20"


def test_a_transfer_moves_credits_within_the_tree_only() -> None:
    sim, call = _sim()
    assert call(action="adjust_credits", id="90", credits="15") == {"status": "STATUS_SUCCESS"}
    assert (credits(sim), credits(sim, 90)) == (485, 30)
    assert call(action="adjust_credits", id="90", credits="-31")["status"] == "STATUS_FAILURE"
    assert call(action="adjust_credits", id="89", credits="1")["status"] == "STATUS_FAILURE"  # not its own


async def test_one_panel_serves_both_apis_over_the_realistic_network(aiohttp_client: Any) -> None:
    from gateway.sim.network import NETWORK
    from gateway.sim.xtream_masters import XtreamMastersSim
    from gateway.sim.xui_reseller import panel_app

    admin = XtreamMastersSim(access_code="adm", api_key="admin-key")
    reseller = XuiResellerSim(panel=admin, access_code="res")
    app = panel_app(admin, reseller)
    assert NETWORK in app  # answers in pieces, with pauses, as the other simulators' in the tests
    client = await aiohttp_client(app)
    sold = await (await client.post("/res/", data={"api_key": reseller.key_of(88), "action": "create_line",
                                                   "package": "1", "username": "both_apis1"})).json()  # fmt: skip
    seen = await (await client.post("/adm/admin/index.php", data={"api_key": "admin-key", "action": "get_line",
                                                                  "id": sold["data"]["id"]})).json()  # fmt: skip
    assert seen["data"]["username"] == "both_apis1" and seen["data"]["package_id"] == "1"
