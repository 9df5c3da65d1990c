"""The panel's host never shows, even to a player that never logs in (a TV app given a playlist and an EPG URL).

The simulated panel writes its lists with the main server's configured domain (`use_mdomain_in_lists`), not the
address the gateway connects to: exactly the name a fresh gateway cannot know from its config. It learns it at
start-up from the panel's server list, from `client_side.upstream_hosts`, or from another replica through Redis.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.app import build_app
from tests.integration.player_fixtures import Setup, make_setup
from tests.integration.test_cache_redis import SHARED_REDIS, _redis_or_skip, own_prefix

__all__ = ["make_setup"]  # a fixture: pytest finds it by name in this module

DOMAIN = "s1.panel.example.net"


async def everything_served(setup: Setup) -> dict[str, str]:
    """What a fresh gateway serves a line, playlists and EPG first (before any login), as text."""
    user, password = setup.line["username"], setup.line["password"]
    creds = {"username": user, "password": password}
    out: dict[str, str] = {}

    async def fetch(path: str, **params: str) -> None:
        resp = await setup.client.get(path, params=params)
        assert resp.status == 200, path
        body = await resp.read()
        out[f"{path}?{params}"] = (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode()

    for kind in ("m3u", "m3u_plus"):
        for output in ("ts", "m3u8"):
            await fetch("/get.php", **creds, type=kind, output=output)
    await fetch(f"/playlist/{user}/{password}/m3u_plus")
    await fetch("/xmltv.php", **creds)
    await fetch(f"/epg/{user}/{password}")
    await fetch(f"/epg/{user}/{password}/gz")
    await fetch("/xmltv.php", **creds, gzip="1")
    await fetch(f"/live/{user}/{password}/1.m3u8")
    for action in ("get_live_categories", "get_live_streams", "get_vod_streams", "get_series"):
        await fetch(f"/player_api/{user}/{password}/{action}")
    await fetch("/player_api.php", **creds, action="get_series_info", series_id="1")
    await fetch("/player_api.php", **creds, action="get_vod_info", vod_id="21")
    await fetch("/panel_api.php", **creds)
    await fetch("/player_api.php", **creds)  # the login payload, last
    return out


async def test_a_fresh_gateway_serves_no_panel_host_at_all(make_setup: Any) -> None:
    setup: Setup = await make_setup()
    assert [action for action, _ in setup.sim.received] == ["get_servers"]  # asked once, before listening
    served = await everything_served(setup)
    for name, text in served.items():
        setup.assert_hidden(text)
        assert text, name
    playlist = served[str(next(k for k in served if "m3u_plus" in k and "'ts'" in k))]
    assert f'tvg-logo="{setup.public}/images/logos/' in playlist
    epg = next(text for key, text in served.items() if key.startswith("/epg/") and key.endswith("{}"))
    assert f'generator-info-url="{setup.public}/"' in epg and f'<icon src="{setup.public}/images/' in epg
    gz = next(text for key, text in served.items() if key.endswith("/gz?{}"))
    assert gz == epg  # the same EPG, compressed by the gateway after rewriting


async def test_catch_up_attributes_survive(make_setup: Any) -> None:
    setup: Setup = await make_setup()
    user, password = setup.line["username"], setup.line["password"]
    resp = await setup.client.get("/get.php", params={"username": user, "password": password, "type": "m3u_plus"})
    extinf = next(line for line in (await resp.text()).splitlines() if 'tvg-name="BBC One HD"' in line)
    assert extinf.startswith('#EXTINF:-1 timeshift="3" ')  # XUI's archive mark, in its place
    resp = await setup.client.get(f"/player_api/{user}/{password}/get_live_streams")
    first = (await resp.json())[0]
    assert (first["tv_archive"], first["tv_archive_duration"]) == (1, 3)


async def test_without_a_source_the_domain_would_show(make_setup: Any) -> None:
    """The check above can fail: with probes off and nothing configured, the gateway does not know the domain
    until a login reports it; `client_side.upstream_hosts` names it from the start."""
    blind: Setup = await make_setup(health_interval=0)
    user, password = blind.line["username"], blind.line["password"]
    params = {"username": user, "password": password, "type": "m3u_plus"}
    assert DOMAIN in await (await blind.client.get("/get.php", params=params)).text()
    assert blind.sim.received == []
    login = await blind.client.get("/player_api.php", params={"username": user, "password": password})
    blind.assert_hidden(await login.text())
    blind.assert_hidden(await (await blind.client.get("/get.php", params=params)).text())  # learned by the login
    told: Setup = await make_setup({"upstream_hosts": [DOMAIN]}, health_interval=0)
    told.assert_hidden(await (await told.client.get("/get.php", params=params)).text())


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async for name in own_prefix("hosts"):
        yield name


async def test_replicas_share_what_one_of_them_learned(make_setup: Any, aiohttp_client: Any, prefix: str) -> None:
    one: Setup = await make_setup({}, health_interval=0, redis={"url": SHARED_REDIS, "prefixes": {"hosts": prefix}})
    user, password = one.line["username"], one.line["password"]
    await one.client.get("/player_api.php", params={"username": user, "password": password})  # one learns
    redis = await _redis_or_skip(SHARED_REDIS)
    try:
        for _ in range(250):  # published in the background, right after the login
            if await redis.sismember(f"{prefix}names", DOMAIN):  # type: ignore[misc]
                break
            await asyncio.sleep(0.02)
        assert await redis.sismember(f"{prefix}names", DOMAIN)  # type: ignore[misc]
    finally:
        await redis.aclose()
    two = await aiohttp_client(build_app(one.config))  # another replica, started after: it reads the set
    resp = await two.get("/get.php", params={"username": user, "password": password, "type": "m3u_plus"})
    one.assert_hidden(await resp.text())


async def test_a_panel_host_spelled_with_a_letter_that_folds_to_ascii_is_hidden_too(make_setup: Any) -> None:
    # LONG S is `s` to Unicode case folding (and to a player's IDNA mapping): a channel name naming the panel that
    # way reaches the panel. It appears in M3U tag lines, the EPG, and player_api's JSON (escaped, as PHP does).
    setup: Setup = await make_setup()
    folded = "\u017f" + DOMAIN[1:]
    assert DOMAIN.startswith("s")
    setup.sim.tables["streams"][1]["stream_display_name"] = f"Promo http://{folded}:8080/x"
    served = await everything_served(setup)
    named = [key for key, text in served.items() if "Promo" in text]
    assert any("get.php" in key for key in named) and any("epg" in key for key in named)
    assert any("get_live_streams" in key for key in named)
    for key, text in served.items():
        assert folded not in text and "\\u017f" + DOMAIN[1:] not in text, key
        setup.assert_hidden(text)
    assert any(f"Promo {setup.public}/x" in text for text in served.values())


async def test_a_panel_host_after_a_user_and_password_or_before_a_trailing_dot_is_hidden_too(make_setup: Any) -> None:
    # `http://user:pass@host/` and `http://host./` are the panel to a player (it connects to the host after the
    # `@`; a trailing dot is a fully qualified name): both passed every path before, in tag lines, the EPG and JSON
    setup: Setup = await make_setup()
    setup.sim.tables["streams"][1]["stream_display_name"] = (f"Promo http://u:p@{DOMAIN}:8080/x, see "
                                                             f"http://{DOMAIN}./y and http://{DOMAIN}.")  # fmt: skip
    served = await everything_served(setup)
    named = [key for key, text in served.items() if "Promo" in text]
    assert any("get.php" in key for key in named) and any("epg" in key for key in named)
    assert any("get_live_streams" in key for key in named)
    for key, text in served.items():
        setup.assert_hidden(text)
        assert "u:p@" not in text, key
    said = f"Promo {setup.public}/x, see {setup.public}/y and {setup.public}."  # a full stop stays one
    assert any(said in text or said.replace("/", "\\/") in text for text in served.values())
