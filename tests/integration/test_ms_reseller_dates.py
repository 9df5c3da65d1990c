"""MidnightStreamer's resellers/list answers `created_at` as UNIX time (a digit string); in front of an
Xtream-Masters / XUI.one panel, whose get_users answers `date_registered` as a MySQL DATETIME
(`2025-01-01 01:00:00`), the MidnightStreamer face must answer it as MidnightStreamer does, as the XC v2 face
already does for reg_user/list."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AiohttpClient, AiohttpServer
from tests.integration.ms_fixtures import ms_stack


@pytest.mark.parametrize("upstream", ["ms", "xm", "xui", "xc"])
async def test_resellers_list_answers_created_at_as_unix_time(
    upstream: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    st = await ms_stack(upstream, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    body = await st.ms("resellers/list")
    assert body["result"] is True and body["data"]
    for row in body["data"]:
        assert str(row["created_at"]).isdigit(), row
    north = next(row for row in body["data"] if row["username"] == "north_tv")
    assert north["created_at"] == "1736006400"  # 2025-01-04 16:00:00 UTC, the seeded reseller's registration
