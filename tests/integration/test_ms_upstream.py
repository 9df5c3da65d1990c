"""Xtream-Masters and XC v2 clients in front of a MidnightStreamer panel (XM->MS, XC->MS): what the client got
back, in its own dialect's shapes, and what the MidnightStreamer panel received."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.matrix import cells
from gateway.sim.midnight import MidnightStreamerSim
from tests.conftest import AiohttpClient, AiohttpServer
from tests.integration.ms_fixtures import MSStack, ms_stack

EXP_2031 = 1924992000  # 2031-01-01 00:00:00 UTC
MAC1 = "00:1A:79:4B:2C:01"
NEW_MAC = "00:1A:79:00:00:BB"


@pytest.fixture
async def to_ms(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                tmp_path: Path) -> MSStack:  # fmt: skip
    return await ms_stack("ms", aiohttp_server, aiohttp_client, policies_dir, tmp_path)


def sim(stack: MSStack) -> MidnightStreamerSim:
    assert isinstance(stack.sim, MidnightStreamerSim)
    return stack.sim


def test_matrix_cells_toward_ms_match_these_tests() -> None:
    supported = {(op, client): kind for op, client, up, kind in cells() if up == "midnight" and kind != "unsupported"}
    assert supported == {
        ("line.create", "xtream_masters"): "direct", ("mag.create", "xtream_masters"): "direct",
        ("reseller.adjust_credits", "xtream_masters"): "direct", ("reseller.create", "xtream_masters"): "direct",
        ("reseller.edit", "xtream_masters"): "direct", ("reseller.list", "xtream_masters"): "direct",
        ("line.create", "xtream_codes_v2"): "direct", ("mag.create", "xtream_codes_v2"): "direct",
        ("mag.edit", "xtream_codes_v2"): "direct", ("mag.get", "xtream_codes_v2"): "direct",
        ("reseller.adjust_credits", "xtream_codes_v2"): "direct", ("reseller.list", "xtream_codes_v2"): "direct",
        **{(op, "midnight"): "direct" for op in (
            "reseller.create", "reseller.edit", "reseller.adjust_credits", "reseller.list", "line.create",
            "line.edit", "line.get", "line.delete", "mag.create", "mag.edit", "mag.delete", "mag.get")},
        # tests/integration/test_xui_reseller.py: a Reseller API client's sub-resellers on MidnightStreamer
        **{(op, "xui_reseller"): "direct" for op in ("reseller.create", "reseller.edit", "reseller.list")},
    }  # fmt: skip


# --- XM -> MS ----------------------------------------------------------------------------------------------------


async def test_xm_create_line_maps_every_field(to_ms: MSStack) -> None:
    body = await to_ms.xm("create_line", username="xmline", password="pw-xmline", exp_date="2031-01-01",
                          is_restreamer="1", max_connections="2", member_id="88", is_trial="0")  # fmt: skip
    lid = max(sim(to_ms).tables["lines"])
    assert body["status"] == "STATUS_SUCCESS"
    assert body["data"]["id"] == lid and body["data"]["username"] == "xmline"
    # the full row, as Xtream-Masters answers create_line, read back from the panel
    assert (body["data"]["exp_date"], body["data"]["max_connections"], body["data"]["member_id"]) == (
        str(EXP_2031), "2", "88")  # fmt: skip
    assert to_ms.sim.received == [("line/new", {"data": {
        "username": "xmline", "password": "pw-xmline", "expire_date": str(EXP_2031), "restreamer": "1",
        "max_allowed_connections": "2", "reseller_id": "88", "is_trial": "0"}}),
        ("line/info", {"username": "xmline"})]  # fmt: skip
    row = sim(to_ms).tables["lines"][lid]
    assert (row["expire_date"], row["restreamer"], row["max_allowed_connections"], row["reseller_id"]) == (
        str(EXP_2031), "1", "2", "88")


async def test_xm_create_line_exists(to_ms: MSStack) -> None:
    before = len(sim(to_ms).tables["lines"])
    body = await to_ms.xm("create_line", username="ahmed01", password="x")
    # Xtream-Masters' own shape: its input echoed as `data`, and no other panel's words ("Username exists.")
    assert body == {"status": "STATUS_EXISTS_USERNAME", "data": {"username": "ahmed01", "password": "x"}}
    assert len(sim(to_ms).tables["lines"]) == before


@pytest.mark.parametrize(
    ("action", "params", "operation"),
    [
        ("get_line", {"id": "1"}, "line.get"),
        ("edit_line", {"id": "1", "max_connections": "2"}, "line.edit"),
        ("delete_line", {"id": "1"}, "line.delete"),
        ("get_lines", {}, "line.list"),
        ("get_mag", {"id": "1"}, "mag.get"),
        ("delete_user", {"id": "88"}, "reseller.delete"),
        ("get_servers", {}, "server.list"),
        ("mysql_query", {"query": "SELECT 1"}, "sql.query"),
    ],
)
async def test_xm_unsupported_cells_answer_clearly_and_write_nothing(
    to_ms: MSStack, action: str, params: dict[str, str], operation: str
) -> None:
    key = "danger" if action == "mysql_query" else "admin"
    before = {name: {k: dict(v) for k, v in rows.items()} for name, rows in sim(to_ms).tables.items()}
    body = await to_ms.xm(action, key=key, **params)
    assert body["status"] == "STATUS_UNSUPPORTED"
    assert operation in body["error"] and "(midnight)" in body["error"]
    assert to_ms.sim.received == []
    assert {name: {k: dict(v) for k, v in rows.items()} for name, rows in sim(to_ms).tables.items()} == before


async def test_xm_create_mag_answers_the_full_row(to_ms: MSStack) -> None:
    body = await to_ms.xm("create_mag", mac=NEW_MAC, exp_date="2031-01-01", member_id="88")
    assert body["status"] == "STATUS_SUCCESS"
    assert (body["data"]["mac"], body["data"]["exp_date"], body["data"]["member_id"]) == (NEW_MAC, str(EXP_2031),
                                                                                           "88")  # fmt: skip
    assert to_ms.sim.received == [
        ("mag/new", {"data": {"expire_date": str(EXP_2031), "reseller_id": "88", "mac_address": NEW_MAC}}),
        ("mag/info", {"mac_address": NEW_MAC}),
    ]


async def test_xm_create_user_is_resellers_new(to_ms: MSStack) -> None:
    body = await to_ms.xm("create_user", username="xmres", password="pw-xmres", credits="30", email="r@x.test")
    rid = max(sim(to_ms).tables["resellers"])
    assert body["status"] == "STATUS_SUCCESS"
    assert body["data"] == {"id": rid, "username": "xmres", "password": "pw-xmres"}
    assert to_ms.sim.received == [("resellers/new", {"data": {"name": "xmres", "password": "pw-xmres",
                                                              "credits": "30", "email": "r@x.test"}})]  # fmt: skip
    assert sim(to_ms).tables["resellers"][rid]["credits"] == "30"


async def test_xm_edit_user_is_resellers_update(to_ms: MSStack) -> None:
    body = await to_ms.xm("edit_user", id="88", credits="30", email="n@x.test")
    assert body["status"] == "STATUS_SUCCESS"
    assert to_ms.sim.received == [("resellers/update", {"id": "88", "data": {"credits": "30",
                                                                             "email": "n@x.test"}})]  # fmt: skip
    assert (sim(to_ms).tables["resellers"][88]["credits"], sim(to_ms).tables["resellers"][88]["email"]) == (
        "30", "n@x.test")


async def test_xm_fields_midnight_has_no_place_for_are_refused_before_sending(to_ms: MSStack) -> None:
    """The panel would answer a bare "Database error." for a column it lacks: the client is told which field."""
    body = await to_ms.xm("edit_user", id="88", email="n@x.test", reseller_dns="tv.example", timezone="UTC")
    assert body["status"] != "STATUS_SUCCESS"
    assert "reseller_dns, timezone" in body["error"] and "nothing was sent" in body["error"]
    line = await to_ms.xm("create_line", username="xmline2", password="pw-xmline2", admin_notes="vip")
    assert line["status"] != "STATUS_SUCCESS" and "admin_notes" in line["error"]
    assert to_ms.sim.received == []
    assert sim(to_ms).tables["resellers"][88]["email"] != "n@x.test"  # nothing half-applied either


async def test_xm_reseller_group_means_nothing_on_midnight_and_is_dropped(to_ms: MSStack) -> None:
    body = await to_ms.xm("create_user", username="grouped", password="pw-grouped", member_group_id="2")
    assert body["status"] == "STATUS_SUCCESS"
    assert to_ms.sim.received == [("resellers/new", {"data": {"name": "grouped", "password": "pw-grouped"}})]


async def test_xm_adjust_credits_and_not_enough(to_ms: MSStack) -> None:
    body = await to_ms.xm("adjust_credits", id="88", credits="-5", reason="refund")
    assert body["status"] == "STATUS_SUCCESS"
    assert to_ms.sim.received[0][0] == "resellers/add_credits"
    assert to_ms.sim.received[0][1]["id"] == "88" and to_ms.sim.received[0][1]["credits"] == "-5"
    assert sim(to_ms).tables["resellers"][88]["credits"] == "495"
    body = await to_ms.xm("adjust_credits", id="88", credits="-99999")
    assert body["status"] == "STATUS_INSUFFICIENT_CREDITS"
    assert sim(to_ms).tables["resellers"][88]["credits"] == "495"
    body = await to_ms.xm("adjust_credits", id="999", credits="5")
    assert body["status"] != "STATUS_SUCCESS"


async def test_xm_get_users_maps_fields_to_xtream_names(to_ms: MSStack) -> None:
    body = await to_ms.xm("get_users")
    assert body["status"] == "STATUS_SUCCESS"
    north = next(row for row in body["data"] if row["id"] == "88")
    assert north["max_connections"] == "100" and "max_allowed_connections" not in north
    assert north["date_registered"] == sim(to_ms).tables["resellers"][88]["created_at"]
    assert north["credits"] == "500" and "password" not in north
    assert to_ms.sim.received == [("resellers/list", {})]
    assert body["recordsTotal"] == str(len(sim(to_ms).tables["resellers"]))
    paged = await to_ms.xm("get_users", start="0", limit="1")
    assert len(paged["data"]) == 1 and paged["data"][0] == body["data"][0] and paged["recordsFiltered"] == 1


# --- XC -> MS ----------------------------------------------------------------------------------------------------


async def test_xc_user_create_maps_every_field(to_ms: MSStack) -> None:
    body = await to_ms.xc("user", "create", pairs=[
        ("user_data[username]", "xcline"), ("user_data[password]", "pw-xcline"),
        ("user_data[exp_date]", str(EXP_2031)), ("user_data[is_restreamer]", "1"),
        ("user_data[member_id]", "88"), ("user_data[max_connections]", "3")])  # fmt: skip
    lid = max(sim(to_ms).tables["lines"])
    assert body == {"result": True, "created_id": lid, "username": "xcline", "password": "pw-xcline"}
    assert to_ms.sim.received == [("line/new", {"data": {
        "username": "xcline", "password": "pw-xcline", "expire_date": str(EXP_2031), "restreamer": "1",
        "reseller_id": "88", "max_allowed_connections": "3"}})]  # fmt: skip


async def test_xc_user_create_exists(to_ms: MSStack) -> None:
    body = await to_ms.xc("user", "create", pairs=[("user_data[username]", "ahmed01"),
                                                   ("user_data[password]", "x")])  # fmt: skip
    assert body == {"result": False, "error": "EXISTS"}


@pytest.mark.parametrize(
    ("action", "sub", "params", "operation"),
    [
        ("user", "info", {"username": "ahmed01", "password": "x"}, "line.get"),
        ("user", "edit", {"username": "ahmed01", "password": "x", "user_data[max_connections]": "2"}, "line.edit"),
        ("server", "list", {}, "server.list"),
        ("stream", "start", {"stream_ids[]": "1"}, "stream.start"),
        ("stream", "online", {}, "stream.online"),
        ("vod", "stop", {"stream_ids[]": "1"}, "movie.stop"),
    ],
)
async def test_xc_unsupported_cells_answer_clearly_and_write_nothing(
    to_ms: MSStack, action: str, sub: str, params: dict[str, str], operation: str
) -> None:
    body = await to_ms.xc(action, sub, pairs=list(params.items()))
    assert body["result"] is False and body["error"] == "UNSUPPORTED"
    assert operation in body["message"] and "(midnight)" in body["message"]
    assert to_ms.sim.received == []


async def test_xc_stb_create_info_edit(to_ms: MSStack) -> None:
    body = await to_ms.xc("stb", "create", pairs=[("user_data[mac]", NEW_MAC), ("user_data[exp_date]", str(EXP_2031))])
    assert body == {"result": True}
    assert to_ms.sim.received == [
        ("mag/new", {"data": {"expire_date": str(EXP_2031), "mac_address": NEW_MAC}}),
        ("mag/info", {"mac_address": NEW_MAC}),
    ]
    to_ms.sim.reset_received()
    body = await to_ms.xc("stb", "edit", pairs=[("user_data[exp_date]", str(EXP_2031 + 1))], mac=NEW_MAC)
    assert body == {"result": True}
    assert to_ms.sim.received == [("mag/update", {"mac_address": NEW_MAC,
                                                  "data": {"expire_date": str(EXP_2031 + 1)}})]  # fmt: skip
    info = await to_ms.xc("stb", "info", mac=MAC1)
    assert info["result"] is True
    device = info["mag_device"]
    assert (device["mac"], device["member_id"]) == (MAC1, sim(to_ms).tables["mags"][1]["reseller_id"])
    assert device["exp_date"] == sim(to_ms).tables["mags"][1]["expire_date"]
    assert "mac_address" not in device and "expire_date" not in device


async def test_xc_stb_info_unknown(to_ms: MSStack) -> None:
    body = await to_ms.xc("stb", "info", mac="00:1A:79:FF:FF:FF")
    assert body["result"] is False


async def test_xc_reg_user_list_and_credits(to_ms: MSStack) -> None:
    rows = await to_ms.xc("reg_user", "list")
    assert isinstance(rows, list)
    north = next(r for r in rows if r["id"] == "88")
    assert (north["username"], north["credits"]) == ("north_tv", "500")
    assert set(north) == {"id", "username", "credits", "group_id", "group_name", "last_login", "date_registered",
                          "email", "ip", "status"}  # api.php's columns, nothing of MidnightStreamer's  # fmt: skip
    assert north["date_registered"] == sim(to_ms).tables["resellers"][88]["created_at"]
    assert to_ms.sim.received == [("resellers/list", {})]
    to_ms.sim.reset_received()
    assert await to_ms.xc("reg_user", "credits", id="88", amount="5") == {"result": True}
    assert await to_ms.xc("reg_user", "credits", username="north_tv", amount="5") == {"result": True}
    assert to_ms.sim.received == [("resellers/add_credits", {"id": "88", "credits": "5"}),
                                  ("resellers/add_credits", {"username": "north_tv", "credits": "5"})]  # fmt: skip
    assert sim(to_ms).tables["resellers"][88]["credits"] == "510"
    # XC's quirk, kept for its clients: not enough credits is result TRUE with an error, nothing changed
    body = await to_ms.xc("reg_user", "credits", id="88", amount="-99999")
    assert body == {"result": True, "error": "NOT ENOUGH CREDITS"}
    assert sim(to_ms).tables["resellers"][88]["credits"] == "510"
