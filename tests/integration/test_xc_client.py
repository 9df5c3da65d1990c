"""XC v2 clients (`/api.php?action=..&sub=..`) end to end, in front of an Xtream-Masters panel (XC->XM) and an
XC v2 panel (XC->XC): what the client gets back, in XC v2's own shapes, and what the panel received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.matrix import cells
from gateway.sim.seed import password_for
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import KEYS, UPSTREAM_KEY, XC_API_PASS, AiohttpClient, AiohttpServer
from tests.integration.xc_fixtures import PHP, XCClientStack, php_query, xc_client_stack

KEY = KEYS["admin"]
EXP_2031 = 1924992000  # 2031-01-01 00:00:00 UTC
LINE1 = ("ahmed01", password_for("line-1"))  # seeded line 1 in both simulators
MAC1 = "00:1A:79:4B:2C:01"  # seeded MAG 1 (mag_id 1, line 61)


@pytest.fixture(params=["xm", "xui"])  # both flavours of the panel: the documented one and XUI.one as it runs
async def to_xm(
    request: pytest.FixtureRequest, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
    policies_dir: Path, tmp_path: Path,
) -> XCClientStack:
    return await xc_client_stack(request.param, aiohttp_server, aiohttp_client, policies_dir, tmp_path)


@pytest.fixture
async def to_xc(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> XCClientStack:
    return await xc_client_stack("xc", aiohttp_server, aiohttp_client, policies_dir, tmp_path)


@pytest.fixture(params=["xm", "xui", "xc"])
async def either(
    request: pytest.FixtureRequest,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    policies_dir: Path,
    tmp_path: Path,
) -> XCClientStack:
    return await xc_client_stack(request.param, aiohttp_server, aiohttp_client, policies_dir, tmp_path)


def xm_sim(stack: XCClientStack) -> XtreamMastersSim:
    assert isinstance(stack.sim, XtreamMastersSim)
    return stack.sim


def xc_sim(stack: XCClientStack) -> XtreamCodesV2Sim:
    assert isinstance(stack.sim, XtreamCodesV2Sim)
    return stack.sim


def actions(sim: XtreamMastersSim | XtreamCodesV2Sim) -> list[str]:
    return [a for a, _ in sim.received]


# --- the gate: keys, unknown actions, SQL -------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "not-a-key", KEY + "x", UPSTREAM_KEY, XC_API_PASS])
async def test_bad_or_missing_key_is_key_wrong_and_never_forwarded(either: XCClientStack, key: str | None) -> None:
    body = await either.call("user", "info", key=key, username=LINE1[0], password=LINE1[1])
    assert body == {"result": False, "0": "KEY WRONG"}
    assert either.sim.received == []


async def test_key_by_header_and_by_path_prefix(either: XCClientStack) -> None:
    answer = await either.raw("action=server&sub=list", "", headers={"X-API-Key": KEY})
    assert isinstance(answer.json(), list) and answer.json()[0]["id"] is not None
    answer = await either.raw("action=server&sub=list", path=f"/k/{KEY}/api.php")
    assert isinstance(answer.json(), list)
    answer = await either.raw("action=server&sub=list", path="/k/nope/api.php")
    assert answer.json() == {"result": False, "0": "KEY WRONG"}
    # given twice, differently: refused, not guessed
    answer = await either.raw(f"action=server&sub=list&api_key={KEYS['readonly']}", path=f"/k/{KEY}/api.php")
    assert answer.json()["result"] is False
    assert len(either.sim.received) == 2


@pytest.mark.parametrize(
    "query",
    [
        "action=user&sub=delete",
        "action=user&sub=",
        "action=user",
        "action=nope&sub=list",
        "action=mysql_query&query=SELECT+1",
        "action=mysql_query&sub=&query=DROP+TABLE+users",
        "action=USER&sub=create",
        "action=stream&sub=list",  # the XC panel has it, the catalogue does not
    ],
)
async def test_unknown_action_or_sub_is_an_empty_body_and_never_forwarded(either: XCClientStack, query: str) -> None:
    answer = await either.raw(f"{query}&api_key={KEY}")
    assert (answer.status, answer.body) == (200, b"")
    answer = await either.raw("", f"{query}&api_key={KEY}")
    assert (answer.status, answer.body) == (200, b"")
    assert either.sim.received == []


async def test_post_wins_over_get(to_xc: XCClientStack) -> None:
    answer = await to_xc.raw(f"action=user&sub=info&username=nobody&password=x&api_key={KEY}",
                             f"username={LINE1[0]}&password={LINE1[1]}")  # fmt: skip
    assert answer.json()["result"] is True
    assert answer.json()["user_info"]["username"] == LINE1[0]


async def test_get_and_post_disagreeing_on_the_action_are_refused(either: XCClientStack) -> None:
    answer = await either.raw(f"action=user&sub=info&api_key={KEY}", "action=mysql_query&sub=x")
    assert answer.json()["result"] is False
    assert either.sim.received == []


async def test_everything_is_http_200(either: XCClientStack) -> None:
    for query, body in [
        ("action=server&sub=list", f"api_key={KEY}"),
        ("action=server&sub=list", "api_key=wrong"),
        ("action=nope&sub=x", f"api_key={KEY}"),
        ("action=user&sub=info", f"api_key={KEY}&username=nobody&password=x"),
        ("action=stb&sub=info", f"api_key={KEY}&mac=zz"),
        ("action=reg_user&sub=credits", f"api_key={KEYS['readonly']}&id=88&amount=5"),
    ]:
        assert (await either.raw(query, body)).status == 200, (query, body)


async def test_scope_is_enforced_for_xc_clients(either: XCClientStack) -> None:
    body = await either.call("reg_user", "credits", key="readonly", id="88", amount="5")
    assert body["result"] is False and body["error"] == "FORBIDDEN"
    assert "reseller.adjust_credits" in body["message"]
    assert either.sim.received == []


def test_matrix_cells_match_these_tests() -> None:
    """What the matrix promises XC clients is exactly what the tests below exercise."""
    got = {(op, upstream): kind for op, client, upstream, kind in cells() if client == "xtream_codes_v2"}
    expected_xm = {
        "line.create": "direct", "line.edit": "compound", "line.get": "compound", "mag.create": "direct",
        "mag.edit": "compound", "mag.get": "compound", "server.list": "direct", "reseller.list": "direct",
        "reseller.adjust_credits": "direct", "stream.start": "fan-out", "stream.stop": "fan-out",
        "movie.start": "fan-out", "movie.stop": "fan-out", "stream.online": "unsupported",
        "stream.offline": "unsupported",
    }  # fmt: skip
    assert {op: kind for (op, up), kind in got.items() if up == "xtream_masters"} == expected_xm
    assert {op: kind for (op, up), kind in got.items() if up == "xtream_codes_v2"} == dict.fromkeys(
        expected_xm, "direct"
    )


# --- XC -> XM -----------------------------------------------------------------------------------------------


async def test_xm_user_create_translates_every_quirk(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call(
        "user", "create",
        pairs=[("user_data[username]", "xcnew1"), ("user_data[password]", "pw-xcnew1"),
               ("user_data[exp_date]", str(EXP_2031)), ("user_data[bouquet]", "[1,3]"),
               ("user_data[is_restreamer]", "0"), ("user_data[is_trial]", "1"), ("user_data[max_connections]", "3"),
               ("user_data[allowed_ips]", '["10.0.0.1","10.0.0.2"]')],
    )  # fmt: skip
    created = max(sim.tables["lines"])
    assert body == {"result": True, "created_id": created, "username": "xcnew1", "password": "pw-xcnew1"}
    assert actions(sim) == ["create_line"]
    _, got = sim.received[0]
    assert got["exp_date"] == "2031-01-01"
    assert got["bouquets_selected"] == "[1,3]"
    assert "is_restreamer" not in got  # present means on, whatever the value
    assert got["is_trial"] == "1"
    assert got["allowed_ips"] == ["10.0.0.1", "10.0.0.2"]
    assert got["max_connections"] == "3"
    assert "bouquet" not in got and "user_data" not in got and "api_pass" not in got
    row = sim.tables["lines"][created]
    assert (row["username"], row["is_restreamer"], row["is_trial"], row["max_connections"]) == ("xcnew1", "0", "1",
                                                                                               "3")  # fmt: skip
    assert row["exp_date"] == str(EXP_2031)
    assert json.loads(row["bouquet"]) == [1, 3]


async def test_xm_user_create_restreamer_on_is_sent(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("user", "create", pairs=[("user_data[username]", "rs1"), ("user_data[password]", "pw"),
                                                     ("user_data[is_restreamer]", "1")])  # fmt: skip
    assert body["result"] is True
    assert sim.received[0][1]["is_restreamer"] == "1"
    assert sim.tables["lines"][body["created_id"]]["is_restreamer"] == "1"


async def test_xm_user_create_exists(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    before = len(sim.tables["lines"])
    body = await to_xm.call("user", "create", pairs=[("user_data[username]", LINE1[0]), ("user_data[password]", "x")])
    assert body == {"result": False, "error": "EXISTS"}
    assert actions(sim) == ["create_line"]
    assert len(sim.tables["lines"]) == before


async def test_xm_user_create_bad_value_is_parameter_error_and_not_forwarded(to_xm: XCClientStack) -> None:
    for pairs in ([("user_data[exp_date]", "tomorrow")], [("user_data[bouquet]", "[1,x]")],
                  [("user_data[max_connections]", "many")], [("user_data", "scalar")]):  # fmt: skip
        body = await to_xm.call("user", "create", pairs=pairs)
        assert body["result"] is False and body["error"] == "PARAMETER ERROR", pairs
    assert to_xm.sim.received == []


async def test_xm_user_edit_by_username_and_password(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("user", "edit", username=LINE1[0], password=LINE1[1],
                            pairs=[("user_data[max_connections]", "4"), ("user_data[exp_date]", str(EXP_2031))])
    assert body == {"result": True}
    # found by its credentials, read whole (the panel rebuilds an edited row), then edited
    assert actions(sim) == ["get_lines", "get_line", "edit_line"]
    assert sim.received[0][1]["search"] == {"value": LINE1[0]}
    _, edit = sim.received[2]
    assert edit["id"] == "1"
    assert edit["max_connections"] == "4" and edit["exp_date"] == "2031-01-01"
    assert (edit["username"], edit["password"]) == LINE1  # re-sent as they are: the credentials never change
    assert sim.tables["lines"][1]["max_connections"] == "4"


async def test_xm_user_edit_wrong_password_is_not_exists_and_nothing_is_edited(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("user", "edit", username=LINE1[0], password="wrong",
                            pairs=[("user_data[max_connections]", "4")])  # fmt: skip
    assert body == {"result": False, "error": "NOT EXISTS"}
    assert actions(sim) == ["get_lines"]
    assert sim.tables["lines"][1]["max_connections"] == "1"


async def test_xm_user_edit_without_credentials(to_xm: XCClientStack) -> None:
    body = await to_xm.call("user", "edit", username=LINE1[0], pairs=[("user_data[max_connections]", "4")])
    assert body == {"result": False, "error": "PARAMETER ERROR (user/pass)"}
    assert to_xm.sim.received == []


async def test_xm_user_info(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("user", "info", username=LINE1[0], password=LINE1[1])
    assert body["result"] is True
    info = body["user_info"]
    assert (info["username"], info["password"], str(info["id"])) == (LINE1[0], LINE1[1], "1")
    assert actions(sim) == ["get_lines", "get_line", "get_bouquets"]
    assert sim.received[1][1]["id"] == "1"
    # what XC v2's user/info adds, from the panel's own tables: live connections, its bouquets' contents
    tables = sim.state.tables
    live = [c for c in tables["lines_live"].values() if c["user_id"] == "1" and c["hls_end"] == "0"]
    assert info["active_cons"] == str(len(live)) and live
    bouquets = sorted(int(b) for b in json.loads(tables["lines"][1]["bouquet"]))
    assert info["bouquet"] == bouquets  # an array in id order, not the panel's JSON text
    streams: list[int] = []
    series: list[int] = []
    for bid in bouquets:
        row = tables["bouquets"][bid]
        for column in ("bouquet_channels", "bouquet_movies", "bouquet_radios"):
            streams += [s for s in json.loads(row[column]) if s not in streams]
        series += [s for s in json.loads(row["bouquet_series"]) if s not in series]
    assert info["channel_ids"] == streams and info["series_ids"] == series and streams
    assert info["allowed_ips"] == [] and info["allowed_ua"] == []
    outputs = sorted(int(o) for o in json.loads(tables["lines"][1]["allowed_outputs"]))
    keys = {1: "m3u8", 2: "ts", 3: "rtmp"}  # access_output as every XC panel is installed
    assert sorted(info["output_formats"]) == sorted(keys[o] for o in outputs) and outputs
    assert all(f["output_key"] == k and f["user_id"] == "1" for k, f in info["output_formats"].items())
    assert tables["lines"][1]["pair_id"] is None and info["pair_line_info"] == []
    missing = await to_xm.call("user", "info", username=LINE1[0], password="nope")
    assert missing == {"result": False, "error": "NOT EXISTS"}


async def test_xm_stb_create_edit_info(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    mac = "00:1A:79:AA:BB:CC"
    body = await to_xm.call("stb", "create", pairs=[("user_data[mac]", mac.lower()), ("user_data[bouquet]", "[2]"),
                                                    ("user_data[exp_date]", str(EXP_2031))])  # fmt: skip
    assert body == {"result": True}
    assert actions(sim) == ["create_mag"]
    _, got = sim.received[0]
    assert got["mac"].upper() == mac and got["bouquets_selected"] == "[2]" and got["exp_date"] == "2031-01-01"
    device_id = max(sim.tables["mag_devices"])
    device = sim.tables["mag_devices"][device_id]
    assert device["mac"] == mac
    line_id = int(device["user_id"])

    again = await to_xm.call("stb", "create", pairs=[("user_data[mac]", mac)])
    assert again == {"result": False, "error": "EXISTS"}

    sim.reset_received()
    if sim.flavour == "xui_one":  # processMAG fixes a device's line at one connection: told, not pretended
        refused = await to_xm.call("stb", "edit", mac=mac, pairs=[("user_data[max_connections]", "2")])
        assert refused["result"] is False and "max_connections" in refused["message"], refused
        assert actions(sim) == []  # refused before anything was sent
    edits = [("user_data[exp_date]", str(EXP_2031 + 86_400))]
    if sim.flavour != "xui_one":
        edits.append(("user_data[max_connections]", "2"))
    edited = await to_xm.call("stb", "edit", mac=mac, pairs=edits)
    assert edited == {"result": True}
    assert actions(sim) == ["get_mags", "get_mag", "edit_mag"]
    assert sim.received[1][1]["id"] == str(device_id)  # the device's own id, not its line's
    line = sim.tables["lines"][line_id]
    assert line["exp_date"] == str(EXP_2031 + 86_400) and line["bouquet"] == "[2]"  # the rest kept
    assert line["max_connections"] == ("1" if sim.flavour == "xui_one" else "2")

    sim.reset_received()
    info = await to_xm.call("stb", "info", mac=mac)
    assert info["result"] is True
    assert info["mag_device"]["mac"] == mac
    assert actions(sim) == ["get_mags", "get_mag"]
    assert sim.received[1][1]["id"] == str(device_id)


async def test_xm_stb_edit_seeded_device_addresses_the_device_not_its_line(to_xm: XCClientStack) -> None:
    """Seeded MAG 1 belongs to line 61; get_mags rows carry both ids, and edit_mag takes the device's."""
    sim = xm_sim(to_xm)
    body = await to_xm.call("stb", "edit", mac=MAC1, pairs=[("user_data[admin_notes]", "seen")])
    assert body == {"result": True}
    action, edit = sim.received[2]
    assert (action, edit["id"], edit["admin_notes"], edit["mac"]) == ("edit_mag", "1", "seen", MAC1)
    assert sim.tables["lines"][61]["admin_notes"] == "seen"


async def test_xm_stb_unknown_or_bad_mac(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    assert await to_xm.call("stb", "info", mac="00:1A:79:00:00:99") == {"result": False, "error": "NOT EXISTS"}
    assert actions(sim) == ["get_mags"]
    sim.reset_received()
    for call in (to_xm.call("stb", "info", mac="zz"), to_xm.call("stb", "create", pairs=[("user_data[mac]", "zz")])):
        assert await call == {"result": False, "error": "PARAMETER ERROR (mac)"}
    assert sim.received == []


async def test_xm_server_list(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("server", "list")
    assert isinstance(body, list)
    assert {str(s["id"]) for s in body} == {str(i) for i in sim.tables["servers"]}
    assert all("server_name" in s for s in body)
    assert actions(sim) == ["get_servers"]


async def test_xm_reg_user_list(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("reg_user", "list")
    assert isinstance(body, list)
    assert {u["username"] for u in body} >= {"north_tv", "south_stream"}
    assert actions(sim) == ["get_users"]
    # api.php's columns, whatever the panel behind: the group as group_id, dates as UNIX time
    north = next(u for u in body if u["username"] == "north_tv")
    assert list(north) == ["id", "username", "credits", "group_id", "group_name", "last_login", "date_registered",
                           "email", "ip", "status"]  # fmt: skip
    assert north["group_id"] == "2" and north["date_registered"] == sim.tables["users"][88]["date_registered"]


async def test_xm_reg_user_credits_by_id(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    assert await to_xm.call("reg_user", "credits", id="88", amount="25") == {"result": True}
    assert sim.received == [("adjust_credits", {"action": "adjust_credits", "id": "88", "credits": "25"})]
    assert sim.tables["users"][88]["credits"] == "525"


async def test_xm_reg_user_credits_by_username_is_compound(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    assert await to_xm.call("reg_user", "credits", username="south_stream", amount="-20") == {"result": True}
    assert actions(sim) == ["get_users", "adjust_credits"]
    assert sim.received[1][1]["id"] == "89" and sim.received[1][1]["credits"] == "-20"
    assert sim.tables["users"][89]["credits"] == "100"
    sim.reset_received()
    assert await to_xm.call("reg_user", "credits", username="nobody", amount="5") == {"result": False,
                                                                                       "error": "NOT EXISTS"}
    assert actions(sim) == ["get_users"]


async def test_xm_reg_user_credits_overdraw_is_xc_not_enough_credits(to_xm: XCClientStack) -> None:
    """XM answers a plain STATUS_FAILURE on overdraw; the gateway reads the balance to tell the XC client what an
    XC panel would have said: result true, NOT ENOUGH CREDITS, nothing changed."""
    sim = xm_sim(to_xm)
    body = await to_xm.call("reg_user", "credits", id="90", amount="-16")
    assert body == {"result": True, "error": "NOT ENOUGH CREDITS"}
    assert actions(sim) == ["adjust_credits", "get_user"]
    assert sim.tables["users"][90]["credits"] == "15"


async def test_xm_reg_user_credits_unknown_id_is_not_exists(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    assert await to_xm.call("reg_user", "credits", id="4242", amount="-5") == {"result": False, "error": "NOT EXISTS"}
    assert await to_xm.call("reg_user", "credits", id="4242", amount="5") == {"result": False, "error": "NOT EXISTS"}
    assert actions(sim)[0] == "adjust_credits"
    assert "edit_user" not in actions(sim)


async def test_xm_stream_start_fans_out(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("stream", "start", pairs=[("stream_ids[]", "1"), ("stream_ids[]", "2")])
    assert body == {"result": True}
    got = sorted(sim.received, key=lambda r: r[1]["id"])
    assert [a for a, _ in got] == ["start_stream", "start_stream"]
    assert [p["id"] for _, p in got] == ["1", "2"]
    # no servers[] in XC v2 means every server of the stream; the XM panel spells that server_id=-1
    assert all(p["server_id"] == "-1" for _, p in got)


async def test_xm_stream_start_on_named_servers(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("stream", "stop", pairs=[("stream_ids[]", "1"), ("servers[]", "2")])
    assert body == {"result": True}
    assert sim.received == [("stop_stream", {"action": "stop_stream", "id": "1", "server_id": "2"})]


async def test_xm_stream_start_on_several_servers_asks_each_server(to_xm: XCClientStack) -> None:
    """XM takes one server_id per call (-1 for all): two named servers are two calls each, never "all"."""
    sim = xm_sim(to_xm)
    body = await to_xm.call("stream", "start", pairs=[("stream_ids[]", "1"), ("stream_ids[]", "2"),
                                                      ("servers[]", "1"), ("servers[]", "2")])  # fmt: skip
    assert body == {"result": True}
    assert sorted((a, p["id"], p["server_id"]) for a, p in sim.received) == [
        ("start_stream", "1", "1"), ("start_stream", "1", "2"), ("start_stream", "2", "1"), ("start_stream", "2", "2"),
    ]  # fmt: skip


async def test_xm_stream_start_partial_failure_names_the_id(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("stream", "start", pairs=[("stream_ids[]", "1"), ("stream_ids[]", "99999")])
    assert body["result"] is False
    assert body["error"] == "PARTIAL_FAILURE"
    assert "99999" in body["message"] and "[1]" in body["message"]
    assert sorted(p["id"] for _, p in sim.received) == ["1", "99999"]


async def test_xm_stream_start_all_failing(to_xm: XCClientStack) -> None:
    body = await to_xm.call("stream", "start", pairs=[("stream_ids[]", "99998"), ("stream_ids[]", "99999")])
    assert body == {"result": False, "error": "NOT EXISTS"}


async def test_xm_stream_start_needs_ids(to_xm: XCClientStack) -> None:
    for pairs in ([], [("stream_ids[]", "x")], [("stream_ids", "1")]):
        body = await to_xm.call("stream", "start", pairs=pairs)
        assert body["result"] is False and body["error"] == "PARAMETER ERROR", pairs
    assert to_xm.sim.received == []


async def test_xm_vod_start(to_xm: XCClientStack) -> None:
    sim = xm_sim(to_xm)
    body = await to_xm.call("vod", "start", pairs=[("stream_ids[]", "21"), ("stream_ids[]", "22")])
    assert body == {"result": True}
    assert sorted((a, p["id"]) for a, p in sim.received) == [("start_movie", "21"), ("start_movie", "22")]


@pytest.mark.parametrize("sub", ["online", "offline"])
async def test_xm_stream_online_is_unsupported_and_never_forwarded(to_xm: XCClientStack, sub: str) -> None:
    body = await to_xm.call("stream", sub)
    assert body["result"] is False
    assert body["error"] == "UNSUPPORTED"
    assert f"stream.{sub}" in body["message"] and "xtream_masters" in body["message"]
    assert to_xm.sim.received == []


# --- XC -> XC -----------------------------------------------------------------------------------------------


def _passed_through(sim: XtreamCodesV2Sim) -> None:
    """Every request reached the panel with the configured api_pass (the simulator answers KEY WRONG otherwise)
    and none carried the client's key."""
    assert KEY not in repr(sim.received)
    assert all("api_key" not in params for _, params in sim.received)


async def test_xc_user_create(to_xc: XCClientStack) -> None:
    sim = xc_sim(to_xc)
    body = await to_xc.call(
        "user", "create",
        pairs=[("user_data[username]", "xcnew1"), ("user_data[password]", "pw-xcnew1"),
               ("user_data[exp_date]", str(EXP_2031)), ("user_data[bouquet]", "[1,3]"),
               ("user_data[is_restreamer]", "0"), ("user_data[allowed_ips]", '["10.0.0.1"]'),
               ("user_data[admin_notes]", "hello")],
    )  # fmt: skip
    created = max(sim.tables["users"])
    assert body == {"result": True, "created_id": created, "username": "xcnew1", "password": "pw-xcnew1"}
    assert actions(sim) == ["user/create"]
    assert sim.received[0][1]["user_data"] == {
        "username": "xcnew1", "password": "pw-xcnew1", "exp_date": str(EXP_2031), "bouquet": "[1,3]",
        "is_restreamer": "0", "allowed_ips": '["10.0.0.1"]', "admin_notes": "hello",
    }  # fmt: skip
    _passed_through(sim)
    row = sim.tables["users"][created]
    assert row["exp_date"] == str(EXP_2031) and json.loads(row["bouquet"]) == [1, 3] and row["is_restreamer"] == "0"
    again = await to_xc.call("user", "create", pairs=[("user_data[username]", "xcnew1"),
                                                      ("user_data[password]", "pw-xcnew1")])  # fmt: skip
    assert again == {"result": False, "error": "EXISTS"}


async def test_xc_user_edit_and_info(to_xc: XCClientStack) -> None:
    sim = xc_sim(to_xc)
    body = await to_xc.call("user", "edit", username=LINE1[0], password=LINE1[1],
                            pairs=[("user_data[max_connections]", "4")])  # fmt: skip
    assert body == {"result": True}
    assert sim.received == [("user/edit", {"action": "user", "sub": "edit", "username": LINE1[0],
                                           "password": LINE1[1], "user_data": {"max_connections": "4"}})]  # fmt: skip
    assert sim.tables["users"][1]["max_connections"] == "4"
    wrong = await to_xc.call("user", "edit", username=LINE1[0], password="wrong",
                             pairs=[("user_data[max_connections]", "4")])  # fmt: skip
    assert wrong == {"result": False, "error": "NOT EXISTS"}
    info = await to_xc.call("user", "info", username=LINE1[0], password=LINE1[1])
    assert info["result"] is True
    assert info["user_info"]["username"] == LINE1[0] and info["user_info"]["max_connections"] == "4"
    assert "channel_ids" in info["user_info"] and "active_cons" in info["user_info"]
    assert actions(sim) == ["user/edit", "user/edit", "user/info"]
    _passed_through(sim)


async def test_xc_user_edit_to_never_expire_is_refused_not_written_as_expired(to_xc: XCClientStack) -> None:
    """api.php's user/edit writes exp_date as given, so the empty value (never expires, as user/create reads it)
    would store 0, a line expired in 1970: toward an XC v2 panel the gateway refuses it, sending nothing."""
    sim = xc_sim(to_xc)
    before = dict(sim.tables["users"][1])
    body = await to_xc.call("user", "edit", username=LINE1[0], password=LINE1[1],
                            pairs=[("user_data[exp_date]", ""), ("user_data[max_connections]", "4")])  # fmt: skip
    assert body["result"] is False and body["error"] == "UNSUPPORTED"
    assert "exp_date" in body["message"] and "nothing was sent" in body["message"]
    assert sim.received == [] and sim.tables["users"][1] == before


async def test_xm_user_edit_to_never_expire_is_no_expire(to_xm: XCClientStack) -> None:
    """Toward an Xtream-Masters panel the same edit means what it says: the line never expires."""
    sim = xm_sim(to_xm)
    body = await to_xm.call("user", "edit", username=LINE1[0], password=LINE1[1],
                            pairs=[("user_data[exp_date]", "")])  # fmt: skip
    assert body == {"result": True}
    _, edit = sim.received[-1]
    assert edit["no_expire"] == "1" and "exp_date" not in edit
    assert sim.tables["lines"][1]["exp_date"] in (None, "", "0", 0)


async def test_xc_stb_create_edit_info(to_xc: XCClientStack) -> None:
    sim = xc_sim(to_xc)
    mac = "00:1A:79:AA:BB:CC"
    assert await to_xc.call("stb", "create", pairs=[("user_data[mac]", mac)]) == {"result": True}
    assert sim.received[0] == ("stb/create", {"action": "stb", "sub": "create", "user_data": {"mac": mac}})
    assert await to_xc.call("stb", "create", pairs=[("user_data[mac]", mac)]) == {"result": False, "error": "EXISTS"}
    edited = await to_xc.call("stb", "edit", mac=mac, pairs=[("user_data[max_connections]", "3")])
    assert edited == {"result": True}
    assert sim.received[2] == ("stb/edit", {"action": "stb", "sub": "edit", "mac": mac,
                                            "user_data": {"max_connections": "3"}})  # fmt: skip
    info = await to_xc.call("stb", "info", mac=mac)
    assert info["result"] is True and info["mag_device"]["mac"] == mac
    assert actions(sim) == ["stb/create", "stb/create", "stb/edit", "stb/info"]
    assert await to_xc.call("stb", "info", mac="00:1A:79:00:00:99") == {"result": False, "error": "NOT EXISTS"}
    _passed_through(sim)


async def test_xc_server_list_stream_online_reg_user_list(to_xc: XCClientStack) -> None:
    sim = xc_sim(to_xc)
    servers = await to_xc.call("server", "list")
    assert isinstance(servers, list) and {"id", "server_name", "online", "info"} <= set(servers[0])
    online = await to_xc.call("stream", "online")
    assert isinstance(online, dict) and online
    assert all(isinstance(v, list) for v in online.values())
    users = await to_xc.call("reg_user", "list")
    assert {u["username"] for u in users} >= {"north_tv", "south_stream"}
    assert actions(sim) == ["server/list", "stream/online", "reg_user/list"]
    _passed_through(sim)


async def test_xc_stream_start_batch_is_one_call(to_xc: XCClientStack) -> None:
    sim = xc_sim(to_xc)
    body = await to_xc.call("stream", "start", pairs=[("stream_ids[]", "1"), ("stream_ids[]", "2")])
    assert body == {"result": True}
    assert sim.received == [("stream/start", {"action": "stream", "sub": "start", "stream_ids": ["1", "2"]})]
    sim.reset_received()
    body = await to_xc.call("vod", "stop", pairs=[("stream_ids[]", "21"), ("servers[]", "1"), ("servers[]", "2")])
    assert body == {"result": True}
    assert sim.received == [("vod/stop", {"action": "vod", "sub": "stop", "stream_ids": ["21"],
                                          "servers": ["1", "2"]})]  # fmt: skip
    _passed_through(sim)


async def test_xc_reg_user_credits_and_the_not_enough_credits_quirk(to_xc: XCClientStack) -> None:
    sim = xc_sim(to_xc)
    assert await to_xc.call("reg_user", "credits", id="88", amount="10") == {"result": True}
    assert await to_xc.call("reg_user", "credits", username="south_stream", amount="-20") == {"result": True}
    assert sim.received == [
        ("reg_user/credits", {"action": "reg_user", "sub": "credits", "id": "88", "amount": "10"}),
        ("reg_user/credits", {"action": "reg_user", "sub": "credits", "username": "south_stream", "amount": "-20"}),
    ]
    before = sim.tables["reg_users"][90]["credits"]
    body = await to_xc.call("reg_user", "credits", id="90", amount="-1000")
    assert body == {"result": True, "error": "NOT ENOUGH CREDITS"}
    assert sim.tables["reg_users"][90]["credits"] == before
    assert await to_xc.call("reg_user", "credits", id="4242", amount="1") == {"result": False, "error": "NOT EXISTS"}
    _passed_through(sim)


async def test_xc_upstream_refusing_the_gateway_is_not_blamed_on_the_client(to_xc: XCClientStack) -> None:
    xc_sim(to_xc).api_pass = "rotated"
    body = await to_xc.call("server", "list")
    assert body["result"] is False and body["error"] == "UPSTREAM_ERROR"
    assert body != {"result": False, "0": "KEY WRONG"}


# --- requests built exactly as PHP builds them --------------------------------------------------------------

CREATE_BODY = (
    b"user_data%5Busername%5D=phpline&user_data%5Bpassword%5D=phppass&user_data%5Bexp_date%5D=1924992000"
    b"&user_data%5Bbouquet%5D=%5B1%2C2%5D&user_data%5Bis_restreamer%5D=0"
    b"&api_key=" + KEY.encode()
)
START_BODY = b"stream_ids%5B0%5D=1&stream_ids%5B1%5D=2&api_key=" + KEY.encode()
CREATE_PHP = (
    "['user_data' => ['username' => 'phpline', 'password' => 'phppass', 'exp_date' => 1924992000, "
    f"'bouquet' => json_encode([1, 2]), 'is_restreamer' => 0], 'api_key' => '{KEY}']"
)
START_PHP = f"['stream_ids' => [1, 2], 'api_key' => '{KEY}']"

php_only = pytest.mark.skipif(PHP is None, reason="php-cli is not installed")


def _bodies(literal: bytes, php: str) -> list[Any]:
    return [pytest.param(literal, id="literal"), pytest.param(php, id="php", marks=php_only)]


def _bytes(body: bytes | str) -> bytes:
    return body if isinstance(body, bytes) else php_query(body)


def test_literal_bodies_are_what_php_writes() -> None:
    if PHP is None:
        pytest.skip("php-cli is not installed")
    assert php_query(CREATE_PHP) == CREATE_BODY
    assert php_query(START_PHP) == START_BODY


@pytest.mark.parametrize("body", _bodies(CREATE_BODY, CREATE_PHP))
async def test_php_built_user_create(either: XCClientStack, body: bytes | str) -> None:
    answer = await either.raw("action=user&sub=create", _bytes(body))
    got = answer.json()
    assert got["result"] is True and (got["username"], got["password"]) == ("phpline", "phppass")
    assert len(either.sim.received) == 1
    _, params = either.sim.received[0]
    if isinstance(either.sim, XtreamMastersSim):
        assert params["exp_date"] == "2031-01-01" and params["bouquets_selected"] == "[1,2]"
        assert "is_restreamer" not in params
    else:
        assert params["user_data"] == {"username": "phpline", "password": "phppass", "exp_date": "1924992000",
                                       "bouquet": "[1,2]", "is_restreamer": "0"}  # fmt: skip


@pytest.mark.parametrize("body", _bodies(START_BODY, START_PHP))
async def test_php_built_stream_start(either: XCClientStack, body: bytes | str) -> None:
    answer = await either.raw("action=stream&sub=start", _bytes(body))
    assert answer.json() == {"result": True}
    if isinstance(either.sim, XtreamMastersSim):
        assert sorted((a, p["id"]) for a, p in either.sim.received) == [("start_stream", "1"), ("start_stream", "2")]
    else:
        assert either.sim.received == [("stream/start", {"action": "stream", "sub": "start",
                                                         "stream_ids": ["1", "2"]})]  # fmt: skip


# --- what real XC v2 scripts send -----------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", ["xm", "xui", "xc"])
async def test_real_scripts_flat_fields_and_bouquet_arrays(
    upstream: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """Scripts send a line's columns beside user_data as often as in it, and bouquets as a PHP array."""
    stack = await xc_client_stack(upstream, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    created = await stack.call("user", "create", pairs=[
        ("username", "flat_user"), ("password", "flat_pass_1"), ("max_connections", "2"),
        ("user_data[bouquet][]", "1"), ("user_data[bouquet][]", "3"), ("user_data[exp_date]", str(EXP_2031))])
    assert created["result"] is True and created["username"] == "flat_user", created
    edited = await stack.call("user", "edit", username="flat_user", password="flat_pass_1",
                              pairs=[("max_connections", "3"), ("user_data[admin_notes]", "flat")])  # fmt: skip
    assert edited == {"result": True}, edited
    info = await stack.call("user", "info", username="flat_user", password="flat_pass_1")
    user = info["user_info"]
    assert (str(user["max_connections"]), user["admin_notes"], str(user["exp_date"])) == ("3", "flat", str(EXP_2031))
    assert sorted(int(b) for b in user["bouquet"]) == [1, 3]
    clash = await stack.call("user", "edit", username="flat_user", password="flat_pass_1",
                             pairs=[("max_connections", "4"), ("user_data[max_connections]", "5")])  # fmt: skip
    assert clash["result"] is False and "max_connections" in clash["message"], clash


async def test_fractional_credits_reach_an_xc_panel_and_are_refused_toward_whole_credits(
    to_xc: XCClientStack, to_xm: XCClientStack
) -> None:
    sim = xc_sim(to_xc)
    before = float(sim.tables["reg_users"][88]["credits"])
    assert await to_xc.call("reg_user", "credits", id="88", amount="2.5") == {"result": True}
    assert float(sim.tables["reg_users"][88]["credits"]) == before + 2.5
    refused = await to_xm.call("reg_user", "credits", id="88", amount="2.5")
    assert refused["result"] is False and "whole credits" in refused["message"], refused
    assert xm_sim(to_xm).received == []
