"""A replayed failure does not tell the client to retry after some seconds: the `Retry-After` of the first answer
(the panel said it was busy, and the write may have been applied) spoke of that moment, and a retry with the same
Idempotency-Key is answered that same failure for `idempotency.ttl`, however long the client waits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from tests.conftest import ACCESS_CODE, KEYS, AiohttpClient, AiohttpServer
from tests.integration.ms_fixtures import ms_stack

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _busy_creates(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (await request.post()).get("action") == "create_line":
        return web.Response(status=503, text="busy", headers={"Retry-After": "2"})
    return await handler(request)


async def test_a_replayed_failure_carries_no_retry_after(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stack = await ms_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path, middleware=_busy_creates)
    form = {"api_key": KEYS["admin"], "action": "create_line", "username": "busy1", "password": "pw123456"}
    first = await stack.client.post(XM_PATH, data=form, headers={"Idempotency-Key": "busy-1"})
    body = await first.json(content_type=None)
    assert body["status"] == "STATUS_UPSTREAM_UNAVAILABLE" and first.headers["Retry-After"] == "2", body
    again = await stack.client.post(XM_PATH, data=form, headers={"Idempotency-Key": "busy-1"})
    assert await again.json(content_type=None) == body and again.headers["Idempotent-Replayed"] == "true"
    assert "Retry-After" not in again.headers
