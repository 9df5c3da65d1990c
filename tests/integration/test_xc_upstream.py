"""Xtream-Masters clients in front of an XC v2 panel (XM->XC): every supported cell of the matrix, the
unsupported ones, and what the XC v2 simulator received for each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.matrix import cells
from gateway.sim.seed import password_for
from tests.conftest import KEYS, XC_API_PASS, AiohttpClient, AiohttpServer
from tests.integration.xc_fixtures import XMClientStack, xm_client_stack

EXP_2031 = 1924992000  # 2031-01-01 00:00:00 UTC


@pytest.fixture
async def xc(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> XMClientStack:
    return await xm_client_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path)


def actions(stack: XMClientStack) -> list[str]:
    return [a for a, _ in stack.sim.received]


def _no_client_key(stack: XMClientStack) -> None:
    assert KEYS["admin"] not in repr(stack.sim.received)
    assert XC_API_PASS not in repr(stack.sim.received)  # the simulator drops api_pass: it was sent, and right


async def test_create_line_sends_xc_user_data_and_returns_the_full_row(xc: XMClientStack) -> None:
    body = await xc.xm(action="create_line", username="xmnew1", password="pw-xmnew1", exp_date="2031-01-01",
                       bouquets_selected="[1,2]", max_connections="2", is_trial="0", is_restreamer="1",
                       **{"allowed_ips[]": "10.0.0.1"})  # fmt: skip
    assert body["status"] == "STATUS_SUCCESS", body
    created = max(xc.sim.tables["users"])
    row = body["data"]
    assert (int(row["id"]), row["username"], row["password"]) == (created, "xmnew1", "pw-xmnew1")
    assert str(row["exp_date"]) == str(EXP_2031) and str(row["max_connections"]) == "2"
    assert "channel_ids" in row  # the follow-up user/info row, not just the three fields user/create answers
    assert actions(xc) == ["user/create", "user/info"]
    _, sent = xc.sim.received[0]
    assert sent["user_data"] == {
        "username": "xmnew1", "password": "pw-xmnew1", "exp_date": str(EXP_2031), "bouquet": "[1,2]",
        "max_connections": "2", "is_trial": "0", "is_restreamer": "1", "allowed_ips": '["10.0.0.1"]',
    }  # fmt: skip
    assert xc.sim.received[1][1]["username"] == "xmnew1" and xc.sim.received[1][1]["password"] == "pw-xmnew1"
    stored = xc.sim.tables["users"][created]
    assert stored["exp_date"] == str(EXP_2031) and json.loads(stored["bouquet"]) == [1, 2]
    assert json.loads(stored["allowed_ips"]) == ["10.0.0.1"]
    _no_client_key(xc)


async def test_create_line_exists(xc: XMClientStack) -> None:
    body = await xc.xm(action="create_line", username="ahmed01", password=password_for("line-1"))
    assert body["status"] == "STATUS_EXISTS_USERNAME"
    assert actions(xc) == ["user/create"]


async def test_create_line_bad_date_is_refused_before_the_panel(xc: XMClientStack) -> None:
    body = await xc.xm(action="create_line", username="x", password="y", exp_date="31/12/2030")
    assert body["status"] == "STATUS_INVALID_DATE"
    assert xc.sim.received == []


async def test_create_mag_returns_the_device(xc: XMClientStack) -> None:
    mac = "00:1A:79:AA:BB:CC"
    body = await xc.xm(action="create_mag", mac=mac, bouquets_selected="[1]")
    assert body["status"] == "STATUS_SUCCESS", body
    assert body["data"]["mac"] == mac
    assert actions(xc) == ["stb/create", "stb/info"]
    assert xc.sim.received[0][1]["user_data"] == {"mac": mac, "bouquet": "[1]"}
    assert xc.sim.received[1][1]["mac"] == mac
    again = await xc.xm(action="create_mag", mac=mac)
    assert again["status"] == "STATUS_EXISTS_MAC"


@pytest.mark.parametrize(
    ("params", "operation"),
    [
        ({"action": "get_lines"}, "line.list"),
        ({"action": "get_line", "id": "1"}, "line.get"),
        ({"action": "edit_line", "id": "1", "max_connections": "3"}, "line.edit"),
        ({"action": "delete_line", "id": "1"}, "line.delete"),
        ({"action": "edit_mag", "id": "1", "max_connections": "3"}, "mag.edit"),
        ({"action": "get_mag", "id": "1"}, "mag.get"),
        ({"action": "get_streams"}, "stream.list"),
        ({"action": "get_user", "id": "88"}, "reseller.get"),
    ],
)
async def test_unsupported_operations_name_operation_and_upstream_and_send_nothing(
    xc: XMClientStack, params: dict[str, str], operation: str
) -> None:
    body = await xc.xm(**params)
    assert body["status"] == "STATUS_UNSUPPORTED"
    assert operation in body["error"] and "xtream_codes_v2" in body["error"]
    assert xc.sim.received == []
    assert xc.sim.tables["users"][1]["max_connections"] == "1"


async def test_start_stream_is_a_batch_of_one(xc: XMClientStack) -> None:
    body = await xc.xm(action="start_stream", id="1", server_id="-1")
    assert body == {"status": "STATUS_SUCCESS"}
    assert xc.sim.received == [("stream/start", {"action": "stream", "sub": "start", "stream_ids": ["1"]})]
    xc.sim.reset_received()
    body = await xc.xm(action="stop_movie", id="21", server_id="2")
    assert body == {"status": "STATUS_SUCCESS"}
    assert xc.sim.received == [("vod/stop", {"action": "vod", "sub": "stop", "stream_ids": ["21"],
                                             "servers": ["2"]})]  # fmt: skip


async def test_get_users_is_reg_user_list(xc: XMClientStack) -> None:
    body = await xc.xm(action="get_users")
    assert body["status"] == "STATUS_SUCCESS"
    assert {u["username"] for u in body["data"]} >= {"north_tv", "south_stream"}
    assert actions(xc) == ["reg_user/list"]


async def test_get_users_is_paged_as_the_xm_panel_pages_it(xc: XMClientStack) -> None:
    """reg_user/list answers every reseller; an Xtream-Masters client asks for a page and reads the totals."""
    everyone = sorted(xc.sim.tables["reg_users"])
    assert len(everyone) >= 3
    whole = await xc.xm(action="get_users", limit="1000")
    assert [int(u["id"]) for u in whole["data"]] == everyone and whole["recordsTotal"] == str(len(everyone))
    body = await xc.xm(action="get_users", start="1", limit="2", show_columns="id,username")
    assert [int(u["id"]) for u in body["data"]] == everyone[1:3]
    assert all(set(u) == {"id", "username"} for u in body["data"])
    assert body["recordsTotal"] == str(len(everyone))
    assert body["recordsFiltered"] == (2 if len(everyone) > 2 else str(len(everyone)))  # the panel's min() quirk
    assert actions(xc) == ["reg_user/list", "reg_user/list"]


async def test_get_users_search_is_applied_as_the_xm_panel_applies_it(xc: XMClientStack) -> None:
    rows = xc.sim.tables["reg_users"]
    north = [i for i, r in rows.items() if "NORTH" in str(r["username"]).upper() or "north" in str(r["email"])]
    body = await xc.xm(action="get_users", **{"search[value]": "NoRtH"})  # case-insensitive, as MySQL's LIKE
    assert sorted(int(u["id"]) for u in body["data"]) == sorted(north) and north
    assert body["recordsTotal"] == str(len(north))  # table.php counts the rows the search kept
    none = await xc.xm(action="get_users", **{"search[value]": "no-such-reseller-anywhere"})
    assert none["data"] == [] and none["recordsTotal"] == "0"


async def test_get_servers_is_server_list(xc: XMClientStack) -> None:
    body = await xc.xm(action="get_servers")
    assert isinstance(body, list) and {"id", "server_name", "online"} <= set(body[0])
    assert actions(xc) == ["server/list"]


async def test_adjust_credits(xc: XMClientStack) -> None:
    body = await xc.xm(action="adjust_credits", id="88", credits="-100")
    assert body == {"status": "STATUS_SUCCESS"}
    assert xc.sim.received == [("reg_user/credits", {"action": "reg_user", "sub": "credits", "id": "88",
                                                     "amount": "-100"})]  # fmt: skip
    assert float(xc.sim.tables["reg_users"][88]["credits"]) == 400
    short = await xc.xm(action="adjust_credits", id="90", credits="-1000")
    assert short["status"] == "STATUS_INSUFFICIENT_CREDITS"
    assert float(xc.sim.tables["reg_users"][90]["credits"]) == 15
    missing = await xc.xm(action="adjust_credits", id="4242", credits="1")
    assert missing["status"] == "STATUS_FAILURE"
    _no_client_key(xc)


async def test_panel_refusing_the_gateway_is_an_upstream_error(xc: XMClientStack) -> None:
    xc.sim.allowed_ips = ("203.0.113.1",)
    body = await xc.xm(action="get_users")
    assert body["status"] == "STATUS_UPSTREAM_ERROR"
    assert body["error"] != "Invalid API key."


def test_matrix_agrees_with_these_tests() -> None:
    """The cells tested here as supported are the ones the matrix promises for XM->XC, and no others."""
    supported = {op for op, client, upstream, kind in cells()
                 if (client, upstream) == ("xtream_masters", "xtream_codes_v2") and kind != "unsupported"}  # fmt: skip
    assert supported == {"line.create", "mag.create", "movie.start", "movie.stop", "reseller.adjust_credits",
                         "reseller.list", "server.list", "stream.start", "stream.stop"}  # fmt: skip
