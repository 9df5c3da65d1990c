"""Nothing secret leaks: no upstream key, upstream host:port, client key or line password in any response
(body or header), log line (every logger, captured at DEBUG, with the production access log in text and JSON),
audit line or /metrics output, across a representative run of every client dialect, the client side, refusals
and upstream faults.

Line passwords are panel data that the admin API returns to an admin key (`get_lines`, `user/info`); they are
scanned for in logs, audit and metrics, not in admin answers. The client's own key is never echoed back either.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import Config
from gateway.server import start
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, XC_API_PASS, AiohttpServer
from tests.reliability.conftest import KEYS, Panels, gateway_config, start_panels

SIM_LOGGERS = ("gateway.sim", "aiohttp.access")  # the simulated panels' own logs are the panels', not ours


class Run:
    def __init__(self, session: aiohttp.ClientSession, base: str, panels: Panels) -> None:
        self.session, self.base, self.panels = session, base, panels
        self.responses: list[tuple[str, bytes]] = []  # (headers, body)

    async def request(self, method: str, path: str, form: dict[str, str] | None = None, *,
                      stream: bool = False) -> bytes:  # fmt: skip
        """One request; of a stream (endless), only the first bytes are read."""
        headers = {"X-Request-Id": uuid.uuid4().hex}
        async with self.session.request(method, self.base + path, data=form, headers=headers) as resp:
            body = await resp.content.read(1 << 16) if stream else await resp.read()
            self.responses.append((repr(list(resp.headers.items())), body))
            return body


async def representative_run(run: Run, line: tuple[str, str], *, ms_key_in_path: bool) -> None:
    xm = f"/{ACCESS_CODE}/admin/index.php"
    username, password = line
    for key in (KEYS["xm"], KEYS["xm"] + "x", ""):  # good, wrong, missing
        await run.request("POST", xm, {"api_key": key, "action": "get_lines", "limit": "3"})
    await run.request("POST", xm, {"api_key": KEYS["xm"], "action": "create_line", "username": "leak1",
                                   "password": "leak-pass-1"})  # fmt: skip
    await run.request("POST", xm, {"api_key": KEYS["xm"], "action": "mysql_query", "query": "SELECT 1"})
    await run.request("POST", xm, {"api_key": KEYS["xm"], "action": "get_line", "id": "1 OR 1=1"})
    await run.request("GET", f"{xm}?api_key={KEYS['xm']}&action=get_settings")
    await run.request("POST", "/api.php?action=user&sub=create", {"api_key": KEYS["xc"],
                      "user_data[username]": "leak2", "user_data[password]": "leak-pass-2"})  # fmt: skip
    await run.request("POST", f"/k/{KEYS['xc']}/api.php?action=server&sub=list", {})
    await run.request("POST", "/api.php?action=user&sub=info", {"api_key": KEYS["xc"], "username": username,
                                                                "password": password})  # fmt: skip
    await run.request("POST", "/api/line/new", {"api_key": KEYS["ms"], "data[username]": "leak3",
                                                "data[password]": "leak-pass-3"})  # fmt: skip
    if ms_key_in_path:
        await run.request("POST", f"/api/resellers/list/{KEYS['ms']}", {})
    await run.request("POST", "/api/line/info", {"api_key": "wrong-ms-key", "username": username})
    # Keys under names PHP reads as `api_key`, keys in paths nothing routes, passwords in nested query fields.
    await run.request("GET", f"{xm}?api.key={KEYS['xm']}&action=get_lines&limit=1")
    await run.request("GET", f"{xm}?api+key={KEYS['xm']}&action=get_packages")
    await run.request("GET", f"{xm}?api%5Bkey={KEYS['xm']}&action=get_packages")
    await run.request("GET", f"/api/resellers/list/{KEYS['ms']}/more")
    await run.request("GET", f"/k/{KEYS['xc']}")
    await run.request("GET", f"/api.php?action=user&sub=create&api_key={KEYS['xc']}&user_data[username]=leak4"
                             "&user_data[password]=leak-pass-4")  # fmt: skip
    await run.request("GET", f"/api/line/new?api_key={KEYS['ms']}&data%5Busername%5D=leak5&data%5Bpassword%5D="
                             "leak-pass-5")  # fmt: skip
    # Players, with the line's own credentials in the query and in the path.
    await run.request("GET", f"/player_api.php?username={username}&password={password}")
    await run.request("GET", f"/player_api.php?username={username}&password={password}&action=get_live_streams")
    await run.request("GET", f"/get.php?username={username}&password={password}&type=m3u_plus&output=ts")
    await run.request("GET", f"/live/{username}/{password}/1.ts", stream=True)
    await run.request("GET", f"/{username}/{password}/1.ts", stream=True)
    await run.request("GET", "/player_api.php?username=nobody&password=wrong-pass-0")
    # Upstream faults: errors, breaker warnings.
    for fault in ("http500", "drop", "html", "slow"):
        for injector in run.panels.faults.values():
            injector.default = fault
        await run.request("POST", xm, {"api_key": KEYS["xm"], "action": "get_lines"})
        await run.request("POST", "/api.php?action=server&sub=list", {"api_key": KEYS["xc"]})
        await run.request("POST", "/api/resellers/list", {"api_key": KEYS["ms"]})
    for injector in run.panels.faults.values():
        injector.clear()
    await run.panels.servers["ms"].close()  # refused connections
    await run.request("POST", "/api/resellers/list", {"api_key": KEYS["ms"]})


MS_PATH_KEY_LEAK: list[pytest.MarkDecorator] = []  # fixed: accesslog redacts the 4th-segment key


@pytest.mark.parametrize(("access_log", "ms_key_in_path"), [
    ("text", False), ("json", False), pytest.param("text", True, marks=MS_PATH_KEY_LEAK),
])  # fmt: skip
async def test_no_secret_in_any_response_log_audit_or_metric(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    access_log: str, ms_key_in_path: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    panels = await start_panels(aiohttp_server)
    config: Config = gateway_config(panels, policies_dir, tmp_path, access_log=access_log,
                                    listen={"host": "127.0.0.1", "port": 0},
                                    admin_listen={"host": "127.0.0.1", "port": 0},
                                    health={"interval": 0, "failures": 2, "cooldown": 60})  # fmt: skip
    live, runners = await start(config)
    banners: list[str] = []
    row = next(r for r in panels.xm.tables["lines"].values() if r["username"] == "ahmed01")
    line = ("ahmed01", str(row["password"]))
    xc_row = next(iter(panels.xc.tables["users"].values()))
    try:
        async with aiohttp.ClientSession() as session:
            port, admin_port = (runner.addresses[0][1] for runner in runners)
            run = Run(session, f"http://127.0.0.1:{port}", panels)
            await representative_run(run, line, ms_key_in_path=ms_key_in_path)
            for path in ("/metrics", "/readyz", "/healthz", "/no-such-page"):
                async with session.get(f"http://127.0.0.1:{admin_port}{path}") as resp:
                    run.responses.append(("operator " + path, await resp.read()))
                    banners.append(resp.headers.get("Server", ""))
    finally:
        panels.release()
        for runner in reversed(runners):
            await runner.cleanup()
    assert len(run.responses) > 30

    panel_addresses = panels.hostports()
    upstream_secrets = [UPSTREAM_KEY, XC_API_PASS, *panel_addresses]
    client_keys = [*KEYS.values(), "wrong-ms-key"]
    line_passwords = [line[1], str(xc_row["password"]), "leak-pass-1", "leak-pass-2", "leak-pass-3", "leak-pass-4",
                      "leak-pass-5", "wrong-pass-0"]  # fmt: skip

    operator = [body.decode("utf-8", "replace") for name, body in run.responses if name.startswith("operator")]
    answers = [h + body.decode("utf-8", "replace") for h, body in run.responses if not h.startswith("operator")]
    logs = [f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
            if not r.name.startswith(SIM_LOGGERS)]  # fmt: skip
    assert any(r.name == "panelgate.access" for r in caplog.records), "the access log was captured"
    audit = (tmp_path / "audit.jsonl").read_text()

    def found(texts: list[str], secrets: list[str]) -> list[tuple[str, str]]:
        return [(s, t[:300]) for t in texts for s in secrets if s and s in t]

    assert found(answers, upstream_secrets + client_keys) == []
    assert found(answers, ["Python/", "aiohttp/"]) == []  # no version banner in a Server header
    unnamed = [h[:300] for h, _ in run.responses if not h.startswith("operator") and "('Server', 'panelgate')" not in h]
    assert unnamed == []  # every answer names the gateway, and only it
    assert set(banners) == {"panelgate"}
    assert found(operator, upstream_secrets + client_keys + line_passwords) == []
    assert found(logs, upstream_secrets + client_keys + line_passwords) == []
    assert found([audit], upstream_secrets + client_keys + line_passwords) == []
    assert live.state.config is config


async def test_a_malformed_request_does_not_log_its_key(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    caplog.set_level(logging.DEBUG)
    panels = await start_panels(aiohttp_server)
    config = gateway_config(panels, policies_dir, tmp_path, listen={"host": "127.0.0.1", "port": 0},
                            admin_listen={"host": "127.0.0.1", "port": 0})  # fmt: skip
    _, runners = await start(config)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", runners[0].addresses[0][1])
        writer.write(f"GET /{ACCESS_CODE}/admin/index.php?api_key={KEYS['xm']} HTTP/1.1\nHost: x\n\n".encode())
        await writer.drain()
        answer: Any = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.0 400")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    leaked = [r.name for r in caplog.records if KEYS["xm"] in f"{r.getMessage()} {r.exc_text or ''}"]
    assert leaked == []
    # aiohttp's own answer quoted the raw request line back, key included, and named its version
    assert KEYS["xm"].encode() not in answer and b"aiohttp" not in answer and b"Python" not in answer
    # one line, no traceback: a stream of malformed requests must not become a stream of tracebacks
    about = [r for r in caplog.records if "malformed" in r.getMessage() or r.name == "aiohttp.server"]
    assert len(about) == 1 and about[0].exc_info is None and not about[0].exc_text, about
