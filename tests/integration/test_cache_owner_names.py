"""get_lines / get_mags / get_enigmas rows carry their owner's `owner_name` (table.php joins users), so renaming
or deleting a reseller changes cached line reads: the reseller write must invalidate them."""

from __future__ import annotations

from tests.conftest import Stack
from tests.integration.test_cache_gateway import call, cstack  # noqa: F401  (fixture)


async def test_renaming_a_reseller_is_seen_by_a_cached_line_list(cstack: Stack) -> None:  # noqa: F811
    before, status = await call(cstack.client, action="get_lines", limit="500")
    assert status == "MISS"
    assert "north_tv" in {row.get("owner_name") for row in before["data"]}
    renamed, _ = await call(cstack.client, action="edit_user", id="88", username="north_renamed", member_group_id="2")
    assert renamed["status"] == "STATUS_SUCCESS", renamed
    after, status = await call(cstack.client, action="get_lines", limit="500")
    owners = {row.get("owner_name") for row in after["data"]}
    assert "north_renamed" in owners and "north_tv" not in owners, status
