"""Hostile probes, asserted on what reached the panel (a recording simulator), not only on the answer.

Families: secrets coming back out (the panel's keys and password hashes), fields smuggled past the catalogue
(nested `user_data[...]` / `data[...]` columns, reserved names, arrays for scalars), client addresses, and typed
values. Each probe failed on the code before the fix it is named after.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_app
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, Stack, make_config

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
HASH_PREFIX = "$6$"


def _no_panel_secret(body: Any) -> None:
    shown = json.dumps(body)
    assert UPSTREAM_KEY not in shown, shown[:300]
    assert '"api_key"' not in shown and HASH_PREFIX not in shown, shown[:300]


# --- secrets coming back out -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["admin", "readonly"])
async def test_user_info_never_answers_the_panel_key(stack: Stack, key: str) -> None:
    body = await stack.xm(key=key, action="user_info")
    assert body["status"] == "STATUS_SUCCESS" and body["data"]["username"] == "admin"
    assert "permissions" in body
    _no_panel_secret(body)


async def test_user_info_for_a_reseller_key_is_the_resellers_own_account(stack: Stack) -> None:
    body = await stack.xm(key="reseller", action="user_info")
    assert body["status"] == "STATUS_SUCCESS"
    assert body["data"]["id"] == "88" and body["data"]["username"] == "north_tv"
    _no_panel_secret(body)
    assert [(action, params.get("id")) for action, params in stack.sim.received] == [("get_user", "88")]


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("get_user", {"id": "89"}),
        ("get_users", {}),
        ("get_rtmp_ips", {}),
        ("create_user", {"username": "probe_res", "password": "pw-probe", "member_group_id": "2"}),
        ("edit_user", {"id": "90", "member_group_id": "3", "username": "harbour_sub", "notes": "x"}),
    ],
)
async def test_no_row_of_any_answer_carries_a_panel_secret(stack: Stack, action: str, params: dict[str, str]) -> None:
    body = await stack.xm(action=action, **params)
    assert body if isinstance(body, list) else body["status"] == "STATUS_SUCCESS", body
    _no_panel_secret(body)
    assert "rtmp-push" not in json.dumps(body)


async def test_secrets_stay_out_of_cached_answers(
    stack: Stack, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    url = stack.config.upstreams["main"].url
    config = make_config(url, policies_dir, tmp_path, cache={"backend": "memory", "ttl": {"default": 60}})
    client = await aiohttp_client(build_app(config))
    for expected in ("MISS", "HIT"):
        resp = await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "get_user", "id": "88"})
        assert resp.headers["X-Cache"] == expected
        _no_panel_secret(await resp.json(content_type=None))
