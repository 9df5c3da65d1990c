"""The audit file cannot be written (its disk is full: /dev/full answers every write ENOSPC). The write the client
asked for was made at the panel: the client is told so, not answered HTTP 500 (which a billing system retries,
making the line twice), and the audit line is not lost: it goes to the log instead."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config

XM_PATH = f"/{ACCESS_CODE}/admin/index.php"


async def test_a_full_audit_disk_does_not_fail_the_write(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    client = await aiohttp_client(build_app(make_config(url, policies_dir, tmp_path, audit_log="/dev/full")))
    with caplog.at_level(logging.INFO, logger="panelgate.audit"):
        resp = await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "create_line",
                                                "username": "full1", "password": "pw123456"})  # fmt: skip
        assert resp.status == 200, await resp.text()
        assert (await resp.json(content_type=None))["status"] == "STATUS_SUCCESS"
    logged = [json.loads(r.getMessage().split(" ", 1)[1]) for r in caplog.records
              if r.name == "panelgate.audit" and r.getMessage().startswith("audit:")]  # fmt: skip
    assert [(a["operation"], a["outcome"]) for a in logged] == [("line.create", "ok")]
    assert "pw123456" not in caplog.text
