"""An idempotent write whose plan failed while only reads had been sent wrote nothing: it is not kept, so its retry
runs. Before, the failure of the read an XUI.one edit starts from (or of a lookup by username) answered every retry
with that key for `idempotency.ttl` (a day), and the line was never renewed under the billing system's order key."""

from __future__ import annotations

from pathlib import Path

from gateway.app import build_app
from gateway.sim.faults import FaultInjector
from tests.conftest import KEYS, AiohttpClient, AiohttpServer, make_config
from tests.integration.idem_fixtures import XM_PATH
from tests.integration.ms_fixtures import xui_sim, xui_upstream


async def test_an_edit_whose_first_read_failed_is_not_kept(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """Toward XUI.one an edit reads the line first (it is sent whole). That read failing (the panel cut the
    connection) wrote nothing: the billing system's retry with the same key must renew the line, not be told of
    the cut connection again for a day."""
    sim = xui_sim()
    faults = FaultInjector()
    faults.set("get_line", "reset")
    server = await aiohttp_server(faults.wrap(sim.app()))
    url = str(server.make_url("")).rstrip("/")
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path, upstream=xui_upstream(url))))
    renew = {"api_key": KEYS["admin"], "action": "edit_line", "id": "1", "max_connections": "3"}
    resp = await client.post(XM_PATH, data=renew, headers={"Idempotency-Key": "renew-1"})
    failed = await resp.json(content_type=None)
    assert failed["status"] != "STATUS_SUCCESS" and faults.hits["edit_line"] == 0, failed
    faults.set("get_line", None)  # the panel answers again
    resp = await client.post(XM_PATH, data=renew, headers={"Idempotency-Key": "renew-1"})
    body = await resp.json(content_type=None)
    assert body["status"] == "STATUS_SUCCESS" and "Idempotent-Replayed" not in resp.headers, body
    assert faults.hits["edit_line"] == 1 and int(sim.tables["lines"][1]["max_connections"]) == 3
