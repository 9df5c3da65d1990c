"""The processes of one benchmark run: the simulator, gateways, the bare handler and forwarder, nginx (proxy and
origin)."""

from __future__ import annotations

import contextlib
import json
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import nginx
from bench.procs import HOST, Proc, free_port, python, wait_port
from gateway.keys import digest_of, new_key

REPO = Path(__file__).resolve().parent.parent
ACCESS_CODE = "admin"
STREAM_SIZE = 1 << 30  # the relayed stream: 1 GiB
RESELLER_ID = 88
EXTRA_RESELLER_LINES = 10  # the seed gives reseller 88 23 lines; a 25-row page needs more
ROWS = 25


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str],
                                                                                                 bytes]:  # fmt: skip
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


@dataclass
class Gateway:
    name: str
    port: int
    admin_port: int
    config: Path
    proc: Proc | None = None

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


@dataclass
class Stack:
    """Everything one run needs; `close()` stops every process it started, in reverse order."""

    tmp: Path
    upstream_key: str = field(default_factory=new_key)
    admin_key: str = field(default_factory=new_key)
    reseller_key: str = field(default_factory=new_key)
    procs: list[Proc] = field(default_factory=list)
    gateways: dict[str, Gateway] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Stack:
        tmp = Path(tempfile.mkdtemp(prefix="panelgate-bench-"))
        tmp.chmod(0o755)  # nginx workers read their temp paths and the stream file
        return cls(tmp=tmp)

    def close(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        self.procs.clear()

    def _add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    # --- the panel, the reference servers ---------------------------------------------------------------------

    def start_sim(self) -> None:
        port = self.ports["sim"] = free_port()
        argv = python("-m", "bench.simrun", "--port", str(port), "--access-code", ACCESS_CODE,
                      "--api-key", self.upstream_key, "--reseller-lines", str(EXTRA_RESELLER_LINES))  # fmt: skip
        self._add(Proc("simulator", argv, self.tmp / "sim.log", cwd=str(REPO))).ready(port)

    def start_nginx(self) -> None:
        stream_dir = self.tmp / "origin-files"
        stream_dir.mkdir()
        stream_dir.chmod(0o755)
        big = stream_dir / "stream.ts"
        with big.open("wb") as f:
            f.truncate(STREAM_SIZE)  # sparse: read from the page cache, costs the origin almost nothing
        big.chmod(0o644)
        origin = self.ports["origin"] = free_port()
        origin_root = self.tmp / "nginx-origin"
        origin_conf = nginx.origin_config(origin_root, port=origin, file=big)
        self._add(nginx.start("nginx origin", origin_root, origin_conf, origin))
        for name in ("nginx_cache", "nginx_pass", "nginx_stream"):
            self.ports[name] = free_port()
        root = self.tmp / "nginx-proxy"
        root.mkdir()
        conf = nginx.proxy_config(root, sim_port=self.ports["sim"], cache_port=self.ports["nginx_cache"],
                                  pass_port=self.ports["nginx_pass"], stream_port=self.ports["nginx_stream"],
                                  origin_port=origin)  # fmt: skip
        proxy = self._add(nginx.start("nginx proxy", root, conf, self.ports["nginx_cache"]))
        self.nginx_proxy_pid = proxy.pid

    def start_bare(self, body: bytes, content_type: str, *, access_log: bool = False, name: str = "",
                   wrap: list[str] | None = None, timeout: float = 30.0) -> Proc:  # fmt: skip
        """The bare handler answering `body`, on `self.ports[name]` (by default `bare` or `bare_logged`)."""
        name = name or ("bare_logged" if access_log else "bare")
        path = self.tmp / f"{name}-body"
        path.write_bytes(body)
        port = self.ports[name] = free_port()
        argv = python("-m", "bench.bare", "--port", str(port), "--body", str(path), "--content-type", content_type)
        if access_log:
            argv.append("--access-log")
        proc = Proc(f"bare aiohttp {name}", (wrap or []) + argv, self.tmp / f"{name}.log", cwd=str(REPO))
        return self._add(proc).ready(port, timeout)

    def start_bare_forward(self, *, name: str = "bare_forward", wrap: list[str] | None = None,
                           timeout: float = 30.0) -> Proc:  # fmt: skip
        """The bare forwarder (bench.bare_forward) on `self.ports[name]`, sending the panel the form the
        pass-through gateway sends for `list_query`."""
        port = self.ports[name] = free_port()
        form = urlencode({"api_key": self.upstream_key, "action": "get_lines", "limit": str(ROWS)})
        argv = python("-m", "bench.bare_forward", "--port", str(port), "--panel", f"http://{HOST}:{self.ports['sim']}",
                      "--path", f"/{ACCESS_CODE}/admin/index.php", "--form", form)  # fmt: skip
        proc = Proc(f"bare aiohttp forwarder {name}", (wrap or []) + argv, self.tmp / f"{name}.log", cwd=str(REPO))
        return self._add(proc).ready(port, timeout)

    # --- gateways ---------------------------------------------------------------------------------------------

    def gateway_config(self, name: str, *, cache: bool, stream_origin: bool = False, workers: int = 1) -> Gateway:
        port, admin = free_port(), free_port(span=workers)
        upstreams: dict[str, Any] = {
            # the simulated panel has no rate limit: the gateway is measured, not a 20 calls/s budget (gateway.budget)
            "main": {"dialect": "xtream_masters", "url": f"http://{HOST}:{self.ports['sim']}",
                     "access_code": ACCESS_CODE, "api_key": self.upstream_key, "timeout": 10, "budget": None},
        }  # fmt: skip
        doc: dict[str, Any] = {
            "listen": {"host": HOST, "port": port},
            "admin_listen": {"host": HOST, "port": admin},
            "public_url": f"http://{HOST}:{port}",
            "policies_dir": str(REPO / "policies"),
            "upstreams": upstreams,
            "keys": [
                {"id": "bench-admin", "digest": digest_of(self.admin_key), "policy": "admin", "upstream": "main"},
                {"id": "bench-reseller", "digest": digest_of(self.reseller_key), "policy": "reseller",
                 "reseller_id": RESELLER_ID, "upstream": "main"},
            ],
            "audit_log": str(self.tmp / f"audit-{name}.jsonl"),
        }
        if cache:
            doc["cache"] = {"backend": "memory"}
        if stream_origin:
            upstreams["origin"] = {"dialect": "xtream_masters", "url": f"http://{HOST}:{self.ports['origin']}",
                                   "access_code": ACCESS_CODE, "api_key": "unused"}  # fmt: skip
            doc["client_side"] = {"upstream": "origin"}
        path = self.tmp / f"gateway-{name}.yaml"
        path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
        gw = Gateway(name, port, admin, path)
        self.gateways[name] = gw
        return gw

    def start_gateway(self, gw: Gateway, *, workers: int = 1, wrap: list[str] | None = None,
                      timeout: float = 30.0) -> Gateway:  # fmt: skip
        argv = python("-m", "gateway", "serve", "-c", str(gw.config), "--workers", str(workers))
        gw.proc = self._add(Proc(f"gateway {gw.name}", (wrap or []) + argv, self.tmp / f"gateway-{gw.name}.log",
                                 cwd=str(REPO)))  # fmt: skip
        gw.proc.ready(gw.port, timeout)
        for w in range(workers):  # worker w's operator listener is on admin port + w: wait for each worker
            wait_port(gw.admin_port + w, gw.proc.popen, timeout)
        return gw

    def stop(self, proc: Proc | None) -> None:
        if proc is not None:
            proc.stop()
            if proc in self.procs:
                self.procs.remove(proc)

    # --- requests ---------------------------------------------------------------------------------------------

    def sim_url(self, query: dict[str, str]) -> str:
        return f"http://{HOST}:{self.ports['sim']}/{ACCESS_CODE}/admin/index.php?{urlencode(query)}"

    def list_query(self, key: str) -> str:
        return urlencode({"api_key": key, "action": "get_lines", "limit": str(ROWS)})
