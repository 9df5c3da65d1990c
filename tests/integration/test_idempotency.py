"""Idempotent writes end to end: a retried create_line with the same Idempotency-Key creates one line and charges
once, on one gateway and across two replicas sharing Redis; duplicates wait; a reused key is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import LIVE, build_admin_app, build_app
from gateway.sim.faults import FaultInjector
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, Stack, make_config
from tests.integration.shared_redis import SharedRedis, shared_redis
from tests.integration.xc_fixtures import xc_client_stack

__all__ = ["shared_redis"]  # a fixture: pytest finds it by name in this module
XM_PATH = f"/{ACCESS_CODE}/admin/index.php"


async def _post(client: TestClient[Any, Any], key: str | None = None, *, header: bool = True,
                **params: str) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
    form = {"api_key": KEYS["admin"], **params}
    headers = {}
    if key is not None and header:
        headers["Idempotency-Key"] = key
    elif key is not None:
        form["idempotency_key"] = key
    resp = await client.post(XM_PATH, data=form, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None), dict(resp.headers)


def _lines_named(sim: XtreamMastersSim, username: str) -> int:
    return sum(1 for row in sim.state.table("lines").values() if row.get("username") == username)


def _creates(sim: XtreamMastersSim) -> int:
    return sum(1 for action, _ in sim.received if action == "create_line")


def _credits(sim: XtreamMastersSim, user_id: int) -> float:
    return float(sim.state.table("users")[user_id]["credits"])


async def test_a_retried_create_line_creates_one_line_and_charges_once(stack: Stack) -> None:
    line = {"action": "create_line", "username": "retry1", "password": "pw123456"}
    first, _ = await _post(stack.client, "order-1001", **line)
    again, headers = await _post(stack.client, "order-1001", **line)
    assert first["status"] == "STATUS_SUCCESS"
    assert again == first  # the first answer, not STATUS_EXISTS_USERNAME
    assert headers["Idempotent-Replayed"] == "true"
    assert _lines_named(stack.sim, "retry1") == 1 and _creates(stack.sim) == 1
    # the charge a billing system makes for it: moved once
    before = _credits(stack.sim, 88)
    charge = {"action": "adjust_credits", "id": "88", "credits": "-5", "reason": "order 1001"}
    for _ in range(3):
        answer, _ = await _post(stack.client, "charge-1001", **charge)
        assert answer["status"] == "STATUS_SUCCESS"
    assert _credits(stack.sim, 88) == before - 5
    audit = [(a["operation"], a.get("idempotency")) for a in stack.audit_lines()]
    assert audit == [("line.create", "stored"), ("line.create", "replayed"), ("reseller.adjust_credits", "stored"),
                     ("reseller.adjust_credits", "replayed"), ("reseller.adjust_credits", "replayed")]  # fmt: skip
    assert {a["idempotency_key"] for a in stack.audit_lines()} == {"order-1001", "charge-1001"}


async def test_the_parameter_works_for_php_clients_and_never_reaches_the_panel(stack: Stack) -> None:
    line = {"action": "create_line", "username": "retry2", "password": "pw123456"}
    first, _ = await _post(stack.client, "php-7", header=False, **line)
    again, headers = await _post(stack.client, "php-7", header=False, **line)
    assert first["status"] == "STATUS_SUCCESS" and again == first
    assert headers["Idempotent-Replayed"] == "true"
    assert _creates(stack.sim) == 1
    assert all("idempotency_key" not in params for _, params in stack.sim.received)


async def test_a_client_that_timed_out_gets_the_first_outcome_on_retry(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """The panel is slow; the billing system gives up before the answer and retries at once: the retry waits for
    the first request (still running at the gateway) and answers its line."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    faults = FaultInjector(delay=1.0)
    faults.set("create_line", "slow")
    server = await aiohttp_server(faults.wrap(sim.app()))
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path)
    client = await aiohttp_client(build_app(config))
    line = {"action": "create_line", "username": "slow1", "password": "pw123456"}
    form = {"api_key": KEYS["admin"], **line}
    try:
        await client.post(XM_PATH, data=form, headers={"Idempotency-Key": "slow-1"},
                          timeout=aiohttp.ClientTimeout(total=0.3))  # fmt: skip
        raise AssertionError("the first request should have timed out at the client")
    except TimeoutError:
        pass
    again, headers = await _post(client, "slow-1", **line)
    assert again["status"] == "STATUS_SUCCESS" and again["data"]["username"] == "slow1"
    assert headers["Idempotent-Replayed"] == "true"
    assert faults.hits["create_line"] == 1 and _lines_named(sim, "slow1") == 1


async def test_a_retry_with_a_relative_date_is_still_the_same_request(stack: Stack) -> None:
    """`exp_date=+1 month` is read as a date when it arrives, a second later on the retry: the parameters as sent
    are the same, so it is a duplicate, not a different request."""
    line = {"action": "create_line", "username": "rel1", "password": "pw123456", "exp_date": "+1 month"}
    first, _ = await _post(stack.client, "rel-1", **line)
    await asyncio.sleep(1.1)
    again, headers = await _post(stack.client, "rel-1", **line)
    assert first["status"] == "STATUS_SUCCESS" and again == first and headers["Idempotent-Replayed"] == "true"
    assert _creates(stack.sim) == 1


async def test_concurrent_duplicates_wait_for_the_first(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    faults = FaultInjector(delay=0.3)
    faults.set("create_line", "slow")
    server = await aiohttp_server(faults.wrap(sim.app()))
    client = await aiohttp_client(build_app(make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path)))
    line = {"action": "create_line", "username": "burst1", "password": "pw123456"}
    answers = await asyncio.gather(*(_post(client, "burst-1", **line) for _ in range(6)))
    bodies = [body for body, _ in answers]
    assert all(body == bodies[0] for body in bodies) and bodies[0]["status"] == "STATUS_SUCCESS"
    assert sum(1 for _, headers in answers if headers.get("Idempotent-Replayed") == "true") == 5
    assert faults.hits["create_line"] == 1 and _lines_named(sim, "burst1") == 1


async def test_the_same_key_with_another_request_is_refused_in_the_clients_dialect(stack: Stack) -> None:
    await _post(stack.client, "order-2", action="create_line", username="one2", password="pw123456")
    stack.sim.reset_received()
    other, headers = await _post(stack.client, "order-2", action="create_line", username="two2", password="pw123456")
    assert other["status"] == "STATUS_INVALID_INPUT"
    assert "was used for a different request" in other["error"] and "order-2" in other["error"]
    assert "Idempotent-Replayed" not in headers
    assert stack.sim.received == []
    last = stack.audit_lines()[-1]
    assert (last["reason"], last["idempotency"], last["outcome"]) == ("idempotency_mismatch", "mismatch",
                                                                      "invalid_input")  # fmt: skip
    # the same key from another gateway key is another record: tenants never see each other's outcomes
    resp = await stack.client.post(XM_PATH, data={"api_key": KEYS["danger"], "action": "create_line",
                                                  "username": "one2b", "password": "pw123456"},
                                   headers={"Idempotency-Key": "order-2"})  # fmt: skip
    assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"


async def test_xc_v2_clients_get_their_own_error(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    xc = await xc_client_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    user = [("user_data[username]", "xcidem"), ("user_data[password]", "pw123456")]
    first = await xc.call("user", "create", pairs=[*user, ("idempotency_key", "xc-1")])
    again = await xc.call("user", "create", pairs=[*user, ("idempotency_key", "xc-1")])
    assert first["result"] is True and again == first
    other = await xc.call("user", "create", pairs=[("user_data[username]", "xcidem2"),
                                                   ("user_data[password]", "pw123456"), ("idempotency_key", "xc-1")])
    assert other["result"] is False and other["error"] == "PARAMETER ERROR"
    assert "different request" in other["message"]
    assert sum(1 for action, _ in xc.sim.received if action == "create_line") == 1


async def test_bad_keys_are_refused_and_reads_ignore_the_key(stack: Stack) -> None:
    for bad in ("has space", "x" * 256, ""):
        resp = await stack.client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "create_line",
                                                      "username": "bad1", "password": "pw", "idempotency_key": bad})
        body = await resp.json(content_type=None)
        assert body["status"] == "STATUS_INVALID_INPUT" and "idempotency_key" in body["error"], body
    resp = await stack.client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "create_line",
                                                  "username": "bad2", "idempotency_key": "a"},
                                   headers={"Idempotency-Key": "b"})  # fmt: skip
    assert "more than once" in (await resp.json(content_type=None))["error"]
    assert stack.sim.received == []
    for _ in range(2):
        body, headers = await _post(stack.client, "read-1", action="get_line", id="1")
        assert body["status"] == "STATUS_SUCCESS" and "Idempotent-Replayed" not in headers
    assert sum(1 for action, _ in stack.sim.received if action == "get_line") == 2


async def test_a_write_that_never_left_is_not_kept(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """The panel was down (connection refused: nothing sent): the retry with the same key runs."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server: TestServer = await aiohttp_server(sim.app())
    url = str(server.make_url("")).rstrip("/")
    port = server.port
    await server.close()
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path)))
    line = {"action": "create_line", "username": "down1", "password": "pw123456"}
    down, _ = await _post(client, "down-1", **line)
    assert down["status"] == "STATUS_UPSTREAM_UNAVAILABLE"
    await aiohttp_server(sim.app(), port=port)
    up, headers = await _post(client, "down-1", **line)
    assert up["status"] == "STATUS_SUCCESS" and "Idempotent-Replayed" not in headers
    assert _lines_named(sim, "down1") == 1


async def test_two_replicas_sharing_redis_create_one_line(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    shared_redis: SharedRedis,
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    faults = FaultInjector(delay=0.4)
    faults.set("create_line", "slow")
    server = await aiohttp_server(faults.wrap(sim.app()))
    url = str(server.make_url("")).rstrip("/")
    limits = {"redis_url": shared_redis.url, "prefix": shared_redis.prefix}
    replicas = [await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path / str(i), rate_limits=limits)))
                for i in range(2)]  # fmt: skip
    # retried on the other replica after the first answered
    line = {"action": "create_line", "username": "rep1", "password": "pw123456"}
    first, _ = await _post(replicas[0], "rep-1", **line)
    again, headers = await _post(replicas[1], "rep-1", **line)
    assert first["status"] == "STATUS_SUCCESS" and again == first and headers["Idempotent-Replayed"] == "true"
    # sent to both at once: the second replica waits for the first's outcome through Redis
    line = {"action": "create_line", "username": "rep2", "password": "pw123456"}
    both = await asyncio.gather(*(_post(replicas[i % 2], "rep-2", **line) for i in range(4)))
    assert all(body == both[0][0] for body, _ in both) and both[0][0]["status"] == "STATUS_SUCCESS"
    assert faults.hits["create_line"] == 2
    assert _lines_named(sim, "rep1") == 1 and _lines_named(sim, "rep2") == 1
    stored = [k async for k in shared_redis.client.scan_iter(match=shared_redis.prefix + "idem:*")]
    assert len(stored) == 2
    # a different request with the key, on either replica, is refused
    other, _ = await _post(replicas[1], "rep-2", action="create_line", username="rep3", password="pw123456")
    assert other["status"] == "STATUS_INVALID_INPUT"
    # each replica says where its records are
    for replica in replicas:
        admin = await aiohttp_client(build_admin_app(replica.server.app[LIVE]))
        ready = await (await admin.get("/readyz")).json()
        assert ready["idempotency"] == {"backend": "redis", "shared": True, "redis_errors": 0}
