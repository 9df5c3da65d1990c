"""The access log redacts a request as the router saw it, not only as its bytes spell it.

aiohttp routes on the decoded path: `/%6Cive/alice/s3cret/1.ts` is the live route, relayed to the panel (which
decodes it too) and played, and `/%6B/KEY/api.php` is XC v2's key-in-path route, authenticated. The access log's
patterns looked at the raw path, where neither is `/live/` nor `/k/`: the line password and the gateway key were
written whole, in text and JSON lines alike.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway import accesslog
from gateway.accesslog import AccessLogger, JsonAccessLogger
from gateway.app import build_app
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpServer, make_config


async def raw_get(port: int, target: str) -> bytes:
    """The status line and first bytes of a GET sent byte for byte as written (no client requotes it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: gateway\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("json_lines", [False, True])
async def test_an_encoded_route_name_does_not_unredact_the_line_or_the_key(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, json_lines: bool,
) -> None:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    panel = await aiohttp_server(sim.app())
    line = sim.tables["lines"][3]
    user, password = str(line["username"]), str(line["password"])
    config = make_config(f"http://127.0.0.1:{panel.port}", policies_dir, tmp_path)
    monkeypatch.setattr(accesslog, "_sink", None)  # access lines through `logging`, to be captured
    gateway = await aiohttp_server(build_app(config), access_log_class=JsonAccessLogger if json_lines else AccessLogger,
                                   access_log=logging.getLogger("panelgate.access"))  # fmt: skip
    port = gateway.port
    caplog.set_level(logging.INFO)
    live = await raw_get(port, f"/{user}/{password}/%31.ts")  # `/{u}/{p}/{id}`: live, endless (logged if it ends)
    assert live.startswith(b"HTTP/1.1 200"), live[:200]
    streams = (f"/%6Dovie/{user}/{password}/21.mp4", f"/%74imeshift/{user}/{password}/60/2026-01-01:10-00/1.ts",
               f"/movie/{user}/{password}/21%2Emp4")  # fmt: skip
    for target in streams:
        answer = await raw_get(port, target)
        assert answer.startswith(b"HTTP/1.1 206"), (target, answer[:200])  # routed and played
    answer = await raw_get(port, f"/%6B/{KEYS['admin']}/api.php?action=user&sub=info&id=3")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]  # XC v2's `/k/{key}/api.php`: nothing else routes it
    for _ in range(200):  # the access line is written as the response ends (a stream's once the gateway sees it gone)
        if sum(r.name == "panelgate.access" for r in caplog.records) >= len(streams) + 1:
            break
        await asyncio.sleep(0.02)
    access = [r.getMessage() for r in caplog.records if r.name == "panelgate.access"]
    assert len(access) >= len(streams) + 1, access
    leaked = [text for text in access if password in text or KEYS["admin"] in text]
    assert leaked == []
    assert all("***" in text for text in access), access
