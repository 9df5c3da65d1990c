"""Sections 8 and 9: the player side at scale, on a 30k-channel panel (bench.bigpanel, its own simulator process).

8. `get.php` m3u_plus and `player_api` get_live_streams, uncached, through the gateway vs nginx `sub_filter` doing
   the same host replacement on the same answers, vs the panel direct: requests (and MB) a second at a few
   connections.
9. What the cache holds when 1,000 lines over 5 distinct bouquet sets each fetch their lists once: the gateway's
   RSS growth (memory backend) and Redis' `used_memory` growth (a private Redis), against one list's size.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import bigpanel, loadgen, nginx
from bench.procs import HOST, Proc, free_port, python, rss_kib

if TYPE_CHECKING:
    from bench.run import Section, Settings
    from bench.targets import Gateway, Stack

CONNECTIONS = 4
LINE = bigpanel.line_name(3)
GET = "/get.php?username={u}&password={p}&type=m3u_plus"
API = "/player_api.php?username={u}&password={p}&action=get_live_streams"


def _sim(stack: Stack) -> int:
    from bench.targets import ACCESS_CODE, REPO

    if "big_sim" not in stack.ports:
        port = stack.ports["big_sim"] = free_port()
        argv = python("-m", "bench.simrun", "--port", str(port), "--access-code", ACCESS_CODE, "--api-key",
                      stack.upstream_key, "--big-panel")  # fmt: skip
        stack._add(Proc("big simulator", argv, stack.tmp / "big-sim.log", cwd=str(REPO))).ready(port, timeout=120)
    return stack.ports["big_sim"]


def _gateway(stack: Stack, name: str, sim_port: int, cache: dict[str, Any] | None,
             redis: dict[str, Any] | None = None) -> Gateway:  # fmt: skip
    gw = stack.gateway_config(f"player-{name}", cache=False)
    doc = json.loads(gw.config.read_text())
    doc["upstreams"]["main"]["url"] = f"http://{HOST}:{sim_port}"
    if cache is not None:
        doc["cache"] = cache
    if redis is not None:
        doc["redis"] = redis
    gw.config.write_text(json.dumps(doc, indent=2))
    return stack.start_gateway(gw)


def _nginx_sub(root: Path, *, port: int, sim_port: int) -> str:
    """proxy_pass to the panel with the same host replacement the gateway does, in both spellings the panel writes
    (plain in playlists, `\\/` in PHP's JSON). One worker, as the gateway runs one process."""
    ours, theirs = f"{HOST}:{port}", f"{HOST}:{sim_port}"
    servers = f"""
    upstream bigsim {{ server {theirs}; keepalive 16; }}
    server {{
        listen {HOST}:{port} backlog=1024;
        location / {{
            proxy_pass http://bigsim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {theirs};
            proxy_set_header Accept-Encoding "";
            sub_filter_once off;
            sub_filter_types *;
            sub_filter 'http://{theirs}' 'http://{ours}';
            sub_filter 'http:\\/\\/{theirs}' 'http:\\/\\/{ours}';
        }}
    }}"""
    return nginx._main(root, servers, 1)


def _wrk(url: str, settings: Settings) -> Callable[[], loadgen.WrkResult]:
    return lambda: loadgen.wrk(url, seconds=settings.seconds, connections=CONNECTIONS, timeout=30)


def _fetch(url: str) -> tuple[dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return dict(resp.headers), resp.read()


def bench_playlist(stack: Stack, settings: Settings) -> Section:
    from bench.run import Section, interleaved, paired_ratio, wrk_rows

    sec = Section("playlist", f"8. Player lists uncached, {bigpanel.CHANNELS:,} channels: gateway vs nginx "
                              "`sub_filter` vs the panel direct")  # fmt: skip
    sim_port = _sim(stack)
    gw = _gateway(stack, "lists", sim_port, None)
    ngx_port = free_port()
    root = stack.tmp / "nginx-sub"
    stack._add(nginx.start("nginx sub_filter", root, _nginx_sub(root, port=ngx_port, sim_port=sim_port), ngx_port))
    u, p = LINE
    bases = {"gateway": gw.url(""), "nginx sub_filter": f"http://{HOST}:{ngx_port}",
             "panel direct": f"http://{HOST}:{sim_port}"}  # fmt: skip
    ratios: list[tuple[str, float, str]] = []
    for label, path, target in (("get.php m3u_plus", GET, ">= 1.0"), ("player_api get_live_streams", API, ">= 0.5")):
        urls = {name: base + path.format(u=u, p=p) for name, base in bases.items()}
        sizes = {}
        for name, url in urls.items():
            headers, body = _fetch(url)
            sizes[name] = len(body)
            assert "X-Cache" not in headers, headers
            if name != "panel direct":
                assert f":{sim_port}".encode() not in body, f"{name} left the panel's port in {label}"
            loadgen.wrk(url, seconds=1, connections=CONNECTIONS, timeout=30)
        res = interleaved({f"{label}: {name}": _wrk(url, settings) for name, url in urls.items()}, settings.rounds)
        rows = wrk_rows(res)
        for row, name in zip(rows, urls, strict=True):
            row["mb_per_s"] = [r * sizes[name] / 1e6 for r in row["rps"]]
            row["answer_bytes"] = sizes[name]
        sec.rows += rows
        g, n, d = ([r.rps for r in res[f"{label}: {k}"]] for k in bases)
        ratios.append((f"{label}: gateway / nginx sub_filter (req/s)", paired_ratio(g, n), target))
        ratios.append((f"{label}: gateway / panel direct (req/s)", paired_ratio(g, d), ""))
        ratios.append((f"{label}: nginx sub_filter / panel direct (req/s)", paired_ratio(n, d), ""))
        sec.commands += [f"wrk -t1 -c{CONNECTIONS} -d{settings.seconds:g}s --latency "
                         f"'http://127.0.0.1:PORT{path.format(u=u, p=p)}'   # against {name}" for name in urls]
    sec.ratios = ratios
    sec.notes = [
        f"The panel: `bench.simrun --big-panel` ({bigpanel.CHANNELS:,} live channels; line {u} sees all of them), "
        "answers memoised per bouquet set so it costs what a static file costs (bench/bigpanel.py). Its URLs are "
        "`http://127.0.0.1:PANELPORT/...`, in JSON as PHP writes them (`http:\\/\\/...`).",
        "nginx: one worker, `proxy_pass` with `sub_filter_once off; sub_filter_types *;` and one `sub_filter` per "
        "spelling of the panel's origin, `Accept-Encoding` cleared (sub_filter needs plain bodies). It replaces "
        "that one origin; the gateway also sends every M3U URL line to itself whatever its host, hides every "
        "known host name and port, and streams `player_api` lists in pieces cut after a `\"`, checking that they "
        "start with `[` and end with `]` (gateway/clientside/player_api.py).",
        f"{CONNECTIONS} connections, no cache on either side (the gateway has no `cache:` section).",
    ]
    return sec


# --- 9. cache memory ---------------------------------------------------------------------------------------------


def _redis(stack: Stack) -> tuple[int, Proc] | None:
    if shutil.which("redis-server") is None:
        return None
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", str(stack.tmp)]  # fmt: skip
    return port, stack._add(Proc("redis", argv, stack.tmp / "redis.log")).ready(port)


def _used_memory(port: int) -> int:
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "memory"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return int(next(line.split(":")[1] for line in out.splitlines() if line.startswith("used_memory:")))


def _cache_bytes(gw: Gateway) -> int:
    """What the memory backend holds, as the gateway's /readyz reports it (the sum of its values' sizes)."""
    with urllib.request.urlopen(f"http://{HOST}:{gw.admin_port}/readyz", timeout=30) as resp:
        return int(json.loads(resp.read())["cache"]["megabytes"] * 1e6)


def bench_player_cache(stack: Stack, settings: Settings) -> Section:
    from bench.run import Section

    lines = bigpanel.LINES
    sec = Section("player_cache", f"9. Cached player lists: {lines:,} lines over {bigpanel.SETS} bouquet sets "
                                  f"of a {bigpanel.CHANNELS:,}-channel list, what the cache holds")  # fmt: skip
    sim_port = _sim(stack)
    backends: list[tuple[str, dict[str, Any], dict[str, Any] | None, int | None]] = [
        ("memory", {"backend": "memory", "max_megabytes": 4096, "ttl": {"default": 3600}}, None, None)]
    redis = _redis(stack)
    if redis is not None:
        doc = {"url": f"redis://{HOST}:{redis[0]}/0", "timeout": 5}  # a 10 MB value takes longer than 0.25 s
        backends.append(("redis", {"backend": "redis", "ttl": {"default": 3600}}, doc, redis[0]))
    for name, cache, redis_doc, redis_port in backends:
        gw = _gateway(stack, f"cache-{name}", sim_port, cache, redis_doc)
        assert gw.proc is not None
        kinds = [("get.php m3u_plus", GET), ("player_api get_live_streams", API)][: 2 if name == "memory" else 1]
        for kind, path in kinds:
            sizes: list[int] = []
            # the cache's baseline before anything of this kind is in it; the RSS baseline after a warm-up with a
            # line outside the measured ones (code paths, pools), whose list is then one of the five
            used0 = _used_memory(redis_port) if redis_port else _cache_bytes(gw)
            u, p = bigpanel.line_name(lines)
            _fetch(gw.url(path.format(u=u, p=p)))
            time.sleep(0.5)
            base = rss_kib(gw.proc.pid)
            misses = 0
            for n in range(lines):
                u, p = bigpanel.line_name(n)
                headers, body = _fetch(gw.url(path.format(u=u, p=p)))
                sizes.append(len(body))
                misses += headers.get("X-Cache") == "MISS"
            hit = _fetch(gw.url(path.format(u="pl0", p="pw0")))[0].get("X-Cache")
            time.sleep(1.0)
            grown = (rss_kib(gw.proc.pid) - base) * 1024
            one = statistics.median(sizes)
            held = (_used_memory(redis_port) if redis_port else _cache_bytes(gw)) - used0
            row: dict[str, Any] = {"target": f"{name}: {kind}", "lines": lines, "misses": misses,
                                   "list_mb": one / 1e6, "pl0_second_fetch_hit": float(hit == "HIT"),
                                   "gateway_rss_growth_mb": grown / 1e6,
                                   "cache_growth_mb": held / 1e6,
                                   "held_lists": held / one}  # fmt: skip
            if redis_port:
                subprocess.run(["redis-cli", "-p", str(redis_port), "flushall"], capture_output=True, check=True)
            sec.rows.append(row)
            print(f"    {row}", flush=True)
            sec.ratios.append((f"{name}, {kind}: held / one list", held / one, "<= 6"))
        stack.stop(gw.proc)
    sec.commands = [
        f"for n in $(seq 0 {lines - 1}); do curl -s -o /dev/null "
        "'http://127.0.0.1:PORT/get.php?username=pl$n&password=pw$n&type=m3u_plus'; done   # the same with "
        "/player_api.php?...&action=get_live_streams",
        "curl -s http://127.0.0.1:ADMINPORT/readyz | jq .cache.megabytes   # memory backend, before and after",
        "redis-cli -p REDISPORT info memory | grep ^used_memory:   # redis backend, before and after",
    ]
    sec.notes = [
        f"Lines `pl0`..`pl{lines - 1}` (bouquet set n % {bigpanel.SETS}) each fetch the list once with the cache on "
        "(`ttl: 3600`; memory: `max_megabytes: 4096`, so nothing is evicted and what is held is what the design "
        "keeps; redis: a private `redis-server`, nothing else in it). Held (`cache_growth_mb`): the sum of the "
        "memory backend's value sizes (its /readyz `cache.megabytes`) or Redis' `INFO memory` used_memory growth "
        "(flushed between kinds); the gateway's RSS growth is shown beside it (with the allocator's slack: glibc "
        "keeps freed blocks of this size around); one list: the size of "
        "the answer a line gets. `pl0_second_fetch_hit`: 1 when line pl0's second fetch, after all the others, is "
        "a HIT (its list still held).",
        "Before content addressing: an entry per line, and lists above MAX_CACHED_BODY (8 MiB) were not stored.",
    ]
    return sec
