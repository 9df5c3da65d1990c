"""The three panels and a gateway served from a background thread's event loop, on real sockets.

For synchronous tests: hypothesis examples (one blocking HTTP request each) and raw-byte socket attacks, which
must reach aiohttp's own HTTP parser exactly as written.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import socket
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.faults import FaultInjector
from gateway.sim.midnight import MidnightStreamerSim
from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import (
    ACCESS_CODE,
    REPO,
    UPSTREAM_KEY,
    XC_API_PASS,
    ms_upstream,
    simulated_network,
    xc_upstream,
    xm_upstream,
)
from tests.reliability.conftest import KEYS, UPSTREAM_OF

T = TypeVar("T")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ThreadedStack:
    def __init__(self, directory: Path, **overrides: Any) -> None:
        self.dir = directory
        self.overrides = overrides
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.faults = {name: FaultInjector() for name in ("xm", "xc", "ms")}
        self.ports: dict[str, int] = {}
        self.audit_path = directory / "audit.jsonl"

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _serve(self, app: web.Application) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.runners.append(runner)
        port: int = runner.addresses[0][1]
        return port

    async def _start(self) -> None:
        from gateway.config import parse_config

        sims: dict[str, Any] = {
            "xm": XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY),
            "xc": XtreamCodesV2Sim(api_pass=XC_API_PASS, allowed_ips=("127.0.0.1", "::1")),
            "ms": MidnightStreamerSim(api_key=UPSTREAM_KEY),
        }
        self.sims = sims
        for name, sim in sims.items():
            app = simulated_network(self.faults[name].wrap(sim.app()), f"threaded:{name}:{self.dir.name}")
            self.ports[name] = await self._serve(app)
        url = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        policies = self.dir / "policies"
        if not policies.exists():
            shutil.copytree(REPO / "policies", policies)
        data: dict[str, Any] = {
            "listen": {"host": "127.0.0.1", "port": 0},
            "policies_dir": str(policies),
            "upstreams": {"xm": {**xm_upstream(url["xm"]), "timeout": 5},
                          "xc": {**xc_upstream(url["xc"]), "timeout": 5},
                          "ms": {**ms_upstream(url["ms"]), "timeout": 5}},
            "health": {"interval": 0},
            "auth_throttle": None,  # fuzzing presents thousands of wrong keys from one address
            "keys": [{"id": f"{n}-admin", "digest": digest_of(k), "policy": "admin", "upstream": UPSTREAM_OF[n]}
                     for n, k in KEYS.items()],
            "audit_log": str(self.audit_path),
            **self.overrides,
        }  # fmt: skip
        self.config = parse_config(data, base_dir=self.dir, env={})
        self.ports["gateway"] = await self._serve(build_app(self.config))

    def start(self) -> ThreadedStack:
        self.thread.start()
        self.run(self._start())
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            for injector in self.faults.values():
                injector.release()
            for runner in reversed(self.runners):
                await runner.cleanup()

        self.run(cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    # --- requests -------------------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             request_id: str | None = None) -> Answer:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["gateway"], timeout=20)
        try:
            sent = {"X-Request-Id": request_id or uuid.uuid4().hex, **(headers or {})}
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return Answer(resp.status, {k: v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def raw(self, data: bytes, *, wait: float = 2.0) -> bytes:
        """Send exactly `data` on a fresh connection; everything the gateway answers until it closes (or `wait`)."""
        with socket.create_connection(("127.0.0.1", self.ports["gateway"]), timeout=wait) as sock:
            sock.sendall(data)
            chunks: list[bytes] = []
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except TimeoutError:
                pass
            except ConnectionResetError:
                pass
            return b"".join(chunks)

    def audit(self) -> dict[str, dict[str, Any]]:
        """Audit entries by request id."""
        if not self.audit_path.exists():
            return {}
        entries = [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]
        return {e["request_id"]: e for e in entries}

    def reached_panel(self, request_id: str) -> bool:
        return any(request_id in injector.request_ids for injector in self.faults.values())
