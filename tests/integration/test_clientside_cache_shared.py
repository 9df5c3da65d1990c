"""Cached player lists stored once per content, through real sockets: lines with the same lists share one body
(memory and Redis), each gets its own credentials back, and a pointer whose body is gone is a miss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.app import LIVE, build_admin_app, build_app
from gateway.clientside import cached
from gateway.sim.player_data import add_line
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.integration.test_cache_redis import SHARED_REDIS, own_prefix

# "1" is in every list (ids, `:1`...): only the `/username/password/` segment may be taken for the line's own
LINES = [("shared_a", "secret-a"), ("shared_b", "1"), ("1", "secret-c")]


async def _side(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
                **extra: Any) -> tuple[XtreamMastersSim, Any]:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    for user, password in LINES:
        add_line(sim.tables, user, password, 1)  # the same bouquets: the same lists
    server = await aiohttp_server(sim.app())
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path, **extra)
    return sim, await aiohttp_client(build_app(config))


async def _get(client: Any, path: str, user: str, password: str, **params: str) -> tuple[str | None, bytes]:
    resp = await client.get(path, params={"username": user, "password": password, **params})
    assert resp.status == 200
    return resp.headers.get("X-Cache"), await resp.read()


def _memory(client: Any) -> dict[str, bytes]:
    cache = client.server.app[LIVE].state.cache
    return {key: raw for key, (_, raw) in cache.backend.memory._entries.items()}


async def _three_lines_one_body(client: Any) -> dict[str, bytes]:
    """Each line's playlist, fetched twice: MISS then HIT with the same bytes, its own credentials in its URLs."""
    bodies = {}
    for user, password in LINES:
        first, body = await _get(client, "/get.php", user, password, type="m3u_plus")
        again, hit = await _get(client, "/get.php", user, password, type="m3u_plus")
        assert (first, again) == ("MISS", "HIT") and hit == body
        assert f"/{user}/{password}/".encode() in body
        bodies[user] = body
    a, b, c = (bodies[user] for user, _ in LINES)
    # the same list but for the credentials: "1" elsewhere in it (ids, ports) untouched
    assert b.replace(b"/shared_b/1/", b"/shared_a/secret-a/") == a
    assert c.replace(b"/1/secret-c/", b"/shared_a/secret-a/") == a
    return bodies


async def test_lines_with_the_same_list_share_one_stored_body(aiohttp_server: AiohttpServer,
                                                              aiohttp_client: AiohttpClient, policies_dir: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    sim, client = await _side(aiohttp_server, aiohttp_client, policies_dir, tmp_path, cache={"ttl": 60})
    await _three_lines_one_body(client)
    for user, password in LINES:
        for _ in range(2):
            await _get(client, "/player_api.php", user, password, action="get_live_streams")
    stored = _memory(client)
    bodies = [raw for key, raw in stored.items() if key.startswith(cached.BODY_PREFIX)]
    assert len(bodies) == 2  # one playlist, one get_live_streams, for three lines
    assert sim.player.received.count("/get.php") == 3 and sim.player.received.count("/player_api.php") == 3
    # /readyz says what the memory cache holds: the two bodies, and small pointers
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
    held = (await (await admin.get("/readyz")).json())["cache"]
    assert held["entries"] == len(stored) and held["megabytes"] == round(sum(map(len, stored.values())) / 1e6, 1)
    assert sum(map(len, stored.values())) < 1.2 * sum(map(len, bodies))
    secrets = [password.encode() for _, password in LINES if password != "1"]
    assert all(secret not in raw for raw in stored.values() for secret in secrets)


async def test_a_pointer_whose_body_is_gone_is_a_miss(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                                                      policies_dir: Path, tmp_path: Path) -> None:  # fmt: skip
    sim, client = await _side(aiohttp_server, aiohttp_client, policies_dir, tmp_path, cache={"ttl": 60})
    user, password = LINES[0]
    _, first = await _get(client, "/get.php", user, password, type="m3u")
    memory = client.server.app[LIVE].state.cache.backend.memory
    for key in [k for k in _memory(client) if k.startswith(cached.BODY_PREFIX)]:
        del memory._entries[key]  # evicted under memory pressure, or expired first in Redis
    status, again = await _get(client, "/get.php", user, password, type="m3u")
    assert status == "MISS" and again == first and sim.player.received.count("/get.php") == 2
    status, third = await _get(client, "/get.php", user, password, type="m3u")
    assert status == "HIT" and third == first


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async for name in own_prefix("cache-shared"):
        yield name


async def test_redis_holds_one_body_for_lines_with_the_same_list(aiohttp_server: AiohttpServer,
                                                                 aiohttp_client: AiohttpClient, policies_dir: Path,
                                                                 tmp_path: Path, prefix: str) -> None:  # fmt: skip
    redis = {"url": SHARED_REDIS, "prefixes": {"cache": prefix}}
    _, client = await _side(aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                            cache={"backend": "redis", "ttl": 60}, redis=redis)  # fmt: skip
    await _three_lines_one_body(client)
    server = aioredis.Redis.from_url(SHARED_REDIS)
    try:
        bodies = [k async for k in server.scan_iter(match=f"{prefix}{cached.BODY_PREFIX}*")]
        assert len(bodies) == 1
        pointer_ttl = min([await server.pttl(k) async for k in server.scan_iter(match=f"{prefix}c:*")])
        assert await server.pttl(bodies[0]) >= pointer_ttl - 1000  # the body outlives the pointers
    finally:
        await server.aclose()
    assert _memory(client) == {}  # nothing fell back to memory


async def test_touching_a_shared_body_on_redis_never_shortens_it() -> None:
    """A body is shared by every name whose list is the same bytes (`[]` of get_vod_streams and of get_series,
    with different TTLs): a store under the shorter TTL must not cut the life the longer one gave it."""
    from gateway.cache.redis_backend import RedisBackend
    from gateway.redis.settings import Endpoint
    from gateway.redis.url import parse_url

    async for prefix in own_prefix("touch"):
        backend = RedisBackend(Endpoint(parse_url(SHARED_REDIS), prefix, timeout=2.0))
        client = aioredis.from_url(SHARED_REDIS)
        try:
            await backend.set("cb:x", b"[]", 100.0)
            assert await backend.touch("cb:x", 5.0)
            assert await client.pttl(prefix + "cb:x") > 90_000
            assert await backend.touch("cb:x", 200.0)
            assert await client.pttl(prefix + "cb:x") > 190_000
            assert not await backend.touch("cb:gone", 5.0)
        finally:
            await client.aclose()
            await backend.close()
