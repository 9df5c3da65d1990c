"""get_users (and get_user, user_info) rows carry their member group's `group_name` (table.php joins
users_groups), so renaming or deleting a group changes cached reseller reads: the group write must invalidate
them, not leave the old name for a whole TTL."""

from __future__ import annotations

from tests.conftest import Stack
from tests.integration.test_cache_gateway import call, cstack  # noqa: F401  (fixture)


async def test_renaming_a_group_is_seen_by_a_cached_user_list(cstack: Stack) -> None:  # noqa: F811
    before, status = await call(cstack.client, action="get_users")
    assert status == "MISS"
    assert "Partners" not in {row.get("group_name") for row in before["data"]}
    renamed, _ = await call(cstack.client, action="edit_group", id="2", group_name="Partners")
    assert renamed["status"] == "STATUS_SUCCESS", renamed
    after, status = await call(cstack.client, action="get_users")
    names = {str(row["id"]): row.get("group_name") for row in after["data"]}
    assert names["88"] == "Partners", (status, names)
