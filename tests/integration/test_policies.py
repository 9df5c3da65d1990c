"""Issue #5 end to end: guards, tenancy, client IP, rate limits, auth throttle and IP-only keys."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from tests.conftest import (
    ACCESS_CODE,
    KEYS,
    AiohttpClient,
    AiohttpServer,
    Stack,
    make_config,
    xc_upstream,
)

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
REDIS_URL = os.environ.get("PANELGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def own_lines(stack: Stack, reseller: str) -> list[dict[str, Any]]:
    """The reseller's plain lines as the panel's get_lines shows them (MAG/Enigma lines are listed apart)."""
    rows = stack.sim.tables["lines"].values()
    return sorted(
        (r for r in rows if r["member_id"] == reseller and r.get("is_mag") == "0" and r.get("is_e2") == "0"),
        key=lambda r: int(r["id"]),
    )


# --- guards ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_connections": "5"}, "max_connections"),
        ({"is_restreamer": "1"}, "is_restreamer"),
        ({"exp_date": "2099-01-01"}, "exp_date"),
        ({}, "exp_date"),  # a reseller may not create a line that never expires
    ],
)
async def test_guard_refuses_with_field_and_limit(stack: Stack, params: dict[str, str], field: str) -> None:
    base = {"username": "g_user", "password": "g_pass_123", "exp_date": "2027-01-01"}
    if not params:
        base.pop("exp_date")
    body = await stack.xm(key="reseller", action="create_line", **{**base, **params})
    assert body["status"] == "STATUS_FORBIDDEN", body
    assert field in body["error"] and "policy reseller" in body["error"]
    assert stack.sim.received == []


async def test_guard_allows_values_within_limits(stack: Stack) -> None:
    body = await stack.xm(
        key="reseller", action="create_line", username="g_ok", password="g_pass_123", exp_date="2027-01-01",
        max_connections="2",
    )
    assert body["status"] == "STATUS_SUCCESS", body


async def test_credits_guard_and_scope(stack: Stack) -> None:
    body = await stack.xm(key="reseller", action="adjust_credits", id="88", credits="1000")
    assert body["status"] == "STATUS_FORBIDDEN"
    assert stack.sim.received == []


# --- tenancy -----------------------------------------------------------------------------------------------


async def test_reseller_lists_only_its_own_lines_with_correct_paging(stack: Stack) -> None:
    mine = own_lines(stack, "88")
    body = await stack.xm(key="reseller", action="get_lines", start="5", limit="4")
    assert [r["id"] for r in body["data"]] == [r["id"] for r in mine[5:9]]
    assert int(body["recordsTotal"]) == len(mine)
    assert {r["member_id"] for r in body["data"]} == {"88"}


async def test_reseller_cannot_widen_the_list_filter(stack: Stack) -> None:
    for extra in ({"reseller": "89"}, {"member_id": "89"}, {"show_columns": "id,username"}, {"reseller": ""}):
        body = await stack.xm(key="reseller", action="get_lines", limit="100", **extra)
        if body["status"] == "STATUS_INVALID_INPUT":  # get_lines takes no member_id, and reseller is an id
            assert extra in ({"member_id": "89"}, {"reseller": ""}), body
            continue
        ids = {r["id"] for r in body["data"]}
        assert ids <= {r["id"] for r in own_lines(stack, "88")}, extra
        if "show_columns" in extra:
            assert ids and all(set(r) == {"id", "username"} for r in body["data"])


async def test_others_line_is_not_found_like_a_missing_one(stack: Stack) -> None:
    other = own_lines(stack, "89")[0]["id"]
    for action in ("get_line", "edit_line", "delete_line", "ban_line", "disable_line"):
        extra = {"max_connections": "1"} if action == "edit_line" else {}
        foreign = await stack.xm(key="reseller", action=action, id=other, **extra)
        missing = await stack.xm(key="reseller", action=action, id="99999", **extra)
        assert foreign == missing, action
        assert foreign["status"] == "STATUS_FAILURE"
    writes = [a for a, _ in stack.sim.received if a != "get_line"]
    assert writes == [], "only ownership lookups may reach the panel"
    assert stack.sim.tables["lines"][int(other)]["admin_enabled"] == "1"


async def test_reseller_create_and_edit_are_forced_to_its_own_account(stack: Stack) -> None:
    body = await stack.xm(
        key="reseller", action="create_line", username="mine_now", password="pw_123456", exp_date="2027-01-01",
        member_id="89",
    )
    assert body["status"] == "STATUS_SUCCESS", body
    assert body["data"]["member_id"] == "88"
    own = own_lines(stack, "88")[0]["id"]
    edited = await stack.xm(key="reseller", action="edit_line", id=own, member_id="89")
    assert edited["status"] == "STATUS_SUCCESS", edited
    assert stack.sim.tables["lines"][int(own)]["member_id"] == "88"


async def test_reseller_own_line_round_trips(stack: Stack) -> None:
    own = own_lines(stack, "88")[0]
    body = await stack.xm(key="reseller", action="get_line", id=own["id"])
    assert body["data"]["username"] == own["username"]


async def test_reseller_mag_of_someone_else_is_not_found(stack: Stack) -> None:
    devices = stack.sim.tables["mag_devices"]
    lines = stack.sim.tables["lines"]
    foreign = next(d for d in devices.values() if lines[int(d["user_id"])]["member_id"] != "88")
    body = await stack.xm(key="reseller", action="get_mag", id=foreign["mag_id"])
    assert body["status"] == "STATUS_FAILURE"
    assert foreign["mac"] not in repr(body)
    listed = await stack.xm(key="reseller", action="get_mags")
    assert {r["member_id"] for r in listed["data"]} <= {"88"}


@pytest.fixture
async def xc_stack(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> tuple[XtreamCodesV2Sim, TestClient[Any, Any]]:
    from tests.conftest import XC_API_PASS

    sim = XtreamCodesV2Sim(api_pass=XC_API_PASS)
    server = await aiohttp_server(sim.app())
    url = str(server.make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path, upstream=xc_upstream(url))
    return sim, await aiohttp_client(build_app(config))


async def _xc(client: TestClient[Any, Any], key: str, **params: Any) -> Any:
    resp = await client.post("/api.php", data={"api_key": KEYS[key], **params})
    text = await resp.text()
    return None if not text else await resp.json(content_type=None)


async def test_tenancy_holds_through_xc_clients_on_an_xm_panel(stack: Stack) -> None:
    other = own_lines(stack, "89")[0]
    creds = {"username": other["username"], "password": other["password"]}
    info = await stack.client.post("/api.php", data={"api_key": KEYS["reseller"], "action": "user", "sub": "info",
                                                     **creds})
    assert await info.json(content_type=None) == {"result": False, "error": "NOT EXISTS"}
    edit = await stack.client.post("/api.php", data={"api_key": KEYS["reseller"], "action": "user", "sub": "edit",
                                                     **creds, "user_data[max_connections]": "1"})
    assert await edit.json(content_type=None) == {"result": False, "error": "NOT EXISTS"}
    assert "edit_line" not in [a for a, _ in stack.sim.received]


async def test_tenancy_holds_on_an_xc_panel(xc_stack: tuple[XtreamCodesV2Sim, TestClient[Any, Any]]) -> None:
    sim, client = xc_stack
    other = next(r for r in sim.tables["users"].values() if str(r["member_id"]) == "89")
    creds = {"username": other["username"], "password": other["password"]}
    assert await _xc(client, "reseller", action="user", sub="info", **creds) == {
        "result": False, "error": "NOT EXISTS"}
    created = await _xc(client, "reseller", action="user", sub="create", **{
        "user_data[username]": "xc_mine", "user_data[password]": "xc_pass_1", "user_data[member_id]": "89",
        "user_data[exp_date]": "1798761600"})
    assert created["result"] is True, created
    row = sim.tables["users"][int(created["created_id"])]
    assert str(row["member_id"]) == "88"
    assert "user/edit" not in [a for a, _ in sim.received]


# --- the hostile table: every way to reach mysql_query or another tenant's data ------------------------------

K, R = KEYS["admin"], KEYS["reseller"]
ATTACKS: list[tuple[str, str, str, str | None]] = [
    # (name, query string, body, content type); every one must be refused without mysql_query reaching the panel
    ("plain", "", f"api_key={K}&action=mysql_query&query=SELECT+1", None),
    ("upper case", "", f"api_key={K}&action=MYSQL_QUERY&query=SELECT+1", None),
    ("mixed case", "", f"api_key={K}&action=MySQL_Query&query=SELECT+1", None),
    ("trailing space", "", f"api_key={K}&action=mysql_query+&query=1", None),
    ("leading space", "", f"api_key={K}&action=+mysql_query&query=1", None),
    ("nul suffix", "", f"api_key={K}&action=mysql_query%00&query=1", None),
    ("array action", "", f"api_key={K}&action[]=mysql_query&query=1", None),
    ("indexed array action", "", f"api_key={K}&action[0]=mysql_query&query=1", None),
    ("duplicate action", "", f"api_key={K}&action=get_lines&action=mysql_query", None),
    ("duplicate action reversed", "", f"api_key={K}&action=mysql_query&action=get_lines", None),
    ("query vs body", "action=mysql_query", f"api_key={K}&action=get_lines", None),
    ("body vs query", "action=get_lines", f"api_key={K}&action=mysql_query", None),
    ("query only", f"api_key={K}&action=mysql_query&query=1", "", None),
    ("double encoded", "", f"api_key={K}&action=%256dysql_query", None),
    ("percent encoded", "", f"api_key={K}&action=%6d%79%73%71%6c_query", None),
    ("dot mangling", "", f"api_key={K}&action.=mysql_query", None),
    ("space mangling", "", f"api_key={K}&action =mysql_query", None),
    ("bracket mangling", "", f"api_key={K}&action[=mysql_query", None),
    ("json body", "", '{"api_key":"' + K + '","action":"mysql_query"}', "application/json"),
    ("reseller key", "", f"api_key={R}&action=mysql_query&query=1", None),
    ("readonly key", "", f"api_key={KEYS['readonly']}&action=mysql_query&query=1", None),
    ("kill_pid", "", f"api_key={K}&action=kill_pid&pid=1", None),
    ("kill_connection", "", f"api_key={K}&action=kill_connection&activity_id=1", None),
    ("reload_nginx", "", f"api_key={K}&action=reload_nginx", None),
    ("flush_blocked_ips", "", f"api_key={K}&action=flush_blocked_ips", None),
    ("get_settings passthrough", "", f"api_key={K}&action=get_settings", None),
    ("get_directory", "", f"api_key={K}&action=get_directory&dir=/etc", None),
    ("no key", "", "action=mysql_query&query=1", None),
    ("key as array", "", f"api_key[]={K}&action=mysql_query", None),
    ("latin-1 body", "", f"api_key={K}&action=mysql_query", "application/x-www-form-urlencoded; charset=latin-1"),
]


@pytest.mark.parametrize(("name", "query", "body", "ctype"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_hostile_request_never_reaches_a_dangerous_action(
    stack: Stack, name: str, query: str, body: str, ctype: str | None
) -> None:
    headers = {"Content-Type": ctype or "application/x-www-form-urlencoded"}
    resp = await stack.client.post(XM_PATH + (f"?{query}" if query else ""), data=body, headers=headers)
    answer = await resp.json(content_type=None)
    assert answer.get("status") != "STATUS_SUCCESS", answer
    dangerous = {"mysql_query", "kill_pid", "kill_connection", "reload_nginx", "flush_blocked_ips", "get_settings",
                 "get_directory"}
    assert not [a for a, _ in stack.sim.received if a.lower().strip() in dangerous]


XC_ATTACKS = [
    ("xc mysql action", {"action": "mysql_query", "query": "SELECT 1"}),
    ("xc unknown sub", {"action": "user", "sub": "delete_all"}),
    ("xc array sub", {"action": "user", "sub[]": "create"}),
    ("xc path traversal sub", {"action": "user", "sub": "../admin"}),
]


@pytest.mark.parametrize(("name", "params"), XC_ATTACKS, ids=[a[0] for a in XC_ATTACKS])
async def test_hostile_xc_requests_are_refused(stack: Stack, name: str, params: dict[str, str]) -> None:
    resp = await stack.client.post("/api.php", data={"api_key": K, **params})
    text = await resp.text()
    assert '"result":true' not in text.replace(" ", "")
    assert stack.sim.received == []


# --- client IP, allow-lists, spoofing ---------------------------------------------------------------------


async def _ip_app(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, trusted: list[str]
) -> TestClient[Any, Any]:
    url = stack.config.upstreams["main"].url
    keys = [{"id": "office", "digest": digest_of("office-key-0123456789"), "policy": "admin",
             "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"]}]
    config = make_config(url, policies_dir, tmp_path, keys=keys, trusted_proxies=trusted)
    return await aiohttp_client(build_app(config))


@pytest.mark.parametrize(
    ("trusted", "xff", "allowed"),
    [
        ([], None, False),  # the socket peer is 127.0.0.1
        ([], "10.0.0.5", False),  # an untrusted peer's header is ignored
        (["127.0.0.1/32"], "10.0.0.5", True),
        (["127.0.0.1/32"], "2001:db8::7", True),
        (["127.0.0.1/32"], "10.0.0.5, 198.51.100.9", False),  # right-most untrusted hop wins
        (["127.0.0.1/32"], "198.51.100.9, 10.0.0.5", True),  # a client-written left part is not believed
        (["127.0.0.1/32", "10.0.0.0/8"], "198.51.100.9, 10.0.0.5", False),  # both hops trusted: skip to the client
        (["127.0.0.1/32"], "not-an-ip", False),
        # a proxy that adds its own header line: the client's own line must not decide
        (["127.0.0.1/32"], ["10.0.0.5", "198.51.100.9"], False),
        (["127.0.0.1/32"], ["198.51.100.9", "10.0.0.5"], True),
        (["127.0.0.1/32"], ["10.0.0.5, 10.0.0.6", "198.51.100.9, 127.0.0.1"], False),
        # an IPv4-mapped IPv6 address is its IPv4 address
        (["127.0.0.1/32"], "::ffff:10.0.0.5", True),
        (["127.0.0.1/32"], "10.0.0.5, ::ffff:198.51.100.9", False),
    ],
)
async def test_client_ip_and_allow_list(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    trusted: list[str], xff: str | list[str] | None, allowed: bool,
) -> None:
    client = await _ip_app(stack, aiohttp_client, policies_dir, tmp_path, trusted)
    lines = [xff] if isinstance(xff, str) else xff or []
    headers = CIMultiDict(("X-Forwarded-For", line) for line in lines)
    resp = await client.post(XM_PATH, data={"api_key": "office-key-0123456789", "action": "user_info"},
                             headers=headers)
    body = await resp.json(content_type=None)
    assert (body["status"] == "STATUS_SUCCESS") is allowed, body
    if not allowed:
        assert body["status"] == "STATUS_FORBIDDEN"


# --- rate limits and throttles ----------------------------------------------------------------------------


def _rated_config(stack: Stack, policies_dir: Path, tmp_path: Path, **extra: Any) -> Any:
    keys = [{"id": "rated", "digest": digest_of("rated-key-0123456789"), "policy": "admin",
             "rate": {"per_minute": 1, "burst": 3}}]
    return make_config(stack.config.upstreams["main"].url, policies_dir, tmp_path, keys=keys, **extra)


async def _burst(client: TestClient[Any, Any], n: int) -> list[tuple[str, dict[str, str]]]:
    out = []
    for _ in range(n):
        resp = await client.post(XM_PATH, data={"api_key": "rated-key-0123456789", "action": "user_info"})
        out.append(((await resp.json(content_type=None))["status"], dict(resp.headers)))
    return out


async def test_key_rate_limit_in_memory(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    client = await aiohttp_client(build_app(_rated_config(stack, policies_dir, tmp_path)))
    answers = await _burst(client, 5)
    assert [s for s, _ in answers] == ["STATUS_SUCCESS"] * 3 + ["STATUS_RATE_LIMITED"] * 2
    assert answers[0][1]["RateLimit-Limit"] == "3"
    assert int(answers[3][1]["Retry-After"]) >= 1
    assert [a for a, _ in stack.sim.received] == ["user_info"] * 3


async def _redis_or_skip() -> aioredis.Redis:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:  # any failure means there is no usable server
        await client.aclose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis server at {REDIS_URL}: {exc}")
    return client


async def test_key_rate_limit_is_shared_by_two_gateways_through_redis(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    redis = await _redis_or_skip()
    prefix = f"pgtest:{uuid.uuid4().hex}:"
    try:
        shared = {"url": REDIS_URL, "prefixes": {"rate_limits": prefix, "locks": prefix + "lock:"}}
        first = await aiohttp_client(build_app(_rated_config(stack, policies_dir, tmp_path, redis=shared)))
        second = await aiohttp_client(build_app(_rated_config(stack, policies_dir, tmp_path, redis=shared)))
        statuses = [s for s, _ in await _burst(first, 2)] + [s for s, _ in await _burst(second, 2)]
        assert statuses == ["STATUS_SUCCESS"] * 3 + ["STATUS_RATE_LIMITED"]
    finally:
        keys = [k async for k in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_redis_down_falls_back_to_local_limits_without_hanging(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    limits = {"redis_url": "redis://127.0.0.1:1/0", "timeout": 0.2}  # nothing listens on port 1 (the old keys)
    client = await aiohttp_client(build_app(_rated_config(stack, policies_dir, tmp_path, rate_limits=limits)))
    answers = await asyncio.wait_for(_burst(client, 4), timeout=10)
    assert [s for s, _ in answers] == ["STATUS_SUCCESS"] * 3 + ["STATUS_RATE_LIMITED"]


async def test_failed_authentications_throttle_the_address(stack: Stack) -> None:
    for _ in range(10):
        assert (await stack.xm(key="guess", action="get_lines"))["error"] == "Invalid API key."
    body = await stack.xm(key="admin", action="get_lines")
    assert body["status"] == "STATUS_RATE_LIMITED"
    assert stack.sim.received == []
    reasons = [e["reason"] for e in stack.audit_lines()]
    assert reasons.count("bad_key") == 10 and reasons[-1] == "auth_throttle"


async def test_ip_only_key_for_legacy_xc_scripts(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    keys = [{"id": "legacy-script", "ip_only": True, "policy": "admin", "allowed_ips": ["10.9.0.0/16"]}]
    config = make_config(stack.config.upstreams["main"].url, policies_dir, tmp_path, keys=keys,
                         trusted_proxies=["127.0.0.1/32"])
    client = await aiohttp_client(build_app(config))
    ok = await client.post("/api.php", data={"action": "reg_user", "sub": "list"},
                           headers={"X-Forwarded-For": "10.9.1.2"})
    assert isinstance(await ok.json(content_type=None), list)
    other = await client.post("/api.php", data={"action": "reg_user", "sub": "list"},
                              headers={"X-Forwarded-For": "10.8.1.2"})
    assert await other.json(content_type=None) == {"result": False, "0": "KEY WRONG"}
