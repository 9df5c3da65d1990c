"""A Redis that restarts without its data (`--save ''`, as docs/deploy.md runs it), between two calls: no call
fails, so no replica sees an outage, and every shared state is simply gone. Two replicas, one redis-server of the
test's own, real sockets: what they must still agree on afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.integration.test_cache_gateway import PATH, cache_keys, call
from tests.reliability.conftest import RedisProcess


async def _lines(client: TestClient[Any, Any]) -> tuple[list[str], str | None]:
    """The line names of a get_lines GET (a GET: what a remembered hit plan answers), and X-Cache."""
    resp = await client.get(PATH, params={"api_key": KEYS["admin"], "action": "get_lines", "limit": "500"})
    assert resp.status == 200
    body = await resp.json(content_type=None)
    return [row["username"] for row in body["data"]], resp.headers.get("X-Cache")


def _restart_empty(redis: RedisProcess) -> None:
    redis.kill()
    redis.start()  # the same port, nothing kept


async def test_a_write_before_a_restart_is_not_undone_by_a_remembered_hit(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    """The generations lost with the restart read 0 again, the values they had before every write: a replica that
    still remembered the entry it answered under them (gateway.hitpath) answered it, as a fresh HIT, without the
    line another replica had created."""
    redis_process.start()
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, keys=cache_keys(),
                         cache={"backend": "redis", "ttl": 60}, redis={"url": redis_process.url})  # fmt: skip
    first, second = await aiohttp_client(build_app(config)), await aiohttp_client(build_app(config))
    assert (await _lines(first))[1] == "MISS"
    assert (await _lines(first))[1] == "HIT"  # answered by `first`'s remembered plan
    created, _ = await call(second, action="create_line", username="after_restart", password="pw_after_restart")
    assert created["status"] == "STATUS_SUCCESS"
    _restart_empty(redis_process)
    names, _ = await _lines(first)
    assert "after_restart" in names
