"""XUI.one as it runs, behind the gateway: its admin path, whole-row edits, dates in its time zone, its rate limit.

The simulated panel's `xui_one` flavour behaves as XC_VM was measured to (gateway.sim.xui_one): an edit that does
not re-send a field loses it, so each test here compares the whole stored row before and after.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from gateway.sim.xui_one import RequestLimit
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream

# Columns the panel changes on every edit whatever it is sent (XC_VM processLine): the ISP lock is cleared.
ALWAYS_RESET = {"updated", "isp_desc", "as_number"}
Client = TestClient[Any, Any]


async def _xui(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
               *, timezone: str = "UTC", limit: RequestLimit | None = None, **upstream: Any
               ) -> tuple[XtreamMastersSim, Client]:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY, flavour="xui_one", timezone=timezone,
                           limit=limit)  # fmt: skip
    server = await aiohttp_server(sim.app())
    url = str(server.make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path, upstream={**xm_upstream(url), "flavour": "xui_one",
                                                                "timezone": timezone, **upstream})  # fmt: skip
    return sim, await aiohttp_client(build_app(config))


async def _post(client: Client, path: str, body: dict[str, Any] | list[tuple[str, str]]) -> Any:
    resp = await client.post(path, data=body)
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
            if k not in ALWAYS_RESET and before.get(k) != after.get(k)}  # fmt: skip


def _line_of(sim: XtreamMastersSim, owner: str) -> dict[str, Any]:
    """A line with something in every field an edit resets: the test sees each one survive or not."""
    return next(r for r in sim.tables["lines"].values() if r["member_id"] == owner and r["is_mag"] == "0")


@pytest.mark.parametrize("face", ["xc", "xc-reseller", "ms", "xm", "xm-reseller"])
async def test_a_partial_edit_changes_only_what_the_client_named(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, face: str
) -> None:
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    line = _line_of(sim, "88")
    line.update(max_connections="2", is_trial="1", is_isplock="1", allowed_ips='["10.1.1.1"]',
                allowed_ua='["VLC"]', allowed_outputs="[1,2]", bypass_ua="1")  # fmt: skip
    before = dict(line)
    key = KEYS["reseller" if face.endswith("reseller") else "admin"]
    if face.startswith("xc"):
        answer = await _post(client, "/api.php?action=user&sub=edit", {
            "api_key": key, "username": line["username"], "password": line["password"],
            "user_data[max_connections]": "3"})  # fmt: skip
        assert answer == {"result": True}
    elif face == "ms":
        answer = await _post(client, "/api/line/update", {"api_key": key, "username": line["username"],
                                                          "data[max_allowed_connections]": "3"})  # fmt: skip
        assert answer == {"result": True}
    else:
        answer = await _post(client, f"/{ACCESS_CODE}/", {"api_key": key, "action": "edit_line", "id": line["id"],
                                                          "max_connections": "3"})  # fmt: skip
        assert answer["status"] == "STATUS_SUCCESS", answer
    after = sim.tables["lines"][int(line["id"])]
    assert _changed(before, after) == {"max_connections": ("2", "3")}
    assert [a for a, _ in sim.received][-1] == "edit_line"


async def test_every_admin_path_reaches_xui_at_its_code(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    for path in (f"/{ACCESS_CODE}/", f"/{ACCESS_CODE}/index.php", f"/{ACCESS_CODE}/admin/index.php"):
        answer = await _post(client, path, {"api_key": KEYS["admin"], "action": "get_packages"})
        assert isinstance(answer, list) and answer, path  # XUI.one's bare array
    assert [a for a, _ in sim.received] == ["get_packages"] * 3  # and the simulated XUI.one serves /{code}/ only


@pytest.mark.parametrize(
    ("action", "read", "params", "field"),
    [
        ("edit_user", "get_user", {"id": "89", "notes": "renamed nothing"}, "notes"),
        # processMAG fixes a device's line at HLS and TS (allowed_outputs [1,2]), whatever it had
        ("edit_mag", "get_mag", {"id": "1", "admin_notes": "box in the hall"}, "admin_notes|allowed_outputs"),
        ("edit_package", "get_package", {"id": "1", "package_name": "renamed"}, "package_name"),
    ],
)
async def test_whole_row_edits_of_users_devices_and_packages(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    action: str, read: str, params: dict[str, str], field: str,
) -> None:
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    table = {"edit_user": "users", "edit_mag": "lines", "edit_package": "packages"}[action]
    row_id = int(params["id"]) if action != "edit_mag" else int(sim.tables["mag_devices"][1]["user_id"])
    before = dict(sim.tables[table][row_id])
    logs = len(sim.tables.get("credits_log", {}))
    answer = await _post(client, f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": action, **params})
    assert answer["status"] == "STATUS_SUCCESS", answer
    after = sim.tables[table][row_id]
    changed = _changed(before, after)
    assert set(changed) <= {*field.split("|"), "override_packages"}, changed  # overrides: [] and {} are both none
    assert [a for a, _ in sim.received] == [read, action]
    assert len(sim.tables.get("credits_log", {})) == logs  # no credit change logged that nobody made


async def test_concurrent_edits_of_one_line_keep_both_changes(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    line_id = _line_of(sim, "88")["id"]
    edits = [{"max_connections": "4"}, {"admin_notes": "second"}, {"reseller_notes": "third"}, {"contact": "fourth"}]
    answers = await asyncio.gather(*(
        _post(client, f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": "edit_line", "id": line_id, **e})
        for e in edits))  # fmt: skip
    assert all(a["status"] == "STATUS_SUCCESS" for a in answers), answers
    row = sim.tables["lines"][int(line_id)]
    assert (row["max_connections"], row["admin_notes"], row["reseller_notes"], row["contact"]) == (
        "4", "second", "third", "fourth")  # fmt: skip


async def test_concurrent_edits_through_two_gateways_share_the_lock_in_redis(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    redis_url: str,
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY, flavour="xui_one")
    server = await aiohttp_server(sim.app())
    url = str(server.make_url("")).rstrip("/")
    clients = []
    for i in range(2):
        upstream = {**xm_upstream(url), "flavour": "xui_one"}
        config = make_config(url, policies_dir, tmp_path / f"gw{i}", upstream=upstream,
                             redis={"url": redis_url, "prefixes": {"locks": f"pg-test-lock-{id(sim)}:"}})  # fmt: skip
        clients.append(await aiohttp_client(build_app(config)))
    line_id = _line_of(sim, "89")["id"]
    edits = [{"max_connections": "3"}, {"admin_notes": "a"}, {"reseller_notes": "b"}, {"contact": "c"}]
    answers = await asyncio.gather(*(
        _post(clients[i % 2], f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": "edit_line", "id": line_id,
                                                   **e})
        for i, e in enumerate(edits)))  # fmt: skip
    assert all(a["status"] == "STATUS_SUCCESS" for a in answers), answers
    row = sim.tables["lines"][int(line_id)]
    assert (row["max_connections"], row["admin_notes"], row["reseller_notes"], row["contact"]) == ("3", "a", "b", "c")


@pytest.mark.parametrize(
    ("face", "sent", "stored"),
    [
        ("xm", "2026-07-01", 1782860400),  # BST: 23:00 UTC the day before, as the panel itself reads it
        ("xm", "2026-12-31 23:59:59", 1798761599),
        ("xm", "@1767225600", 1767225600),
        ("xc", "1782860400", 1782860400),  # XC v2 sends UNIX time: an instant, whatever the zone
    ],
)
async def test_dates_are_read_in_the_panels_time_zone(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    face: str, sent: str, stored: int,
) -> None:
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path, timezone="Europe/London")
    if face == "xm":
        answer = await _post(client, f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": "create_line",
                                                          "username": "tz_line", "password": "tz_pass_1",
                                                          "exp_date": sent})  # fmt: skip
        assert answer["status"] == "STATUS_SUCCESS", answer
    else:
        answer = await _post(client, "/api.php?action=user&sub=create", {
            "api_key": KEYS["admin"], "user_data[username]": "tz_line", "user_data[password]": "tz_pass_1",
            "user_data[exp_date]": sent})  # fmt: skip
        assert answer["result"] is True, answer
    row = next(r for r in sim.tables["lines"].values() if r["username"] == "tz_line")
    assert row["exp_date"] == str(stored)


async def test_a_bare_unix_time_is_no_date_to_xui(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    answer = await _post(client, f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": "create_line",
                                                      "username": "u1", "exp_date": "1767225600"})  # fmt: skip
    assert answer["status"] == "STATUS_INVALID_DATE" and sim.received == []


async def test_writes_past_the_panels_rate_wait_or_get_retry_after_and_never_a_503(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """200 writes in one second toward a panel that allows 20 a second: each is made once or refused with a
    Retry-After before it is sent; the panel's 503 never happens, so it never reaches a client."""
    limit = RequestLimit(rate=20, burst=5)
    # The budget leaves the panel headroom, as the README advises. A call is counted by the gateway when sent and
    # by the panel when it arrives: a delay between the two (the network; here a pause of the event loop the
    # panel shares, such as a collection late in a long suite) lands earlier calls together with the burst the
    # gateway's bucket refilled meanwhile. An equal budget (20/s, burst 5), then 20/s with a burst of 3, each drew
    # a 503 in a CI run; 16/s with a burst of 2 leaves room for four calls landing together.
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path, limit=limit,
                             budget={"per_second": 16, "burst": 2, "max_wait": 0.5})  # fmt: skip

    async def create(i: int) -> tuple[int, dict[str, str], Any]:
        resp = await client.post(f"/{ACCESS_CODE}/", data={"api_key": KEYS["admin"], "action": "create_line",
                                                           "username": f"burst{i:03d}", "password": "pw_burst_1"})
        return resp.status, dict(resp.headers), await resp.json(content_type=None)

    started = time.monotonic()
    results = await asyncio.gather(*(create(i) for i in range(200)))
    assert time.monotonic() - started < 30
    made = [body["data"]["username"] for _, _, body in results if body["status"] == "STATUS_SUCCESS"]
    refused = [(headers, body) for _, headers, body in results if body["status"] != "STATUS_SUCCESS"]
    assert all(status == 200 for status, _, _ in results)
    assert len(made) + len(refused) == 200 and made and refused
    assert all(body["status"] == "STATUS_UPSTREAM_UNAVAILABLE" and int(headers["Retry-After"]) >= 1
               for headers, body in refused)  # fmt: skip
    assert limit.rejected == 0  # the panel never had to say 503
    stored = sorted(r["username"] for r in sim.tables["lines"].values() if r["username"].startswith("burst"))
    assert stored == sorted(made)  # each write made once, none of the refused ones


async def test_a_503_is_retried_for_a_read_and_answered_for_a_write(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    clock = [0.0]
    limit = RequestLimit(rate=20, burst=0, clock=lambda: clock[0])  # one call, then 503 until time passes
    sim, client = await _xui(aiohttp_server, aiohttp_client, policies_dir, tmp_path, limit=limit)
    first = await _post(client, f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": "get_packages"})
    assert isinstance(first, list)
    resp = await client.post(f"/{ACCESS_CODE}/", data={"api_key": KEYS["admin"], "action": "create_line",
                                                       "username": "busy1", "password": "pw_busy_1"})
    body = await resp.json(content_type=None)
    assert body["status"] == "STATUS_UPSTREAM_UNAVAILABLE" and "busy" in body["error"], body
    assert int(resp.headers["Retry-After"]) >= 1
    assert not any(r["username"] == "busy1" for r in sim.tables["lines"].values())

    async def later() -> None:
        await asyncio.sleep(0.3)
        clock[0] += 1.0  # the panel's bucket refills while the gateway backs off

    task = asyncio.create_task(later())
    read = await _post(client, f"/{ACCESS_CODE}/", {"api_key": KEYS["admin"], "action": "get_packages"})
    await task
    assert isinstance(read, list) and limit.rejected >= 2  # a 503 or more, retried until the panel took it
    assert len(sim.received) == 2  # the PHP behind nginx saw the first read and the retried one, never the write


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/14", socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        if __import__("os").environ.get("CI") == "true":
            pytest.fail("CI needs a redis-server on 127.0.0.1:6379")
        pytest.skip("no redis-server on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/14"


def test_the_flavour_sets_the_admin_path(policies_dir: Path, tmp_path: Path) -> None:
    config = make_config("http://panel.test", policies_dir, tmp_path,
                         upstream={**xm_upstream("http://panel.test"), "flavour": "xui_one"})  # fmt: skip
    assert config.upstreams["main"].admin_url_path() == f"/{ACCESS_CODE}/"
    assert config.upstreams["main"].budget is None  # the tests' upstreams send without a budget (conftest)
    default = make_config("http://panel.test", policies_dir, tmp_path,
                          upstream={"dialect": "xtream_masters", "url": "http://panel.test", "access_code": "c0de",
                                    "api_key": "k"})  # fmt: skip
    budget = default.upstreams["main"].budget
    assert budget is not None and (budget.per_second, budget.burst) == (20, 20)  # XUI.one's nginx: 20 r/s
