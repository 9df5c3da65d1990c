"""The status page never shows a line's access token: `/live/{token}/1.ts` opens the line as its username and
password do (the logs write it `***`), so its streams are listed under a name that does not carry it."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp

from gateway.app import LIVE, build_admin_app
from tests.conftest import AiohttpClient
from tests.integration.player_fixtures import ACCESS_TOKEN, Setup, make_setup

__all__ = ["make_setup"]  # a fixture: pytest finds it by name in this module


async def _status_while_watching(setup: Setup, aiohttp_client: AiohttpClient,
                                 requests: list[tuple[str, dict[str, str]]]) -> tuple[str, list[Any]]:  # fmt: skip
    """/status.json while each request's stream is open (its first bytes read, the rest held back)."""
    admin = await aiohttp_client(build_admin_app(setup.client.server.app[LIVE]))
    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as open_streams:
        for path, params in requests:
            resp = await open_streams.enter_async_context(session.get(setup.client.make_url(path), params=params))
            assert resp.status == 200, path
            await resp.content.readexactly(4096)
        answer = await admin.get("/status.json")
        text = await answer.text()
        lines = (await answer.json())["streams"]["lines"]
    return text, lines


async def test_streams_by_access_token_are_listed_without_the_token(
    make_setup: Any, aiohttp_client: AiohttpClient
) -> None:
    setup: Setup = await make_setup(access_token=True)
    # a shared live channel (live.serve), a movie relayed per viewer (relay), and /streaming/live.php?token=
    text, lines = await _status_while_watching(setup, aiohttp_client, [
        (f"/live/{ACCESS_TOKEN}/1.ts", {}), (f"/movie/{ACCESS_TOKEN}/21.mp4", {}),
        ("/streaming/vod.php", {"token": ACCESS_TOKEN, "stream": "22", "extension": "mp4"}),
    ])  # fmt: skip
    assert sorted((line["kind"], line["streams"]) for line in lines) == [("live", 1), ("movie", 2)], lines
    assert ACCESS_TOKEN not in text, lines
    # streams by username are still listed by it
    text, lines = await _status_while_watching(setup, aiohttp_client, [(f"/movie/{setup.creds}/21.mp4", {})])
    assert setup.line["username"].casefold() in [line["line"] for line in lines], lines
    assert setup.line["password"] not in text
