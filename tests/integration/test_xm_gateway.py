"""The Xtream-Masters face end to end: keys, refusals and bad input, through real sockets to the simulator."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from gateway.app import build_app
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, Stack

PATH = f"/{ACCESS_CODE}/admin/index.php"


async def test_correct_key_reaches_upstream_with_the_upstream_key(stack: Stack) -> None:
    body = await stack.xm(action="get_lines", limit="3")
    assert body["status"] == "STATUS_SUCCESS"
    assert len(body["data"]) == 3
    assert int(body["recordsTotal"]) >= int(body["recordsFiltered"]) >= 3
    assert [a for a, _ in stack.sim.received] == ["get_lines"]
    # The simulator only answers its own key: success proves the upstream key was used, not the client's.
    assert KEYS["admin"] not in repr(stack.sim.received)


@pytest.mark.parametrize("key", [None, "", "not-a-key", KEYS["admin"] + "x", UPSTREAM_KEY])
async def test_bad_or_missing_key_is_refused_in_dialect_and_never_forwarded(stack: Stack, key: str | None) -> None:
    body = await stack.xm(key=key, action="get_lines")
    assert body == {"status": "STATUS_FAILURE", "error": "Invalid API key."}
    assert stack.sim.received == []


async def test_get_requests_work_like_post(stack: Stack) -> None:
    body = await stack.xm(method="GET", action="get_line", id="1")
    assert body["status"] == "STATUS_SUCCESS"
    assert str(body["data"]["id"]) == "1"


async def test_key_in_header(stack: Stack) -> None:
    resp = await stack.client.post(PATH, data={"action": "user_info"}, headers={"X-API-Key": KEYS["admin"]})
    assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
    resp = await stack.client.post(
        PATH, data={"action": "user_info", "api_key": KEYS["readonly"]}, headers={"X-API-Key": KEYS["admin"]}
    )
    assert (await resp.json(content_type=None))["status"] == "STATUS_INVALID_INPUT"


async def test_unknown_action_is_refused_and_never_forwarded(stack: Stack) -> None:
    for action in ("get_settings", "install_server", "MYSQL_QUERY", "Get_Lines", "", "get_lines "):
        body = await stack.xm(action=action)
        assert body == {"status": "STATUS_FAILURE", "error": "Invalid action."}, action
    assert stack.sim.received == []


async def test_unauthenticated_client_learns_nothing_about_actions(stack: Stack) -> None:
    assert await stack.xm(key="wrong", action="no_such_action") == await stack.xm(key="wrong", action="get_lines")


async def test_dangerous_action_is_refused_for_admin_policy(stack: Stack) -> None:
    body = await stack.xm(action="mysql_query", query="SELECT * FROM users")
    assert body["status"] == "STATUS_FORBIDDEN"
    assert "sql.query" in body["error"]
    assert stack.sim.received == []


async def test_policy_scope_limits_operations(stack: Stack) -> None:
    assert (await stack.xm(key="readonly", action="get_streams"))["status"] == "STATUS_SUCCESS"
    body = await stack.xm(key="readonly", action="delete_line", id="1")
    assert body["status"] == "STATUS_FORBIDDEN"
    body = await stack.xm(key="reseller", action="delete_stream", id="1")
    assert body["status"] == "STATUS_FORBIDDEN"
    assert [a for a, _ in stack.sim.received] == ["get_streams"]


async def _raw_post(stack: Stack, body: bytes | str, *, query: str = "", ctype: str | None = None) -> Any:
    headers = {"Content-Type": ctype or "application/x-www-form-urlencoded"}
    resp = await stack.client.post(PATH + (f"?{query}" if query else ""), data=body, headers=headers)
    assert resp.status == 200
    return json.loads(await resp.read())


KEY = KEYS["admin"]
MALFORMED = [
    ("duplicated action", f"api_key={KEY}&action=get_lines&action=mysql_query", "", None),
    ("array action", f"api_key={KEY}&action[]=get_lines", "", None),
    ("query and body disagree", f"api_key={KEY}&action=get_lines", "action=mysql_query", None),
    ("duplicated key", f"api_key={KEY}&api_key=other&action=get_lines", "", None),
    ("duplicated id", f"api_key={KEY}&action=delete_line&id=1&id=2", "", None),
    ("invalid utf-8", f"api_key={KEY}&action=get_lines&search[value]=%ff%fe", "", None),
    ("nul byte", f"api_key={KEY}&action=get_lines%00", "", None),
    ("json body", json.dumps({"api_key": KEY, "action": "get_lines"}), "", "application/json"),
    ("latin-1 charset", f"api_key={KEY}&action=get_lines", "", "application/x-www-form-urlencoded; charset=latin-1"),
    ("non-numeric id", f"api_key={KEY}&action=get_line&id=1 OR 1=1", "", None),
    ("missing id", f"api_key={KEY}&action=delete_line", "", None),
    ("bad limit", f"api_key={KEY}&action=get_lines&limit=-5", "", None),
    ("array id", f"api_key={KEY}&action=get_line&id[]=1", "", None),
    ("bad bouquets", f"api_key={KEY}&action=create_line&bouquets_selected=[1,x]", "", None),
    ("value and array", f"api_key={KEY}&action=create_line&allowed_ips=1&allowed_ips[]=2", "", None),
]


@pytest.mark.parametrize(("name", "body", "query", "ctype"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_input_is_refused_in_dialect_and_never_forwarded(
    stack: Stack, name: str, body: str, query: str, ctype: str | None
) -> None:
    answer = await _raw_post(stack, body, query=query, ctype=ctype)
    assert answer["status"] in ("STATUS_INVALID_INPUT", "STATUS_FAILURE"), answer
    assert answer.get("error"), answer
    assert stack.sim.received == []


async def test_bad_date_gets_the_panels_own_code(stack: Stack) -> None:
    body = await stack.xm(action="create_line", username="x1", password="y1", exp_date="31/12/2030")
    assert body["status"] == "STATUS_INVALID_DATE"
    assert body["data"]["username"] == "x1"  # the panel echoes the input on failure
    assert stack.sim.received == []


async def test_bad_mac_gets_the_panels_own_code(stack: Stack) -> None:
    body = await stack.xm(action="create_mag", mac="00:1A:79:ZZ:00:01")
    assert body["status"] == "STATUS_INVALID_MAC"
    assert stack.sim.received == []


async def test_oversized_body_is_refused_before_parsing(stack: Stack) -> None:
    big = f"api_key={KEY}&action=create_line&admin_notes=" + "a" * (stack.config.max_body_bytes + 10)
    answer = await _raw_post(stack, big)
    assert answer["status"] == "STATUS_PAYLOAD_TOO_LARGE"
    assert stack.sim.received == []


async def test_panel_failures_come_back_in_the_panels_shape(stack: Stack) -> None:
    first = await stack.xm(action="create_line", username="dupe_me", password="pw123456")
    assert first["status"] == "STATUS_SUCCESS"
    assert first["data"]["username"] == "dupe_me"
    again = await stack.xm(action="create_line", username="dupe_me", password="pw123456")
    assert again["status"] == "STATUS_EXISTS_USERNAME"
    assert again["data"]["username"] == "dupe_me"
    assert "api_key" not in again["data"]
    missing = await stack.xm(action="get_line", id="999999")
    assert missing["status"] == "STATUS_FAILURE"


async def test_false_flag_is_omitted_upstream(stack: Stack) -> None:
    """The panel turns a flag on when its key is merely present; the gateway sends only true flags."""
    body = await stack.xm(action="create_line", username="flags1", password="pw123456", is_trial="0",
                          is_restreamer="1")
    assert body["status"] == "STATUS_SUCCESS"
    _, received = stack.sim.received[-1]
    assert "is_trial" not in received
    assert received["is_restreamer"] == "1"
    assert str(body["data"]["is_trial"]) == "0"
    assert str(body["data"]["is_restreamer"]) == "1"


async def test_upstream_down_gives_a_dialect_error(stack: Stack) -> None:
    await stack.sim_server.close()
    body = await stack.xm(action="get_lines")
    assert body["status"] == "STATUS_UPSTREAM_UNAVAILABLE"
    assert "127.0.0.1" not in json.dumps(body)  # the upstream's address stays hidden


async def test_audit_log_records_writes_and_refusals_without_secrets(stack: Stack) -> None:
    await stack.xm(action="create_line", username="audited", password="s3cret-pass")
    await stack.xm(action="mysql_query", query="SELECT 1")
    await stack.xm(key="wrong", action="get_lines")
    await stack.xm(action="get_lines")  # a successful read is not audited
    lines = stack.audit_lines()
    assert [(e["operation"], e["outcome"], e["reason"]) for e in lines] == [
        ("line.create", "ok", ""),
        ("sql.query", "forbidden", "scope"),
        (None, "unauthorized", "bad_key"),
    ]
    assert lines[0]["key_id"] == "admin" and lines[0]["upstream"] == "main"
    text = stack.audit_path.read_text()
    for secret in ("s3cret-pass", KEYS["admin"], UPSTREAM_KEY, "wrong"):
        assert secret not in text


async def test_metrics_and_health(stack: Stack, admin_client: Any) -> None:
    await stack.xm(action="get_lines")
    await stack.xm(action="mysql_query", query="x")
    resp = await admin_client.get("/metrics")
    text = await resp.text()
    assert 'panelgate_requests_total{dialect="xtream_masters",operation="line.list",outcome="ok"} 1.0' in text
    assert 'panelgate_refusals_total{reason="scope"} 1.0' in text
    assert UPSTREAM_KEY not in text and KEYS["admin"] not in text
    assert (await (await admin_client.get("/healthz")).json()) == {"status": "ok"}
    assert (await admin_client.get("/readyz")).status == 200


async def test_real_http_status_codes_when_configured(stack: Stack, aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_app(replace(stack.config, http_status_codes=True)))
    resp = await client.post(PATH, data={"api_key": "nope", "action": "get_lines"})
    assert resp.status == 401
    assert (await resp.json(content_type=None))["error"] == "Invalid API key."
    resp = await client.post(PATH, data={"api_key": KEYS["admin"], "action": "mysql_query"})
    assert resp.status == 403
    resp = await client.post(PATH, data={"api_key": KEYS["admin"], "action": "get_lines"})
    assert resp.status == 200
