"""Caching of reads through the real gateway and simulator (in-process backend): hits, misses, invalidation
by resource tag, tenants, single-flight and stale-if-error. The simulator's `received` counts upstream calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import LIVE, build_admin_app, build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import (
    ACCESS_CODE,
    KEYS,
    UPSTREAM_KEY,
    AiohttpClient,
    AiohttpServer,
    Stack,
    make_config,
)

PATH = f"/{ACCESS_CODE}/admin/index.php"
RESELLER_89 = "pg_test_reseller89_key_000000000000000000000"


def cache_keys() -> list[dict[str, Any]]:
    """The conftest keys plus a second reseller, so two tenants can ask the same question."""
    return [
        {"id": "admin", "digest": digest_of(KEYS["admin"]), "policy": "admin"},
        {"id": "reseller-88", "digest": digest_of(KEYS["reseller"]), "policy": "reseller", "reseller_id": 88},
        {"id": "reseller-89", "digest": digest_of(RESELLER_89), "policy": "reseller", "reseller_id": 89},
        {"id": "readonly", "digest": digest_of(KEYS["readonly"]), "policy": "readonly"},
    ]


async def make_stack(
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    policies_dir: Path,
    tmp_path: Path,
    cache: dict[str, Any],
    *,
    sim: XtreamMastersSim | None = None,
    delay: float = 0.0,
) -> Stack:
    sim = sim or XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    sim_app = sim.app()
    if delay:

        @web.middleware
        async def slow(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
            await asyncio.sleep(delay)
            return await handler(request)

        sim_app.middlewares.append(slow)
    sim_server = await aiohttp_server(sim_app)
    url = str(sim_server.make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path, cache=cache, keys=cache_keys())
    client = await aiohttp_client(build_app(config))
    return Stack(sim=sim, sim_server=sim_server, client=client, config=config, audit_path=tmp_path / "audit.jsonl")


async def call(client: TestClient[Any, Any], key: str = "admin", **params: Any) -> tuple[Any, str | None]:
    """(decoded body, X-Cache header) of one Xtream-Masters call."""
    resp = await client.post(PATH, data={"api_key": KEYS.get(key, key), **params})
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None), resp.headers.get("X-Cache")


def upstream_calls(stack: Stack, action: str) -> int:
    return sum(1 for a, _ in stack.sim.received if a == action)


@pytest.fixture
async def cstack(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> Stack:
    return await make_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path, {"ttl": {"default": 60}})


async def test_cache_is_off_without_a_cache_section(stack: Stack) -> None:
    for _ in range(2):
        resp = await stack.client.post(PATH, data={"api_key": KEYS["admin"], "action": "get_lines"})
        assert "X-Cache" not in resp.headers
    assert upstream_calls(stack, "get_lines") == 2


async def test_second_read_is_a_hit_with_one_upstream_call(cstack: Stack) -> None:
    first, miss = await call(cstack.client, action="get_lines", limit="5")
    second, hit = await call(cstack.client, action="get_lines", limit="5")
    assert (miss, hit) == ("MISS", "HIT")
    assert first == second and first["status"] == "STATUS_SUCCESS"
    assert upstream_calls(cstack, "get_lines") == 1
    # Other arguments are another entry.
    _, other = await call(cstack.client, action="get_lines", limit="6")
    assert other == "MISS"
    assert upstream_calls(cstack, "get_lines") == 2


async def test_writes_bypass_and_a_line_write_invalidates_line_reads(cstack: Stack) -> None:
    await call(cstack.client, action="get_lines", limit="500")
    await call(cstack.client, action="get_line", id="1")
    created, status = await call(cstack.client, action="create_line", username="cached1", password="pw_cached_1")
    assert created["status"] == "STATUS_SUCCESS" and status == "BYPASS"
    listing, status = await call(cstack.client, action="get_lines", limit="500")
    assert status == "MISS"
    assert "cached1" in [row["username"] for row in listing["data"]]
    _, status = await call(cstack.client, action="get_line", id="1")
    assert status == "MISS"
    assert upstream_calls(cstack, "get_lines") == 2


# (read action and params, write action and params, whether the write touches the read's resource)
RESOURCES = [
    ("line", {"action": "get_line", "id": "1"}, {"action": "edit_line", "id": "1", "max_connections": "3"}, True),
    ("mag", {"action": "get_mags", "limit": "5"}, {"action": "edit_mag", "id": "1", "mac": "00:1A:79:AB:CD:EE"}, True),
    ("mag->line", {"action": "get_lines"}, {"action": "edit_mag", "id": "1", "mac": "00:1A:79:AB:CD:EE"}, True),
    ("reseller", {"action": "get_users"}, {"action": "edit_user", "id": "88", "notes": "edited"}, True),
    ("package", {"action": "get_packages"}, {"action": "edit_package", "id": "1", "package_name": "renamed"}, True),
    ("bouquet", {"action": "get_bouquets"}, {"action": "edit_bouquet", "id": "1", "bouquet_name": "renamed"}, True),
    # an XC user/info on this panel carries its bouquets' channel_ids (gateway.plans.lineinfo)
    ("bouquet->line", {"action": "get_line", "id": "1"}, {"action": "edit_bouquet", "id": "1", "bouquet_name": "b"},
     True),
    ("package-not-line", {"action": "get_lines"}, {"action": "edit_package", "id": "1", "package_name": "x"}, False),
    ("line-not-package", {"action": "get_packages"}, {"action": "edit_line", "id": "1", "max_connections": "2"}, False),
    ("failed-write", {"action": "get_lines"}, {"action": "edit_line", "id": "999999", "max_connections": "2"}, False),
]


@pytest.mark.parametrize(("name", "read", "write", "invalidates"), RESOURCES, ids=[r[0] for r in RESOURCES])
async def test_invalidation_per_resource(
    cstack: Stack, name: str, read: dict[str, str], write: dict[str, str], invalidates: bool
) -> None:
    assert [s for _, s in [await call(cstack.client, **read), await call(cstack.client, **read)]] == ["MISS", "HIT"]
    answer, status = await call(cstack.client, **write)
    assert status == "BYPASS"
    assert (answer["status"] == "STATUS_SUCCESS") is (name != "failed-write"), answer
    _, status = await call(cstack.client, **read)
    assert status == ("MISS" if invalidates else "HIT")
    # an edit the panel rebuilds whole is sent whole: it reads its record first (gateway.plans.whole_row)
    reads_by_the_write = 1 if WHOLE_ROW_READS.get(write["action"]) == read["action"] else 0
    assert upstream_calls(cstack, read["action"]) == (2 if invalidates else 1) + reads_by_the_write


WHOLE_ROW_READS = {"edit_line": "get_line", "edit_mag": "get_mag", "edit_enigma": "get_enigma", "edit_user": "get_user"}


async def test_tenants_never_share_an_entry(cstack: Stack) -> None:
    mine, s88 = await call(cstack.client, "reseller", action="get_lines")
    theirs, s89 = await call(cstack.client, RESELLER_89, action="get_lines")
    _, s_admin = await call(cstack.client, "admin", action="get_lines")
    assert (s88, s89, s_admin) == ("MISS", "MISS", "MISS")
    assert {r["member_id"] for r in mine["data"]} == {"88"}
    assert {r["member_id"] for r in theirs["data"]} == {"89"}
    again, status = await call(cstack.client, RESELLER_89, action="get_lines")
    assert status == "HIT" and again == theirs
    again, status = await call(cstack.client, "reseller", action="get_lines")
    assert status == "HIT" and again == mine
    # The cached page is the unfiltered owner list: paging is the gateway's, after the cache.
    paged, status = await call(cstack.client, "reseller", action="get_lines", start="1", limit="1")
    assert status == "HIT" and paged["data"] == mine["data"][1:2]


async def test_fifty_concurrent_misses_make_one_upstream_call(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stack = await make_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path, {"ttl": 60}, delay=0.3)
    answers = await asyncio.gather(*(call(stack.client, action="get_lines", limit="7") for _ in range(50)))
    assert upstream_calls(stack, "get_lines") == 1
    statuses = sorted(s or "" for _, s in answers)
    assert statuses == ["HIT"] * 49 + ["MISS"]
    assert all(body == answers[0][0] and body["status"] == "STATUS_SUCCESS" for body, _ in answers)


async def test_stale_entry_answers_while_the_panel_is_down(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    cache = {"ttl": {"default": 0.2, "package.*": 60}, "stale_if_error": 30}
    stack = await make_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path, cache)
    fresh, _ = await call(stack.client, action="get_lines", limit="3")
    await call(stack.client, action="get_packages")
    await asyncio.sleep(0.3)  # the line list is past its TTL, within stale_if_error; packages are fresh
    await stack.sim_server.close()
    stale, status = await call(stack.client, action="get_lines", limit="3")
    assert status == "STALE" and stale == fresh
    _, status = await call(stack.client, action="get_packages")
    assert status == "HIT"
    never_cached, status = await call(stack.client, action="get_line", id="2")
    assert status == "MISS" and never_cached["status"] != "STATUS_SUCCESS"


async def test_stale_window_ends(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    cache = {"ttl": 0.1, "stale_if_error": 0.1}
    stack = await make_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path, cache)
    await call(stack.client, action="get_lines", limit="3")
    await asyncio.sleep(0.3)
    await stack.sim_server.close()
    answer, status = await call(stack.client, action="get_lines", limit="3")
    assert status == "MISS" and answer["status"] != "STATUS_SUCCESS"


async def test_ttl_zero_bypasses(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stack = await make_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path, {"ttl": {"line.list": 0}})
    statuses = [(await call(stack.client, action="get_lines"))[1] for _ in range(2)]
    assert statuses == ["BYPASS", "BYPASS"]
    assert upstream_calls(stack, "get_lines") == 2


async def test_metrics_and_readyz_report_the_cache(cstack: Stack, aiohttp_client: AiohttpClient) -> None:
    admin = await aiohttp_client(build_admin_app(cstack.client.server.app[LIVE]))
    await call(cstack.client, action="get_lines")
    await call(cstack.client, action="get_lines")
    await call(cstack.client, action="edit_line", id="1", max_connections="3")
    text = await (await admin.get("/metrics")).text()
    assert 'panelgate_cache_lookups_total{operation="line.list",result="miss"} 1.0' in text
    assert 'panelgate_cache_lookups_total{operation="line.list",result="hit"} 1.0' in text
    assert 'panelgate_cache_lookups_total{operation="line.edit",result="bypass"} 1.0' in text
    assert 'panelgate_cache_invalidations_total{tag="line"} 1.0' in text
    ready = await (await admin.get("/readyz")).json()
    assert ready["cache"]["backend"] == "memory" and ready["cache"]["state"] == "ok"


async def test_xm_and_xc_clients_share_entries(cstack: Stack) -> None:
    xm, status = await call(cstack.client, action="get_users")
    assert status == "MISS" and xm["status"] == "STATUS_SUCCESS"
    resp = await cstack.client.post("/api.php", data={"api_key": KEYS["admin"], "action": "reg_user", "sub": "list"})
    assert resp.headers.get("X-Cache") == "HIT"
    xc = await resp.json(content_type=None)
    assert isinstance(xc, list) and [str(r["id"]) for r in xc] == [str(r["id"]) for r in xm["data"]]
    assert upstream_calls(cstack, "get_users") == 1


async def test_remembered_renderings_follow_dialect_page_and_invalidation(cstack: Stack) -> None:
    """Hits reuse what they derive from a shared entry (a reseller's page, the rendered bytes): each dialect and
    each page must still get its own, and an edit must show once its write invalidated the entry."""
    first, _ = await call(cstack.client, "reseller", action="get_lines", start="0", limit="2")
    second, _ = await call(cstack.client, "reseller", action="get_lines", start="2", limit="2")
    assert first["data"] != second["data"]
    for _ in range(2):  # alternating, so each answer comes from the remembered derivations
        page1, s1 = await call(cstack.client, "reseller", action="get_lines", start="0", limit="2")
        page2, s2 = await call(cstack.client, "reseller", action="get_lines", start="2", limit="2")
        assert (s1, s2) == ("HIT", "HIT") and (page1, page2) == (first, second)
        xm, _ = await call(cstack.client, action="get_users")
        resp = await cstack.client.post("/api.php", data={"api_key": KEYS["admin"], "action": "reg_user",
                                                           "sub": "list"})  # fmt: skip
        xc = await resp.json(content_type=None)
        assert xm["status"] == "STATUS_SUCCESS" and isinstance(xc, list)
    assert upstream_calls(cstack, "get_lines") == 1 and upstream_calls(cstack, "get_users") == 1
    row = first["data"][0]
    edited, status = await call(cstack.client, "admin", action="edit_line", id=str(row["id"]), max_connections="7")
    assert edited["status"] == "STATUS_SUCCESS" and status == "BYPASS"
    after, status = await call(cstack.client, "reseller", action="get_lines", start="0", limit="2")
    assert status == "MISS" and str(after["data"][0]["max_connections"]) == "7"
    assert str(row["max_connections"]) != "7"
