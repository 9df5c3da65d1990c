"""A credit move the panel made but never answered (it stalled past the gateway's timeout after its UPDATE), through
real sockets against the simulated admin API: the gateway cannot know it was made, so it must neither undo what may
stand (a transfer's debit given back while the credit stands: credits made out of nothing) nor answer a plain
"unavailable" that invites a retry (a sale charged twice).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream

SHOP_CODE = "shopcode"
SELLER_KEY = "pg_test_seller_key_000000000000000000000"
TIMEOUT = 1.0
Client = TestClient[Any, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Stall:
    """Answers `action` for `record` (applied at once) only after the gateway has given up on it."""

    def __init__(self, action: str, record: str) -> None:
        self.action, self.record = action, record
        self.released = asyncio.Event()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else {}
        params = {**request.query, **form}
        answer = await handler(request)
        if params.get("action") == self.action and params.get("id") == self.record:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), TIMEOUT * 3)
        return answer


async def _stack(stall: Stall, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                 tmp_path: Path) -> tuple[XtreamMastersSim, Client]:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app(web.Application(middlewares=[stall.middleware])))
    url = str(server.make_url("")).rstrip("/")
    (policies_dir / "seller.yaml").write_text("allow: ['reseller.transfer_credits', 'line.create_from_package']\n")
    config = make_config(url, policies_dir, tmp_path, upstream={**xm_upstream(url), "timeout": TIMEOUT},
                         keys=[{"id": "boss", "digest": digest_of(SELLER_KEY), "policy": "seller", "reseller_id": 88}],
                         access_codes={SHOP_CODE: {"upstream": "main", "dialect": "xui_reseller"}})  # fmt: skip
    return sim, await aiohttp_client(build_app(config))


async def _call(client: Client, **params: Any) -> Any:
    resp = await client.post(f"/{SHOP_CODE}/", data={"api_key": SELLER_KEY, **params})
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


async def test_a_transfer_whose_credit_went_unanswered_does_not_give_the_debit_back(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stall = Stall("adjust_credits", "90")  # the credit to the receiver: made, answered too late
    sim, gateway = await _stack(stall, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    users = sim.tables["users"]
    mine, theirs = int(users[88]["credits"]), int(users[90]["credits"])
    answer = await _call(gateway, action="adjust_credits", id="90", credits="10")
    stall.released.set()
    assert answer["status"] == "STATUS_PARTIAL_FAILURE", answer
    # what the panel holds: the transfer made once, no credit made out of nothing
    assert int(users[88]["credits"]) + int(users[90]["credits"]) == mine + theirs
    assert (int(users[88]["credits"]), int(users[90]["credits"])) == (mine - 10, theirs + 10)


async def test_a_sale_whose_charge_went_unanswered_says_the_charge_may_stand(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    stall = Stall("adjust_credits", "88")  # the buyer's charge: made, answered too late
    sim, gateway = await _stack(stall, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    before = int(sim.tables["users"][88]["credits"])
    answer = await _call(gateway, action="create_line", package="3", username="stalled_sale1", password="stalled_pw1")
    stall.released.set()
    # not a plain STATUS_UPSTREAM_UNAVAILABLE, which a billing script retries (paying again for one line)
    assert answer["status"] == "STATUS_PARTIAL_FAILURE", answer
    assert "10 credits" in answer["error"], answer
    assert int(sim.tables["users"][88]["credits"]) == before - 10
    assert not [r for r in sim.tables["lines"].values() if r["username"] == "stalled_sale1"]
