"""Shared fixtures: simulated panels on real sockets, and gateways configured in front of them."""

from __future__ import annotations

import itertools
import os
import random
import shutil
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import LIVE, build_admin_app, build_app
from gateway.catalogue import Kind, catalogue
from gateway.config import Config, parse_config
from gateway.keys import digest_of
from gateway.sim.network import NETWORK, Network
from gateway.sim.xtream_masters import XtreamMastersSim

REPO = Path(__file__).resolve().parent.parent
UPSTREAM_KEY = "UPSTREAM-SECRET-0123456789"
XC_API_PASS = "XC-API-PASS-0123456789"
ACCESS_CODE = "panelcode"

# Plain-text client keys used by the tests, each bound to a policy below.
KEYS = {
    "admin": "pg_test_admin_key_0000000000000000000000000",
    "reseller": "pg_test_reseller_key_00000000000000000000000",
    "readonly": "pg_test_readonly_key_00000000000000000000000",
    "danger": "pg_test_danger_key_0000000000000000000000000",
}

# Tests that need these skip locally when they are missing; in CI a skip would hide a gap, so CI stops instead.
CI_REQUIRED_TOOLS = ("php", "redis-server", "ffmpeg", "ffprobe", "chromium")


# Every simulated panel a test starts answers over a realistic network (gateway.sim.network): bodies in random
# pieces with pauses, Content-Length or chunked at random. A new seed each run, printed in the header and under
# every failure; PANELGATE_SIM_SEED=N repeats a run's network, PANELGATE_SIM_NETWORK=off turns it off to debug.
SIM_NETWORK = os.environ.get("PANELGATE_SIM_NETWORK", "on").strip().lower() not in ("off", "0", "no", "false")
SIM_SEED = os.environ.get("PANELGATE_SIM_SEED") or str(random.SystemRandom().randrange(1_000_000))


def simulated_network(app: web.Application, seed: str) -> web.Application:
    """`app` (a simulated panel) behind the realistic network, unless it is switched off. Gateways are left alone."""
    if SIM_NETWORK and LIVE not in app and NETWORK not in app:
        Network(f"{SIM_SEED}:{seed}").install(app)
    return app


@pytest.fixture
def sim_seed(request: pytest.FixtureRequest) -> str:
    """This run's seed for a Network a test sets up itself."""
    return f"{SIM_SEED}:{request.node.nodeid}"


def pytest_report_header(config: pytest.Config) -> str:
    state = f"on, seed {SIM_SEED} (PANELGATE_SIM_SEED repeats it)" if SIM_NETWORK else "off"
    return f"simulated panels' network: {state}; PANELGATE_SIM_NETWORK=off turns it off"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and SIM_NETWORK:
        report.sections.append(("simulated network", f"PANELGATE_SIM_SEED={SIM_SEED} repeats this run's network"))
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") == "true":
        missing = [tool for tool in CI_REQUIRED_TOOLS if shutil.which(tool) is None]
        if missing:
            pytest.exit(f"CI requires {', '.join(missing)} (make test installs them with apt-get)", returncode=1)


AiohttpServer = Callable[..., Awaitable[TestServer]]
AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def aiohttp_server(aiohttp_server: AiohttpServer, request: pytest.FixtureRequest) -> AiohttpServer:
    """pytest-aiohttp's, with every simulated panel behind the realistic network (seeded per test and server)."""
    started = itertools.count()

    async def start(app: web.Application, **kwargs: Any) -> TestServer:
        return await aiohttp_server(simulated_network(app, f"{request.node.nodeid}:{next(started)}"), **kwargs)

    return start


@pytest.fixture
def policies_dir(tmp_path: Path) -> Path:
    """The shipped policies plus one that names every dangerous operation in full."""
    target = tmp_path / "policies"
    shutil.copytree(REPO / "policies", target)
    danger = [op.name for op in catalogue().operations.values() if op.kind is Kind.DANGER]
    (target / "everything.yaml").write_text(yaml.safe_dump({"allow": ["*", *danger]}))
    return target


# The simulators have no rate limit of their own (unless a test gives one): the tests send as fast as they can,
# so the outbound budget (20 calls/s by default, gateway.budget) is off except where it is what is tested.
NO_BUDGET: dict[str, Any] = {"budget": None}


def xm_upstream(url: str) -> dict[str, Any]:
    return {"dialect": "xtream_masters", "url": url, "access_code": ACCESS_CODE, "api_key": UPSTREAM_KEY, "timeout": 5,
            **NO_BUDGET}  # fmt: skip


def xc_upstream(url: str) -> dict[str, Any]:
    return {"dialect": "xtream_codes_v2", "url": url, "api_pass": XC_API_PASS, "timeout": 5, **NO_BUDGET}


def ms_upstream(url: str) -> dict[str, Any]:
    """A MidnightStreamer upstream: the panel's key travels as POST `api_key`."""
    return {"dialect": "midnight", "url": url, "api_key": UPSTREAM_KEY, "timeout": 5, **NO_BUDGET}


def make_config(
    upstream_url: str, policies_dir: Path, tmp_path: Path, *, upstream: dict[str, Any] | None = None,
    **overrides: Any
) -> Config:
    """A gateway config with one upstream `main` (Xtream-Masters at `upstream_url` unless `upstream` is given)
    and the test keys of KEYS, all bound to it."""
    data: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "public_url": "http://gateway.test:8080",
        "policies_dir": str(policies_dir),
        "upstreams": {"main": upstream or xm_upstream(upstream_url)},
        "health": {"interval": 0},  # no background probes: tests count every request a simulator receives
        "keys": [
            {"id": "admin", "digest": digest_of(KEYS["admin"]), "policy": "admin"},
            {"id": "reseller-88", "digest": digest_of(KEYS["reseller"]), "policy": "reseller", "reseller_id": 88},
            {"id": "readonly", "digest": digest_of(KEYS["readonly"]), "policy": "readonly"},
            {"id": "danger", "digest": digest_of(KEYS["danger"]), "policy": "everything"},
        ],
        "audit_log": str(tmp_path / "audit.jsonl"),
    }
    data.update(overrides)
    return parse_config(data, base_dir=tmp_path, env={})


@dataclass
class Stack:
    """A simulated panel and a gateway in front of it, both on real sockets."""

    sim: XtreamMastersSim
    sim_server: TestServer
    client: TestClient[Any, Any]
    config: Config
    audit_path: Path

    async def xm(self, key: str | None = "admin", method: str = "POST", **params: Any) -> Any:
        """Call the gateway's Xtream-Masters face the way a PHP client would; returns the decoded JSON."""
        form = dict(params)
        if key is not None:
            form["api_key"] = KEYS.get(key, key)
        path = f"/{ACCESS_CODE}/admin/index.php"
        if method == "GET":
            resp = await self.client.get(path, params=form)
        else:
            resp = await self.client.post(path, data=form)
        assert resp.status == 200, await resp.text()
        return await resp.json(content_type=None)

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [yaml.safe_load(line) for line in self.audit_path.read_text().splitlines() if line]


@pytest.fixture
async def stack(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> Stack:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    sim_server = await aiohttp_server(sim.app())
    config = make_config(str(sim_server.make_url("")).rstrip("/"), policies_dir, tmp_path)
    client = await aiohttp_client(build_app(config))
    return Stack(sim=sim, sim_server=sim_server, client=client, config=config, audit_path=tmp_path / "audit.jsonl")


@pytest.fixture
async def admin_client(stack: Stack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    """The operator listener (metrics, health) sharing the stack's gateway state."""
    return await aiohttp_client(build_admin_app(stack.client.server.app[LIVE]))
