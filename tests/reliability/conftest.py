"""Three simulated panels (one per dialect) behind fault injectors, and a gateway in front of them.

Keys: `xm`, `xc` and `ms` (admin policy) each go to the panel of their client's own dialect, so every client face
and every upstream face is on the path. Every panel counts what reached it (`FaultInjector.hits`), and remembers
the `X-Request-Id` of each request, which the gateway passes on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.config import Config
from gateway.keys import digest_of
from gateway.sim.faults import FaultInjector
from gateway.sim.midnight import MidnightStreamerSim
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import (
    ACCESS_CODE,
    UPSTREAM_KEY,
    XC_API_PASS,
    AiohttpClient,
    AiohttpServer,
    make_config,
    ms_upstream,
    xc_upstream,
    xm_upstream,
)
from tests.serving import free_port

KEYS = {
    "xm": "pg_rel_xm_key_000000000000000000000000000001",
    "xc": "pg_rel_xc_key_000000000000000000000000000002",
    "ms": "pg_rel_ms_key_000000000000000000000000000003",
    "cross": "pg_rel_cross_key_0000000000000000000000000004",  # any client face, toward the Xtream-Masters panel
}
UPSTREAM_OF = {"xm": "xm", "xc": "xc", "ms": "ms", "cross": "xm"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
XM_PATH = f"/{ACCESS_CODE}/admin/index.php"
TIMEOUT = 0.5  # seconds per upstream call in these tests: a slow panel sleeps well past it


@dataclass
class Panels:
    xm: XtreamMastersSim
    xc: XtreamCodesV2Sim
    ms: MidnightStreamerSim
    faults: dict[str, FaultInjector]
    servers: dict[str, TestServer]

    def url(self, name: str) -> str:
        return str(self.servers[name].make_url("")).rstrip("/")

    def hostports(self) -> list[str]:
        """How each panel's address could appear in text: host:port, and the bare URL."""
        out: list[str] = []
        for server in self.servers.values():
            out += [f"{server.host}:{server.port}", f"localhost:{server.port}"]
        return out

    def release(self) -> None:
        for injector in self.faults.values():
            injector.release()


async def start_panels(aiohttp_server: AiohttpServer) -> Panels:
    xm = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    xc = XtreamCodesV2Sim(api_pass=XC_API_PASS, allowed_ips=("127.0.0.1", "::1"))
    ms = MidnightStreamerSim(api_key=UPSTREAM_KEY)
    faults = {name: FaultInjector() for name in ("xm", "xc", "ms")}
    servers = {
        "xm": await aiohttp_server(faults["xm"].wrap(xm.app())),
        "xc": await aiohttp_server(faults["xc"].wrap(xc.app())),
        "ms": await aiohttp_server(faults["ms"].wrap(ms.app())),
    }
    return Panels(xm, xc, ms, faults, servers)


def gateway_config(panels: Panels, policies_dir: Path, tmp_path: Path, *, timeout: float = TIMEOUT,
                   **overrides: Any) -> Config:  # fmt: skip
    upstreams = {
        "xm": {**xm_upstream(panels.url("xm")), "timeout": timeout},
        "xc": {**xc_upstream(panels.url("xc")), "timeout": timeout},
        "ms": {**ms_upstream(panels.url("ms")), "timeout": timeout},
    }
    keys = [{"id": f"{name}-admin", "digest": digest_of(key), "policy": "admin", "upstream": UPSTREAM_OF[name]}
            for name, key in KEYS.items()]  # fmt: skip
    settings: dict[str, Any] = {"upstreams": upstreams, "keys": keys, **overrides}
    return make_config(panels.url("xm"), policies_dir, tmp_path, **settings)


# MidnightStreamer's own words for the failures these tests meet (never a code name): "Sentence." or
# "Sentence: detail"
MS_SENTENCES = {"Service unavailable, try again later": "UPSTREAM_UNAVAILABLE", "Service error": "UPSTREAM_ERROR",
                "Request too large": "PAYLOAD_TOO_LARGE"}  # fmt: skip


def failure_code(dialect: str, body: bytes) -> str:
    """The canonical code of a failure in `dialect`'s own shape (asserting that shape)."""
    doc = json.loads(body)
    assert isinstance(doc, dict), doc
    if dialect == "xm":
        assert set(doc) in ({"status", "error"}, {"status", "error", "data"}), doc  # a write echoes its input
        return str(doc["status"]).removeprefix("STATUS_")
    if dialect == "xc":
        assert doc["result"] is False and set(doc) == {"result", "error", "message"}, doc
        return str(doc["error"])
    assert doc["result"] is False and set(doc) == {"result", "error"}, doc
    said = str(doc["error"])
    return next((code for sentence, code in MS_SENTENCES.items() if said.startswith(sentence)), said)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    took: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    """The gateway app on a real socket (`client.server`), called through a plain session: aiohttp's TestClient
    keeps every response until teardown, which a soak would count as the gateway's memory."""

    client: TestClient[Any, Any]
    panels: Panels
    config: Config
    audit_path: Path
    session: aiohttp.ClientSession
    keep_replies: bool = False
    replies: list[Reply] = field(default_factory=list)  # everything answered, for the leak scans

    async def post(self, path: str, form: list[tuple[str, str]], *, query: str = "",
                   request_id: str | None = None) -> Reply:  # fmt: skip
        headers = {**FORM, "X-Request-Id": request_id or uuid.uuid4().hex}
        started = time.monotonic()
        url = str(self.client.make_url(path)) + (f"?{query}" if query else "")
        async with self.session.post(url, data=urlencode(form), headers=headers) as resp:
            reply = Reply(resp.status, dict(resp.headers), await resp.read(), time.monotonic() - started)
        if self.keep_replies:
            self.replies.append(reply)
        return reply

    async def xm(self, action: str, *, key: str = "xm", request_id: str | None = None, **params: str) -> Reply:
        form = [("api_key", KEYS.get(key, key)), ("action", action), *params.items()]
        return await self.post(XM_PATH, form, request_id=request_id)

    async def xc(self, action: str, sub: str, pairs: list[tuple[str, str]] | None = None, *, key: str = "xc",
                 request_id: str | None = None) -> Reply:  # fmt: skip
        form = [("api_key", KEYS.get(key, key)), *(pairs or [])]
        return await self.post("/api.php", form, query=urlencode({"action": action, "sub": sub}),
                               request_id=request_id)  # fmt: skip

    async def ms(self, endpoint: str, pairs: list[tuple[str, str]] | None = None, *, key: str = "ms",
                 request_id: str | None = None) -> Reply:  # fmt: skip
        form = [*(pairs or []), ("api_key", KEYS.get(key, key))]
        return await self.post(f"/api/{endpoint}", form, request_id=request_id)


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> AsyncIterator[MakeGateway]:
    """`await make_gateway(**config_overrides)`: three panels and a gateway in front of them."""
    made: list[Gateway] = []

    async def make(**overrides: Any) -> Gateway:
        panels = await start_panels(aiohttp_server)
        config = gateway_config(panels, policies_dir, tmp_path, **overrides)
        client = await aiohttp_client(build_app(config))
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        made.append(Gateway(client, panels, config, tmp_path / "audit.jsonl", session))
        return made[-1]

    yield make
    for gw in made:
        gw.panels.release()  # no simulator handler outlives the test waiting on a `slow` fault
        await gw.session.close()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway()


# --- a redis-server of the test's own -----------------------------------------------------------------------


class RedisProcess:
    """redis-server on a spare port, as a subprocess the test may kill, freeze (SIGSTOP) and restart. `extra`
    arguments follow the defaults (a cluster node's, a replica's); with `config` (a file of its own, which
    Sentinel rewrites) and `--sentinel` in `extra` it is a sentinel."""

    def __init__(self, directory: Path, *extra: str, config: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = directory
        self.extra = extra
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        head = ["redis-server", str(self.config)] if self.config is not None else ["redis-server"]
        self.proc = subprocess.Popen(
            [*head, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / f"redis-{self.port}.log"), *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise AssertionError(f"redis-server on port {self.port} did not start (see {self.dir})")

    def kill(self) -> None:
        if self.proc is not None:
            if self.stopped:
                self.cont()
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False


def need_redis_server() -> None:
    """A skip without redis-server, or a failure under CI=true (where a skip would hide a gap)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires redis-server for the Redis fault tests")
        pytest.skip("redis-server is not installed")


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """Not started: the test starts it when its scenario wants Redis up."""
    need_redis_server()
    server = RedisProcess(tmp_path)
    try:
        yield server
    finally:
        server.kill()
