"""A pool's members serve one panel (reads fail over between them), so a write through one member invalidates
the cached reads of every member: an entry stored while another member answered must not outlive the write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from gateway.app import LIVE, build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream

KEY = "pool-cache-key-0123456789abcdef"


async def test_a_write_through_one_member_invalidates_what_another_member_cached(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)  # one panel, two front ends
    front_a, front_b = await aiohttp_server(sim.app()), await aiohttp_server(sim.app())

    def url(server: TestServer) -> str:
        return str(server.make_url("")).rstrip("/")

    config = make_config(
        url(front_a), policies_dir, tmp_path,
        upstreams={"a": xm_upstream(url(front_a)), "b": xm_upstream(url(front_b))},
        pools={"main": ["a", "b"]},
        health={"interval": 0, "failures": 2, "cooldown": 600},
        cache={"ttl": {"default": 60}},
        keys=[{"id": "pool", "digest": digest_of(KEY), "policy": "admin", "upstream": "main"}],
    )  # fmt: skip
    client = await aiohttp_client(build_app(config))
    breaker_a = client.server.app[LIVE].state.upstream_client.health.breaker("a")

    async def call(action: str, **params: str) -> tuple[Any, str | None]:
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": action, **params})
        return await resp.json(content_type=None), resp.headers.get("X-Cache")

    breaker_a.failure("down"), breaker_a.failure("down")  # a is out: b answers, and its answer is cached
    before, status = await call("get_line", id="1")
    assert status == "MISS" and before["data"]["max_connections"] != "7"
    breaker_a.success()  # a is back: the write goes to a
    edited, _ = await call("edit_line", id="1", max_connections="7")
    assert edited["status"] == "STATUS_SUCCESS", edited
    assert sim.tables["lines"][1]["max_connections"] == "7"
    breaker_a.failure("down"), breaker_a.failure("down")  # a is out again: b's entry must not answer
    after, status = await call("get_line", id="1")
    assert after["data"]["max_connections"] == "7", status
