"""A remembered hit whose stateful steps wait (the rate limit's Redis round trip) while a write changes the
answer: the bytes it renders for the entry it read are never sent for the newer entry another hit read meanwhile
(found by a hostile review: hits after the write kept sending the pre-write answer)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway import security
from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, make_config

PATH = f"/{ACCESS_CODE}/admin/index.php"
SECRET = "pg_hitplan_key_00000000000000000000000000000"


async def test_bytes_rendered_before_a_write_are_not_sent_after_it(aiohttp_server: Any, aiohttp_client: Any,
                                                                   policies_dir: Path, tmp_path: Path,
                                                                   monkeypatch: Any) -> None:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    keys = [{"id": "billing", "digest": digest_of(SECRET), "policy": "admin"}]
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path, cache={"ttl": {"default": 60}},
                                                        keys=keys)))
    gates: dict[str, asyncio.Event] = {}
    entered: dict[str, asyncio.Event] = {}
    real = security.rate_limit

    async def rate_limit(ex: Any) -> None:  # the hit path's rate limit (a Redis round trip in production)
        tag = ex.request.headers.get("X-Test-Pause")
        if tag:
            entered.setdefault(tag, asyncio.Event()).set()
            await gates.setdefault(tag, asyncio.Event()).wait()
        await real(ex)

    monkeypatch.setattr(security, "rate_limit", rate_limit)
    params = {"api_key": SECRET, "action": "get_lines", "limit": "5"}

    async def get(headers: dict[str, str] | None = None) -> tuple[Any, str]:
        resp = await client.get(PATH, params=params, headers=headers or {})
        return await resp.json(content_type=None), resp.headers["X-Cache"]

    before, h = await get()
    assert h == "MISS"
    row = before["data"][0]
    # A: a remembered hit, paused after it read the (pre-write) entry
    a = asyncio.create_task(get({"X-Test-Pause": "a"}))
    entered.setdefault("a", asyncio.Event())
    await entered["a"].wait()
    # a write; then the same read from another request key (an ignored X-Forwarded-For) fills the cache anew
    resp = await client.get(PATH, params={"api_key": SECRET, "action": "edit_line", "id": str(row["id"]),
                                          "max_connections": "7"})
    assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
    fresh, h = await get({"X-Forwarded-For": "192.0.2.1"})
    assert h == "MISS" and str(fresh["data"][0]["max_connections"]) == "7"
    # B: a hit on A's plan after the write, paused after it read the new entry
    b = asyncio.create_task(get({"X-Test-Pause": "b"}))
    entered.setdefault("b", asyncio.Event())
    await entered["b"].wait()
    gates.setdefault("a", asyncio.Event()).set()
    await a
    gates.setdefault("b", asyncio.Event()).set()
    b_body, b_cache = await b
    later, h = await get()
    assert b_cache == h == "HIT" and str(b_body["data"][0]["max_connections"]) == "7"
    assert str(later["data"][0]["max_connections"]) == "7", "a hit after the write sent the pre-write answer"
