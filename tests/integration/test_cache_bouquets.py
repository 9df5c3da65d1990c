"""Content writes that change bouquets invalidate bouquet and line reads (XC_VM processStream: `bouquets[]` adds
the new stream to each bouquet with addToBouquet, so the bouquet, and every line's channel list, change)."""

from __future__ import annotations

import json

from gateway.sim.xm_state import php_int
from tests.conftest import Stack
from tests.integration.test_cache_gateway import call, cstack  # noqa: F401  (fixture)


async def test_a_stream_created_into_a_bouquet_is_seen_by_a_cached_bouquet_read(cstack: Stack) -> None:  # noqa: F811
    before, status = await call(cstack.client, action="get_bouquet", id="1")
    assert before["status"] == "STATUS_SUCCESS" and status == "MISS"
    created, _ = await call(cstack.client, action="create_stream", stream_display_name="New one",
                            **{"bouquets[]": "1", "stream_source[]": "http://src.example/1.ts"})  # fmt: skip
    assert created["status"] == "STATUS_SUCCESS", created
    new_id = php_int(created["data"]["id"])
    assert new_id in json.loads(cstack.sim.state.table("bouquets")[1]["bouquet_channels"])  # the panel changed
    after, status = await call(cstack.client, action="get_bouquet", id="1")
    assert str(new_id) in str(after["data"]["bouquet_channels"]), (status, after["data"]["bouquet_channels"])
