"""Remembered hit plans (gateway.hitmemo, gateway.hitpath) through the real gateway and simulator: a repeated GET
of a cached read skips the pure steps, and everything that depends on state still decides every request: rate
limits, the auth throttle, key dates, a rotated-out secret's grace, the address behind a trusted proxy, reloads,
invalidation by writes. The pipeline is counted by wrapping gateway.app's RUN_PIPELINE."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway import app as gateway_app
from gateway.app import LIVE, build_admin_app, build_app
from gateway.exchange import Exchange
from gateway.key_lifecycle import iso
from gateway.keys import digest_of
from gateway.model import Outcome
from gateway.sim.xtream_masters import XtreamMastersSim
from gateway.state import swap_state
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

PATH = f"/{ACCESS_CODE}/admin/index.php"
SECRET = "pg_hitplan_key_00000000000000000000000000000"
OLD_SECRET = "pg_hitplan_old_0000000000000000000000000000"
CACHE = {"ttl": {"default": 60}}


@pytest.fixture
def pipeline_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each request the whole pipeline ran for (its operation)."""
    runs: list[str] = []
    whole = gateway_app.RUN_PIPELINE

    async def counted(ex: Exchange) -> Outcome:
        runs.append(ex.request.query.get("action", ""))
        return await whole(ex)

    monkeypatch.setattr(gateway_app, "RUN_PIPELINE", counted)
    return runs


Gateway = tuple[XtreamMastersSim, TestClient[Any, Any]]


async def _gateway(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                   tmp_path: Path, *keys: dict[str, Any], **overrides: Any) -> Gateway:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path, cache=CACHE, keys=list(keys) or _keys(), **overrides)
    return sim, await aiohttp_client(build_app(config))


def _keys(**extra: Any) -> list[dict[str, Any]]:
    return [{"id": "billing", "digest": digest_of(SECRET), "policy": "admin", **extra},
            {"id": "reseller-88", "digest": digest_of(KEYS["reseller"]), "policy": "reseller", "reseller_id": 88}]


async def _get(client: TestClient[Any, Any], secret: str = SECRET, headers: dict[str, str] | None = None,
               **params: str) -> tuple[Any, Any]:  # fmt: skip
    resp = await client.get(PATH, params={"api_key": secret, "action": "get_lines", "limit": "5", **params},
                            headers=headers or {})  # fmt: skip
    assert resp.status == 200
    return await resp.json(content_type=None), resp.headers


def _plans(client: TestClient[Any, Any]) -> int:
    return len(client.server.app[LIVE].state.hits)


async def test_a_repeated_get_is_answered_from_its_plan(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    pipeline_runs: list[str],
) -> None:
    sim, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    first, h1 = await _get(client)
    second, h2 = await _get(client)
    third, h3 = await _get(client)
    assert (h1["X-Cache"], h2["X-Cache"], h3["X-Cache"]) == ("MISS", "HIT", "HIT")
    assert first == second == third and len(first["data"]) == 5
    assert pipeline_runs == ["get_lines"] and _plans(client) == 1
    assert sum(1 for action, _ in sim.received if action == "get_lines") == 1
    assert h2["X-Request-Id"] != h3["X-Request-Id"]
    # another page of the same list is another raw request: its own plan, its own answer
    other, _ = await _get(client, start="5")
    assert other["data"] != first["data"] and _plans(client) == 2


async def test_remembered_hits_are_in_the_metrics(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    pipeline_runs: list[str],
) -> None:
    """Hits answered from a plan are counted in a tally (gateway.tally): /metrics shows them as the pipeline's."""
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
    for _ in range(3):
        await _get(client)
    assert pipeline_runs == ["get_lines"]  # one miss, then two hits from the plan
    text = await (await admin.get("/metrics")).text()
    assert 'panelgate_cache_lookups_total{operation="line.list",result="miss"} 1.0' in text
    assert 'panelgate_cache_lookups_total{operation="line.list",result="hit"} 2.0' in text
    assert 'panelgate_requests_total{dialect="xtream_masters",operation="line.list",outcome="ok"} 3.0' in text
    assert 'panelgate_request_seconds_count{dialect="xtream_masters"} 3.0' in text
    await _get(client)
    text = await (await admin.get("/metrics")).text()  # drained once: the next read adds only what came since
    assert 'panelgate_requests_total{dialect="xtream_masters",operation="line.list",outcome="ok"} 4.0' in text


async def test_the_key_rate_limit_still_counts_remembered_hits(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    pipeline_runs: list[str],
) -> None:
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                               *_keys(rate={"per_minute": 1, "burst": 3}))  # fmt: skip
    answers = [await _get(client) for _ in range(4)]
    assert [h["RateLimit-Remaining"] for _, h in answers[:3]] == ["2", "1", "0"]
    assert answers[3][0] == {"status": "STATUS_RATE_LIMITED", "error": "rate limit of key billing exceeded"}
    assert "Retry-After" in answers[3][1]
    assert pipeline_runs == ["get_lines"]  # the refusal came from the plan's own rate-limit step


async def test_an_address_throttled_for_bad_keys_is_refused_on_a_remembered_hit(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    pipeline_runs: list[str],
) -> None:
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                               auth_throttle={"per_minute": 1, "burst": 2})  # fmt: skip
    await _get(client)
    assert (await _get(client))[1]["X-Cache"] == "HIT"
    for _ in range(2):
        refused, _ = await _get(client, secret="pg_wrong_key")
        assert refused["error"] == "Invalid API key."
    answer, headers = await _get(client)
    assert answer == {"status": "STATUS_RATE_LIMITED", "error": "too many failed authentications"}
    assert "Retry-After" in headers and pipeline_runs.count("get_lines") == 3  # the first GET, two bad keys


async def test_the_allow_list_reads_the_address_behind_a_trusted_proxy_each_time(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
) -> None:
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                               *_keys(allowed_ips=["203.0.113.0/24"]), trusted_proxies=["127.0.0.1/32"])  # fmt: skip
    allowed = {"X-Forwarded-For": "203.0.113.5"}
    assert (await _get(client, headers=allowed))[1]["X-Cache"] == "MISS"
    assert (await _get(client, headers=allowed))[1]["X-Cache"] == "HIT"
    forbidden = {"status": "STATUS_FORBIDDEN", "error": "this key may not be used from this address"}
    assert (await _get(client, headers={"X-Forwarded-For": "198.51.100.7"}))[0] == forbidden
    assert (await _get(client, headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.7"}))[0] == forbidden
    assert (await _get(client))[0] == forbidden  # the proxy itself
    assert (await _get(client, headers=allowed))[1]["X-Cache"] == "HIT"


async def test_a_reload_drops_the_plans_and_a_removed_key_is_refused(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
) -> None:
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    await _get(client)
    assert (await _get(client))[1]["X-Cache"] == "HIT" and _plans(client) == 1
    live = client.server.app[LIVE]
    config = live.state.config
    await swap_state(live, make_config(config.upstreams["main"].url, policies_dir, tmp_path, cache=CACHE,
                                       keys=_keys()[1:]))  # fmt: skip
    assert _plans(client) == 0
    assert (await _get(client))[0] == {"status": "STATUS_FAILURE", "error": "Invalid API key."}


async def test_a_key_expiring_is_refused_on_a_remembered_hit(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
) -> None:
    expires = math.ceil(time.time()) + 2
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                               *_keys(expires_at=iso(expires)))  # fmt: skip
    await _get(client)
    assert (await _get(client))[1]["X-Cache"] == "HIT" and time.time() < expires
    await asyncio.sleep(max(0.0, expires - time.time()))
    expired = {"status": "STATUS_FAILURE", "error": f"API key billing expired at {iso(expires)}"}
    assert (await _get(client))[0] == expired


async def test_a_rotated_out_secret_is_refused_when_its_grace_ends(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
) -> None:
    until = math.ceil(time.time()) + 2
    previous = [{"digest": digest_of(OLD_SECRET), "until": iso(until)}]
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                               *_keys(previous_secrets=previous))  # fmt: skip
    await _get(client, secret=OLD_SECRET)
    assert (await _get(client, secret=OLD_SECRET))[1]["X-Cache"] == "HIT" and time.time() < until
    await asyncio.sleep(max(0.0, until - time.time()))
    answer, _ = await _get(client, secret=OLD_SECRET)
    assert answer["status"] == "STATUS_FAILURE" and "billing" in answer["error"]
    assert (await _get(client))[1]["X-Cache"] == "HIT"  # the current secret reads the same entry


async def test_a_write_makes_the_next_remembered_read_a_miss_with_the_change(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
) -> None:
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    before, _ = await _get(client)
    assert (await _get(client))[1]["X-Cache"] == "HIT"
    row = before["data"][0]
    assert str(row["max_connections"]) != "7"
    resp = await client.get(PATH, params={"api_key": SECRET, "action": "edit_line", "id": str(row["id"]),
                                          "max_connections": "7"})  # fmt: skip
    assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
    after, headers = await _get(client)
    assert headers["X-Cache"] == "MISS" and str(after["data"][0]["max_connections"]) == "7"
    assert _plans(client) == 1  # the write's GET left no plan


async def test_posts_and_a_resellers_addressed_reads_are_not_remembered(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    pipeline_runs: list[str],
) -> None:
    _, client = await _gateway(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    for _ in range(2):
        resp = await client.post(PATH, data={"api_key": SECRET, "action": "get_lines", "limit": "5"})
        assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
    lines, _ = await _get(client, secret=KEYS["reseller"])
    own = lines["data"][0]["id"]
    _plans_before = _plans(client)
    for _ in range(2):  # tenancy asks the panel who owns the line each time: never a plan
        resp = await client.get(PATH, params={"api_key": KEYS["reseller"], "action": "get_line", "id": str(own)})
        assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
    assert _plans(client) == _plans_before == 1
    assert pipeline_runs == ["", "", "get_lines", "get_line", "get_line"]
