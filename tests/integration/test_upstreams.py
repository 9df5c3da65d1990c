"""Several upstreams: pools, failover, circuit breakers, write safety, access-code routing, readiness."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import LIVE, build_admin_app, build_app
from gateway.keys import digest_of
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import (
    ACCESS_CODE,
    UPSTREAM_KEY,
    XC_API_PASS,
    AiohttpClient,
    AiohttpServer,
    make_config,
    xc_upstream,
    xm_upstream,
)

KEY, NARROW = "pool-key-0123456789abcdef", "narrow-key-0123456789abcd"


@dataclass
class Panel:
    sim: XtreamMastersSim
    server: TestServer
    failing: bool = False  # answer HTTP 500 to everything, like a PHP fatal error
    hits: int = 0  # requests that reached this panel, failing or not

    @property
    def actions(self) -> list[str]:
        return [a for a, _ in self.sim.received]


async def _panel(aiohttp_server: AiohttpServer) -> Panel:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    app = sim.app()
    panel = Panel(sim, None)  # type: ignore[arg-type]

    @web.middleware
    async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
        panel.hits += 1
        if panel.failing:
            return web.Response(status=500, text="<b>Fatal error</b>")
        return await handler(request)  # type: ignore[no-any-return]

    app.middlewares.append(faults)
    panel.server = await aiohttp_server(app)
    return panel


@dataclass
class Pool:
    a: Panel
    b: Panel
    legacy: XtreamCodesV2Sim
    client: TestClient[Any, Any]
    admin: TestClient[Any, Any]

    async def call(self, action: str, key: str = KEY, code: str = ACCESS_CODE, **params: str) -> Any:
        resp = await self.client.post(f"/{code}/admin/index.php", data={"api_key": key, "action": action, **params})
        return await resp.json(content_type=None)


@pytest.fixture
async def pool(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> Pool:
    a, b = await _panel(aiohttp_server), await _panel(aiohttp_server)
    legacy = XtreamCodesV2Sim(api_pass=XC_API_PASS)
    legacy_server = await aiohttp_server(legacy.app())

    def url(server: TestServer) -> str:
        return str(server.make_url("")).rstrip("/")

    config = make_config(
        url(a.server), policies_dir, tmp_path,
        upstreams={"a": xm_upstream(url(a.server)), "b": xm_upstream(url(b.server)),
                   "legacy": xc_upstream(url(legacy_server))},
        pools={"main": ["a", "b"]},
        access_codes={"old": "legacy"},
        health={"interval": 0, "failures": 2, "cooldown": 0.3},
        keys=[
            {"id": "pool", "digest": digest_of(KEY), "policy": "admin", "upstream": ["main", "legacy"]},
            {"id": "narrow", "digest": digest_of(NARROW), "policy": "admin", "upstream": "main"},
        ],
    )
    client = await aiohttp_client(build_app(config))
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
    return Pool(a, b, legacy, client, admin)


async def test_reads_fail_over_when_a_panel_is_down(pool: Pool) -> None:
    await pool.a.server.close()
    body = await pool.call("get_lines", limit="2")
    assert body["status"] == "STATUS_SUCCESS"
    assert pool.b.actions == ["get_lines"]
    metrics = await (await pool.admin.get("/metrics")).text()
    assert 'panelgate_failovers_total{upstream="a"} 1.0' in metrics


async def test_breaker_opens_then_recovers(pool: Pool) -> None:
    pool.a.failing = True
    for _ in range(2):  # two failures open a's breaker; each read is still answered by b
        assert (await pool.call("get_lines"))["status"] == "STATUS_SUCCESS"
    assert pool.a.hits == 2
    assert (await pool.call("get_lines"))["status"] == "STATUS_SUCCESS"
    assert pool.a.hits == 2, "an open breaker must not send to its upstream"
    ready = await (await pool.admin.get("/readyz")).json()
    assert ready["upstreams"]["a"]["state"] == "open" and ready["status"] == "ok"
    pool.a.failing = False
    await asyncio.sleep(0.35)  # the cool-down passes: the next call probes a and closes its breaker
    assert (await pool.call("get_lines"))["status"] == "STATUS_SUCCESS"
    assert pool.a.actions == ["get_lines"]
    ready = await (await pool.admin.get("/readyz")).json()
    assert ready["upstreams"]["a"]["state"] == "closed"


async def test_a_write_that_reached_a_failing_panel_is_not_retried(pool: Pool) -> None:
    pool.a.failing = True
    body = await pool.call("create_line", username="once_only", password="pw_123456")
    assert body["status"] == "STATUS_UPSTREAM_ERROR"
    assert pool.a.hits == 1
    assert pool.b.hits == 0, "the write may have happened on a: it must not be sent again to b"


async def test_a_write_that_never_left_is_sent_to_the_next_panel_once(pool: Pool) -> None:
    await pool.a.server.close()
    body = await pool.call("create_line", username="moved_on", password="pw_123456")
    assert body["status"] == "STATUS_SUCCESS"
    assert pool.b.actions == ["create_line"]


async def test_access_code_selects_an_allowed_upstream(pool: Pool) -> None:
    body = await pool.call("get_servers", code="old")  # an XM client in front of the XC panel
    assert isinstance(body, list) and body
    assert [a for a, _ in pool.legacy.received] == ["server/list"]
    refused = await pool.call("get_servers", key=NARROW, code="old")
    assert refused["status"] == "STATUS_FORBIDDEN"
    assert len(pool.legacy.received) == 1


async def test_readyz_is_unavailable_when_every_upstream_is_down(pool: Pool) -> None:
    pool.a.failing = pool.b.failing = True
    for _ in range(2):
        assert (await pool.call("get_lines"))["status"] == "STATUS_UPSTREAM_ERROR"
    resp = await pool.admin.get("/readyz")
    body = await resp.json()
    assert body["upstreams"]["a"]["state"] == "open" and body["upstreams"]["b"]["state"] == "open"
    # The XC panel is still healthy, so the gateway as a whole stays ready.
    assert resp.status == 200
    failing = await pool.call("get_lines")
    assert failing["status"] == "STATUS_UPSTREAM_UNAVAILABLE"
    assert "marked down" in failing["error"]


async def test_active_probes_open_a_dead_panels_breaker_without_traffic(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    panel = await _panel(aiohttp_server)
    config = make_config(str(panel.server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         health={"interval": 0.05, "failures": 2, "cooldown": 30})
    client = await aiohttp_client(build_app(config))
    admin = await aiohttp_client(build_admin_app(client.server.app[LIVE]))
    for _ in range(100):
        if panel.actions.count("user_info") >= 1:
            break
        await asyncio.sleep(0.02)
    assert "user_info" in panel.actions, "the probe uses the dialect's cheapest read"
    panel.failing = True
    for _ in range(100):
        resp = await admin.get("/readyz")
        if resp.status == 503:
            break
        await asyncio.sleep(0.05)
    body = await resp.json()
    assert resp.status == 503 and body["upstreams"]["main"]["state"] == "open"


async def gateway_before(middleware: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                         policies_dir: Path, tmp_path: Path, *, host: str = "127.0.0.1") -> TestClient[Any, Any]:
    """A gateway in front of a simulated panel that runs `middleware` on every request it receives."""
    app = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY).app()
    app.middlewares.append(middleware)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/").replace("127.0.0.1", host)
    config = make_config(url, policies_dir, tmp_path, keys=[{"id": "k", "digest": digest_of(KEY), "policy": "admin"}])
    return await aiohttp_client(build_app(config))


async def test_request_id_is_kept_and_sent_upstream(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(request.headers.get("X-Request-Id", ""))
        return await handler(request)  # type: ignore[no-any-return]

    client = await gateway_before(record, aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": "get_lines"},
                             headers={"X-Request-Id": "trace-42"})
    assert resp.headers["X-Request-Id"] == "trace-42"
    assert seen == ["trace-42"]
    resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": "get_lines"},
                             headers={"X-Request-Id": "bad id\twith spaces"})
    generated = resp.headers["X-Request-Id"]
    assert generated != "bad id\twith spaces" and len(generated) == 32
    assert seen[-1] == generated


async def test_a_cookie_a_panel_sets_is_not_sent_on_later_calls(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """Calls for different clients and tenants share one session: a panel's session cookie must not ride along."""
    cookies: list[str] = []

    @web.middleware
    async def session_cookie(request: web.Request, handler: Any) -> web.StreamResponse:
        cookies.append(request.headers.get("Cookie", ""))
        response: web.StreamResponse = await handler(request)
        response.set_cookie("PHPSESSID", f"session-{len(cookies)}")
        return response

    # a host name: aiohttp's cookie jar ignores cookies from IP addresses, which would hide the problem
    client = await gateway_before(session_cookie, aiohttp_server, aiohttp_client, policies_dir, tmp_path,
                                  host="localhost")  # fmt: skip
    for _ in range(3):
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": "get_lines"})
        assert resp.status == 200 and "PHPSESSID" not in resp.headers.get("Set-Cookie", "")
    assert cookies == ["", "", ""]


async def test_a_half_open_breakers_probe_answered_busy_does_not_shut_the_panel_out_for_good(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """A panel back from an outage still busy (nginx's limit_req, HTTP 503) when the breaker lets its one probe
    through: the probe is answered, so the panel is not broken, and the next calls must reach it again (they
    were refused "marked down" for as long as the process lived: the probe slot was never given back)."""
    mode = {"answer": 500}

    @web.middleware
    async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
        if mode["answer"]:
            return web.Response(status=mode["answer"], text="<html>busy</html>")
        return await handler(request)  # type: ignore[no-any-return]

    app = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY).app()
    app.middlewares.append(faults)
    server = await aiohttp_server(app)
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         health={"interval": 0, "failures": 1, "cooldown": 0.1},
                         keys=[{"id": "k", "digest": digest_of(KEY), "policy": "admin"}])  # fmt: skip
    client = await aiohttp_client(build_app(config))

    async def call(action: str, **params: str) -> Any:
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": action, **params})
        return await resp.json(content_type=None)

    assert (await call("get_lines"))["status"] == "STATUS_UPSTREAM_ERROR"  # the 500 opens the breaker
    await asyncio.sleep(0.15)  # the cool-down passes: the next call is the half-open probe
    mode["answer"] = 503
    busy = await call("create_line", username="busy1", password="pw_123456")
    assert busy["status"] == "STATUS_UPSTREAM_UNAVAILABLE" and "busy" in busy["error"], busy
    mode["answer"] = 0  # the panel has caught up
    await asyncio.sleep(0.15)
    assert "marked down" not in str(await call("get_lines"))
    assert (await call("create_line", username="after1", password="pw_123456"))["status"] == "STATUS_SUCCESS"


async def test_concurrent_misses_wait_for_a_leader_that_retries_a_busy_panel(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """Ten identical reads while the panel answers 503 (its rate limit) three times: the first one leads, retrying
    with back-off (0.25 + 0.5 + 1 s), the others wait for its answer. They gave up at the upstream timeout + 1 s
    and each called the panel itself, the herd a rate-limited panel least needs (10 calls became 20 or more)."""
    hits = {"n": 0}

    @web.middleware
    async def busy_at_first(request: web.Request, handler: Any) -> web.StreamResponse:
        hits["n"] += 1
        if hits["n"] <= 3:
            return web.Response(status=503, text="<html>503 Service Temporarily Unavailable</html>")
        return await handler(request)  # type: ignore[no-any-return]

    app = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY).app()
    app.middlewares.append(busy_at_first)
    server = await aiohttp_server(app)
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         upstreams={"main": {**xm_upstream(str(server.make_url("")).rstrip("/")), "timeout": 0.5}},
                         cache={"ttl": {"default": 60}},
                         keys=[{"id": "k", "digest": digest_of(KEY), "policy": "admin"}])  # fmt: skip
    client = await aiohttp_client(build_app(config))

    async def read() -> Any:
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": "get_lines"})
        return await resp.json(content_type=None)

    answers = await asyncio.gather(*(read() for _ in range(10)))
    assert all(isinstance(a, list) or a.get("status") == "STATUS_SUCCESS" for a in answers), answers
    assert hits["n"] == 4, f"{hits['n']} calls reached the panel"


async def test_a_read_is_not_held_for_a_long_retry_after(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """A panel in maintenance behind a proxy that answers 503 with `Retry-After: 3600`: a read was retried after
    min(Retry-After, 30 s), three times, so each read held its client 90 s (past any PHP client's timeout) before
    answering busy. A wait longer than the gateway's own back-off is the client's to make: it is answered at once,
    with the Retry-After."""

    @web.middleware
    async def maintenance(request: web.Request, handler: Any) -> web.StreamResponse:
        return web.Response(status=503, text="<html>maintenance</html>", headers={"Retry-After": "3600"})

    app = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY).app()
    app.middlewares.append(maintenance)
    server = await aiohttp_server(app)
    config = make_config(str(server.make_url("")).rstrip("/"), policies_dir, tmp_path,
                         keys=[{"id": "k", "digest": digest_of(KEY), "policy": "admin"}])  # fmt: skip
    client = await aiohttp_client(build_app(config))
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(5):
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": "get_lines"})
        body = await resp.json(content_type=None)
    assert body["status"] == "STATUS_UPSTREAM_UNAVAILABLE" and "busy" in body["error"], body
    assert int(resp.headers["Retry-After"]) >= 30
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_calls_waiting_for_one_of_the_gateways_own_connections_do_not_open_the_breaker(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the gateway's connections to one panel (PER_ORIGIN) a call waits for one within its connect timeout,
    then fails, sent nowhere. That is the gateway's own queue, not the panel's health: it counted against the
    breaker, so a burst toward a slow but healthy panel marked it down for everyone for the cool-down."""
    from gateway import panel_http

    monkeypatch.setattr(panel_http, "PER_ORIGIN", 1)

    @web.middleware
    async def slow_lists(request: web.Request, handler: Any) -> web.StreamResponse:
        if (await request.post()).get("action") == "get_packages":
            await asyncio.sleep(0.8)
        return await handler(request)  # type: ignore[no-any-return]

    app = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY).app()
    app.middlewares.append(slow_lists)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path,
                         upstreams={"main": {**xm_upstream(url), "timeout": 0.3}, "reports": xm_upstream(url)},
                         health={"interval": 0, "failures": 1, "cooldown": 30},
                         keys=[{"id": "k", "digest": digest_of(KEY), "policy": "admin", "upstream": "main"},
                               {"id": "r", "digest": digest_of(NARROW), "policy": "admin", "upstream": "reports"}])
    client = await aiohttp_client(build_app(config))

    async def call(key: str, action: str) -> Any:
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": key, "action": action})
        return await resp.json(content_type=None)

    report = asyncio.create_task(call(NARROW, "get_packages"))  # holds the one connection for 0.8 s
    await asyncio.sleep(0.1)
    waited = await call(KEY, "get_lines")
    assert waited["status"] == "STATUS_UPSTREAM_UNAVAILABLE", waited
    assert isinstance(await report, list)
    after = await call(KEY, "get_lines")
    assert after["status"] == "STATUS_SUCCESS", after  # not "upstream main is marked down"


async def test_a_pool_member_whose_probe_was_answered_busy_gets_calls_again(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """Pool [a, b]: a's breaker opens, its cool-down passes, the probe it lets through is answered busy (503). The
    breaker is half-open with no probe out: the next call may probe a. Routing took half-open for unavailable
    and put a last, so while b answered a got no call again, ever (without active probes): half the pool lost."""
    modes = {"a": 500, "b": 0}
    hits = {"a": 0, "b": 0}

    async def panel(name: str) -> str:
        @web.middleware
        async def mode(request: web.Request, handler: Any) -> web.StreamResponse:
            hits[name] += 1
            if modes[name]:
                return web.Response(status=modes[name], text="<html>down</html>")
            return await handler(request)  # type: ignore[no-any-return]

        app = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY).app()
        app.middlewares.append(mode)
        return str((await aiohttp_server(app)).make_url("")).rstrip("/")

    a, b = await panel("a"), await panel("b")
    config = make_config(a, policies_dir, tmp_path, upstreams={"a": xm_upstream(a), "b": xm_upstream(b)},
                         pools={"main": ["a", "b"]}, health={"interval": 0, "failures": 1, "cooldown": 0.1},
                         keys=[{"id": "k", "digest": digest_of(KEY), "policy": "admin", "upstream": "main"}])
    client = await aiohttp_client(build_app(config))

    async def call(action: str) -> Any:
        resp = await client.post(f"/{ACCESS_CODE}/admin/index.php", data={"api_key": KEY, "action": action})
        return await resp.json(content_type=None)

    assert (await call("get_lines"))["status"] == "STATUS_SUCCESS"  # a's 500 opens its breaker; b answers
    await asyncio.sleep(0.15)
    modes["a"] = 503
    assert (await call("get_lines"))["status"] == "STATUS_SUCCESS"  # a's probe: busy, retried on b
    modes["a"] = 0
    before = hits["a"]
    for _ in range(3):
        assert (await call("get_lines"))["status"] == "STATUS_SUCCESS"
    assert hits["a"] > before, "a got no call again"
