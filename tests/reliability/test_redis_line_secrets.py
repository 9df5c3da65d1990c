"""What Redis learns of a line that streams through the gateway: its name, never its password, not even as a
digest anyone could test guesses against. One gateway, one redis-server of the test's own, real sockets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.reliability.conftest import RedisProcess


async def test_a_line_password_cannot_be_recovered_from_the_stream_caps_keys(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_process: RedisProcess,
) -> None:
    """The stream cap's key held the line's username beside the plain SHA-256 of its password (lower-cased): a
    panel's line passwords are ten characters or so, and anyone who could list the keys (a Redis shared with other
    tools, a backup) found each streaming line's password by hashing guesses, a dictionary or a GPU away."""
    redis_process.start()
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    sim.player.live_rate = 400_000.0
    server = await aiohttp_server(sim.app())
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         client_side={"max_streams_per_line": 1}, redis={"url": redis_process.url})  # fmt: skip
    client = await aiohttp_client(build_app(config))
    line = sim.tables["lines"][3]
    peek = aioredis.Redis.from_url(redis_process.url, socket_timeout=2)
    try:
        async with aiohttp.ClientSession() as session:
            stream = await session.get(client.make_url(f"/live/{line['username']}/{line['password']}/1.ts"))
            assert stream.status == 200
            await stream.content.read(16384)
            keys = [k.decode() async for k in peek.scan_iter(match="panelgate:streams:*")]
            stream.close()
    finally:
        await peek.aclose()
    assert keys and all(line["username"] in k for k in keys)  # the scenario: the line's slot is in Redis
    guess = hashlib.sha256(str(line["password"]).casefold().encode()).hexdigest()[:32]  # the attacker's test
    assert not [k for k in keys if guess in k]
    assert not [k for k in keys if str(line["password"]) in k]
