"""A PHP list that went through array_unique() or array_filter() keeps its keys, so http_build_query writes
`stream_ids[0]=1&stream_ids[2]=2`: api.php reads the values (array_map('intval', ...)), whatever the keys.
The gateway must take such a list as the panel does, not refuse it as "not a list of ids"."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import KEYS, AiohttpClient, AiohttpServer
from tests.integration.xc_fixtures import xc_client_stack

KEY = KEYS["admin"]
# php -r 'echo http_build_query(["stream_ids" => array_unique([1, 1, 2]), "api_key" => KEY]);'
GAPPED = b"stream_ids%5B0%5D=1&stream_ids%5B2%5D=2&api_key=" + KEY.encode()


@pytest.mark.parametrize("upstream", ["xc", "xm"])
async def test_stream_start_takes_a_list_with_gaps_in_its_keys(
    upstream: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    st = await xc_client_stack(upstream, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    answer = await st.raw("action=stream&sub=start", GAPPED)
    assert answer.json() == {"result": True}
    if isinstance(st.sim, XtreamMastersSim):
        assert sorted((a, p["id"]) for a, p in st.sim.received) == [("start_stream", "1"), ("start_stream", "2")]
    else:
        assert [p["stream_ids"] for _, p in st.sim.received] == [["1", "2"]]
