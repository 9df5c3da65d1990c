"""A line addressed by username (XC v2 user/info|edit, MidnightStreamer line/*) is found on an Xtream-Masters /
XUI.one panel with get_lines' `search[value]`, a LIKE '%..%' over the username, the password, the notes, the
connection count and FROM_UNIXTIME(exp_date). table.php answers at most 1000 rows a call, so on a real panel
a short or numeric username ("2031", "tv1") matches far more rows than one page: the line must still be
found, not answered NOT EXISTS."""

from __future__ import annotations

from pathlib import Path

from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import AiohttpClient, AiohttpServer
from tests.integration.xc_fixtures import xc_client_stack

EXP_2031 = "1925035200"  # 2031-01-01 12:00:00 UTC: FROM_UNIXTIME gives "2031-01-01 12:00:00"


async def test_a_username_that_matches_more_than_a_page_of_lines_is_still_found(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    st = await xc_client_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    sim = st.sim
    assert isinstance(sim, XtreamMastersSim)
    lines = sim.state.table("lines")
    template = dict(lines[1])
    first = max(lines) + 1
    for n in range(first, first + 1100):  # a panel with more than a page of lines expiring in 2031
        lines[n] = {**template, "id": str(n), "username": f"bulk{n}", "password": f"pw{n}x", "exp_date": EXP_2031}
    made = await st.call("user", "create", pairs=[("user_data[username]", "2031"), ("user_data[password]", "secret9"),
                                                  ("user_data[exp_date]", EXP_2031)])  # fmt: skip
    assert made["result"] is True, made
    info = await st.call("user", "info", username="2031", password="secret9")
    assert info.get("result") is True, info
    assert info["user_info"]["username"] == "2031"
    edited = await st.call("user", "edit", username="2031", password="secret9",
                           pairs=[("user_data[max_connections]", "4")])  # fmt: skip
    assert edited == {"result": True}
    assert next(r for r in lines.values() if r["username"] == "2031")["max_connections"] == "4"
