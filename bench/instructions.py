"""Section 10: instructions per request under callgrind, a measure this shared machine's noise does not move.

Throughput on this machine moves by a third between rounds, so a change of a few percent can only be shown by
counting: each server runs under `valgrind --tool=callgrind`, is warmed up with WARM requests on one keep-alive
connection, its counters are zeroed (`callgrind_control -z`), then COUNT more requests are sent and the counters
dumped (`-d`); the figure is the dump's total divided by COUNT. It counts the server process's user-space
instructions only (not the kernel's, not the panel simulator's), and repeats to within a fraction of a percent.
"""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.parse
from pathlib import Path

from bench.procs import HOST, Proc
from bench.targets import Gateway, Stack, fetch

WARM = 300
COUNTS = {"hit": 1000, "pass": 300}
START_TIMEOUT = 400.0  # an interpreter under valgrind takes a minute or two to import the gateway


def _wrap(tmp: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.%p"]


def per_request(proc: Proc, url: str, count: int, tmp: Path) -> float:
    """Instructions `proc` (under callgrind) runs per GET of `url`, after WARM requests to warm up."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=600)
    target = f"{parts.path}?{parts.query}"

    def get(n: int) -> None:
        for _ in range(n):
            conn.request("GET", target)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

    get(WARM)
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
    get(count)
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    conn.close()
    for _ in range(100):  # the dump is written by the server's own thread, shortly after the request
        dumps = sorted(tmp.glob(f"callgrind.{proc.pid}.*"), key=lambda p: p.stat().st_mtime)
        total = _total(dumps[-1]) if dumps else None
        if total is not None:
            return total / count
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind dump from pid {proc.pid}")


def _total(dump: Path) -> int | None:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None


def bench_instructions(stack: Stack) -> dict[str, float]:
    """Instructions per request: a cached hit, the bare handler answering its bytes, an uncached pass-through and
    the bare forwarder making the same panel call."""
    tmp = stack.tmp / "callgrind"
    tmp.mkdir()
    hit_gw = stack.start_gateway(stack.gateway_config("cg-cached", cache=True), wrap=_wrap(tmp),
                                 timeout=START_TIMEOUT)  # fmt: skip
    pass_gw = stack.start_gateway(stack.gateway_config("cg-pass", cache=False), wrap=_wrap(tmp),
                                  timeout=START_TIMEOUT)  # fmt: skip
    hit_url = hit_gw.url(f"/admin/admin/index.php?{stack.list_query(stack.reseller_key)}")
    fetch(hit_url)
    _, headers, body = fetch(hit_url)
    assert headers.get("X-Cache") == "HIT", headers
    bare = stack.start_bare(body, headers.get("Content-Type", "application/json").split(";")[0], name="cg-bare",
                            wrap=_wrap(tmp), timeout=START_TIMEOUT)  # fmt: skip
    bare_url = f"http://{HOST}:{stack.ports['cg-bare']}/admin/admin/index.php?{stack.list_query('x')}"
    pass_url = pass_gw.url(f"/admin/admin/index.php?{stack.list_query(stack.admin_key)}")
    forwarder = stack.start_bare_forward(name="cg-forward", wrap=_wrap(tmp), timeout=START_TIMEOUT)
    forward_url = f"http://{HOST}:{stack.ports['cg-forward']}/admin/admin/index.php?{stack.list_query('x')}"
    try:
        return {
            "gateway cache hit": per_request(_proc(hit_gw), hit_url, COUNTS["hit"], tmp),
            "bare aiohttp handler": per_request(bare, bare_url, COUNTS["hit"], tmp),
            "gateway pass-through": per_request(_proc(pass_gw), pass_url, COUNTS["pass"], tmp),
            "bare aiohttp forwarder": per_request(forwarder, forward_url, COUNTS["pass"], tmp),
        }
    finally:
        for proc in (hit_gw.proc, pass_gw.proc, bare, forwarder):
            stack.stop(proc)


def _proc(gw: Gateway) -> Proc:
    assert gw.proc is not None
    return gw.proc
