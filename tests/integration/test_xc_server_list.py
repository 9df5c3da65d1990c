"""XC v2's `server/list` in front of an Xtream-Masters / XUI.one panel answers api.php's own rows.

api.php (Xtream_main wwwdir/admin/api.php) answers `[{id, server_name, online, info}]`: `online` the server's
state, `info` its decoded `server_hardware`. Monitoring scripts read `online`; get_servers has no such column
(it has `status`), and it carries the panel's server IPs, which api.php never answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AiohttpClient, AiohttpServer
from tests.integration.xc_fixtures import xc_client_stack


@pytest.mark.parametrize("upstream", ["xm", "xui", "xc"])
async def test_server_list_answers_api_php_rows_from_any_panel(
    upstream: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    st = await xc_client_stack(upstream, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    body = await st.call("server", "list")
    assert isinstance(body, list) and body
    for row in body:
        assert set(row) == {"id", "server_name", "online", "info"}, row
        assert row["online"] is True and row["info"] == {"cpu": "Intel Xeon E-2288G", "total_ram": 64}
    assert sorted(str(row["id"]) for row in body) == ["1", "2"]
