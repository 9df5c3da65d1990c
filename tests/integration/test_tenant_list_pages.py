"""A reseller-bound key's lists when the reseller has more records than the panel answers in one call.

table.php cuts `length` to 1000 rows whatever is asked (src/includes/api/admin/table.php: `if (1000 < $rLimit ...)
$rLimit = 1000`); tenancy reads a reseller's list whole (start 0, a large limit) to filter and page it itself, so a
reseller with 1,200 lines must still reach its last ones, and be told it has 1,200.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

EXTRA = 1200


async def test_a_reseller_with_more_lines_than_one_panel_page_reaches_them_all(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    lines = sim.tables["lines"]
    model = dict(lines[21])  # one of reseller 88's lines
    assert model["member_id"] == "88"
    for n in range(EXTRA):
        line_id = 10_000 + n
        lines[line_id] = {**model, "id": str(line_id), "username": f"bulk{n:05d}", "password": f"bulkpw{n:05d}"}
    own = [r for r in lines.values() if r["member_id"] == "88" and r["is_mag"] == "0" and r["is_e2"] == "0"]
    server: TestServer = await aiohttp_server(sim.app())
    url = str(server.make_url("")).rstrip("/")
    gateway = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path)))
    resp = await gateway.post(f"/{ACCESS_CODE}/admin/index.php",
                              data={"api_key": KEYS["reseller"], "action": "get_lines", "start": str(len(own) - 20),
                                    "limit": "50"})  # fmt: skip
    answer = await resp.json(content_type=None)
    assert answer["status"] == "STATUS_SUCCESS", answer
    assert answer["recordsTotal"] == str(len(own)), answer["recordsTotal"]
    assert len(answer["data"]) == 20
    assert {row["member_id"] for row in answer["data"]} == {"88"}
