"""The status page in a real browser (headless Chromium) against a running gateway: what it shows, that it shows no
secret, and that a breaker opening shows within one refresh. Its screenshots are kept in test-output/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gateway.app import LIVE, build_admin_app, build_app
from gateway.sim.faults import FaultInjector
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.integration.chromium import Page, chromium
from tests.integration.live_fixtures import RATE, Watcher, add_line, wait_for

REFRESH = 1.0  # seconds between the page's refreshes in this test (?refresh=1)
XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
SECRETS = (UPSTREAM_KEY, *KEYS.values(), "pw-viewer-0", "pw-viewer-1", "secret-provider-0", "provider0")


async def _table(page: Page, name: str) -> str:
    text: str = await page.evaluate(f"document.querySelector('#{name} tbody').innerText")
    return text


async def test_the_status_page_shows_the_gateway_and_a_breaker_opening_within_one_refresh(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    record_property: Any,
) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    sim.player.live_rate = RATE
    add_line(sim, "provider0", "secret-provider-0", 2)
    for n in range(2):
        add_line(sim, f"viewer{n}", f"pw-viewer-{n}", 1)
    faults = FaultInjector()
    server = await aiohttp_server(faults.wrap(sim.app()))
    provider = {"name": "p0", "username": "provider0", "password": "secret-provider-0", "max_connections": 2}
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         client_side={"provider_lines": [provider]}, cache={"backend": "memory"},
                         health={"interval": 0, "failures": 2, "cooldown": 60})  # fmt: skip
    client = await aiohttp_client(build_app(config))
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))

    # some traffic: a cached read asked twice (a miss, then a hit), a wrong key, two viewers of one live channel
    for _ in range(2):
        assert (await (await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "get_line",
                                                        "id": "1"})).json(content_type=None))["status"] == \
            "STATUS_SUCCESS"  # fmt: skip
    await client.post(XM_PATH, data={"api_key": "pg_not_a_key", "action": "get_line", "id": "1"})
    watchers = [Watcher(str(client.make_url(f"/live/viewer{n}/pw-viewer-{n}/1.ts"))).start() for n in range(2)]
    try:
        await wait_for(lambda: all(len(w.received) > 4096 for w in watchers), 15, "both viewers' bytes")
        async with chromium(tmp_path / "chromium") as page:
            await page.goto(str(admin.make_url(f"/status?refresh={REFRESH:g}")))
            await page.wait_for("document.querySelector('#channels tbody').innerText.includes('provider lines')")
            upstreams = await _table(page, "upstreams")
            assert re.search(r"main\s+xtream_masters\s+closed\s+0", upstreams), upstreams
            assert "mean" in upstreams and "no limit" in upstreams  # latency; the tests' upstreams have no budget
            assert re.search(r"memory\s+ok\s+50\.0 %\s+hit 1, miss 1", await _table(page, "cache"))
            assert re.search(r"bad_key\s+1\s+0", await _table(page, "refusals"))
            lines = await _table(page, "lines")
            assert re.search(r"viewer0\s+live\s+1", lines) and re.search(r"viewer1\s+live\s+1", lines), lines
            assert re.search(r"^1\s+ts\s+2\s+provider lines$", await _table(page, "channels"), re.M)
            keys = await _table(page, "keys")
            assert re.search(r"^admin\s+admin\s+\u2013\s+active\s+\u2013\s+\d+ s ago$", keys, re.M), keys
            assert re.search(r"^reseller-88\s+reseller\s+88\s+active\s+\u2013\s+never$", keys, re.M), keys
            shown = await page.evaluate("document.documentElement.outerHTML")
            data = await (await admin.get("/status.json")).text()
            for secret in SECRETS:
                assert secret not in shown and secret not in data, secret
            path = await page.screenshot("status-page.png")
            record_property("screenshot", str(path))

            # the panel starts failing: two failed calls open its breaker, and the page says so at its next refresh
            faults.set("get_line", "http500")
            for n in (2, 3):
                await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "get_line", "id": str(n)})
            assert client.server.app[LIVE].state.upstream_client.health.breaker("main").state == "open"
            took = await page.wait_for("document.querySelector('[data-breaker]').dataset.breaker === 'open'",
                                       REFRESH + 2)  # fmt: skip
            record_property("breaker_shown_after_seconds", round(took, 3))
            print(f"status page: the open breaker showed {took:.3f} s after it opened (refresh {REFRESH:g} s)")
            assert took <= REFRESH + 0.5, f"the page showed the open breaker after {took:.2f} s"
            upstreams = await _table(page, "upstreams")
            assert re.search(r"main\s+xtream_masters\s+open\s+2\s+HTTP 500", upstreams), upstreams
            assert 'panelgate_upstream_breaker_open{upstream="main"} 1.0' in await (await admin.get("/metrics")).text()
            record_property("screenshot_open", str(await page.screenshot("status-page-breaker-open.png")))
    finally:
        for w in watchers:
            await w.stop()


async def test_the_status_data_is_refused_nothing_and_the_page_is_static(
    aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    config = make_config("http://127.0.0.1:9", policies_dir, tmp_path)
    admin = await aiohttp_client(build_admin_app(await _live(aiohttp_client, config)))
    page = await admin.get("/status")
    assert page.status == 200 and page.content_type == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script src="status.js"' in await page.text()
    script = await admin.get("/status.js")
    assert script.content_type == "text/javascript" and "innerHTML" not in await script.text()
    data = await (await admin.get("/status.json")).json()
    assert [u["name"] for u in data["upstreams"]] == ["main"] and data["streams"] == {"lines": [], "channels": []}
    assert data["refusals_last_hour"] == [] and data["cache"]["hit_ratio_last_hour"] is None


async def _live(aiohttp_client: AiohttpClient, config: Any) -> Any:
    client = await aiohttp_client(build_app(config))
    return client.server.app[LIVE]
