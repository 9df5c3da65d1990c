"""MidnightStreamer clients (`POST /api/{group}/{verb}`) end to end, in front of an Xtream-Masters panel (MS->XM),
an XC v2 panel (MS->XC) and a MidnightStreamer panel (MS->MS): what the client got back, in MidnightStreamer's
own shapes, and what the panel received."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from gateway.matrix import cells
from gateway.sim.midnight import MidnightStreamerSim
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer
from tests.integration.ms_fixtures import MSStack, data, ms_stack

KEY = KEYS["admin"]
EXP_2031 = 1924992000  # 2031-01-01 00:00:00 UTC
MAC1 = "00:1A:79:4B:2C:01"  # seeded MAG 1 in every simulator
NEW_MAC = "00:1A:79:00:00:AA"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def to_ms(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                tmp_path: Path) -> MSStack:  # fmt: skip
    return await ms_stack("ms", aiohttp_server, aiohttp_client, policies_dir, tmp_path)


@pytest.fixture(params=["xm", "xui"])  # both flavours of the panel: the documented one and XUI.one as it runs
async def to_xm(request: pytest.FixtureRequest, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                policies_dir: Path, tmp_path: Path) -> MSStack:  # fmt: skip
    return await ms_stack(request.param, aiohttp_server, aiohttp_client, policies_dir, tmp_path)


@pytest.fixture
async def to_xc(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                tmp_path: Path) -> MSStack:  # fmt: skip
    return await ms_stack("xc", aiohttp_server, aiohttp_client, policies_dir, tmp_path)


@pytest.fixture(params=["ms", "xm", "xui", "xc"])
async def any_panel(request: pytest.FixtureRequest, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                    policies_dir: Path, tmp_path: Path) -> MSStack:  # fmt: skip
    return await ms_stack(request.param, aiohttp_server, aiohttp_client, policies_dir, tmp_path)


@pytest.fixture(params=["ms", "xm", "xui"])
async def ms_or_xm(request: pytest.FixtureRequest, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                   policies_dir: Path, tmp_path: Path) -> MSStack:  # fmt: skip
    return await ms_stack(request.param, aiohttp_server, aiohttp_client, policies_dir, tmp_path)


def msim(stack: MSStack) -> MidnightStreamerSim:
    assert isinstance(stack.sim, MidnightStreamerSim)
    return stack.sim


def xmsim(stack: MSStack) -> XtreamMastersSim:
    assert isinstance(stack.sim, XtreamMastersSim)
    return stack.sim


def xcsim(stack: MSStack) -> XtreamCodesV2Sim:
    assert isinstance(stack.sim, XtreamCodesV2Sim)
    return stack.sim


def credits_of(stack: MSStack, reseller_id: int) -> int:
    """A reseller's balance as the panel holds it."""
    if isinstance(stack.sim, MidnightStreamerSim):
        return int(stack.sim.tables["resellers"][reseller_id]["credits"])
    if isinstance(stack.sim, XtreamMastersSim):
        return int(stack.sim.state.tables["users"][reseller_id]["credits"])
    return int(stack.sim.tables["reg_users"][reseller_id]["credits"])


def line_username(stack: MSStack, line_id: int) -> str:
    if isinstance(stack.sim, MidnightStreamerSim):
        return str(stack.sim.tables["lines"][line_id]["username"])
    assert isinstance(stack.sim, XtreamMastersSim)
    return str(stack.sim.state.tables["lines"][line_id]["username"])


def refusing(action: str, answer: Callable[[], web.Response]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware for the XM simulator that answers `answer()` to one action, and passes the rest."""

    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post()
        if form.get("action") == action or request.query.get("action") == action:
            return answer()
        return await handler(request)

    return middleware


# --- the matrix -----------------------------------------------------------------------------------------------


def test_matrix_cells_for_ms_clients_match_these_tests() -> None:
    got = {(op, up): kind for op, client, up, kind in cells() if client == "midnight"}
    assert {op: k for (op, up), k in got.items() if up == "midnight"} == {
        op: "direct" for op in ("reseller.create", "reseller.edit", "reseller.adjust_credits", "reseller.list",
                                "line.create", "line.edit", "line.get", "line.delete", "mag.create", "mag.edit",
                                "mag.delete", "mag.get")
    }  # fmt: skip
    assert {op: k for (op, up), k in got.items() if up == "xtream_masters"} == {
        "reseller.create": "compound", "reseller.edit": "compound", "reseller.adjust_credits": "direct",
        "reseller.list": "direct", "line.create": "direct", "line.edit": "compound", "line.get": "compound",
        "line.delete": "compound", "mag.create": "direct", "mag.edit": "compound", "mag.delete": "compound",
        "mag.get": "compound",
    }  # fmt: skip
    assert {op: k for (op, up), k in got.items() if up == "xtream_codes_v2"} == {
        "reseller.create": "unsupported", "reseller.edit": "unsupported", "reseller.adjust_credits": "direct",
        "reseller.list": "direct", "line.create": "direct", "line.edit": "unsupported", "line.get": "unsupported",
        "line.delete": "unsupported", "mag.create": "direct", "mag.edit": "direct", "mag.delete": "unsupported",
        "mag.get": "direct",
    }  # fmt: skip


# --- the gate: keys, endpoints, hostile input ------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "not-a-key", KEY + "x", UPSTREAM_KEY])
async def test_bad_or_missing_key_is_invalid_api_key_and_never_forwarded(any_panel: MSStack, key: str | None) -> None:
    body = await any_panel.ms("resellers/list", key=key)
    assert body == {"result": False, "error": "Invalid API key."}
    assert any_panel.sim.received == []


async def test_key_as_fourth_segment_header_or_post_field(any_panel: MSStack) -> None:
    for path, body, headers in [
        (f"/api/resellers/list/{KEY}", "", None),
        ("/api/resellers/list", "", {"X-API-Key": KEY}),
        ("/api/resellers/list", f"api_key={KEY}", None),
        (f"/api/resellers/list/{KEY}", f"api_key={KEY}", {"X-API-Key": KEY}),  # the same key thrice: fine
    ]:
        answer = await any_panel.raw(path, body, headers=headers)
        assert answer.status == 200 and answer.json()["result"] is True, (path, answer)
        assert isinstance(answer.json()["data"], list)
    assert len(any_panel.sim.received) == 4


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (f"/api/resellers/list/{KEY}", f"api_key={KEYS['readonly']}", None),
        (f"/api/resellers/list/{KEYS['readonly']}", f"api_key={KEY}", None),
        ("/api/resellers/list", f"api_key={KEY}", {"X-API-Key": KEYS["readonly"]}),
        (f"/api/resellers/list/{KEY}", "", {"X-API-Key": "wrong"}),
    ],
)
async def test_key_given_twice_differently_is_refused(any_panel: MSStack, path: str, body: str,
                                                      headers: dict[str, str] | None) -> None:  # fmt: skip
    answer = await any_panel.raw(path, body, headers=headers)
    assert answer.status == 200
    assert answer.json() == {"result": False, "error": "the key is given more than once with different values"}
    assert any_panel.sim.received == []


async def test_fourth_segment_bad_key(any_panel: MSStack) -> None:
    answer = await any_panel.raw("/api/resellers/list/nope", "")
    assert answer.json() == {"result": False, "error": "Invalid API key."}
    assert any_panel.sim.received == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/mysql/query",  # the XM mysql_query by another name
        "/api/mysql_query/run",
        "/api/resellers/delete",
        "/api/line/list",
        "/api/RESELLERS/list",
        "/api/resellers/List",
        "/api/..%2fresellers/list",
        "/api/resellers/..%2f..%2fadmin",
        "/api/resellers/list/key/extra",
        "/api/resellers",
        "/api/",
    ],
)
async def test_unknown_endpoint_is_404_and_never_forwarded(any_panel: MSStack, path: str) -> None:
    answer = await any_panel.raw(path, f"api_key={KEY}&query=DROP+TABLE+users&data[name]=x")
    assert answer.status == 404
    assert b"result" not in answer.body
    assert any_panel.sim.received == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("data[name]=a&data[name]=b", "parameter 'data[name]' is given more than once"),
        ("data[name][x]=a", "data[name]: must be a single value, not an array"),
        ("data[name][]=a&data[name][]=b", "data[name]: must be a single value, not an array"),
        ("data[credits][x][y][z]=1&data[name]=a", "data[credits]: must be a single value, not an array"),
        ("data=a", "data: must be an array (data[field]=value)"),
        ("data[]=a", "data: must be an array (data[field]=value)"),
        ("api_key[]=x&data[name]=q", "api_key must be a single value"),
        ("data[credits]=1e9999&data[name]=q", None),
        ("data[name]=", "Name is required."),
    ],
)
async def test_hostile_reseller_forms_are_refused_and_never_forwarded(any_panel: MSStack, body: str,
                                                                      error: str | None) -> None:  # fmt: skip
    answer = await any_panel.raw("/api/resellers/new", f"{body}&api_key={KEY}" if "api_key" not in body else body)
    assert answer.status == 200
    doc = answer.json()
    assert doc["result"] is False
    if error is not None:
        assert doc["error"] == error
    assert any_panel.sim.received == []


async def test_deep_nesting_is_refused(any_panel: MSStack) -> None:
    answer = await any_panel.raw("/api/line/new", f"api_key={KEY}&data" + "[a]" * 200 + "=1")
    assert answer.status == 200 and answer.json()["result"] is False
    assert any_panel.sim.received == []


async def test_scope_readonly_cannot_write(any_panel: MSStack) -> None:
    body = await any_panel.ms("resellers/add_credits", key="readonly", id="88", credits="5")
    assert body["result"] is False
    assert "reseller.adjust_credits" in body["error"]
    assert any_panel.sim.received == []


# --- unsupported cells -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "pairs", "params", "operation", "ref"),
    [
        ("resellers/new", data(name="newres", credits="50"), {}, "reseller.create", "none"),
        ("resellers/update", data(credits="5"), {"id": "88"}, "reseller.edit", "id"),
        ("resellers/update", data(email="a@b.c"), {"username": "north_tv"}, "reseller.edit", "username"),
        ("line/info", [], {"username": "ahmed01"}, "line.get", "username"),
        ("line/update", data(max_allowed_connections="2"), {"username": "ahmed01"}, "line.edit", "username"),
        ("line/delete", [], {"username": "ahmed01"}, "line.delete", "username"),
        ("mag/delete", [], {"mac_address": MAC1}, "mag.delete", "mac"),
    ],
)
async def test_xc_unsupported_cells_answer_clearly_and_write_nothing(
    to_xc: MSStack, endpoint: str, pairs: list[tuple[str, str]], params: dict[str, str], operation: str, ref: str
) -> None:
    before = {name: dict(rows) for name, rows in xcsim(to_xc).tables.items()}
    body = await to_xc.ms(endpoint, pairs, **params)
    assert body == {
        "result": False,
        "error": f"Not supported: {operation} addressed by {ref} is not supported by upstream main (xtream_codes_v2)",
    }
    assert to_xc.sim.received == []
    assert {name: dict(rows) for name, rows in xcsim(to_xc).tables.items()} == before


# --- resellers ---------------------------------------------------------------------------------------------------


async def test_ms_reseller_new_with_credits_sets_them_outright(to_ms: MSStack) -> None:
    body = await to_ms.ms("resellers/new", data(name="newres", password="pw-newres", credits="50",
                                                 max_allowed_connections="5", use_credits="1"))  # fmt: skip
    rid = max(msim(to_ms).tables["resellers"])
    assert body == {"result": True, "created_id": rid, "username": "newres", "password": "pw-newres"}
    assert to_ms.sim.received == [("resellers/new", {"data": {"name": "newres", "password": "pw-newres",
                                   "credits": "50", "max_allowed_connections": "5", "use_credits": "1"}})]  # fmt: skip
    row = msim(to_ms).tables["resellers"][rid]
    assert (row["credits"], row["max_allowed_connections"], row["use_credits"]) == ("50", "5", "1")


async def test_xm_reseller_new_with_credits_is_create_then_adjust(to_xm: MSStack) -> None:
    sim = xmsim(to_xm)
    body = await to_xm.ms("resellers/new", data(name="newres", password="pw-newres", credits="50"))
    rid = max(sim.state.tables["users"])
    assert body == {"result": True, "created_id": rid, "username": "newres", "password": "pw-newres"}
    assert to_xm.endpoints() == ["get_groups", "create_user", "adjust_credits"]
    create = to_xm.sim.received[1][1]
    assert create["username"] == "newres" and create["member_group_id"] == "2"  # the panel's reseller group
    assert "credits" not in create  # credits move only through the adjustment, which the panel logs
    assert to_xm.sim.received[2][1] == {"action": "adjust_credits", "id": str(rid), "credits": "50"}
    assert credits_of(to_xm, rid) == 50
    assert sim.state.tables["users"][rid]["member_group_id"] == "2"


async def test_xm_reseller_new_without_credits_is_one_create(to_xm: MSStack) -> None:
    body = await to_xm.ms("resellers/new", data(name="plain", member_group_id="3"))
    assert body["result"] is True and body["username"] == "plain"
    assert to_xm.endpoints() == ["create_user"]  # a group given by the client: no look-up, no adjustment
    assert to_xm.sim.received[0][1]["member_group_id"] == "3"
    assert credits_of(to_xm, body["created_id"]) == 0


async def test_xm_reseller_new_without_password_answers_the_one_it_was_given(to_xm: MSStack) -> None:
    """MidnightStreamer makes up a password and answers it; Xtream-Masters hashes it and answers none: the
    gateway makes it up, so the script still learns the password of the reseller it created."""
    first = await to_xm.ms("resellers/new", data(name="nopass1", member_group_id="3"))
    second = await to_xm.ms("resellers/new", data(name="nopass2", member_group_id="3"))
    made = [first["password"], second["password"]]
    assert all(isinstance(p, str) and len(p) == 10 and p.isalnum() for p in made) and made[0] != made[1]
    sent = [params["password"] for action, params in to_xm.sim.received if action == "create_user"]
    assert sent == made  # the panel stored exactly what the client was told


async def test_xm_reseller_new_exists(to_xm: MSStack) -> None:
    before = len(xmsim(to_xm).state.tables["users"])
    body = await to_xm.ms("resellers/new", data(name="north_tv", credits="10"))
    assert body == {"result": False, "error": "Username exists."}
    assert "adjust_credits" not in to_xm.endpoints()
    assert len(xmsim(to_xm).state.tables["users"]) == before


@pytest.mark.parametrize(
    "answer",
    [
        lambda: web.Response(status=500, text="<h1>500</h1>"),
        lambda: web.json_response({"status": "STATUS_FAILURE"}),
    ],
    ids=["http-500", "status-failure"],
)
async def test_xm_reseller_new_partial_failure_is_never_success(
    answer: Callable[[], web.Response], aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
    policies_dir: Path, tmp_path: Path,
) -> None:  # fmt: skip
    stack = await ms_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                           middleware=refusing("adjust_credits", answer))  # fmt: skip
    body = await stack.ms("resellers/new", data(name="halfway", credits="50"))
    rid = max(xmsim(stack).state.tables["users"])
    assert body["result"] is False
    assert body["error"].startswith("Partly done: reseller halfway was created (id ")
    assert f"(id {rid})" in body["error"] and "setting its credits failed" in body["error"]
    assert "created_id" not in body
    # the middleware answered adjust_credits, so the panel itself never recorded it
    assert stack.endpoints() == ["get_groups", "create_user"]
    assert xmsim(stack).state.tables["users"][rid]["username"] == "halfway"  # the first step stays done
    assert credits_of(stack, rid) == 0


async def test_xm_reseller_update_partial_failure_names_what_was_done(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stack = await ms_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                           middleware=refusing("adjust_credits", lambda: web.Response(status=503)))  # fmt: skip
    body = await stack.ms("resellers/update", data(credits="75", email="new@example.com"), id="88")
    assert body["result"] is False
    assert body["error"].startswith("Partly done: reseller 88 was updated, but setting its credits failed")
    # the balance, the row to edit whole, the edit (adjust_credits was answered by the middleware)
    assert stack.endpoints() == ["get_user", "get_user", "edit_user"]
    assert xmsim(stack).state.tables["users"][88]["email"] == "new@example.com"
    assert credits_of(stack, 88) == 500


async def test_xm_reseller_update_credits_only_failing_adjustment_is_its_failure(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stack = await ms_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                           middleware=refusing("adjust_credits", lambda: web.Response(status=503)))  # fmt: skip
    body = await stack.ms("resellers/update", data(credits="75"), id="88")
    assert body["result"] is False and "PARTIAL" not in body["error"]  # nothing was written: not partial
    assert stack.endpoints() == ["get_user"]  # adjust_credits was answered by the middleware
    assert credits_of(stack, 88) == 500


@pytest.mark.parametrize("address", [{"id": "88"}, {"username": "north_tv"}])
async def test_xm_reseller_update_absolute_credits_reads_then_adjusts(to_xm: MSStack, address: dict[str, str]) -> None:
    assert credits_of(to_xm, 88) == 500
    body = await to_xm.ms("resellers/update", data(credits="75", email="new@example.com",
                                                   max_allowed_connections="9"), **address)  # fmt: skip
    assert body == {"result": True}
    lookup = ["get_users"] if "username" in address else []
    assert to_xm.endpoints() == [*lookup, "get_user", "get_user", "edit_user", "adjust_credits"]
    edit = to_xm.sim.received[-2][1]
    assert edit["id"] == "88" and edit["email"] == "new@example.com" and edit["max_connections"] == "9"
    assert edit["credits"] == "500"  # the whole row keeps the balance; the adjustment then moves it
    assert to_xm.sim.received[-1][1] == {"action": "adjust_credits", "id": "88", "credits": "-425"}
    assert credits_of(to_xm, 88) == 75


async def test_xm_reseller_update_same_balance_adjusts_nothing(to_xm: MSStack) -> None:
    body = await to_xm.ms("resellers/update", data(credits="500"), id="88")
    assert body == {"result": True}
    assert to_xm.endpoints() == ["get_user"]
    assert credits_of(to_xm, 88) == 500


async def test_xm_reseller_update_unknown(to_xm: MSStack) -> None:
    body = await to_xm.ms("resellers/update", data(credits="5"), username="nobody")
    assert body == {"result": False, "error": "Reseller not found."}
    assert to_xm.endpoints() == ["get_users"]


@pytest.mark.parametrize("address", [{"id": "88"}, {"username": "north_tv"}])
async def test_ms_reseller_update_is_direct(to_ms: MSStack, address: dict[str, str]) -> None:
    body = await to_ms.ms("resellers/update", data(credits="75", email="new@example.com"), **address)
    assert body == {"result": True}
    assert to_ms.sim.received == [("resellers/update", {**address, "data": {"credits": "75",
                                                                             "email": "new@example.com"}})]  # fmt: skip
    assert credits_of(to_ms, 88) == 75


@pytest.mark.parametrize("address", [{"id": "88"}, {"username": "north_tv"}])
async def test_add_credits_on_every_panel(any_panel: MSStack, address: dict[str, str]) -> None:
    body = await any_panel.ms("resellers/add_credits", credits="-25", **address)
    assert body == {"result": True}
    assert credits_of(any_panel, 88) == 475
    received = any_panel.sim.received
    if isinstance(any_panel.sim, MidnightStreamerSim):
        assert received == [("resellers/add_credits", {**address, "credits": "-25"})]
    elif isinstance(any_panel.sim, XtreamMastersSim):
        lookup = ["get_users"] if "username" in address else []
        assert any_panel.endpoints() == [*lookup, "adjust_credits"]
        assert received[-1][1] == {"action": "adjust_credits", "id": "88", "credits": "-25"}
    else:
        assert received == [("reg_user/credits", {"action": "reg_user", "sub": "credits", **address,
                                                  "amount": "-25"})]  # fmt: skip


async def test_add_credits_not_enough_on_every_panel(any_panel: MSStack) -> None:
    body = await any_panel.ms("resellers/add_credits", id="89", credits="-99999")
    assert body == {"result": False, "error": "Not enough credits."}
    assert credits_of(any_panel, 89) == 120
    assert any_panel.endpoints()[0] in ("resellers/add_credits", "adjust_credits", "reg_user/credits")


async def test_add_credits_unknown_reseller(any_panel: MSStack) -> None:
    body = await any_panel.ms("resellers/add_credits", id="999", credits="5")
    assert body["result"] is False
    if not isinstance(any_panel.sim, XtreamCodesV2Sim):
        assert body["error"] == "Reseller not found."


@pytest.mark.parametrize("credits", ["", "abc", "1.5.5", "99999999999"])
async def test_add_credits_bad_amount_is_refused_before_the_panel(any_panel: MSStack, credits: str) -> None:
    body = await any_panel.ms("resellers/add_credits", id="88", credits=credits)
    assert body["result"] is False
    assert any_panel.sim.received == []


async def test_reseller_list_field_mapping(any_panel: MSStack) -> None:
    body = await any_panel.ms("resellers/list")
    assert body["result"] is True
    rows = {row["id"]: row for row in body["data"]}
    north = rows["88"]
    assert north["username"] == "north_tv" and north["credits"] == "500"
    assert "password" not in north
    assert "date_registered" not in north and north["created_at"]  # MidnightStreamer's column name
    if isinstance(any_panel.sim, MidnightStreamerSim):
        assert body["data"] == [{k: v for k, v in r.items() if k != "password"}
                                for r in msim(any_panel).tables["resellers"].values()]  # fmt: skip
        assert north["max_allowed_connections"] == "100"
        assert any_panel.sim.received == [("resellers/list", {})]
    else:
        assert any_panel.endpoints() == ["get_users"] if isinstance(any_panel.sim, XtreamMastersSim) else [
            "reg_user/list"]


# --- lines -------------------------------------------------------------------------------------------------------


async def test_line_new_maps_fields_on_every_panel(any_panel: MSStack) -> None:
    fields = data(username="msline1", password="pw-msline1", max_allowed_connections="2", restreamer="1",
                  expire_date=str(EXP_2031), reseller_id="88")  # fmt: skip
    body = await any_panel.ms("line/new", fields)
    assert body["result"] is True
    assert (body["username"], body["password"]) == ("msline1", "pw-msline1")
    assert isinstance(body["created_id"], int)
    first, sent = any_panel.sim.received[0]
    if isinstance(any_panel.sim, MidnightStreamerSim):
        assert any_panel.sim.received == [("line/new", {"data": {
            "username": "msline1", "password": "pw-msline1", "max_allowed_connections": "2", "restreamer": "1",
            "expire_date": str(EXP_2031), "reseller_id": "88"}})]  # fmt: skip
        row = any_panel.sim.tables["lines"][body["created_id"]]
        assert (row["restreamer"], row["expire_date"], row["reseller_id"]) == ("1", str(EXP_2031), "88")
    elif isinstance(any_panel.sim, XtreamMastersSim):
        assert first == "create_line"
        expected = {"username": "msline1", "password": "pw-msline1", "max_connections": "2", "is_restreamer": "1",
                    "exp_date": "2031-01-01", "member_id": "88"}  # fmt: skip
        assert {k: sent[k] for k in expected} == expected
        assert "max_allowed_connections" not in sent and "expire_date" not in sent and "reseller_id" not in sent
        row = any_panel.sim.state.tables["lines"][body["created_id"]]
        assert (row["is_restreamer"], row["exp_date"], row["member_id"]) == ("1", str(EXP_2031), "88")
    else:
        assert first == "user/create"
        assert sent["user_data"] == {"username": "msline1", "password": "pw-msline1", "max_connections": "2",
                                     "is_restreamer": "1", "exp_date": str(EXP_2031), "member_id": "88"}  # fmt: skip


async def test_line_new_restreamer_off_is_not_sent_to_xm(to_xm: MSStack) -> None:
    body = await to_xm.ms("line/new", data(username="msline2", password="pw", restreamer="0"))
    assert body["result"] is True
    assert "is_restreamer" not in to_xm.sim.received[0][1]  # present means on, whatever the value
    assert xmsim(to_xm).state.tables["lines"][body["created_id"]]["is_restreamer"] == "0"


async def test_line_new_exists(any_panel: MSStack) -> None:
    body = await any_panel.ms("line/new", data(username="ahmed01", password="pw-whatever"))
    if isinstance(any_panel.sim, XtreamCodesV2Sim):
        return  # XC answers EXISTS only for the same username AND password: a second line is created
    assert body == {"result": False, "error": "Username exists."}


async def test_line_info_maps_fields_back(ms_or_xm: MSStack) -> None:
    body = await ms_or_xm.ms("line/info", username="ahmed21")
    assert body["result"] is True
    row = body["data"]
    assert row["username"] == "ahmed21"
    assert row["reseller_id"] == "88"
    for canonical in ("member_id", "exp_date", "max_connections", "is_restreamer", "admin_enabled"):
        assert canonical not in row
    assert {"expire_date", "max_allowed_connections", "restreamer", "banned"} <= set(row)
    if isinstance(ms_or_xm.sim, MidnightStreamerSim):
        assert row == ms_or_xm.sim.tables["lines"][21]
        assert ms_or_xm.sim.received == [("line/info", {"username": "ahmed21"})]
    else:
        source = xmsim(ms_or_xm).state.tables["lines"][21]
        assert row["expire_date"] == source["exp_date"]
        assert row["banned"] == ("1" if source["admin_enabled"] == "0" else "0")
        assert ms_or_xm.endpoints() == ["get_lines", "get_line"]


async def test_line_update_and_delete(ms_or_xm: MSStack) -> None:
    body = await ms_or_xm.ms("line/update", data(max_allowed_connections="3", expire_date=str(EXP_2031 + 1),
                                                 banned="1"), username="maria02")  # fmt: skip
    assert body == {"result": True}
    if isinstance(ms_or_xm.sim, MidnightStreamerSim):
        assert ms_or_xm.sim.received == [("line/update", {"username": "maria02", "data": {
            "max_allowed_connections": "3", "expire_date": str(EXP_2031 + 1), "banned": "1"}})]  # fmt: skip
        row = ms_or_xm.sim.tables["lines"][2]
        assert (row["max_allowed_connections"], row["expire_date"], row["banned"]) == ("3", str(EXP_2031 + 1), "1")
    else:
        assert ms_or_xm.endpoints() == ["get_lines", "get_line", "edit_line"]
        sent = ms_or_xm.sim.received[2][1]
        assert (sent["id"], sent["max_connections"], sent["admin_enabled"]) == ("2", "3", "0")
        row = xmsim(ms_or_xm).state.tables["lines"][2]
        assert (row["max_connections"], row["exp_date"], row["admin_enabled"]) == ("3", str(EXP_2031 + 1), "0")
    ms_or_xm.sim.reset_received()
    assert await ms_or_xm.ms("line/delete", username="maria02") == {"result": True}
    assert await ms_or_xm.ms("line/info", username="maria02") == {"result": False, "error": "Line not found."}
    assert await ms_or_xm.ms("line/delete", username="maria02") == {"result": False, "error": "Line not found."}


async def test_line_update_unknown_writes_nothing(ms_or_xm: MSStack) -> None:
    body = await ms_or_xm.ms("line/update", data(max_allowed_connections="3"), username="nobody")
    assert body == {"result": False, "error": "Line not found."}
    assert all(name in ("line/update", "get_lines") for name in ms_or_xm.endpoints())


# --- MAG devices -------------------------------------------------------------------------------------------------


async def test_mag_new_info_update_delete(ms_or_xm: MSStack) -> None:
    body = await ms_or_xm.ms("mag/new", data(mac_address=NEW_MAC, expire_date=str(EXP_2031), reseller_id="88"))
    assert body == {"result": True}
    first, sent = ms_or_xm.sim.received[0]
    if isinstance(ms_or_xm.sim, MidnightStreamerSim):
        assert (first, sent) == ("mag/new", {"data": {"mac_address": NEW_MAC, "expire_date": str(EXP_2031),
                                                      "reseller_id": "88"}})  # fmt: skip
    else:
        assert first == "create_mag"
        assert (sent["mac"], sent["exp_date"], sent["member_id"]) == (NEW_MAC, "2031-01-01", "88")
    info = await ms_or_xm.ms("mag/info", mac_address=NEW_MAC)
    assert info["result"] is True
    row = info["data"]
    assert (row["mac_address"], row["expire_date"], row["reseller_id"]) == (NEW_MAC, str(EXP_2031), "88")
    assert "mac" not in row and "exp_date" not in row and "member_id" not in row and "user" not in row
    ms_or_xm.sim.reset_received()
    assert await ms_or_xm.ms("mag/update", data(expire_date=str(EXP_2031 + 2)), mac_address=NEW_MAC) == {
        "result": True}
    if isinstance(ms_or_xm.sim, MidnightStreamerSim):
        assert ms_or_xm.sim.received == [("mag/update", {"mac_address": NEW_MAC,
                                                         "data": {"expire_date": str(EXP_2031 + 2)}})]  # fmt: skip
    else:
        assert ms_or_xm.endpoints() == ["get_mags", "get_mag", "edit_mag"]
    assert (await ms_or_xm.ms("mag/info", mac_address=NEW_MAC))["data"]["expire_date"] == str(EXP_2031 + 2)
    assert await ms_or_xm.ms("mag/delete", mac_address=NEW_MAC) == {"result": True}
    assert await ms_or_xm.ms("mag/info", mac_address=NEW_MAC) == {"result": False, "error": "Invalid MAC Address"}


async def test_mag_new_exists_and_invalid(any_panel: MSStack) -> None:
    body = await any_panel.ms("mag/new", data(mac_address=MAC1))
    if not isinstance(any_panel.sim, XtreamCodesV2Sim):
        assert body == {"result": False, "error": "MAC Address already exists"}
    else:
        assert body["result"] is False
    any_panel.sim.reset_received()
    body = await any_panel.ms("mag/new", data(mac_address="not-a-mac"))
    assert body["result"] is False and "mac" in body["error"].lower()
    assert any_panel.sim.received == []


async def test_xc_mag_edit_and_info_are_direct(to_xc: MSStack) -> None:
    body = await to_xc.ms("mag/update", data(expire_date=str(EXP_2031)), mac_address=MAC1)
    assert body == {"result": True}
    assert to_xc.sim.received == [("stb/edit", {"action": "stb", "sub": "edit", "mac": MAC1,
                                                "user_data": {"exp_date": str(EXP_2031)}})]  # fmt: skip
    info = await to_xc.ms("mag/info", mac_address=MAC1)
    assert info["result"] is True
    assert info["data"]["mac_address"] == MAC1 and info["data"]["expire_date"] == str(EXP_2031)
    assert to_xc.endpoints()[-1] == "stb/info"


# --- tenancy: the reseller key (reseller_id 88) ------------------------------------------------------------------


async def test_reseller_key_line_new_is_forced_to_its_reseller(ms_or_xm: MSStack) -> None:
    expires = str(int(time.time()) + 30 * 86400)
    body = await ms_or_xm.ms("line/new", data(username="mine1", password="pw-mine1", max_allowed_connections="1",
                                              expire_date=expires, reseller_id="89"), key="reseller")  # fmt: skip
    assert body["result"] is True
    sent = ms_or_xm.sim.received[0][1]
    if isinstance(ms_or_xm.sim, MidnightStreamerSim):
        assert sent["data"]["reseller_id"] == "88"
        assert ms_or_xm.sim.tables["lines"][body["created_id"]]["reseller_id"] == "88"
    else:
        assert sent["member_id"] == "88"
        assert xmsim(ms_or_xm).state.tables["lines"][body["created_id"]]["member_id"] == "88"


async def test_reseller_key_cannot_read_or_touch_another_resellers_line(ms_or_xm: MSStack) -> None:
    theirs = line_username(ms_or_xm, 41)  # reseller 89's
    body = await ms_or_xm.ms("line/info", key="reseller", username=theirs)
    assert body == {"result": False, "error": "Line not found."}
    body = await ms_or_xm.ms("line/update", data(max_allowed_connections="1"), key="reseller", username=theirs)
    assert body == {"result": False, "error": "Line not found."}
    body = await ms_or_xm.ms("line/delete", key="reseller", username=theirs)
    assert body == {"result": False, "error": "Line not found."}
    writes = {"line/update", "line/delete", "edit_line", "delete_line"}
    assert not writes & set(ms_or_xm.endpoints())
    mine = await ms_or_xm.ms("line/info", key="reseller", username=line_username(ms_or_xm, 21))
    assert mine["result"] is True and mine["data"]["reseller_id"] == "88"


async def test_reseller_key_cannot_move_credits(ms_or_xm: MSStack) -> None:
    body = await ms_or_xm.ms("resellers/add_credits", key="reseller", id="88", credits="1000")
    assert body["result"] is False
    body = await ms_or_xm.ms("resellers/update", data(credits="1000"), key="reseller", id="88")
    assert body["result"] is False
    assert ms_or_xm.sim.received == []
    assert credits_of(ms_or_xm, 88) == 500




@pytest.mark.parametrize("upstream", ["ms", "xm", "xui", "xc"])
async def test_ms_clients_hear_midnightstreamers_words_never_a_code_name(
    upstream: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stack = await ms_stack(upstream, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    said = []
    for endpoint, form, key in (
        ("line/new", data(username="x", password="y", max_allowed_connections="9"), "reseller"),  # a guard
        ("line/new", data(username="x", password="y", expire_date="soon"), "admin"),  # a bad value
        ("resellers/add_credits", [("id", "88"), ("credits", "5")], "readonly"),  # the policy's scope
        ("line/info", [("username", "nobody-at-all")], "admin"),  # not found
    ):
        answer = await stack.ms(endpoint, form, key=key)
        assert answer["result"] is False, answer
        said.append(answer["error"])
    for text in said:
        assert not re.match(r"[A-Z_]{4,}\b", text), said  # FORBIDDEN, NOT_FOUND, ... are the gateway's names
    # XC v2 finds lines by username and password only
    assert said[3] == "Line not found." if upstream != "xc" else said[3].startswith("Not supported: line.get")
