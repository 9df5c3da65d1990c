"""Credits moved while the same reseller's row is being edited, through real sockets against the simulated admin API.

XUI.one's edit_user writes the balance it is sent (the gateway re-sends the row whole: gateway.plans.whole_row), so
an edit that read the balance before a credit move and writes after it takes the move back. The gateway holds a
reseller's record for every writer of its balance; these tests hold the edit's read at the panel (a gate in front
of the simulator, answered as it was read) while the other writer runs, then let it go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream

SHOP_CODE = "shopcode"
SELLER_KEY = "pg_test_seller_key_000000000000000000000"
XM = f"/{ACCESS_CODE}/admin/index.php"
Client = TestClient[Any, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Gate:
    """Holds the answer to the first `action` request for `record` (read as the panel read it) until released."""

    def __init__(self, action: str, record: str) -> None:
        self.action, self.record = action, record
        self.reached, self.released, self.used = asyncio.Event(), asyncio.Event(), False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else {}
        params = {**request.query, **form}
        held = not self.used and params.get("action") == self.action and params.get("id") == self.record
        self.used = self.used or held
        answer = await handler(request)
        if held:
            self.reached.set()
            await self.released.wait()
        return answer


async def _stack(gate: Gate, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                 tmp_path: Path) -> tuple[XtreamMastersSim, Client]:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app(web.Application(middlewares=[gate.middleware])))
    url = str(server.make_url("")).rstrip("/")
    (policies_dir / "seller.yaml").write_text("allow: ['reseller.transfer_credits', 'reseller.get']\n")
    keys = [{"id": "admin", "digest": digest_of(KEYS["admin"]), "policy": "admin"},
            {"id": "boss", "digest": digest_of(SELLER_KEY), "policy": "seller", "reseller_id": 88}]  # fmt: skip
    config = make_config(url, policies_dir, tmp_path, upstream=xm_upstream(url), keys=keys,
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    return sim, await aiohttp_client(build_app(config))


async def _post(client: Client, path: str, key: str, **params: Any) -> Any:
    resp = await client.post(path, data={"api_key": key, **params})
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


async def test_a_transfer_to_a_reseller_being_edited_is_not_taken_back_by_the_edit(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    gate = Gate("get_user", "90")  # the admin's edit reads reseller 90 first: held there
    sim, gateway = await _stack(gate, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    users = sim.tables["users"]
    mine, theirs = int(users[88]["credits"]), int(users[90]["credits"])
    edit = asyncio.create_task(_post(gateway, XM, KEYS["admin"], action="edit_user", id="90", notes="renamed"))
    await asyncio.wait_for(gate.reached.wait(), 5)
    transfer = asyncio.create_task(_post(gateway, f"/{SHOP_CODE}/", SELLER_KEY, action="adjust_credits", id="90",
                                         credits="10"))  # fmt: skip
    await asyncio.sleep(0.5)  # a transfer that does not wait for the edit is done by now
    gate.released.set()
    edited, moved = await asyncio.gather(edit, transfer)
    assert edited["status"] == "STATUS_SUCCESS", edited
    assert moved == {"status": "STATUS_SUCCESS"}, moved
    assert users[90]["notes"] == "renamed"
    assert (int(users[88]["credits"]), int(users[90]["credits"])) == (mine - 10, theirs + 10)
