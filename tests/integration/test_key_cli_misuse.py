"""`panelgate key new | rotate | list` misused: a date the config cannot read, an id that is not a file name, a
Redis that does not answer. Each is a clear error (exit 2) that leaves the key files as they were, never a file
that stops every later reload, never a traceback, and `key list` never says "never used" when it cannot know."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession

from gateway.cli import main
from gateway.config import load_config
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpServer, xm_upstream
from tests.serving import free_port, free_port_pair, running, wait_ready, write_config


def _config(tmp_path: Path, policies_dir: Path, **extra: Any) -> Path:
    data = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin_listen": {"host": "127.0.0.1", "port": 1},  # no gateway answers there
        "policies_dir": str(policies_dir),
        "upstreams": {"main": xm_upstream("http://127.0.0.1:9")},
        "health": {"interval": 0},
        "keys_from": "keys.d",
        **extra,
    }
    (tmp_path / "keys.d").mkdir(exist_ok=True)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _files(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


def test_an_expiry_the_config_cannot_read_is_refused_before_anything_is_written(
    tmp_path: Path, policies_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, policies_dir)
    before = _files(tmp_path)
    for bad in ("2027-13-01", "next week", "2020-01-01T00:00:00Z"):  # unreadable, unreadable, already past
        assert main(["key", "new", "-c", str(path), "--id", "bot", "--policy", "admin", "--expires-at", bad]) == 2
        err = capsys.readouterr().err
        assert "--expires-at" in err and "Traceback" not in err, err
    assert _files(tmp_path) == before
    load_config(str(path))  # still loads: the next reload is not stopped
    # a date the config reads is written the way the config writes it
    assert main(["key", "new", "-c", str(path), "--id", "bot", "--policy", "admin", "--expires-at", "2030-01-01"]) == 0
    (bot,) = [k for k in load_config(str(path)).keys if k.id == "bot"]
    assert yaml.safe_load((tmp_path / "keys.d" / "bot.yaml").read_text())[0]["expires_at"] == "2030-01-01T00:00:00Z"
    assert bot.lifecycle.expires_at == 1893456000.0


def test_a_reseller_id_the_config_refuses_is_refused_before_anything_is_written(
    tmp_path: Path, policies_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, policies_dir)
    before = _files(tmp_path)
    for bad in ("0", "-88"):
        assert main(["key", "new", "-c", str(path), "--id", "shop", "--policy", "admin", "--reseller-id", bad]) == 2
        assert "--reseller-id" in capsys.readouterr().err
    assert _files(tmp_path) == before
    load_config(str(path))


def test_an_id_that_is_not_a_file_name_is_refused(
    tmp_path: Path, policies_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, policies_dir)
    before = _files(tmp_path)
    for bad in ("../outside", "team/alice", ".hidden"):
        assert main(["key", "new", "-c", str(path), "--id", bad, "--policy", "admin"]) == 2, bad
        err = capsys.readouterr().err
        assert "--id" in err and "Traceback" not in err, err
    assert _files(tmp_path) == before
    assert not (tmp_path / "outside.yaml").exists()


def test_key_list_with_redis_out_does_not_say_never(
    tmp_path: Path, policies_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, policies_dir, redis={"url": f"redis://127.0.0.1:{free_port()}/0", "timeout": 0.5})
    assert main(["key", "new", "-c", str(path), "--id", "shop", "--policy", "admin"]) == 0
    capsys.readouterr()
    assert main(["key", "list", "-c", str(path)]) == 0
    listing = capsys.readouterr().out
    assert "never" not in listing, listing
    assert "last use unknown" in listing and "(last use from redis)" not in listing, listing


async def test_key_list_asks_every_worker_of_a_gateway_without_redis(
    aiohttp_server: AiohttpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --workers 2` without Redis: each worker knows the uses it served, on its own operator port. A key
    used only through worker 1 was listed as never used (only worker 0 was asked)."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    keys = [f"workers-test-key-{i:02d}-0000000000000" for i in range(12)]
    admin_port = free_port_pair()
    config = tmp_path / "gateway.yaml"
    write_config(config, url, free_port(), admin_port, keys)
    async with running(config, tmp_path, "--workers", "2") as server:
        await wait_ready(admin_port + 1)
        for key in keys:
            async with ClientSession() as session:  # a connection each: the kernel chooses the worker
                assert (await server.call(session, key))["status"] == "STATUS_SUCCESS"
        async with ClientSession() as session:
            known = [{k["id"] for k in (await (await session.get(f"http://127.0.0.1:{admin_port + i}/status.json"))
                                        .json())["keys"] if k["last_used"]} for i in (0, 1)]  # fmt: skip
        assert known[1] - known[0], "no key was served by worker 1 alone: the kernel sent every call to worker 0"
        assert await asyncio.to_thread(main, ["key", "list", "-c", str(config)]) == 0
    listing = capsys.readouterr().out
    assert "(last use from the running gateway)" in listing
    assert "never" not in listing, listing
