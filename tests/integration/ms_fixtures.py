"""Gateways in front of simulated panels for the MidnightStreamer (MS) tests, on real sockets.

One stack type for every cell: a gateway whose single upstream `main` is one simulator (MidnightStreamer,
Xtream-Masters or XC v2), with helpers to call it through each client face (`ms`, `xm`, `xc`). Each keeps the
simulator, so a test asserts both what the client got back and what the panel received.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.config import Config
from gateway.sim.midnight import MidnightStreamerSim
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import (
    ACCESS_CODE,
    KEYS,
    UPSTREAM_KEY,
    XC_API_PASS,
    AiohttpClient,
    AiohttpServer,
    make_config,
    ms_upstream,
    xc_upstream,
    xm_upstream,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Sim = MidnightStreamerSim | XtreamMastersSim | XtreamCodesV2Sim
Middleware = Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
                      Awaitable[web.StreamResponse]]  # fmt: skip


@dataclass
class Answer:
    """A gateway answer: HTTP status, content type, raw body."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class MSStack:
    """A gateway in front of `sim`, reachable through every client face."""

    sim: Sim
    sim_server: TestServer
    client: TestClient[Any, Any]
    config: Config

    async def raw(self, path: str, body: bytes | str | None = None, *, query: str = "",
                  headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """Exactly these bytes: a form POST of `body` (a GET when None)."""
        url = path + (f"?{query}" if query else "")
        if body is None:
            resp = await self.client.get(url, headers=headers)
        else:
            resp = await self.client.post(url, data=body, headers={**FORM, **(headers or {})})
        return Answer(resp.status, resp.content_type, await resp.read())

    async def ms(self, endpoint: str, pairs: list[tuple[str, str]] | None = None, *, key: str | None = "admin",
                 **params: str) -> Any:  # fmt: skip
        """POST /api/{endpoint} as a MidnightStreamer client would (`http_build_query`), key as POST `api_key`."""
        form = [*(pairs or []), *params.items()]
        if key is not None:
            form.append(("api_key", KEYS.get(key, key)))
        answer = await self.raw(f"/api/{endpoint}", urlencode(form))
        assert answer.status == 200, answer
        return answer.json()

    async def xm(self, action: str, *, key: str | None = "admin", pairs: list[tuple[str, str]] | None = None,
                 **params: str) -> Any:  # fmt: skip
        form = [("action", action), *(pairs or []), *params.items()]
        if key is not None:
            form.append(("api_key", KEYS.get(key, key)))
        answer = await self.raw(f"/{ACCESS_CODE}/admin/index.php", urlencode(form))
        assert answer.status == 200, answer
        return answer.json()

    async def xc(self, action: str, sub: str, *, key: str | None = "admin",
                 pairs: list[tuple[str, str]] | None = None, **params: str) -> Any:  # fmt: skip
        form = [*(pairs or []), *params.items()]
        if key is not None:
            form.append(("api_key", KEYS.get(key, key)))
        answer = await self.raw("/api.php", urlencode(form), query=urlencode({"action": action, "sub": sub}))
        assert answer.status == 200, answer
        return answer.json() if answer.body.strip() else None

    def endpoints(self) -> list[str]:
        """What the panel received, in order: MS endpoints, XM actions or XC `action/sub`."""
        return [name for name, _ in self.sim.received]


def ms_sim() -> MidnightStreamerSim:
    return MidnightStreamerSim(api_key=UPSTREAM_KEY)


def xm_sim() -> XtreamMastersSim:
    return XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)


def xui_sim() -> XtreamMastersSim:
    """XUI.one as it runs: whole-row edits, its own admin path, PHP's DateTime (gateway.sim.xui_one)."""
    return XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY, flavour="xui_one")


def xui_upstream(url: str) -> dict[str, Any]:
    return {**xm_upstream(url), "flavour": "xui_one"}


def xc_sim() -> XtreamCodesV2Sim:
    return XtreamCodesV2Sim(api_pass=XC_API_PASS, allowed_ips=("127.0.0.1", "::1"))


SIMS: dict[str, Callable[[], Sim]] = {"ms": ms_sim, "xm": xm_sim, "xui": xui_sim, "xc": xc_sim}
UPSTREAMS: dict[str, Callable[[str], dict[str, Any]]] = {"ms": ms_upstream, "xm": xm_upstream, "xui": xui_upstream,
                                                         "xc": xc_upstream}  # fmt: skip


async def ms_stack(upstream: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                   tmp_path: Path, *, middleware: Middleware | None = None, **overrides: Any) -> MSStack:  # fmt: skip
    """A gateway in front of a fresh seeded simulator of `upstream` ("ms", "xm" or "xc"). `middleware`, when
    given, wraps the simulator's app (to make one of its endpoints fail on purpose)."""
    sim = SIMS[upstream]()
    app = sim.app()
    if middleware is not None:
        app.middlewares.append(web.middleware(middleware))
    sim_server: TestServer = await aiohttp_server(app)
    url = str(sim_server.make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path, upstream=UPSTREAMS[upstream](url), **overrides)
    return MSStack(sim=sim, sim_server=sim_server, client=await aiohttp_client(build_app(config)), config=config)


def data(**fields: str) -> list[tuple[str, str]]:
    """`data[name]=value` pairs, as http_build_query(['data' => [...]]) writes them."""
    return [(f"data[{k}]", v) for k, v in fields.items()]
