"""The simulated Xtream-Masters / XUI.one admin panel on its own: its quirks are what the gateway is tested against."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.sim import seed
from gateway.sim.xm_params import parse_pairs
from gateway.sim.xtream_masters import XtreamMastersSim

KEY = "sim-admin-key"
URL = "/admin/admin/index.php"
CATALOGUE = Path(__file__).resolve().parents[2] / "gateway" / "catalogue.yaml"

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]


async def _client(aiohttp_client: ClientFactory, **kwargs: Any) -> tuple[XtreamMastersSim, Client]:
    sim = XtreamMastersSim(**kwargs)
    return sim, await aiohttp_client(sim.app())


async def _call(client: Client, action: str, **params: Any) -> Any:
    form: dict[str, Any] = {"api_key": KEY, "action": action, **params}
    resp = await client.post(URL, data=form)
    assert resp.status == 200
    assert resp.content_type == "application/json"
    return json.loads(await resp.text())


# --- protocol ---------------------------------------------------------------------------------------------------


async def test_bad_key_is_refused_and_recorded(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    resp = await client.get(URL, params={"api_key": "wrong", "action": "get_lines"})
    assert resp.status == 200
    assert await resp.json() == {"status": "STATUS_FAILURE", "error": "Invalid API key."}
    resp = await client.get(URL, params={"action": "get_lines"})
    assert await resp.json() == {"status": "STATUS_FAILURE", "error": "Invalid API key."}
    assert [a for a, _ in sim.received] == ["get_lines", "get_lines"]
    assert all("api_key" not in p for _, p in sim.received)


async def test_unknown_action(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    assert await _call(client, "get_settings") == {"status": "STATUS_FAILURE", "error": "Invalid action."}
    assert await _call(client, "") == {"status": "STATUS_FAILURE", "error": "Invalid action."}


async def test_other_access_code_is_an_nginx_404(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    resp = await client.get("/other/admin/index.php", params={"api_key": KEY, "action": "get_lines"})
    assert resp.status == 404
    assert "nginx" in await resp.text()
    assert sim.received == []


async def test_post_wins_over_query_and_php_arrays(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    resp = await client.post(
        URL,
        params={"api_key": KEY, "action": "get_line", "id": "1"},
        data=[("id", "2"), ("allowed_ips[]", "1.1.1.1"), ("allowed_ips[]", "2.2.2.2"), ("search[value]", "x")],
    )
    body = await resp.json()
    assert body["data"]["id"] == "2"
    _, params = sim.received[-1]
    assert params["allowed_ips"] == ["1.1.1.1", "2.2.2.2"]
    assert params["search"] == {"value": "x"}


def test_php_parser_nesting_and_mangling() -> None:
    parsed = parse_pairs([("a[]", "1"), ("a[]", "2"), ("b[x][y]", "3"), ("c.d", "4"), ("e[", "5"), ("[f]", "6")])
    assert parsed == {"a": ["1", "2"], "b": {"x": {"y": "3"}}, "c_d": "4", "e_": "5"}


async def test_json_is_encoded_like_php(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    resp = await client.post(URL, data={"api_key": KEY, "action": "get_stream", "id": "1"})
    text = await resp.text()
    assert "\\/" in text and "http://" not in text  # json_encode escapes '/'
    assert '"id":"1"' in text  # MySQL values are strings


# --- lines ------------------------------------------------------------------------------------------------------


async def test_create_line_presence_flags_and_defaults(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    body = await _call(
        client, "create_line", username="flagtest01", password="pw12345678", is_trial="0", exp_date="2030-01-02",
        bouquets_selected="[1,2,5]",
    )  # fmt: skip
    assert body["status"] == "STATUS_SUCCESS"
    row = body["data"]
    assert row["is_trial"] == "1"  # present with value 0: still on
    assert row["is_restreamer"] == "0" and row["is_isplock"] == "0"  # absent: off
    assert row["max_connections"] == "1" and row["enabled"] == "1" and row["admin_enabled"] == "1"
    assert row["exp_date"] == "1893542400"  # 2030-01-02 00:00:00 UTC
    assert row["bouquet"] == "[1,2,5]"
    assert sim.tables["lines"][int(row["id"])]["username"] == "flagtest01"
    generated = await _call(client, "create_line", username="", password="")
    assert re.fullmatch(r"[A-Za-z0-9]{10}", generated["data"]["username"])
    assert re.fullmatch(r"[A-Za-z0-9]{10}", generated["data"]["password"])


async def test_edit_line_keeps_absent_flags_and_turns_present_ones_on(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    line = (await _call(client, "create_line", username="edit_me_01", is_restreamer="1"))["data"]
    edited = (await _call(client, "edit_line", id=line["id"], is_isplock="0", max_connections="3"))["data"]
    assert edited["is_restreamer"] == "1" and edited["is_isplock"] == "1" and edited["max_connections"] == "3"
    assert edited["username"] == "edit_me_01"
    assert await _call(client, "edit_line", id="99999") == {"status": "STATUS_FAILURE"}


async def test_duplicate_username_echoes_the_input(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    taken = seed.build()["lines"][1]["username"]
    body = await _call(client, "create_line", username=taken.upper(), password="x", start="5")
    assert body == {"status": "STATUS_EXISTS_USERNAME", "data": {"username": taken.upper(), "password": "x"}}


async def test_invalid_date_bouquets_and_package(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    before = len(sim.tables["lines"])
    bad_date = await _call(client, "create_line", username="date_bad1", exp_date="next tuesday")
    assert bad_date == {"status": "STATUS_INVALID_DATE", "data": {"username": "date_bad1", "exp_date": "next tuesday"}}
    assert (await _call(client, "create_line", bouquets_selected="1,2"))["status"] == "STATUS_INVALID_INPUT"
    assert (await _call(client, "create_line", package="77"))["status"] == "STATUS_INVALID_PACKAGE"
    assert len(sim.tables["lines"]) == before
    ok = await _call(client, "create_line", username="date_ok_1", exp_date="2031-05-06 07:08")
    assert ok["data"]["exp_date"] == "1935817680"


# --- devices ----------------------------------------------------------------------------------------------------


async def test_mac_validation_and_uniqueness(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    assert await _call(client, "create_mag", mac="00:1A:79:ZZ:00:01") == {
        "status": "STATUS_INVALID_MAC", "data": {"mac": "00:1A:79:ZZ:00:01"}}  # fmt: skip
    assert (await _call(client, "create_mag"))["status"] == "STATUS_INVALID_MAC"
    existing = seed.build()["mag_devices"][1]["mac"]
    assert (await _call(client, "create_mag", mac=existing.lower()))["status"] == "STATUS_EXISTS_MAC"
    created = await _call(client, "create_mag", mac="00:1a:79:00:00:99", exp_date="2030-01-01")
    assert created["status"] == "STATUS_SUCCESS"
    device = created["data"]
    assert device["mac"] == "00:1A:79:00:00:99"
    assert device["user"]["is_mag"] == "1" and device["user"]["exp_date"] == "1893456000"
    assert sim.tables["lines"][int(device["user_id"])]["is_mag"] == "1"
    assert (await _call(client, "create_enigma", mac="bad"))["status"] == "STATUS_INVALID_MAC"


async def test_mag_status_changes_are_no_ops_like_the_panel(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    line_id = int(sim.tables["mag_devices"][1]["user_id"])
    assert await _call(client, "disable_mag", id="1") == {"status": "STATUS_SUCCESS"}
    assert sim.tables["lines"][line_id]["enabled"] == "1"  # the panel's bug: nothing changed
    converted = await _call(client, "convert_mag", id="1")
    assert converted == {"status": "STATUS_SUCCESS", "data": {"status": "STATUS_FAILURE"}}
    assert 1 not in sim.tables["mag_devices"] and sim.tables["lines"][line_id]["is_mag"] == "0"


async def test_mag_status_changes_without_php_bugs(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client, php_bugs=False)
    line_id = int(sim.tables["mag_devices"][2]["user_id"])
    assert await _call(client, "ban_mag", id="2") == {"status": "STATUS_SUCCESS"}
    assert sim.tables["lines"][line_id]["admin_enabled"] == "0"
    converted = await _call(client, "convert_mag", id="2")
    assert converted["data"]["status"] == "STATUS_SUCCESS"
    assert converted["data"]["data"]["id"] == str(line_id)


# --- credits ----------------------------------------------------------------------------------------------------


async def test_overdraw_is_refused_and_changes_nothing(aiohttp_client: ClientFactory) -> None:
    # The panel's adjustCredits answers a negative result with a plain STATUS_FAILURE (no
    # STATUS_INSUFFICIENT_CREDITS) and a success without before/after figures.
    sim, client = await _client(aiohttp_client)
    logs = len(sim.tables["credits_log"])
    assert await _call(client, "adjust_credits", id="89", credits="-121") == {"status": "STATUS_FAILURE"}
    assert sim.tables["users"][89]["credits"] == "120"
    assert len(sim.tables["credits_log"]) == logs
    assert await _call(client, "adjust_credits", id="89", credits="-20", reason="refund") == {
        "status": "STATUS_SUCCESS"}  # fmt: skip
    assert sim.tables["users"][89]["credits"] == "100"
    assert len(sim.tables["credits_log"]) == logs + 1
    assert (await _call(client, "adjust_credits", id="89", credits="ten"))["status"] == "STATUS_FAILURE"


async def test_users_rows_carry_secrets_as_xui_answers_them(aiohttp_client: ClientFactory) -> None:
    """getRegisteredUser() is SELECT *: the password hash and the api_key come back; user_info drops only the
    password (so a gateway in front must take them out)."""
    _, client = await _client(aiohttp_client)
    created = await _call(client, "create_user", username="east_tv", password="pw", member_group_id="2")
    assert created["status"] == "STATUS_SUCCESS" and created["data"]["password"].startswith("$6$")
    assert (await _call(client, "create_user", username="east_tv", member_group_id="2"))["status"] == (
        "STATUS_EXISTS_USERNAME")  # fmt: skip
    assert (await _call(client, "create_user", username="west_tv", member_group_id="9"))["status"] == (
        "STATUS_INVALID_GROUP")  # fmt: skip
    row = (await _call(client, "get_user", id="88"))["data"]
    assert row["password"].startswith("$6$") and len(row["api_key"]) == 32
    me = await _call(client, "user_info")
    assert "password" not in me["data"] and me["data"]["api_key"] == KEY and "permissions" in me
    listed = (await _call(client, "get_users"))["data"]
    assert listed and all("password" not in r and "api_key" not in r for r in listed)  # table.php selects columns


# --- lists ------------------------------------------------------------------------------------------------------


async def test_paging_counts_and_reseller_filter(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    everything = await _call(client, "get_lines")
    assert everything["recordsTotal"] == "60"  # device lines are not listed
    assert everything["recordsFiltered"] == 50  # min(total, limit)
    assert len(everything["data"]) == 50

    page = await _call(client, "get_lines", reseller="88", start="15", limit="10")
    assert page["recordsTotal"] == "20"  # the count after filtering
    assert page["recordsFiltered"] == 10
    assert [r["id"] for r in page["data"]] == [str(i) for i in range(36, 41)]
    assert {r["member_id"] for r in page["data"]} == {"88"}

    ignored = await _call(client, "get_lines", member_id="88", limit="100")
    assert ignored["recordsTotal"] == "60"  # table.php does not read member_id

    banned = await _call(client, "get_lines", filter="3", limit="100")
    assert {r["admin_enabled"] for r in banned["data"]} == {"0"} and banned["recordsTotal"] == "6"

    found = await _call(client, "get_lines", **{"search[value]": "MARIA"})
    assert found["data"] and all("maria" in r["username"] for r in found["data"])

    mags = await _call(client, "get_mags", reseller="88")
    assert mags["recordsTotal"] == "2" and {r["member_id"] for r in mags["data"]} == {"88"}


async def test_show_and_hide_columns(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    listed = await _call(client, "get_lines", show_columns="id,username", limit="3")
    assert [sorted(r) for r in listed["data"]] == [["id", "username"]] * 3
    hidden = await _call(client, "get_line", id="1", hide_columns="password")
    assert "password" not in hidden["data"] and hidden["data"]["username"]
    bare = await _call(client, "get_packages", show_columns="id,package_name")
    assert isinstance(bare, list) and sorted(bare[0]) == ["id", "package_name"]
    missing = await _call(client, "get_line", id="99999", show_columns="id")
    assert missing == {"status": "STATUS_FAILURE", "data": []}
    isps = await _call(client, "get_blocked_isps", show_columns="id")
    assert isps == {"status": "STATUS_SUCCESS", "data": []}


async def test_bare_lists_and_crud(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    bouquets = await _call(client, "get_bouquets")
    assert isinstance(bouquets, list) and len(bouquets) == 6
    made = await _call(client, "create_bouquet", bouquet_name="Docs", **{"bouquet_channels[]": ["1", "2"]})
    assert made["status"] == "STATUS_SUCCESS" and made["data"]["bouquet_channels"] == "[1,2]"
    edited = await _call(client, "edit_bouquet", id=made["data"]["id"], bouquet_name="Documentaries")
    assert edited["data"]["bouquet_name"] == "Documentaries"
    assert await _call(client, "delete_bouquet", id=made["data"]["id"]) == {"status": "STATUS_SUCCESS"}
    assert await _call(client, "get_bouquet", id=made["data"]["id"]) == {"status": "STATUS_FAILURE"}
    assert (await _call(client, "create_access_code", code="admin"))["status"] == "STATUS_EXISTS_CODE"


async def test_start_stop_stream(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    assert await _call(client, "stop_stream", id="1", server_id="1") == {"status": "STATUS_SUCCESS"}
    placement = next(p for p in sim.tables["streams_servers"].values() if p["stream_id"] == "1")
    assert placement["stream_status"] == "1" and placement["pid"] is None
    assert await _call(client, "start_stream", id="1", server_id="1") == {"status": "STATUS_SUCCESS"}
    assert placement["stream_status"] == "0" and placement["pid"]
    assert await _call(client, "start_stream", id="424242", server_id="1") == {"status": "STATUS_FAILURE"}
    assert await _call(client, "start_movie", id="1", server_id="1") == {"status": "STATUS_FAILURE"}


async def test_mysql_query_is_canned(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    lines = len(sim.tables["lines"])
    body = await _call(client, "mysql_query", query="DELETE FROM `lines`;")
    assert body == {"status": "STATUS_SUCCESS", "data": [], "insert_id": 0}
    assert len(sim.tables["lines"]) == lines
    select = await _call(client, "mysql_query", query="SELECT * FROM users")
    assert isinstance(select["data"], list) and select["insert_id"] == 0


def _catalogue_actions() -> list[str]:
    text = CATALOGUE.read_text()
    return sorted(set(re.findall(r"\bxm:\s*([a-z_0-9]+)\s*,", text)))


def test_catalogue_has_the_expected_actions() -> None:
    assert len(_catalogue_actions()) == 155


_ARGS: dict[str, dict[str, Any]] = {
    "create_mag": {"mac": "00:1A:79:AA:BB:CC"},
    "create_enigma": {"mac": "00:1D:EC:AA:BB:CC"},
    "adjust_credits": {"credits": "5"},
    "mysql_query": {"query": "SELECT 1"},
    "add_blocked_ip": {"id": "192.0.2.200"},
    "add_blocked_ua": {"user_agent": "curl/8"},
    "add_blocked_isp": {"id": "Some ISP"},
    "kill_pid": {"pid": "123"},
    "kill_connection": {"activity_id": "101", "server_id": "2"},
}


@pytest.mark.parametrize("action", _catalogue_actions())
async def test_every_catalogued_action_answers(aiohttp_client: ClientFactory, action: str) -> None:
    _, client = await _client(aiohttp_client)
    params: dict[str, Any] = {"id": "88" if "user" in action or action == "adjust_credits" else "1", "server_id": "1"}
    params.update(_ARGS.get(action, {}))
    body = await _call(client, action, **params)
    if isinstance(body, list):
        assert body and all(isinstance(r, dict) for r in body)
    else:
        assert isinstance(body, dict) and isinstance(body.get("status"), str)
        assert body.get("error") != "Invalid action."
