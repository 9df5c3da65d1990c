"""Gateways in front of simulated panels for the Xtream Codes v2 tests, and PHP-exact request bodies.

Three stacks: an XC v2 client in front of an Xtream-Masters panel (XC->XM) or an XC v2 panel (XC->XC), and an
Xtream-Masters client in front of an XC v2 panel (XM->XC). Each keeps the simulator, so a test can assert both
what the client got back and what the panel received.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.config import Config
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
    xc_upstream,
    xm_upstream,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PHP = shutil.which("php")


@dataclass
class Answer:
    """A gateway answer: HTTP status, content type, raw body."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class XCClientStack:
    """An XC v2 client face (`/api.php`) in front of `sim` (either dialect)."""

    sim: XtreamMastersSim | XtreamCodesV2Sim
    client: TestClient[Any, Any]
    config: Config

    async def raw(self, query: str = "", body: bytes | str | None = None, *, path: str = "/api.php",
                  headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """Send exactly these bytes: `query` after `?`, `body` as a form POST (a GET when None)."""
        url = path + (f"?{query}" if query else "")
        if body is None:
            resp = await self.client.get(url, headers=headers)
        else:
            resp = await self.client.post(url, data=body, headers={**FORM, **(headers or {})})
        return Answer(resp.status, resp.content_type, await resp.read())

    async def call(self, action: str, sub: str, *, key: str | None = "admin", method: str = "POST",
                   pairs: list[tuple[str, str]] | None = None, **params: str) -> Any:  # fmt: skip
        """`/api.php?action=..&sub=..` with the key as `api_key`; the rest as a form body (or query on GET)."""
        query = [("action", action), ("sub", sub)]
        form = list(pairs or []) + list(params.items())
        if key is not None:
            form.append(("api_key", KEYS.get(key, key)))
        if method == "GET":
            answer = await self.raw(urlencode(query + form))
        else:
            answer = await self.raw(urlencode(query), urlencode(form))
        assert answer.status == 200, answer
        return answer.json()


@dataclass
class XMClientStack:
    """An Xtream-Masters client face in front of an XC v2 panel."""

    sim: XtreamCodesV2Sim
    client: TestClient[Any, Any]
    config: Config

    async def xm(self, key: str | None = "admin", **params: str) -> Any:
        form = dict(params)
        if key is not None:
            form["api_key"] = KEYS.get(key, key)
        resp = await self.client.post(f"/{ACCESS_CODE}/admin/index.php", data=form)
        assert resp.status == 200, await resp.text()
        return await resp.json(content_type=None)


def xc_sim() -> XtreamCodesV2Sim:
    return XtreamCodesV2Sim(api_pass=XC_API_PASS, allowed_ips=("127.0.0.1", "::1"))


def xm_sim(flavour: str = "xtream_masters") -> XtreamMastersSim:
    return XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY, flavour=flavour)


async def _serve(sim: XtreamMastersSim | XtreamCodesV2Sim, aiohttp_server: AiohttpServer) -> str:
    server: TestServer = await aiohttp_server(sim.app())
    return str(server.make_url("")).rstrip("/")


async def xc_client_stack(upstream_dialect: str, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                          policies_dir: Path, tmp_path: Path, **overrides: Any) -> XCClientStack:  # fmt: skip
    """`upstream_dialect`: "xc", "xm", or "xui" (an Xtream-Masters upstream of flavour xui_one)."""
    flavour = "xui_one" if upstream_dialect == "xui" else "xtream_masters"
    sim: XtreamMastersSim | XtreamCodesV2Sim = xc_sim() if upstream_dialect == "xc" else xm_sim(flavour)
    url = await _serve(sim, aiohttp_server)
    upstream = xc_upstream(url) if upstream_dialect == "xc" else {**xm_upstream(url), "flavour": flavour}
    config = make_config(url, policies_dir, tmp_path, upstream=upstream, **overrides)
    return XCClientStack(sim=sim, client=await aiohttp_client(build_app(config)), config=config)


async def xm_client_stack(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                          tmp_path: Path) -> XMClientStack:  # fmt: skip
    sim = xc_sim()
    url = await _serve(sim, aiohttp_server)
    config = make_config(url, policies_dir, tmp_path, upstream=xc_upstream(url))
    return XMClientStack(sim=sim, client=await aiohttp_client(build_app(config)), config=config)


def php_query(array_literal: str) -> bytes:
    """`http_build_query(ARRAY)` run by php-cli: the exact bytes a PHP script would POST."""
    assert PHP is not None
    done = subprocess.run([PHP, "-r", f"echo http_build_query({array_literal});"], check=True,
                          capture_output=True, timeout=30)  # fmt: skip
    return done.stdout
