"""The simulated MidnightStreamer Pro server API on its own: auth, every endpoint, errors and state."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.sim import seed as seed_data
from gateway.sim.midnight import MidnightStreamerSim, run_sim
from gateway.sim.ms_state import parse_form

KEY = "sim-ms-key"
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


class Api:
    def __init__(self, client: Client, sim: MidnightStreamerSim) -> None:
        self.client = client
        self.sim = sim

    async def raw(self, path: str, pairs: list[tuple[str, str]] | None = None, /, **form: str) -> tuple[int, str]:
        resp = await self.client.post(path, data=[*(pairs or []), *form.items()])
        return resp.status, await resp.text()

    async def call(self, endpoint: str, pairs: list[tuple[str, str]] | None = None, /, **form: str) -> Any:
        """POST with the key as a form field; `pairs` for data[...] fields."""
        status, text = await self.raw(f"/api/{endpoint}", [("api_key", KEY), *(pairs or [])], **form)
        assert status == 200
        return json.loads(text)


@pytest.fixture
async def api(aiohttp_client: MakeClient) -> Api:
    sim = MidnightStreamerSim()
    return Api(await aiohttp_client(sim.app()), sim)


def data(**fields: str) -> list[tuple[str, str]]:
    return [(f"data[{k}]", v) for k, v in fields.items()]


# --- auth and plumbing ---------------------------------------------------------------------------------------------


async def test_key_as_post_field(api: Api) -> None:
    body = await api.call("resellers/list")
    assert body["result"] is True
    assert [r["id"] for r in body["data"]] == ["88", "89"]


async def test_key_as_fourth_url_segment(api: Api) -> None:
    status, text = await api.raw(f"/api/resellers/list/{KEY}")
    assert status == 200
    assert json.loads(text)["result"] is True
    resp = await api.client.get(f"/api/resellers/list/{KEY}")
    assert json.loads(await resp.text())["result"] is True


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/api/resellers/list", {}),
        ("/api/resellers/list", {"api_key": "wrong"}),
        ("/api/resellers/list/wrong", {}),
        (f"/api/resellers/list/{KEY}", {"api_key": "wrong"}),  # a posted key wins over the segment
        ("/api/resellers/list", {"api_key[]": KEY}),
    ],
)
async def test_missing_or_wrong_key_is_refused(api: Api, path: str, form: dict[str, str]) -> None:
    status, text = await api.raw(path, **form)
    assert (status, text) == (200, '{"result":false,"error":"Invalid API key."}')


async def test_ip_not_allowed_is_refused_before_the_key(aiohttp_client: MakeClient) -> None:
    sim = MidnightStreamerSim(allowed_ips=("10.9.9.9",))
    api = Api(await aiohttp_client(sim.app()), sim)
    for form in ({"api_key": KEY}, {"api_key": "wrong"}):
        status, text = await api.raw("/api/resellers/new", data(name="x"), **form)
        assert (status, text) == (200, '{"result":false,"error":"IP not allowed."}')
    status, text = await api.raw(f"/api/resellers/list/{KEY}")
    assert text == '{"result":false,"error":"IP not allowed."}'
    assert [e for e, _ in sim.received] == ["resellers/new", "resellers/new", "resellers/list"]
    assert len(sim.tables["resellers"]) == 2


async def test_received_records_every_request_without_the_key(api: Api) -> None:
    await api.call("resellers/add_credits", id="88", credits="5")
    await api.raw("/api/resellers/list/wrong-key")
    await api.raw(f"/api/line/nope/{KEY}", api_key=KEY)
    assert api.sim.received == [
        ("resellers/add_credits", {"id": "88", "credits": "5"}),
        ("resellers/list", {}),
        ("line/nope", {}),
    ]
    assert KEY not in json.dumps(api.sim.received)
    api.sim.reset_received()
    assert api.sim.received == []


@pytest.mark.parametrize("path", ["/api/line/nope", "/api/foo/bar", "/api/resellers", "/api", f"/api/x/y/{KEY}"])
async def test_unknown_endpoint_is_a_codeigniter_404(api: Api, path: str) -> None:
    status, text = await api.raw(path, api_key=KEY)
    assert status == 404
    assert "404 Page Not Found" in text


async def test_answers_are_php_json(api: Api) -> None:
    resp = await api.client.post("/api/mag/info", data={"api_key": KEY, "mac_address": "00:1A:79:4B:2C:01"})
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert '"result":true' in text and ", " not in text


def test_parse_form_nests_like_php() -> None:
    parsed = parse_form([("data[name]", "a"), ("data[x][]", "1"), ("data[x][]", "2"), ("a.b", "c"), ("id", "1")])
    assert parsed == {"data": {"name": "a", "x": {"0": "1", "1": "2"}}, "a_b": "c", "id": "1"}


# --- resellers -----------------------------------------------------------------------------------------------------


def test_seed_matches_the_shared_seed() -> None:
    sim = MidnightStreamerSim()
    users = seed_data.build()["users"]
    resellers = sim.tables["resellers"]
    assert {rid: r["username"] for rid, r in resellers.items()} == {
        88: users[88]["username"],
        89: users[89]["username"],
    }
    assert (resellers[88]["credits"], resellers[89]["credits"]) == ("500", "120")
    owners = {r["reseller_id"] for r in sim.tables["lines"].values()}
    assert owners == {"0", "88", "89"}
    assert len(sim.tables["mags"]) == 3
    assert MidnightStreamerSim(seed=False).tables == {"resellers": {}, "lines": {}, "mags": {}}
    assert MidnightStreamerSim().tables == sim.tables


async def test_resellers_new(api: Api) -> None:
    body = await api.call(
        "resellers/new", data(name="west_tv", max_allowed_connections="100", use_credits="1", credits="50")
    )
    assert body == {"result": True, "created_id": 90, "username": "west_tv", "password": body["password"]}
    row = api.sim.tables["resellers"][90]
    assert (row["username"], row["credits"], row["use_credits"], row["max_allowed_connections"]) == (
        "west_tv",
        "50",
        "1",
        "100",
    )
    assert row["password"] == body["password"] and len(body["password"]) == 10
    body = await api.call("resellers/new", data(name="east_tv", password="pw123456", email="e@example.com"))
    assert (body["created_id"], body["password"]) == (91, "pw123456")
    assert api.sim.tables["resellers"][91]["email"] == "e@example.com"


async def test_resellers_new_errors(api: Api) -> None:
    assert await api.call("resellers/new") == {"result": False, "error": "Name is required."}
    assert await api.call("resellers/new", data(name=" ")) == {"result": False, "error": "Name is required."}
    assert await api.call("resellers/new", name="flat") == {"result": False, "error": "Name is required."}
    assert await api.call("resellers/new", data(name="north_tv")) == {"result": False, "error": "Username exists."}
    assert len(api.sim.tables["resellers"]) == 2


async def test_resellers_update_by_id_and_by_username(api: Api) -> None:
    assert await api.call("resellers/update", data(credits="100"), id="89") == {"result": True}
    assert api.sim.tables["resellers"][89]["credits"] == "100"
    assert await api.call("resellers/update", data(email="n@example.com"), username="north_tv") == {"result": True}
    assert api.sim.tables["resellers"][88]["email"] == "n@example.com"
    assert api.sim.tables["resellers"][89]["email"] != "n@example.com"


async def test_resellers_update_errors(api: Api) -> None:
    before = copy.deepcopy(api.sim.tables)
    assert await api.call("resellers/update", data(credits="1")) == {
        "result": False,
        "error": "Missing id or username.",
    }
    assert await api.call("resellers/update", data(credits="1"), id="7") == {
        "result": False,
        "error": "Reseller not found.",
    }
    assert await api.call("resellers/update", data(credits="1"), username="nobody") == {
        "result": False,
        "error": "Reseller not found.",
    }
    assert await api.call("resellers/update", data(bogus="1"), id="88") == {"result": False, "error": "Database error."}
    assert await api.call("resellers/update", id="88") == {"result": False, "error": "Database error."}
    assert await api.call("resellers/update", data(username="south_stream"), id="88") == {
        "result": False,
        "error": "Username exists.",
    }
    assert api.sim.tables == before


async def test_add_credits_by_id_and_by_username(api: Api) -> None:
    assert await api.call("resellers/add_credits", id="88", credits="25") == {"result": True}
    assert api.sim.tables["resellers"][88]["credits"] == "525"
    assert await api.call("resellers/add_credits", username="south_stream", credits="-20") == {"result": True}
    assert api.sim.tables["resellers"][89]["credits"] == "100"
    assert await api.call("resellers/add_credits", id="89", credits="-100") == {"result": True}
    assert api.sim.tables["resellers"][89]["credits"] == "0"


async def test_add_credits_not_enough_leaves_state_unchanged(api: Api) -> None:
    before = copy.deepcopy(api.sim.tables)
    assert await api.call("resellers/add_credits", id="89", credits="-121") == {
        "result": False,
        "error": "Not enough credits.",
    }
    assert await api.call("resellers/add_credits", username="north_tv", credits="-501") == {
        "result": False,
        "error": "Not enough credits.",
    }
    assert api.sim.tables == before


async def test_add_credits_errors(api: Api) -> None:
    assert await api.call("resellers/add_credits", credits="5") == {"result": False, "error": "Missing id or username."}
    assert await api.call("resellers/add_credits", id="88") == {"result": False, "error": "Invalid credits."}
    assert await api.call("resellers/add_credits", id="88", credits="ten") == {
        "result": False,
        "error": "Invalid credits.",
    }
    assert await api.call("resellers/add_credits", id="5", credits="1") == {
        "result": False,
        "error": "Reseller not found.",
    }
    assert api.sim.tables["resellers"][88]["credits"] == "500"


async def test_resellers_list_hides_passwords_and_shows_new_rows(api: Api) -> None:
    await api.call("resellers/new", data(name="west_tv"))
    body = await api.call("resellers/list")
    assert [r["username"] for r in body["data"]] == ["north_tv", "south_stream", "west_tv"]
    assert all("password" not in r for r in body["data"])


# --- lines ---------------------------------------------------------------------------------------------------------


async def test_line_new(api: Api) -> None:
    fields = data(
        username="test_user",
        password="test_pass",
        max_allowed_connections="2",
        restreamer="1",
        expire_date="1924992000",
        subscription_plan_id="3",
        reseller_id="88",
    )
    body = await api.call("line/new", fields)
    assert body == {"result": True, "created_id": 61, "username": "test_user", "password": "test_pass"}
    row = api.sim.tables["lines"][61]
    assert (row["max_allowed_connections"], row["restreamer"], row["expire_date"]) == ("2", "1", "1924992000")
    assert (row["subscription_plan_id"], row["reseller_id"]) == ("3", "88")


async def test_line_new_generates_missing_credentials(api: Api) -> None:
    body = await api.call("line/new", data(reseller_id="89"))
    assert body["result"] is True and len(body["username"]) == 10 and len(body["password"]) == 10
    assert api.sim.tables["lines"][body["created_id"]]["username"] == body["username"]


async def test_line_new_username_exists(api: Api) -> None:
    taken = api.sim.tables["lines"][21]["username"]
    before = copy.deepcopy(api.sim.tables)
    assert await api.call("line/new", data(username=taken, password="x")) == {
        "result": False,
        "error": "Username exists.",
    }
    assert await api.call("line/new", data(username="fresh", bogus="1")) == {
        "result": False,
        "error": "Database error.",
    }
    assert api.sim.tables == before


async def test_line_update(api: Api) -> None:
    name = api.sim.tables["lines"][22]["username"]
    other = dict(api.sim.tables["lines"][23])
    assert await api.call(
        "line/update", data(max_allowed_connections="3", expire_date="1700000000"), username=name
    ) == {"result": True}
    assert api.sim.tables["lines"][22]["max_allowed_connections"] == "3"
    assert api.sim.tables["lines"][22]["expire_date"] == "1700000000"
    assert api.sim.tables["lines"][23] == other


async def test_line_update_errors(api: Api) -> None:
    before = copy.deepcopy(api.sim.tables)
    line22 = api.sim.tables["lines"][22]["username"]
    assert await api.call("line/update", data(password="x")) == {"result": False, "error": "Missing username."}
    assert await api.call("line/update", data(password="x"), id="22") == {"result": False, "error": "Missing username."}
    assert await api.call("line/update", data(password="x"), username="ghost") == {
        "result": False,
        "error": "Line not found.",
    }
    assert await api.call("line/update", data(nope="1"), username=line22) == {
        "result": False,
        "error": "Database error.",
    }
    taken = api.sim.tables["lines"][23]["username"]
    assert await api.call("line/update", data(username=taken), username=line22) == {
        "result": False,
        "error": "Username exists.",
    }
    assert api.sim.tables == before


async def test_line_info_and_delete(api: Api) -> None:
    name = api.sim.tables["lines"][41]["username"]
    body = await api.call("line/info", username=name)
    assert body["result"] is True and body["data"]["id"] == "41" and body["data"]["reseller_id"] == "89"
    assert await api.call("line/delete", username=name) == {"result": True}
    assert 41 not in api.sim.tables["lines"]
    assert await api.call("line/info", username=name) == {"result": False, "error": "Line not found."}
    assert await api.call("line/delete", username=name) == {"result": False, "error": "Line not found."}
    assert await api.call("line/info") == {"result": False, "error": "Missing username."}


# --- MAG devices ---------------------------------------------------------------------------------------------------


async def test_mag_new(api: Api) -> None:
    body = await api.call(
        "mag/new", data(mac_address="00:1a:79:79:79:79", expire_date="1924992000", subscription_plan_id="1")
    )
    assert body == {"result": True}
    row = api.sim.tables["mags"][4]
    assert (row["mac_address"], row["expire_date"], row["subscription_plan_id"]) == (
        "00:1A:79:79:79:79",
        "1924992000",
        "1",
    )


@pytest.mark.parametrize("mac", ["", "00:1A:79:79:79", "00-1A-79-79-79-79", "GG:1A:79:79:79:79"])
async def test_mag_new_invalid_mac(api: Api, mac: str) -> None:
    assert await api.call("mag/new", data(mac_address=mac)) == {"result": False, "error": "Invalid MAC Address"}
    assert len(api.sim.tables["mags"]) == 3


async def test_mag_new_mac_must_be_inside_data(api: Api) -> None:
    assert await api.call("mag/new", mac_address="00:1A:79:79:79:79") == {
        "result": False,
        "error": "Invalid MAC Address",
    }


async def test_mag_new_exists_ignores_case(api: Api) -> None:
    for mac in ("00:1A:79:4B:2C:01", "00:1a:79:4b:2c:01"):
        assert await api.call("mag/new", data(mac_address=mac)) == {
            "result": False,
            "error": "MAC Address already exists",
        }
    assert len(api.sim.tables["mags"]) == 3


async def test_mag_update(api: Api) -> None:
    assert await api.call("mag/update", data(expire_date="1800000000"), mac_address="00:1A:79:4B:2C:02") == {
        "result": True
    }
    assert api.sim.tables["mags"][2]["expire_date"] == "1800000000"


async def test_mag_update_errors(api: Api) -> None:
    before = copy.deepcopy(api.sim.tables)
    invalid = {"result": False, "error": "Invalid MAC Address"}
    assert await api.call("mag/update", data(enabled="0"), mac_address="00:1A:79:00:00:00") == invalid
    assert await api.call("mag/update", data(enabled="0"), mac_address="bad") == invalid
    assert await api.call("mag/update", data(enabled="0")) == invalid
    assert await api.call("mag/update", data(mac_address="bad"), mac_address="00:1A:79:4B:2C:02") == invalid
    assert await api.call("mag/update", data(mac_address="00:1A:79:4B:2C:01"), mac_address="00:1A:79:4B:2C:02") == {
        "result": False,
        "error": "MAC Address already exists",
    }
    assert await api.call("mag/update", data(nope="1"), mac_address="00:1A:79:4B:2C:02") == {
        "result": False,
        "error": "Database error.",
    }
    assert api.sim.tables == before


async def test_mag_info_and_delete(api: Api) -> None:
    body = await api.call("mag/info", mac_address="00:1a:79:7f:10:9e")
    assert body["result"] is True and body["data"]["id"] == "3" and body["data"]["reseller_id"] == "88"
    assert await api.call("mag/delete", mac_address="00:1A:79:7F:10:9E") == {"result": True}
    assert 3 not in api.sim.tables["mags"]
    invalid = {"result": False, "error": "Invalid MAC Address"}
    assert await api.call("mag/info", mac_address="00:1A:79:7F:10:9E") == invalid
    assert await api.call("mag/delete", mac_address="00:1A:79:7F:10:9E") == invalid
    assert await api.call("mag/info", mac_address="nonsense") == invalid
    # AUTO_INCREMENT does not reuse the deleted id
    assert await api.call("mag/new", data(mac_address="00:1A:79:7F:10:9E")) == {"result": True}
    assert 4 in api.sim.tables["mags"] and 3 not in api.sim.tables["mags"]


# --- run_sim ---------------------------------------------------------------------------------------------------


async def test_run_sim_serves_until_cancelled() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(run_sim("127.0.0.1", port, "k"))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(50):
                try:
                    async with session.post(f"http://127.0.0.1:{port}/api/resellers/list/k") as resp:
                        body = json.loads(await resp.text())
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("simulator did not start")
        assert body["result"] is True
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
