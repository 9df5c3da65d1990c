"""The simulated Xtream Codes v2 admin api.php on its own: auth, quirks and state."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim, run_sim

KEY = "sim-api-pass"
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


class Api:
    def __init__(self, client: Client, sim: XtreamCodesV2Sim) -> None:
        self.client = client
        self.sim = sim

    async def raw(self, method: str = "POST", query: dict[str, str] | None = None, /, **form: str) -> str:
        if method == "GET":
            resp = await self.client.get("/api.php", params={**(query or {}), **form})
        else:
            resp = await self.client.post("/api.php", params=query or {}, data=form)
        assert resp.status == 200
        return await resp.text()

    async def call(self, action: str, sub: str, pairs: list[tuple[str, str]] | None = None, /, **form: str) -> Any:
        """POST with the key; `pairs` for repeated names such as stream_ids[]."""
        data = [("api_pass", KEY), ("action", action), ("sub", sub), *(pairs or []), *form.items()]
        resp = await self.client.post("/api.php", data=data)
        assert resp.status == 200
        text = await resp.text()
        return json.loads(text)


@pytest.fixture
async def api(aiohttp_client: MakeClient) -> Api:
    sim = XtreamCodesV2Sim()
    return Api(await aiohttp_client(sim.app()), sim)


def line(sim: XtreamCodesV2Sim, line_id: int = 1) -> dict[str, Any]:
    return sim.tables["users"][line_id]


# --- auth and plumbing -------------------------------------------------------------------------------------------


async def test_ip_not_allowed_is_forbidden_before_the_key_is_checked(aiohttp_client: MakeClient) -> None:
    sim = XtreamCodesV2Sim(allowed_ips=("10.9.9.9",))
    api = Api(await aiohttp_client(sim.app()), sim)
    assert await api.raw(api_pass=KEY, action="server", sub="list") == '{"result":false,"0":"IP FORBIDDEN"}'
    assert await api.raw(api_pass="wrong", action="server", sub="list") == '{"result":false,"0":"IP FORBIDDEN"}'
    assert [a for a, _ in sim.received] == ["server/list", "server/list"]


@pytest.mark.parametrize("form", [{}, {"api_pass": "wrong"}, {"api_pass": ""}, {"api_pass[]": KEY}])
async def test_missing_or_wrong_key_is_refused(api: Api, form: dict[str, str]) -> None:
    body = await api.raw(action="user", sub="info", username="x", password="y", **form)
    assert body == '{"result":false,"0":"KEY WRONG"}'
    assert api.sim.received[-1][0] == "user/info"


async def test_no_key_configured_means_no_key_needed(aiohttp_client: MakeClient) -> None:
    sim = XtreamCodesV2Sim(api_pass=None)
    api = Api(await aiohttp_client(sim.app()), sim)
    assert json.loads(await api.raw(action="server", sub="list"))[0]["id"] == 1


async def test_received_records_every_request_without_the_key(api: Api) -> None:
    await api.raw(action="user", sub="info", username="u")  # no key: refused, still recorded
    await api.raw(api_pass=KEY, action="nothing")
    await api.raw(api_pass=KEY)
    assert [a for a, _ in api.sim.received] == ["user/info", "nothing/", ""]
    assert all("api_pass" not in params for _, params in api.sim.received)
    assert api.sim.received[0][1] == {"action": "user", "sub": "info", "username": "u"}
    api.sim.reset_received()
    assert api.sim.received == []


async def test_get_and_post_are_merged_and_post_wins(api: Api) -> None:
    row = line(api.sim)
    body = await api.raw(
        "POST",
        {"api_pass": KEY, "action": "user", "sub": "nope", "username": row["username"]},
        sub="info",
        password=row["password"],
    )
    assert json.loads(body)["user_info"]["id"] == "1"
    body = await api.raw("GET", api_pass=KEY, action="user", sub="info", username=row["username"], password="x")
    assert json.loads(body) == {"result": False, "error": "NOT EXISTS"}


@pytest.mark.parametrize(
    "form", [{"action": "nope"}, {"action": "user", "sub": "delete"}, {"action": "user"}, {}, {"action[]": "user"}]
)
async def test_unknown_action_or_sub_is_an_empty_body(api: Api, form: dict[str, str]) -> None:
    assert await api.raw(api_pass=KEY, **form) == ""


async def test_answer_is_php_json_as_text_html(api: Api) -> None:
    creds = {"username": line(api.sim)["username"], "password": line(api.sim)["password"]}
    await api.call("user", "edit", **creds, **{"user_data[admin_notes]": "a/b é"})
    resp = await api.client.post("/api.php", data={"api_pass": KEY, "action": "user", "sub": "info", **creds})
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert '"admin_notes":"a\\/b \\u00e9"' in text


# --- lines --------------------------------------------------------------------------------------------------------


async def test_user_create_stores_raw_columns(api: Api) -> None:
    body = await api.call(
        "user",
        "create",
        **{
            "user_data[username]": "newline",
            "user_data[password]": "secret99",
            "user_data[max_connections]": "3",
            "user_data[exp_date]": "1924992000",
            "user_data[bouquet]": "[2,1]",
            "user_data[member_id]": "88",
            "user_data[is_restreamer]": "1",
            "user_data[allowed_ips]": '["1.2.3.4"]',
            "user_data[admin_notes]": "vip",
        },
    )
    assert body == {"result": True, "created_id": 66, "username": "newline", "password": "secret99"}
    row = api.sim.tables["users"][66]
    assert row["member_id"] == "88"
    assert row["max_connections"] == "3"
    assert row["exp_date"] == "1924992000"
    assert row["bouquet"] == "[2,1]"
    assert row["allowed_ips"] == '["1.2.3.4"]'
    assert row["allowed_ua"] == "[]"
    assert row["admin_notes"] == "vip"
    outputs = sorted(o["access_output_id"] for o in api.sim.tables["user_output"].values() if o["user_id"] == "66")
    assert outputs == ["1", "2", "3"]
    info = await api.call("user", "info", username="newline", password="secret99")
    assert info["user_info"]["bouquet"] == [1, 2]
    assert info["user_info"]["channel_ids"] == [1, 2, 3, 4, 31, 33, 34, 5, 6, 7, 8]


async def test_user_create_generates_missing_credentials(api: Api) -> None:
    body = await api.call("user", "create", **{"user_data[max_connections]": "1"})
    assert body["result"] is True
    assert len(body["username"]) == 10 and body["username"].isalnum()
    assert len(body["password"]) == 10 and body["password"] != body["username"]
    assert api.sim.tables["users"][body["created_id"]]["username"] == body["username"]


async def test_user_create_exists_only_when_username_and_password_match(api: Api) -> None:
    row = line(api.sim)
    before = len(api.sim.tables["users"])
    same = {"user_data[username]": row["username"], "user_data[password]": row["password"]}
    assert await api.call("user", "create", **same) == {"result": False, "error": "EXISTS"}
    assert len(api.sim.tables["users"]) == before
    other = {"user_data[username]": row["username"], "user_data[password]": "different1"}
    assert (await api.call("user", "create", **other))["result"] is True  # the panel only checks the pair


@pytest.mark.parametrize(
    "form",
    [{"user_data[no_such_column]": "1"}, {"user_data[username]": "x", "user_data[mac]": "00:11"}, {"user_data": "s"}],
)
async def test_user_create_parameter_error_on_sql_error(api: Api, form: dict[str, str]) -> None:
    before = copy.deepcopy(api.sim.tables["users"])
    assert await api.call("user", "create", **form) == {"result": False, "error": "PARAMETER ERROR"}
    assert api.sim.tables["users"] == before


async def test_user_create_bad_bouquet_and_exp_date_are_not_errors(api: Api) -> None:
    body = await api.call("user", "create", **{"user_data[bouquet]": "not json", "user_data[exp_date]": "soon"})
    row = api.sim.tables["users"][body["created_id"]]
    assert (row["bouquet"], row["exp_date"]) == ("[]", "0")
    body = await api.call("user", "create", **{"user_data[exp_date]": "0"})
    assert api.sim.tables["users"][body["created_id"]]["exp_date"] is None


async def test_user_edit_by_username_and_password(api: Api) -> None:
    row = line(api.sim, 5)
    creds = {"username": row["username"], "password": row["password"]}
    body = await api.call("user", "edit", **creds, **{"user_data[max_connections]": "4", "user_data[enabled]": "0"})
    assert body == {"result": True}
    assert (line(api.sim, 5)["max_connections"], line(api.sim, 5)["enabled"]) == ("4", "0")
    # unchanged values still answer true
    assert await api.call("user", "edit", **creds, **{"user_data[max_connections]": "4"}) == {"result": True}


async def test_user_edit_errors(api: Api) -> None:
    row = line(api.sim, 5)
    before = copy.deepcopy(api.sim.tables["users"])
    bad = {"username": row["username"], "password": "wrong"}
    assert await api.call("user", "edit", **bad, **{"user_data[enabled]": "0"}) == {
        "result": False,
        "error": "NOT EXISTS",
    }
    creds = {"username": row["username"], "password": row["password"]}
    assert await api.call("user", "edit", **creds) == {"result": False, "error": "PARAMETER ERROR"}
    assert await api.call("user", "edit", **creds, **{"user_data[bogus]": "1"}) == {
        "result": False,
        "error": "PARAMETER ERROR",
    }
    assert await api.call("user", "edit", username=row["username"], **{"user_data[enabled]": "0"}) == {
        "result": False,
        "error": "PARAMETER ERROR (user/pass)",
    }
    assert api.sim.tables["users"] == before


async def test_user_edit_can_rename_the_line(api: Api) -> None:
    row = line(api.sim, 2)
    old = {"username": row["username"], "password": row["password"]}
    assert await api.call("user", "edit", **old, **{"user_data[username]": "renamed"}) == {"result": True}
    assert (await api.call("user", "info", **old))["error"] == "NOT EXISTS"
    info = await api.call("user", "info", username="renamed", password=row["password"])
    assert info["user_info"]["id"] == "2"


async def test_user_info_shape(api: Api) -> None:
    row = line(api.sim, 1)
    body = await api.call("user", "info", username=row["username"], password=row["password"])
    assert body["result"] is True
    info = body["user_info"]
    assert info["username"] == row["username"]
    assert info["active_cons"] == "1"  # one open connection in the seed, as MySQL's COUNT() string
    assert info["max_connections"] == row["max_connections"]
    assert info["exp_date"] == row["exp_date"]
    assert info["bouquet"] == [1, 2, 3]
    assert info["allowed_ips"] == [] and info["allowed_ua"] == []
    assert info["channel_ids"] == [1, 2, 3, 4, 31, 33, 34, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert sorted(info["output_formats"]) == ["m3u8", "rtmp", "ts"]
    assert info["pair_line_info"] == []
    line5 = line(api.sim, 5)
    assert (await api.call("user", "info", username=line5["username"], password=line5["password"]))["user_info"][
        "active_cons"
    ] == "0"


async def test_user_info_errors(api: Api) -> None:
    row = line(api.sim)
    assert await api.call("user", "info", username=row["username"], password="nope") == {
        "result": False,
        "error": "NOT EXISTS",
    }
    assert await api.call("user", "info", username=row["username"]) == {
        "result": False,
        "error": "PARAMETER ERROR (user/pass)",
    }


# --- MAG devices --------------------------------------------------------------------------------------------------


async def test_stb_create_and_exists(api: Api) -> None:
    body = await api.call("stb", "create", **{"user_data[mac]": "00:1a:79:aa:bb:cc", "user_data[member_id]": "89"})
    assert body == {"result": True}
    mag = api.sim.tables["mag_devices"][4]
    assert base64.b64decode(mag["mac"]).decode() == "00:1A:79:AA:BB:CC"
    created = api.sim.tables["users"][int(mag["user_id"])]
    assert (created["is_mag"], created["member_id"], len(created["username"])) == ("1", "89", 10)
    again = await api.call("stb", "create", **{"user_data[mac]": "00:1A:79:AA:BB:CC"})
    assert again == {"result": False, "error": "EXISTS"}
    assert len(api.sim.tables["mag_devices"]) == 4


@pytest.mark.parametrize("form", [{}, {"user_data[mac]": ""}, {"user_data[mac]": "0"}, {"user_data[member_id]": "1"}])
async def test_stb_create_without_mac(api: Api, form: dict[str, str]) -> None:
    assert await api.call("stb", "create", **form) == {"result": False, "error": "PARAMETER ERROR (mac)"}
    assert len(api.sim.tables["mag_devices"]) == 3


async def test_stb_create_does_not_validate_the_mac(api: Api) -> None:
    assert await api.call("stb", "create", **{"user_data[mac]": "not-a-mac"}) == {"result": True}


async def test_stb_edit(api: Api) -> None:
    mac = "00:1A:79:4B:2C:01"
    assert await api.call("stb", "edit", mac=mac.lower(), **{"user_data[max_connections]": "3"}) == {"result": True}
    assert line(api.sim, 61)["max_connections"] == "3"
    body = await api.raw(api_pass=KEY, action="stb", sub="edit", mac=mac, **{"user_data[max_connections]": "3"})
    assert body == '{"result":false}'  # nothing changed
    assert await api.call("stb", "edit", mac="00:00:00:00:00:00", **{"user_data[enabled]": "0"}) == {"result": False}
    assert await api.call("stb", "edit", **{"user_data[enabled]": "0"}) == {
        "result": False,
        "error": "PARAMETER ERROR (user/pass)",
    }
    assert await api.call("stb", "edit", mac=mac, **{"user_data[bogus]": "0"}) == {
        "result": False,
        "error": "PARAMETER ERROR",
    }


async def test_stb_info(api: Api) -> None:
    body = await api.call("stb", "info", mac="00:1A:79:4B:2C:02")
    assert body["result"] is True
    assert body["mag_device"]["mac"] == "00:1A:79:4B:2C:02"
    assert body["user_info"]["id"] == "62"
    assert body["user_info"]["is_mag"] == "1"
    assert body["pair_line_info"] == []
    # info looks the MAC up as given, without upper-casing it
    assert await api.call("stb", "info", mac="00:1a:79:4b:2c:02") == {"result": False, "error": "NOT EXISTS"}
    assert await api.call("stb", "info") == {"result": False, "error": "PARAMETER ERROR (mac)"}


# --- servers and streams --------------------------------------------------------------------------------------------


async def test_server_list(api: Api) -> None:
    body = await api.call("server", "list")
    assert [(s["id"], s["server_name"], s["online"]) for s in body] == [
        (1, "Main Server", True),
        (2, "LB London 1", True),
    ]
    assert body[0]["info"]["total_ram"] == 64


async def test_stream_online_offline_maps(api: Api) -> None:
    online = await api.call("stream", "online")
    offline = await api.call("stream", "offline")
    assert online["1"] == [1, 2] and online["11"] == [1]
    assert offline["9"] == [1, 2] and offline["18"] == [1]
    assert "21" not in online and "21" not in offline  # VOD (type 2) is left out
    assert set(online).isdisjoint(offline)


async def test_batch_stream_start_and_stop(api: Api) -> None:
    pairs = [("stream_ids[]", "9"), ("stream_ids[]", "18")]
    assert await api.call("stream", "start", pairs) == {"result": True}
    online = await api.call("stream", "online")
    assert (online["9"], online["18"]) == ([1, 2], [1])
    assert "9" not in await api.call("stream", "offline")
    assert await api.call("stream", "stop", [("stream_ids[]", "9"), ("servers[]", "2")]) == {"result": True}
    assert (await api.call("stream", "online"))["9"] == [1]
    assert api.sim.received[0][1]["stream_ids"] == ["9", "18"]


async def test_vod_start_answers_true_even_without_stream_ids(api: Api) -> None:
    before = copy.deepcopy(api.sim.tables["streams_servers"])
    assert await api.call("vod", "start") == {"result": True}
    assert api.sim.tables["streams_servers"] == before
    assert await api.call("vod", "start", [("stream_ids[]", "21")]) == {"result": True}
    assert api.sim.tables["streams_servers"] != before


# --- registered users -------------------------------------------------------------------------------------------


async def test_reg_user_list(api: Api) -> None:
    body = await api.call("reg_user", "list")
    assert [u["id"] for u in body][:3] == ["1", "88", "89"]
    north = body[1]
    assert list(north) == [
        "id",
        "username",
        "credits",
        "group_id",
        "group_name",
        "last_login",
        "date_registered",
        "email",
        "ip",
        "status",
    ]
    assert (north["credits"], north["group_name"]) == ("500", "Resellers")


async def test_reg_user_credits(api: Api) -> None:
    assert await api.call("reg_user", "credits", id="88", amount="10.5") == {"result": True}
    assert api.sim.tables["reg_users"][88]["credits"] == "510.5"
    assert await api.call("reg_user", "credits", username="south_stream", amount="-20") == {"result": True}
    assert api.sim.tables["reg_users"][89]["credits"] == "100"


async def test_reg_user_credits_not_enough_is_result_true_and_changes_nothing(api: Api) -> None:
    before = copy.deepcopy(api.sim.tables)
    body = await api.raw(api_pass=KEY, action="reg_user", sub="credits", id="89", amount="-120.01")
    assert body == '{"result":true,"error":"NOT ENOUGH CREDITS"}'
    assert api.sim.tables == before


async def test_reg_user_credits_errors(api: Api) -> None:
    assert await api.call("reg_user", "credits", id="4242", amount="5") == {"result": False, "error": "NOT EXISTS"}
    for form in ({"id": "88"}, {"id": "88", "amount": "0"}, {"amount": "5"}):
        assert await api.call("reg_user", "credits", **form) == {
            "result": False,
            "error": "PARAMETER ERROR (amount & id||username)",
        }
    assert api.sim.tables["reg_users"][88]["credits"] == "500"


# --- seed and runner ---------------------------------------------------------------------------------------------


def test_seed_is_deterministic_and_spread_over_owners() -> None:
    a, b = XtreamCodesV2Sim(), XtreamCodesV2Sim()
    assert a.tables == b.tables
    owners = {row["member_id"] for row in a.tables["users"].values()}
    assert {"1", "88", "89"} <= owners
    assert len(a.tables["mag_devices"]) == 3 and len(a.tables["servers"]) == 2
    assert {row["type"] for row in a.tables["streams"].values()} >= {"1", "2"}
    assert XtreamCodesV2Sim(seed=False).tables["users"] == {}


async def test_run_sim_serves_until_cancelled() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    task = asyncio.create_task(run_sim("127.0.0.1", port, "p"))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(50):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api.php?api_pass=x") as resp:
                        assert await resp.text() == '{"result":false,"0":"KEY WRONG"}'
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("the simulator never came up")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
