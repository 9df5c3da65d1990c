"""Key lifecycle end to end: expiry to the second, not_before, rotation with a grace period, keys in their own
reloadable files, quotas per day and per window (shared by replicas through Redis), `panelgate key list`."""

from __future__ import annotations

import asyncio
import math
import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from gateway.app import LIVE, build_admin_app, build_app
from gateway.cli import main
from gateway.config import load_config
from gateway.key_lifecycle import iso
from gateway.keys import digest_of
from gateway.server import reload_config
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream
from tests.integration.shared_redis import SharedRedis, shared_redis
from tests.integration.xc_fixtures import xc_client_stack
from tests.serving import KEY_A, free_port, running, write_config

__all__ = ["shared_redis"]  # a fixture: pytest finds it by name in this module
XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
SECRET = "pg_lifecycle_key_0000000000000000000000000000"


async def _sim_url(aiohttp_server: AiohttpServer) -> tuple[XtreamMastersSim, str]:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    return sim, str(server.make_url("")).rstrip("/")


def _key(**extra: Any) -> dict[str, Any]:
    return {"id": "billing", "digest": digest_of(SECRET), "policy": "admin", **extra}


async def _xm(client: TestClient[Any, Any], secret: str = SECRET, **params: str) -> tuple[dict[str, Any], Any]:
    resp = await client.post(XM_PATH, data={"api_key": secret, **params})
    assert resp.status == 200
    return await resp.json(content_type=None), resp.headers


async def _refusals(client: TestClient[Any, Any], aiohttp_client: AiohttpClient, reason: str) -> float:
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
    text = await (await admin.get("/metrics")).text()
    found = re.search(rf'^panelgate_refusals_total{{reason="{reason}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


async def test_an_expired_key_is_refused_at_the_second_it_expires(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, url = await _sim_url(aiohttp_server)
    expires = math.ceil(time.time()) + 2
    config = make_config(url, policies_dir, tmp_path, keys=[_key(expires_at=iso(expires))])
    client = await aiohttp_client(build_app(config))
    await asyncio.sleep(max(0.0, expires - 0.5 - time.time()))
    before, _ = await _xm(client, action="get_line", id="1")
    assert before["status"] == "STATUS_SUCCESS" and time.time() < expires
    await asyncio.sleep(max(0.0, expires - time.time()))
    after, _ = await _xm(client, action="get_line", id="1")
    assert after == {"status": "STATUS_FAILURE", "error": f"API key billing expired at {iso(expires)}"}
    assert sum(1 for action, _ in sim.received if action == "get_line") == 1
    assert _audit(tmp_path)[-1]["reason"] == "key_expired" and _audit(tmp_path)[-1]["key_id"] == "billing"
    assert await _refusals(client, aiohttp_client, "key_expired") == 1


async def test_a_key_before_not_before_is_refused_in_the_clients_dialect(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    start = math.ceil(time.time()) + 3600
    xc = await xc_client_stack("xm", aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                               keys=[_key(not_before=iso(start))])  # fmt: skip
    body = await xc.call("user", "info", key=SECRET, username="x", password="y")
    assert body == {"result": False, "0": "KEY WRONG", "message": f"API key billing is not valid before {iso(start)}"}
    assert xc.sim.received == []
    # a wrong key is told nothing more than before
    assert await xc.call("user", "info", key="pg_wrong", username="x", password="y") == {"result": False,
                                                                                         "0": "KEY WRONG"}


def _write_config(tmp_path: Path, url: str, policies_dir: Path, **extra: Any) -> Path:
    data = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin_listen": {"host": "127.0.0.1", "port": 1},  # nothing answers there: `key list` says so
        "policies_dir": str(policies_dir),
        "upstreams": {"main": xm_upstream(url)},
        "health": {"interval": 0},
        "keys_from": "keys.d",
        "audit_log": str(tmp_path / "audit.jsonl"),
        **extra,
    }
    (tmp_path / "keys.d").mkdir(exist_ok=True)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _printed_key(out: str) -> str:
    found = re.search(r"^  (pg_\S+)$", out, re.M)
    assert found, out
    return found.group(1)


async def test_keys_in_their_own_files_are_made_rotated_and_reloaded(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = await _sim_url(aiohttp_server)
    path = _write_config(tmp_path, url, policies_dir)
    assert main(["key", "new", "-c", str(path), "--id", "shop", "--policy", "admin"]) == 0
    first = _printed_key(capsys.readouterr().out)
    assert first not in (tmp_path / "keys.d" / "shop.yaml").read_text()  # only its digest is stored
    client = await aiohttp_client(build_app(load_config(path)))
    live = client.server.app[LIVE]
    assert (await _xm(client, first, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"

    # a second `key new` of the same id is refused with the command that rotates it, runnable as printed
    assert main(["key", "new", "-c", str(path), "--id", "shop", "--policy", "admin"]) == 2
    suggested = re.search(r"rotate it: (.*)\)$", capsys.readouterr().err.strip())
    assert suggested is not None
    assert shlex.split(suggested.group(1)) == ["panelgate", "key", "rotate", "-c", str(path), "--id", "shop"]
    assert main([*shlex.split(suggested.group(1))[1:], "--grace", "2s"]) == 0
    out = capsys.readouterr().out
    second = _printed_key(out)
    assert "stays valid until" in out and first not in out
    assert await reload_config(str(path), live)
    for secret in (first, second):  # both, within the grace period
        assert (await _xm(client, secret, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"
    await asyncio.sleep(2.1)
    old, _ = await _xm(client, first, action="get_line", id="1")
    assert old["status"] == "STATUS_FAILURE" and "was replaced; it stopped working at" in old["error"]
    assert (await _xm(client, second, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"
    assert (_audit(tmp_path)[-1]["reason"], _audit(tmp_path)[-1]["key_id"]) == ("key_rotated", "shop")

    # a key added to the directory is in force at the next reload, and `key list` shows them
    assert main(["key", "new", "-c", str(path), "--id", "bot", "--policy", "readonly", "--expires-at",
                 "2030-01-01T00:00:00Z"]) == 0  # fmt: skip
    bot = _printed_key(capsys.readouterr().out)
    assert (await _xm(client, bot, action="get_line", id="1"))[0]["error"] == "Invalid API key."
    assert await reload_config(str(path), live)
    assert (await _xm(client, bot, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"
    assert main(["key", "list", "-c", str(path)]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^bot\s+readonly\s+-\s+active\s+until=2030-01-01T00:00:00Z", listing, re.M), listing
    assert "last use unknown" in listing and first not in listing and second not in listing


async def test_quota_per_day_with_headers_and_a_clear_refusal(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    sim, url = await _sim_url(aiohttp_server)
    quota = {"operations": ["line.create"], "limit": 2, "per": "day"}
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path, keys=[_key(quotas=[quota])])))
    for n in (1, 2):
        sent = []
        for _ in range(2):  # each sent twice with its Idempotency-Key: the replay is not counted again
            resp = await client.post(XM_PATH, data={"api_key": SECRET, "action": "create_line", "username": f"q{n}",
                                                    "password": "pw123456"}, headers={"Idempotency-Key": f"k{n}"})
            assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
            sent.append(resp.headers)
        headers, replay = sent
        assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("2", str(2 - n))
        assert headers["RateLimit-Policy"] == '2;w=86400;comment="line.create"'
        assert 0 < int(headers["RateLimit-Reset"]) <= 86400
        assert replay["Idempotent-Replayed"] == "true" and "RateLimit-Remaining" not in replay
    body, headers = await _xm(client, action="create_line", username="q3", password="pw123456")
    assert body["status"] == "STATUS_RATE_LIMITED"
    assert "at most 2 line.create per day (UTC)" in body["error"]
    assert headers["RateLimit-Remaining"] == "0" and int(headers["Retry-After"]) == int(headers["RateLimit-Reset"])
    assert sum(1 for action, _ in sim.received if action == "create_line") == 2
    # other operations are not counted
    assert (await _xm(client, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"
    assert _audit(tmp_path)[-1]["reason"] == "quota"


async def test_quota_over_a_rolling_window_frees_up(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    _, url = await _sim_url(aiohttp_server)
    quota = {"operations": "line.*", "limit": 2, "window": 1}
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path, keys=[_key(quotas=[quota])])))
    for _ in range(2):
        assert (await _xm(client, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"
    body, headers = await _xm(client, action="get_line", id="1")
    assert body["status"] == "STATUS_RATE_LIMITED" and headers["RateLimit-Policy"] == '2;w=1;comment="line.*"'
    await asyncio.sleep(float(headers["RateLimit-Reset"]) + 0.05)
    assert (await _xm(client, action="get_line", id="1"))[0]["status"] == "STATUS_SUCCESS"


async def test_quotas_and_last_use_are_shared_by_replicas_through_redis(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    shared_redis: SharedRedis, capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = await _sim_url(aiohttp_server)
    limits = {"redis_url": shared_redis.url, "prefix": shared_redis.prefix}
    keys = [_key(quotas=[{"operations": ["line.get"], "limit": 3, "per": "day"}]),
            {"id": "admin", "digest": digest_of(KEYS["admin"]), "policy": "admin"}]  # fmt: skip
    replicas = [await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path / str(i), keys=keys,
                                                           rate_limits=limits))) for i in range(2)]  # fmt: skip
    statuses = [(await _xm(replicas[i], action="get_line", id="1"))[0]["status"] for i in (0, 1, 0, 1)]
    assert statuses == ["STATUS_SUCCESS"] * 3 + ["STATUS_RATE_LIMITED"]
    path = _write_config(tmp_path, url, policies_dir, rate_limits=limits,
                         keys=[{**k, "quotas": k.get("quotas", [])} for k in keys])  # fmt: skip
    assert await asyncio.to_thread(main, ["key", "list", "-c", str(path)]) == 0  # the CLI runs its own loop
    listing = capsys.readouterr().out
    assert re.search(r"^billing\s+admin\s+-\s+active\s+-\s+3 line.get per day \(UTC\)\s+\S+Z \(\d+ s ago\)", listing,
                     re.M), listing  # fmt: skip
    assert re.search(r"^admin\s.*never$", listing, re.M) and "(last use from redis)" in listing


async def test_a_served_gateway_watches_its_key_files_and_key_list_asks_it(
    aiohttp_server: AiohttpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --watch`: a key written by `key new -c` works within a watch interval, with no reload command; and
    `key list` without Redis reads last use from the running gateway's operator listener."""
    _, url = await _sim_url(aiohttp_server)
    config = tmp_path / "gateway.yaml"
    (tmp_path / "keys.d").mkdir()
    write_config(config, url, free_port(), free_port(), [KEY_A], keys_from="keys.d")
    async with running(config, tmp_path, "--watch") as server, ClientSession() as session:
        assert (await server.call(session, KEY_A))["status"] == "STATUS_SUCCESS"
        assert await asyncio.to_thread(main, ["key", "new", "-c", str(config), "--id", "watched",
                                              "--policy", "admin"]) == 0  # fmt: skip
        added = _printed_key(capsys.readouterr().out)
        deadline = time.monotonic() + 10
        while (await server.call(session, added))["status"] != "STATUS_SUCCESS":
            assert time.monotonic() < deadline, "the watcher never loaded the new key file"
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(main, ["key", "list", "-c", str(config)]) == 0
        listing = capsys.readouterr().out
    assert "(last use from the running gateway)" in listing
    assert re.search(r"^k0\s+admin\s.*\(\d+ s ago\)$", listing, re.M), listing
    assert re.search(r"^watched\s+admin\s.*\(\d+ s ago\)$", listing, re.M), listing
