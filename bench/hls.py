"""Section 7, HLS: many players on a few live HLS channels, panelgate's shared HLS vs nginx proxy_cache + lock.

The simulated panel (its own process) serves live HLS as XC_VM does with `allow_cdn_access` on: `/live/u/p/N.m3u8`
answers a 302 to `/auth/{token}` (a connection on the panel), whose playlist names segments
`/hls/{N}_{n}.ts?token=...` (the token sealing the viewer's line). That is the most an nginx cache can share:
keyed by `$uri` (the query's token ignored), one fetch per segment with `proxy_cache_lock`; the playlists stay
per viewer (each `/auth/` URL is its own). panelgate opens each channel once on a provider line and hands each
viewer its own `/_h/` URLs. Each player reloads its playlist every half target duration (where it was
redirected to, as ffmpeg does) and fetches every segment it has not had, reading it whole.

Measured per target over HOLD seconds after a WARMUP: segment and playlist fetches the panel served (its own
count), connections it opened, the target's CPU time (for nginx its master and worker) per viewer, its RSS growth
per viewer (median of the hold's second half minus before the players came), and the bytes the players read.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from bench import nginx
from bench.procs import HOST, cpu_seconds, rss_kib

if TYPE_CHECKING:
    from bench.run import Section

SEGMENT_SECONDS = 2.0
CHANNELS = 5
VIEWERS = 200
HOLD = 20.0
WARMUP = 4.0


@dataclass
class Players:
    port: int
    paths: list[str]
    received: int = 0
    failed: int = 0

    async def _one(self, path: str, stop: asyncio.Event) -> None:
        url = f"http://{HOST}:{self.port}{path}"
        had: set[str] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while not stop.is_set():
                try:
                    async with session.get(url) as resp:
                        text, url = await resp.text(), str(resp.url)  # reloads go where it was redirected
                    if resp.status != 200:
                        raise aiohttp.ClientError(resp.status)
                    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
                    for uri in uris if had else uris[-3:]:  # a player starts three segments from the live edge
                        name = urlsplit(uri).path.rsplit("/", 1)[-1]
                        if name not in had:
                            had.add(name)
                            async with session.get(urljoin(url, uri)) as seg:
                                async for chunk in seg.content.iter_chunked(1 << 16):
                                    self.received += len(chunk)
                except (aiohttp.ClientError, TimeoutError):
                    self.failed += 1
                await asyncio.sleep(SEGMENT_SECONDS / 2)

    async def run(self, pids: list[int], sim_port: int) -> dict[str, Any]:
        stop = asyncio.Event()
        before = await asyncio.to_thread(hls_counts, sim_port)
        tasks = [asyncio.create_task(self._one(p, stop)) for p in self.paths]
        await asyncio.sleep(WARMUP)
        fetched0 = await asyncio.to_thread(hls_counts, sim_port)
        cpu0, t0, got0 = sum(map(cpu_seconds, pids)), time.monotonic(), self.received
        samples: list[int] = []
        while time.monotonic() - t0 < HOLD:
            await asyncio.sleep(1.0)
            samples.append(sum(rss_kib(pid) for pid in pids))
        cpu, seconds, got = sum(map(cpu_seconds, pids)) - cpu0, time.monotonic() - t0, self.received - got0
        fetched = await asyncio.to_thread(hls_counts, sim_port)
        connections = fetched["connections"] - before.get("connections", 0)  # opened since the players came
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        return {"cpu": cpu, "seconds": seconds, "bytes": got, "rss": statistics.median(samples[len(samples) // 2 :]),
                "fetched": {**{k: fetched[k] - fetched0.get(k, 0) for k in fetched}, "connections": connections},
                "failed": self.failed}  # fmt: skip



def hls_counts(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/_bench/hls", timeout=10) as resp:
        return {k: int(v) for k, v in json.loads(resp.read()).items()}


def nginx_config(root: Path, *, port: int, sim_port: int) -> str:
    """One worker (the gateway runs one process). Segments keyed by path (the token in the query ignored: what a
    CDN in front of XC_VM's `allow_cdn_access` does), one fetch per segment under `proxy_cache_lock`; playlists
    by their whole URL, a second fresh (each viewer's `/auth/` URL is its own)."""
    servers = f"""
    proxy_cache_path {root}/hls levels=1:2 keys_zone=hls:10m max_size=512m inactive=1m use_temp_path=off;
    upstream panel {{ server {HOST}:{sim_port}; keepalive 64; }}
    server {{
        listen {HOST}:{port} backlog=1024;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_cache hls;
        proxy_cache_lock on;
        proxy_cache_lock_timeout 10s;
        proxy_cache_lock_age 10s;
        location /hls/ {{
            proxy_pass http://panel;
            proxy_cache_key $uri;
            proxy_cache_valid 200 60s;
        }}
        location / {{
            proxy_pass http://panel;
            proxy_cache_key $request_uri;
            proxy_cache_valid 200 1s;
        }}
    }}"""
    return nginx._main(root, servers, 1)


def compare(start: Callable[[str], tuple[int, list[int], Any]], stop: Callable[[Any], None],
            sim_port: int) -> Section:  # fmt: skip
    """Both targets in one run, panelgate first: `start(name)` -> (port, its pids, a handle for `stop`)."""
    from bench.run import Section

    sec = Section("slots_hls", f"7b. Shared live HLS: {VIEWERS} players on {CHANNELS} channels, panelgate vs nginx "
                               "proxy_cache + proxy_cache_lock")  # fmt: skip
    paths = [f"/live/benchv{n}/pw{n}/{1 + n % CHANNELS}.m3u8" for n in range(VIEWERS)]
    results: dict[str, dict[str, Any]] = {}
    for name in ("panelgate shared HLS", "nginx proxy_cache + lock"):
        port, pids, handle = start(name)
        time.sleep(1.0)
        base = sum(rss_kib(pid) for pid in pids)
        out = asyncio.run(Players(port, paths).run(pids, sim_port))
        out["base"] = base
        results[name] = out
        stop(handle)
        time.sleep(1.0)
        print(f"    {name}: {out}", flush=True)
    for name, r in results.items():
        f = r["fetched"]
        sec.rows.append({"target": name, "segment_fetches": f["segments"], "segments": f["distinct"],
                         "playlist_fetches": f["playlists"], "panel_connections": f["connections"],
                         "cpu_ms_per_s_per_viewer": r["cpu"] / r["seconds"] / VIEWERS * 1000,
                         "rss_growth_kib_per_viewer": (r["rss"] - r["base"]) / VIEWERS,
                         "mb_per_s_to_viewers": r["bytes"] / r["seconds"] / 1e6})  # fmt: skip
    ours, theirs = sec.rows
    sec.ratios = [
        ("segment fetches per segment, panelgate", ours["segment_fetches"] / max(1, ours["segments"]), "== 1"),
        ("segment fetches per segment, nginx", theirs["segment_fetches"] / max(1, theirs["segments"]), ""),
        ("playlist fetches, nginx / panelgate", theirs["playlist_fetches"] / max(1, ours["playlist_fetches"]), ""),
        ("CPU per viewer, panelgate / nginx", ours["cpu_ms_per_s_per_viewer"] / theirs["cpu_ms_per_s_per_viewer"],
         ""),
        ("RSS growth per viewer, panelgate (KiB)", ours["rss_growth_kib_per_viewer"], ""),
        ("RSS growth per viewer, nginx (KiB)", theirs["rss_growth_kib_per_viewer"], ""),
    ]
    sec.notes = [
        f"The panel (`bench.simrun --hls-seconds {SEGMENT_SECONDS:g}`, its own process) serves live HLS as XC_VM "
        f"does with `allow_cdn_access`: {SEGMENT_SECONDS:g} s segments of 1 MB (4 Mbit/s), a window of 5, "
        "`/live/u/p/N.m3u8` a 302 to `/auth/{token}` (one panel connection each), segment URLs "
        "`/hls/N_n.ts?token=` sealing the viewer's line. "
        f"{VIEWERS} players (lines `benchvN`) on channels 1-{CHANNELS}, each reloading its playlist every "
        f"{SEGMENT_SECONDS / 2:g} s where it was redirected to and reading each new segment whole (three from "
        f"the live edge at the start). Measured over {HOLD:g} s after {WARMUP:g} s: what the panel served (its "
        "counts), the target's CPU (utime + stime; nginx: master and its one worker) per second per viewer, its "
        "RSS growth per viewer, the bytes the players read. Both targets in the same run, one after the other.",
        "panelgate: `client_side.provider_lines` with one line of 5 connections; each channel opened once, "
        "its playlist fetched at most every half target duration, each segment once; every player checked once "
        "with `player_api.php` and given its own sealed `/_h/` URLs. nginx: `proxy_cache` with "
        "`proxy_cache_lock on`, segments keyed by `$uri` (the token ignored: any client with a path gets the "
        "bytes, no line is checked), playlists by their URL with `proxy_cache_valid 200 1s`; each player's "
        "`/live/` request reaches the panel (a 302 is not cached) and opens a panel connection of its own.",
        "RSS: panelgate keeps each channel's segments in its own memory while they may still be asked for (the "
        "window and a segment more: about 7 MB a channel here, 35 MB for the five, bounded by "
        "`hls_cache_mib`), so its growth is per channel, not per viewer; nginx keeps its cache in files (the "
        "kernel's page cache, outside its RSS).",
    ]
    return sec
