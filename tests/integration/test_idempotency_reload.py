"""Idempotent writes across a config reload that touches the `idempotency:` section: without Redis the records are
the process's memory, and a reload that changed `wait`, `ttl` or `max_entries` used to start an empty store, so the
retry of an order made before it created a second line (or answered STATUS_EXISTS_USERNAME)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.app import LIVE, build_app
from gateway.state import swap_state
from tests.conftest import AiohttpClient, AiohttpServer, make_config
from tests.integration.idem_fixtures import create, slow_panel


async def test_a_reload_that_changes_the_idempotency_section_keeps_every_record(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """No Redis: the records are the process's memory. An operator raises `idempotency.wait` and reloads; the
    billing system's retry of an order made before, and of one still running across the reload, is answered."""
    _, faults, url = await slow_panel(aiohttp_server, 0.5)
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path)))
    live = client.server.app[LIVE]
    first, _ = await create(client, "order-r1", "reload1")
    running = asyncio.create_task(create(client, "order-r2", "reload2"))
    await asyncio.sleep(0.2)  # order-r2 is at the panel
    await swap_state(live, make_config(url, policies_dir, tmp_path, idempotency={"wait": 60, "ttl": 7200}))
    again, headers = await create(client, "order-r1", "reload1")
    assert first["status"] == "STATUS_SUCCESS" and again == first, again
    assert headers.get("Idempotent-Replayed") == "true"
    during, headers = await create(client, "order-r2", "reload2")
    assert (await running)[0] == during and during["status"] == "STATUS_SUCCESS", during
    assert headers.get("Idempotent-Replayed") == "true"
    assert faults.hits["create_line"] == 2
