"""Hostile probes, asserted on what reached the panel (a recording simulator), not only on the answer.

Families: secrets coming back out (the panel's keys and password hashes), fields smuggled past the catalogue
(nested `user_data[...]` / `data[...]` columns, reserved names, arrays for scalars), client addresses, and typed
values. Each probe failed on the code before the fix it is named after.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from gateway.app import build_app
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, Stack, make_config

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
HASH_PREFIX = "$6$"


def _no_panel_secret(body: Any) -> None:
    shown = json.dumps(body)
    assert UPSTREAM_KEY not in shown, shown[:300]
    assert '"api_key"' not in shown and HASH_PREFIX not in shown, shown[:300]


# --- secrets coming back out -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["admin", "readonly"])
async def test_user_info_never_answers_the_panel_key(stack: Stack, key: str) -> None:
    body = await stack.xm(key=key, action="user_info")
    assert body["status"] == "STATUS_SUCCESS" and body["data"]["username"] == "admin"
    assert "permissions" in body
    _no_panel_secret(body)


async def test_user_info_for_a_reseller_key_is_the_resellers_own_account(stack: Stack) -> None:
    body = await stack.xm(key="reseller", action="user_info")
    assert body["status"] == "STATUS_SUCCESS"
    assert body["data"]["id"] == "88" and body["data"]["username"] == "north_tv"
    _no_panel_secret(body)
    assert [(action, params.get("id")) for action, params in stack.sim.received] == [("get_user", "88")]


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("get_user", {"id": "89"}),
        ("get_users", {}),
        ("get_rtmp_ips", {}),
        ("create_user", {"username": "probe_res", "password": "pw-probe", "member_group_id": "2"}),
        ("edit_user", {"id": "90", "member_group_id": "3", "username": "harbour_sub", "notes": "x"}),
    ],
)
async def test_no_row_of_any_answer_carries_a_panel_secret(stack: Stack, action: str, params: dict[str, str]) -> None:
    body = await stack.xm(action=action, **params)
    assert body if isinstance(body, list) else body["status"] == "STATUS_SUCCESS", body
    _no_panel_secret(body)
    assert "rtmp-push" not in json.dumps(body)


async def test_secrets_stay_out_of_cached_answers(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    url = stack.config.upstreams["main"].url
    config = make_config(url, policies_dir, tmp_path, cache={"backend": "memory", "ttl": {"default": 60}})
    client = await aiohttp_client(build_app(config))
    for expected in ("MISS", "HIT"):
        resp = await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "get_user", "id": "88"})
        assert resp.headers["X-Cache"] == expected
        _no_panel_secret(await resp.json(content_type=None))


# --- fields smuggled past the catalogue ------------------------------------------------------------------
# Each probe goes through the gateway of `stack` (an Xtream-Masters panel behind every client face). The panel
# must receive nothing at all, or exactly the declared fields.


async def _form(stack: Stack, path: str, body: str, query: str = "") -> Any:
    resp = await stack.client.post(f"{path}?{query}" if query else path, data=body.encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert resp.status in (200, 404), await resp.text()
    return await resp.json(content_type=None)


def _line(stack: Stack, owner: str) -> dict[str, Any]:
    return next(r for r in stack.sim.tables["lines"].values() if r["member_id"] == owner and r["is_mag"] == "0")


def _xc_refused(body: Any, field: str) -> None:
    assert body["result"] is False and body["error"] == "PARAMETER ERROR", body
    assert field in body["message"], body


@pytest.mark.parametrize(
    ("key", "sub", "extra"),
    [
        # SQL through a readonly key: user_data[...] became top-level parameters after api_key/action/id
        ("readonly", "info", "user_data[action]=mysql_query&user_data[query]=SELECT%20*%20FROM%20users"),
        ("readonly", "info", "user_data[api_key]=CHOSEN-BY-CLIENT"),
        ("admin", "info", "user_data[action][]=mysql_query"),
        # another reseller's line, by id, through the reseller's own line
        ("reseller", "edit", "user_data[id]=OTHER&user_data[max_connections]=1"),
        ("reseller", "edit", "user_data[edit]=OTHER&user_data[enabled]=0"),
        ("reseller", "edit", "user_data[member_id]=89&user_data[user_data][id]=OTHER"),
        ("admin", "edit", "user_data[access_code]=x&user_data[enabled]=1"),
        ("admin", "edit", "user_data[no_such_column]=1"),
    ],
)
async def test_xc_user_data_carries_only_the_tables_columns(stack: Stack, key: str, sub: str, extra: str) -> None:
    own, other = _line(stack, "88"), _line(stack, "89")
    body = (f"api_key={KEYS[key]}&username={own['username']}&password={own['password']}&"
            + extra.replace("OTHER", str(other["id"])))  # fmt: skip
    answer = await _form(stack, "/api.php", body, f"action=user&sub={sub}")
    assert answer["result"] is False, answer
    assert [a for a, _ in stack.sim.received if a != "get_lines"] == []  # at most the line's lookup
    assert stack.sim.tables["lines"][int(other["id"])] == other


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("line/update", "username=OWN&data[id]=OTHER&data[banned]=1"),
        ("line/update", "username=OWN&data[enabled]=0&data[member_id]=89"),
        ("line/delete", "username=OWN&data[id]=OTHER"),
        ("line/new", "data[username]=smuggler&data[password]=pw&data[api_key]=x"),
        ("line/new", "data[username]=smuggler&data[password]=pw&data[max_connections]=9"),  # not MS's name
        ("line/new", "data[username]=smuggler&data[password]=pw&data[edit]=OTHER"),
        ("line/info", "username=OWN&action=mysql_query&query=SELECT%201"),
    ],
)
async def test_ms_data_carries_only_the_panels_fields(stack: Stack, verb: str, body: str) -> None:
    own, other = _line(stack, "88"), _line(stack, "89")
    form = f"api_key={KEYS['reseller']}&" + body.replace("OWN", own["username"]).replace("OTHER", str(other["id"]))
    answer = await _form(stack, f"/api/{verb}", form)
    assert answer["result"] is False and "internal" not in answer["error"], answer
    assert [a for a, _ in stack.sim.received if a != "get_lines"] == []
    assert stack.sim.tables["lines"][int(other["id"])] == other


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "create_line", "username": "x1", "password": "y1", "edit": "OTHER"}, "edit"),
        ({"action": "create_line", "username": "x1", "password": "y1", "id": "OTHER"}, "id"),
        ({"action": "edit_line", "id": "OWN", "edit": "OTHER", "max_connections": "1"}, "edit"),
        ({"action": "get_line", "id": "OWN", "query": "SELECT 1"}, "query"),
        ({"action": "create_line", "username[]": "x1", "password": "y1"}, "username"),
        ({"action": "create_line", "username": "x1", "password": "y1", "api_key2": "x"}, "api_key2"),
        ({"action": "create_line", "username": "x1", "password": "y1", "is_mag": "1"}, "is_mag"),
    ],
)
async def test_xm_parameters_are_the_actions_declared_fields(stack: Stack, params: dict[str, str],
                                                             field: str) -> None:  # fmt: skip
    own, other = _line(stack, "1"), _line(stack, "89")
    params = {k: v.replace("OWN", str(own["id"])).replace("OTHER", str(other["id"])) for k, v in params.items()}
    body = await stack.xm(**params)
    assert body["status"] == "STATUS_INVALID_INPUT" and field in body["error"], body
    assert stack.sim.received == []


async def test_no_expire_is_a_field_the_guards_see(stack: Stack) -> None:
    """`no_expire` makes a line never expire whatever exp_date says: past an exp_date horizon, it was a way out."""
    own = _line(stack, "88")
    body = await stack.xm(key="reseller", action="edit_line", id=own["id"], exp_date="2027-01-01", no_expire="1")
    assert body["status"] == "STATUS_FORBIDDEN" and "no_expire" in body["error"], body
    assert [a for a, _ in stack.sim.received] == ["get_line"]  # the ownership check only
    body = await stack.xm(action="edit_line", id=own["id"], no_expire="1")  # an admin may
    assert body["status"] == "STATUS_SUCCESS", body
    assert stack.sim.received[-1][1].get("no_expire") == "1"


@pytest.mark.parametrize(
    ("face", "body"),
    [
        ("/api.php?action=user&sub=create",
         "user_data[username]=g1&user_data[password]=p1&user_data[exp_date]=SOON&user_data[max_connections]=9"),
        ("/api/line/new", "data[username]=g2&data[password]=p2&data[expire_date]=SOON&data[max_allowed_connections]=9"),
        ("/api/line/new", "data[username]=g3&data[password]=p3&data[expire_date]=SOON&data[max_connections]=9"),
        ("/api/line/new", "data[username]=g4&data[password]=p4&data[expire_date]=SOON&data[restreamer]=yes-please"),
        ("/api/line/new",
         "data[username]=g5&data[password]=p5&data[expire_date]=SOON&data[max_allowed_connections][]=1"),
    ],
)
async def test_guards_see_every_dialects_values_typed(stack: Stack, face: str, body: str) -> None:
    """Was an internal error: a MidnightStreamer field passed through as a string met an integer guard."""
    soon = str(int(time.time()) + 30 * 86_400)
    answer = await _form(stack, face, f"api_key={KEYS['reseller']}&{body.replace('SOON', soon)}")
    assert answer["result"] is False and "internal" not in json.dumps(answer), answer
    assert stack.sim.received == []


# --- client addresses on the client side -------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [["::ffff:192.0.2.66"], ["192.0.2.66", "198.51.100.1, ::ffff:192.0.2.66"], ["198.51.100.9", "192.0.2.66"]],
)
async def test_blocked_ips_see_mapped_addresses_and_every_forwarded_line(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, lines: list[str]
) -> None:
    url = stack.config.upstreams["main"].url
    config = make_config(url, policies_dir, tmp_path, trusted_proxies=["127.0.0.1/32"],
                         client_side={"blocked_ips": ["192.0.2.0/24"]})  # fmt: skip
    client = await aiohttp_client(build_app(config))
    line = _line(stack, "88")
    headers = CIMultiDict(("X-Forwarded-For", value) for value in lines)
    resp = await client.get("/player_api.php", params={"username": line["username"], "password": line["password"]},
                            headers=headers)  # fmt: skip
    assert resp.status == 403
    assert stack.sim.player.received == []


@pytest.mark.parametrize(
    "path",
    [
        f"/{ACCESS_CODE}/table.php?api_user_id=1&id=lines",  # XC_VM answers this without a key from 127.0.0.1
        f"/{ACCESS_CODE}/admin/table.php?api_user_id=1&id=lines",
        f"/images/%2e%2e/{ACCESS_CODE}/table.php?api_user_id=1&id=lines",
        f"/hls/..%2f{ACCESS_CODE}/table.php?api_user_id=1&id=reg_users",
    ],
)
async def test_the_panels_keyless_table_endpoint_is_never_reached(stack: Stack, path: str) -> None:
    resp = await stack.client.get(path, headers={"X-Requested-With": "XMLHttpRequest"})
    assert resp.status == 404
    assert stack.sim.received == [] and stack.sim.player.received == []
