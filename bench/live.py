"""Section 7: many viewers on a few live channels, shared (one upstream connection per channel) vs a relay per viewer.

The simulated panel (its own process) sends every live channel in real time at RATE, as a panel does; each viewer
is a socket reading everything the gateway sends (a player that keeps up). Counted: connections the panel has
open (its own count of the streams it is sending), the gateway's CPU time (/proc/PID/stat utime + stime)
over the hold, and its RSS growth from before the viewers came to the median of the second half of the hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import hls, nginx
from bench.loadgen import open_stream
from bench.procs import HOST, children, cpu_seconds, free_port, python, rss_kib

if TYPE_CHECKING:
    from bench.run import Section, Settings
    from bench.targets import Gateway, Stack

RATE = 500_000  # bytes a second of each channel: 4 Mbit/s, an HD channel
CHANNELS = 5
VIEWERS = 200
HOLD = 20.0


@dataclass
class Viewers:
    port: int
    paths: list[str]
    received: int = 0
    opened: int = 0
    failed: int = 0

    async def _one(self, path: str, stop: asyncio.Event) -> None:
        opened = await open_stream(self.port, path, 1 << 18)
        if opened is None:
            self.failed += 1
            return
        reader, writer = opened
        try:
            self.opened += 1
            while not stop.is_set():
                chunk = await reader.read(1 << 18)
                if not chunk:
                    break
                self.received += len(chunk)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            self.failed += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def run(self, hold: float, pid: int, sim_port: int) -> dict[str, Any]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(self._one(p, stop)) for p in self.paths]
        await asyncio.sleep(3.0)  # everyone connected and past the join
        cpu0, t0, got0 = cpu_seconds(pid), time.monotonic(), self.received
        samples: list[int] = []
        upstream: list[int] = []
        while time.monotonic() - t0 < hold:
            await asyncio.sleep(1.0)
            samples.append(rss_kib(pid))
            upstream.append(await asyncio.to_thread(open_streams, sim_port))
        cpu, seconds, got = cpu_seconds(pid) - cpu0, time.monotonic() - t0, self.received - got0
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        return {"cpu": cpu, "seconds": seconds, "bytes": got, "rss": statistics.median(samples[len(samples) // 2 :]),
                "upstream": max(upstream)}  # fmt: skip



def open_streams(port: int) -> int:
    """The streams the panel is sending right now, as it counts them (its connections holding a line's slot)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/_bench/open_streams", timeout=10) as resp:
        return int(json.loads(resp.read())["open"])


def bench_slots(stack: Stack, settings: Settings) -> list[Section]:
    """The MPEG-TS channels (shared vs a relay per viewer), then HLS (panelgate vs nginx, bench.hls)."""
    from bench.procs import Proc
    from bench.run import Section
    from bench.targets import ACCESS_CODE, REPO

    sec = Section("slots", f"7. Shared live channels: {VIEWERS} viewers on {CHANNELS} channels at "
                           f"{RATE * 8 / 1e6:g} Mbit/s")  # fmt: skip
    sim_port = stack.ports["live_sim"] = free_port()
    argv = python("-m", "bench.simrun", "--port", str(sim_port), "--access-code", ACCESS_CODE, "--api-key",
                  stack.upstream_key, "--live-rate", str(RATE), "--viewer-lines", str(VIEWERS), "--hls-seconds",
                  str(hls.SEGMENT_SECONDS))  # fmt: skip
    stack._add(Proc("live simulator", argv, stack.tmp / "live-sim.log", cwd=str(REPO))).ready(sim_port)
    paths = [f"/live/benchv{n}/pw{n}/{1 + n % CHANNELS}.ts" for n in range(VIEWERS)]
    provider = [{"name": "pool", "username": "provider", "password": "provider-secret", "max_connections": CHANNELS}]
    results: dict[str, dict[str, Any]] = {}
    for name, side in (("shared (provider line)", {"provider_lines": provider}),
                       ("relay per viewer", {"shared_live": False})):  # fmt: skip
        gw = _gateway(stack, name, sim_port, side)
        assert gw.proc is not None
        time.sleep(1.0)
        base = rss_kib(gw.proc.pid)
        out = asyncio.run(Viewers(gw.port, paths).run(HOLD, gw.proc.pid, sim_port))
        out["base"] = base
        results[name] = out
        stack.stop(gw.proc)
        time.sleep(1.0)
        print(f"    {name}: {out}", flush=True)
    for name, r in results.items():
        sec.rows.append({"target": name, "upstream_connections": r["upstream"],
                         "cpu_ms_per_s_per_viewer": r["cpu"] / r["seconds"] / VIEWERS * 1000,
                         "rss_growth_kib_per_viewer": (r["rss"] - r["base"]) / VIEWERS,
                         "mb_per_s_to_viewers": r["bytes"] / r["seconds"] / 1e6})  # fmt: skip
    shared, alone = sec.rows
    sec.ratios = [
        ("upstream connections, shared", float(shared["upstream_connections"]), f"== {CHANNELS}"),
        ("upstream connections, relay per viewer", float(alone["upstream_connections"]), ""),
        ("gateway CPU per viewer, shared (ms/s)", shared["cpu_ms_per_s_per_viewer"], ""),
        ("gateway CPU per viewer, relay per viewer (ms/s)", alone["cpu_ms_per_s_per_viewer"], ""),
        ("gateway RSS growth per viewer, shared (KiB)", shared["rss_growth_kib_per_viewer"], "<= 64"),
        ("gateway RSS growth per viewer, relay per viewer (KiB)", alone["rss_growth_kib_per_viewer"], ""),
    ]
    sec.notes = [
        f"The panel (`bench.simrun --live-rate {RATE}`, its own process) sends each channel in real time, "
        f"{RATE * 8 / 1e6:g} Mbit/s in whole TS packets 50 times a second; {VIEWERS} viewers (lines `benchvN`, one "
        f"connection each) watch channels 1-{CHANNELS}, each a socket reading everything it is sent (players that "
        f"keep up). Measured over {HOLD:g} s after a 3 s join: the streams the panel is sending (its own count, "
        "the largest sampled), the gateway's CPU (utime + stime) per second per viewer, its RSS growth per "
        "viewer (median of the hold's second half minus the RSS before the viewers came), and the bytes the "
        "viewers read.",
        "Shared: `client_side.provider_lines` holds one provider line with max_connections 5; every viewer is "
        "checked once with `player_api.php` (its own line) and joins the channel's one connection. Relay per "
        "viewer: `shared_live: false`, each viewer's own connection to the panel, as before this section existed.",
        "nginx `proxy_cache` + `proxy_cache_lock` on HLS channels: 7b below, measured in the same run.",
    ]
    return [sec, hls.compare(lambda name: _hls_target(stack, name, sim_port, provider), _hls_stop(stack), sim_port)]


def _hls_target(stack: Stack, name: str, sim_port: int, provider: list[dict[str, Any]]) -> tuple[int, list[int], Any]:
    if name.startswith("panelgate"):
        gw = _gateway(stack, "hls shared", sim_port, {"provider_lines": provider})
        assert gw.proc is not None
        return gw.port, [gw.proc.pid], gw.proc
    port = free_port()
    root = stack.tmp / "nginx-hls"
    proc = stack._add(nginx.start("nginx hls", root, hls.nginx_config(root, port=port, sim_port=sim_port), port))
    return port, [proc.pid, *children(proc.pid)], proc


def _hls_stop(stack: Stack) -> Callable[[Any], None]:
    return lambda proc: stack.stop(proc)


def _gateway(stack: Stack, name: str, sim_port: int, client_side: dict[str, Any]) -> Gateway:
    gw = stack.gateway_config(f"live-{len(stack.gateways)}", cache=False)
    doc = json.loads(gw.config.read_text())
    doc["upstreams"]["main"]["url"] = f"http://{HOST}:{sim_port}"
    doc["client_side"] = {**client_side, "live_linger": 1}
    doc["access_log"] = "off"
    gw.config.write_text(json.dumps(doc, indent=2))
    return stack.start_gateway(gw)
