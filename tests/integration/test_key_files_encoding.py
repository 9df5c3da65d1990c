"""A key file the config cannot decode (saved as UTF-16 by a Windows editor) is a config error naming the file: not a
UnicodeDecodeError traceback from `panelgate check` or `key new -c`, and not the end of `serve --watch`, whose watcher
died on it and never loaded a key file again, even once the file was saved right."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml
from aiohttp import ClientSession

from gateway.cli import main
from gateway.config import ConfigError, load_config
from gateway.keys import digest_of
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpServer
from tests.serving import KEY_A, free_port, running, write_config

KEY_W = "windows-edited-key-000000000000000"


def _entry(key: str) -> list[dict[str, str]]:
    return [{"id": "edited", "digest": digest_of(key), "policy": "admin"}]


def test_a_key_file_that_is_not_utf8_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    (tmp_path / "keys.d").mkdir()
    write_config(config, "http://127.0.0.1:9", free_port(), free_port(), [KEY_A], keys_from="keys.d")
    (tmp_path / "keys.d" / "edited.yaml").write_text(yaml.safe_dump(_entry(KEY_W)), encoding="utf-16")
    with pytest.raises(ConfigError, match=r"edited\.yaml.*UTF-8"):
        load_config(config)
    assert main(["check", "-c", str(config)]) != 0
    assert main(["key", "new", "-c", str(config), "--id", "other", "--policy", "admin"]) == 2
    assert "Traceback" not in capsys.readouterr().err


async def test_the_watcher_outlives_a_key_file_it_cannot_read(aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    config = tmp_path / "gateway.yaml"
    (tmp_path / "keys.d").mkdir()
    write_config(config, url, free_port(), free_port(), [KEY_A], keys_from="keys.d")
    edited = tmp_path / "keys.d" / "edited.yaml"
    async with running(config, tmp_path, "--watch") as server, ClientSession() as session:
        edited.write_text(yaml.safe_dump(_entry(KEY_W)), encoding="utf-16")  # refused: the running keys stay
        await asyncio.sleep(2.5)  # one watch interval, and a little
        assert (await server.call(session, KEY_A))["status"] == "STATUS_SUCCESS"
        edited.write_text(yaml.safe_dump(_entry(KEY_W)), encoding="utf-8")  # saved right: loaded
        deadline = time.monotonic() + 10
        while (await server.call(session, KEY_W))["status"] != "STATUS_SUCCESS":
            assert time.monotonic() < deadline, "the watcher never loaded the key file once it was readable"
            await asyncio.sleep(0.2)
