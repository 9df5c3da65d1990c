"""`python -m bench`: run the measurements, print them, and write docs/benchmarks.md.

    python -m bench                      # everything (about 14 minutes), writes docs/benchmarks.md
    python -m bench --only cached,pass   # some sections; the doc is written only for a full run unless --out
    python -m bench --rounds 5 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import resource
import shutil
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import instructions, live, loadgen, player, profile, report
from bench.loadgen import WrkResult
from bench.procs import HOST, children, cpu_seconds, rss_kib
from bench.targets import REPO, ROWS, STREAM_SIZE, Stack, fetch

T = TypeVar("T")
SECTIONS = ("cached", "pass", "write", "stream", "slow", "workers", "slots", "playlist", "player_cache", "instructions",
            "profile")


@dataclass
class Settings:
    rounds: int = 3
    seconds: float = 5.0
    connections: int = 32
    paced_share: float = 0.3  # the paced pass-through run offers this share of the panel's saturated rate
    slow_streams: int = 500
    slow_hold: float = 10.0
    profile_seconds: float = 8.0


@dataclass
class Section:
    key: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per target: name, per-round values, median
    ratios: list[tuple[str, float, str]] = field(default_factory=list)  # (what, median of per-round ratios, target)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


def interleaved(targets: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Each target once per round; the order alternates between rounds so drift hits every target alike."""
    names = list(targets)
    out: dict[str, list[T]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            out[name].append(targets[name]())
            print(f"    round {r + 1} {name}: {out[name][-1]}", flush=True)
    return out


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median of the per-round ratios a/b (a round's targets ran back to back)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True) if y)


def wrk_rows(results: dict[str, list[WrkResult]]) -> list[dict[str, Any]]:
    rows = []
    for name, runs in results.items():
        rows.append({
            "target": name,
            "rps": [r.rps for r in runs],
            "p50": [r.p50_ms for r in runs],
            "p99": [r.p99_ms for r in runs],
            "errors": sum(r.errors for r in runs),
        })  # fmt: skip
    return rows


def _wrk(settings: Settings, url: str, *, connections: int | None = None, seconds: float | None = None,
         script: Path | None = None) -> Callable[[], WrkResult]:  # fmt: skip
    c = connections or settings.connections
    s = seconds or settings.seconds
    return lambda: loadgen.wrk(url, seconds=s, connections=c, script=script)


def _cmd(url: str, settings: Settings, connections: int | None = None, script: str = "") -> str:
    c = connections or settings.connections
    redacted = _redact(url)
    return f"wrk -t1 -c{c} -d{settings.seconds:g}s --latency {script + ' ' if script else ''}'{redacted}'"


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    shown = [(k, "KEY" if k == "api_key" else v) for k, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(shown), netloc="127.0.0.1:PORT"))


# --- 1. cached read --------------------------------------------------------------------------------------------


def bench_cached(stack: Stack, settings: Settings) -> Section:
    sec = Section("cached", f"1. Cached read: `get_lines`, {ROWS} rows, reseller key, `cache: {{backend: memory}}`")
    gw = stack.gateways["cached"]
    url = gw.url(f"/admin/admin/index.php?{stack.list_query(stack.reseller_key)}")
    fetch(url)
    status, headers, body = fetch(url)
    doc = json.loads(body)
    assert status == 200 and headers.get("X-Cache") == "HIT", (status, headers)
    assert len(doc["data"]) == ROWS, f"expected {ROWS} rows, got {len(doc['data'])}"
    stack.start_bare(body, headers.get("Content-Type", "application/json").split(";")[0])
    stack.start_bare(body, headers.get("Content-Type", "application/json").split(";")[0], access_log=True)
    bare = f"http://{HOST}:{stack.ports['bare']}/admin/admin/index.php?{stack.list_query('x')}"
    logged = f"http://{HOST}:{stack.ports['bare_logged']}/admin/admin/index.php?{stack.list_query('x')}"
    ngx = f"http://{HOST}:{stack.ports['nginx_cache']}/admin/admin/index.php?{stack.list_query(stack.upstream_key)}"
    fetch(ngx)
    _, nheaders, nbody = fetch(ngx)
    assert nheaders.get("X-Cache") == "HIT", nheaders
    assert len(json.loads(nbody)["data"]) == ROWS
    for u in (url, bare, logged, ngx):  # warm-up: connections, caches, the interpreter's own warm-up
        loadgen.wrk(u, seconds=1, connections=settings.connections)
    res = interleaved({"gateway": _wrk(settings, url), "bare aiohttp": _wrk(settings, bare),
                       "bare aiohttp + access log": _wrk(settings, logged),
                       "nginx proxy_cache": _wrk(settings, ngx)}, settings.rounds)  # fmt: skip
    sec.rows = wrk_rows(res)
    g, b, bl, n = ([r.rps for r in res[k]] for k in ("gateway", "bare aiohttp", "bare aiohttp + access log",
                                                      "nginx proxy_cache"))  # fmt: skip
    sec.ratios = [("gateway / bare aiohttp handler (req/s)", paired_ratio(g, b), ">= 0.6"),
                  ("gateway / bare aiohttp handler with the gateway's access log (req/s)", paired_ratio(g, bl), ""),
                  ("bare with access log / bare (req/s)", paired_ratio(bl, b), ""),
                  ("gateway / nginx proxy_cache (req/s)", paired_ratio(g, n), "")]  # fmt: skip
    sec.notes = [
        f"Answer: {len(body)} bytes from the gateway and the bare handler (the same bytes), {len(nbody)} bytes "
        "from nginx (the simulator's own answer to the same page with the panel key).",
        "The gateway's first request for this URL runs the whole pipeline (decode, client IP, auth throttle, key "
        "digest, IP allow-list, rate limit, parse, scope, routing, tenancy, guards, cache lookup); what its pure "
        "steps decided is remembered per raw request (gateway/hitmemo.py), so each hit runs only the stateful "
        "ones: the generation check, auth throttle, key dates, rate limit, guards, quotas, metrics, and the "
        "access log (text, written in batches: gateway/logbuffer.py). What a hit derives from the shared entry "
        "is remembered per entry (gateway/cache/derived.py): reseller 88's page and its rendered bytes.",
        "The bare handler has no access log; `bare aiohttp + access log` is the same handler logging each request "
        "with the gateway's own AccessLogger and logging set-up (text to stderr, a file here, in batches): what that "
        "one log line costs, since the gateway logs every request by default (`access_log: off` turns it off).",
        "nginx: one worker, `proxy_cache` on disk in the temp dir (page cache), access log on.",
    ]
    sec.commands = [_cmd(url, settings), _cmd(bare, settings), _cmd(logged, settings), _cmd(ngx, settings)]
    return sec


# --- 2. uncached pass-through ----------------------------------------------------------------------------------


def bench_pass(stack: Stack, settings: Settings) -> Section:
    sec = Section("pass", f"2. Uncached pass-through: `get_lines`, {ROWS} rows, admin key, no cache section")
    gw = stack.gateways["pass"]
    url = gw.url(f"/admin/admin/index.php?{stack.list_query(stack.admin_key)}")
    direct = stack.sim_url({"api_key": stack.upstream_key, "action": "get_lines", "limit": str(ROWS)})
    ngx = f"http://{HOST}:{stack.ports['nginx_pass']}/admin/admin/index.php?{stack.list_query(stack.upstream_key)}"
    forwarder = stack.start_bare_forward()
    fwd = f"http://{HOST}:{stack.ports['bare_forward']}/admin/admin/index.php?{stack.list_query('x')}"
    for u in (url, direct, ngx, fwd):
        status, headers, body = fetch(u)
        assert status == 200 and len(json.loads(body)["data"]) == ROWS, (u, body[:200])
        assert "X-Cache" not in headers
        loadgen.wrk(u, seconds=1, connections=settings.connections)
    res = interleaved({"gateway": _wrk(settings, url), "simulator direct": _wrk(settings, direct),
                       "nginx proxy_pass": _wrk(settings, ngx)}, settings.rounds)  # fmt: skip
    sec.rows = wrk_rows(res)
    g, d, n = (res[k] for k in ("gateway", "simulator direct", "nginx proxy_pass"))
    sec.ratios = [
        ("gateway / simulator direct (req/s)", paired_ratio([r.rps for r in g], [r.rps for r in d]), ""),
        ("gateway / nginx proxy_pass (req/s)", paired_ratio([r.rps for r in g], [r.rps for r in n]), ""),
    ]
    added = {
        "gateway added p50 at 32 conns (ms)": statistics.median(a.p50_ms - b.p50_ms for a, b in zip(g, d, strict=True)),
        "gateway added p99 at 32 conns (ms)": statistics.median(a.p99_ms - b.p99_ms for a, b in zip(g, d, strict=True)),
        "nginx added p50 at 32 conns (ms)": statistics.median(a.p50_ms - b.p50_ms for a, b in zip(n, d, strict=True)),
        "nginx added p99 at 32 conns (ms)": statistics.median(a.p99_ms - b.p99_ms for a, b in zip(n, d, strict=True)),
    }
    # One connection: no queueing, so the difference is the time the proxy itself adds to one request.
    serial = {"gateway c1": url, "simulator direct c1": direct, "nginx proxy_pass c1": ngx,
              "bare aiohttp forwarder c1": fwd}
    one = interleaved({k: _wrk(settings, u, connections=1, seconds=3) for k, u in serial.items()}, settings.rounds)
    sec.rows += wrk_rows(one)
    g1, d1, n1, f1 = (one[k] for k in ("gateway c1", "simulator direct c1", "nginx proxy_pass c1",
                                       "bare aiohttp forwarder c1"))
    added["gateway added p50 at 1 conn (ms)"] = statistics.median(a.p50_ms - b.p50_ms for a, b in zip(g1, d1,
                                                                                                     strict=True))
    added["gateway added p99 at 1 conn (ms)"] = statistics.median(a.p99_ms - b.p99_ms for a, b in zip(g1, d1,
                                                                                                     strict=True))
    added["nginx added p50 at 1 conn (ms)"] = statistics.median(a.p50_ms - b.p50_ms for a, b in zip(n1, d1,
                                                                                                   strict=True))
    added["bare forwarder added p50 at 1 conn (ms)"] = statistics.median(a.p50_ms - b.p50_ms
                                                                         for a, b in zip(f1, d1, strict=True))
    # Paced: 32 connections offering a fixed share of what the panel alone sustains, the same for both targets.
    rate = max(10.0, round(settings.paced_share * statistics.median(r.rps for r in d), -1))
    script = loadgen.paced_script(stack.tmp / "paced.lua", rate=rate, connections=settings.connections)
    paced = interleaved({"gateway paced": _wrk(settings, url, script=script),
                         "simulator direct paced": _wrk(settings, direct, script=script),
                         "nginx proxy_pass paced": _wrk(settings, ngx, script=script),
                         "bare aiohttp forwarder paced": _wrk(settings, fwd, script=script)},
                        settings.rounds)  # fmt: skip
    stack.stop(forwarder)
    sec.rows += wrk_rows(paced)
    gp, dp, np_, fp = (paced[k] for k in ("gateway paced", "simulator direct paced", "nginx proxy_pass paced",
                                          "bare aiohttp forwarder paced"))
    paced_label = f"at 32 conns paced to {rate:,.0f} req/s"
    added[f"gateway added p50 {paced_label} (ms)"] = statistics.median(a.p50_ms - b.p50_ms for a, b in zip(gp, dp,
                                                                                                        strict=True))
    added[f"gateway added p99 {paced_label} (ms)"] = statistics.median(a.p99_ms - b.p99_ms for a, b in zip(gp, dp,
                                                                                                        strict=True))
    added[f"nginx added p50 {paced_label} (ms)"] = statistics.median(a.p50_ms - b.p50_ms for a, b in zip(np_, dp,
                                                                                                      strict=True))
    added[f"bare forwarder added p50 {paced_label} (ms)"] = statistics.median(a.p50_ms - b.p50_ms
                                                                              for a, b in zip(fp, dp, strict=True))
    # #21's target is the paced row's: unpaced, the added p50 is a measure of throughput (the note below)
    sec.ratios += [(k, v, "<= 1 ms" if k == f"gateway added p50 {paced_label} (ms)" else "") for k, v in added.items()]
    sec.notes = [
        "At 32 connections unpaced every server here is saturated (closed loop), so latency is mostly queueing: "
        "added p50 is about 32 / (gateway req/s) - 32 / (direct req/s), a measure of throughput. The paced rows "
        f"keep 32 connections open but have each wait a random 0-{2 * settings.connections * 1000 / rate:.0f} ms "
        f"(mean {settings.connections * 1000 / rate:.0f} ms) before each request (a wrk Lua `delay()`), offering "
        f"about {rate:,.0f} req/s ({settings.paced_share:.0%} of the panel's own saturated rate) to every target "
        "alike: the latency a proxy adds under a steady load below saturation. The one-connection rows show the "
        "time the gateway adds to one request with nothing else running.",
        "On 2 cores the gateway, the simulator and wrk compete for CPU in the pass-through rows; direct, only the "
        "simulator and wrk do.",
        "`bare aiohttp forwarder` (bench/bare_forward.py) is the floor of a pass-through in Python on aiohttp: a "
        "handler that sends the panel the gateway's own POST over the gateway's connection pool (gateway.panel_http) "
        "and answers its bytes, with no pipeline and no access log. What the gateway adds beyond it is its "
        "pipeline: decoding, keys, policy, routing, the verbatim check, the access log.",
    ]
    sec.commands = [_cmd(url, settings), _cmd(direct, settings), _cmd(ngx, settings), _cmd(fwd, settings, 1),
                    _cmd(url, settings, 1),
                    _cmd(url, settings, script="-s paced.lua") + f"   # paced.lua: {script.read_text()!r}"]
    return sec


# --- 3. translated write ---------------------------------------------------------------------------------------


def bench_write(stack: Stack, settings: Settings) -> Section:
    sec = Section("write", "3. Translated write: XC v2 `user/create` -> Xtream-Masters `create_line`, vs direct")
    gw = stack.gateways["pass"]
    username = "bench_r88_0"  # exists: every create on both sides answers EXISTS (see the note)
    gw_url = gw.url("/api.php?action=user&sub=create")
    gw_body = urllib.parse.urlencode({"user_data[username]": username, "user_data[password]": "pw-bench",
                                      "user_data[max_connections]": "1", "api_key": stack.admin_key})  # fmt: skip
    direct_url = f"http://{HOST}:{stack.ports['sim']}/admin/admin/index.php"
    direct_body = urllib.parse.urlencode({"api_key": stack.upstream_key, "action": "create_line", "username": username,
                                          "password": "pw-bench", "max_connections": "1"})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    _, _, answer = fetch(gw_url, gw_body.encode(), form)
    assert json.loads(answer) == {"result": False, "error": "EXISTS"}, answer
    _, _, danswer = fetch(direct_url, direct_body.encode(), form)
    assert json.loads(danswer)["status"] == "STATUS_EXISTS_USERNAME", danswer
    gw_lua = loadgen.post_script(stack.tmp / "write-gateway.lua", gw_body)
    direct_lua = loadgen.post_script(stack.tmp / "write-direct.lua", direct_body)
    loadgen.wrk(gw_url, seconds=1, script=gw_lua)
    loadgen.wrk(direct_url, seconds=1, script=direct_lua)
    pair = {"gateway (XC v2 face)": _wrk(settings, gw_url, script=gw_lua),
            "simulator direct (XM)": _wrk(settings, direct_url, script=direct_lua)}
    res = interleaved(pair, settings.rounds)
    sec.rows = wrk_rows(res)
    g, d = res["gateway (XC v2 face)"], res["simulator direct (XM)"]
    sec.ratios = [
        ("gateway / direct (req/s)", paired_ratio([r.rps for r in g], [r.rps for r in d]), ""),
        ("gateway added p50 at 32 conns (ms)", statistics.median(a.p50_ms - b.p50_ms for a, b in zip(g, d,
                                                                                                     strict=True)), ""),
    ]  # fmt: skip
    sec.notes = [
        f"Every request creates the existing line `{username}`, so the panel answers `STATUS_EXISTS_USERNAME` on "
        "both sides (the gateway renders it as XC's `{\"result\":false,\"error\":\"EXISTS\"}`): the panel's cost is "
        "the same on every request and the simulator's table does not grow during the run (it checks usernames "
        "with a scan, so unique names would slow the faster side more). The gateway still does the whole write "
        "path: parse the XC form, key, scope, guards, plan, encode for Xtream-Masters, decode the failure, "
        "render for XC, and an audit line per request (writes are audited).",
        "wrk posts the form body from a Lua script (`wrk.method`, `wrk.body`); the bodies are in the commands.",
    ]
    sec.commands = [
        _cmd(gw_url, settings, script="-s write-gateway.lua") + f"   # body: {_redact_body(gw_body)}",
        _cmd(direct_url, settings, script="-s write-direct.lua") + f"   # body: {_redact_body(direct_body)}",
    ]
    return sec


def _redact_body(body: str) -> str:
    return urllib.parse.urlencode([(k, "KEY" if k == "api_key" else v) for k, v in urllib.parse.parse_qsl(body)])


# --- 4. one big stream -----------------------------------------------------------------------------------------


def bench_stream(stack: Stack, settings: Settings) -> Section:
    sec = Section("stream", "4. Stream relay: one 1 GiB stream, MB/s")
    gw = stack.gateways["stream"]
    path = "/movie/benchuser/benchpass/1.ts"
    gw_url = gw.url(path)
    ngx = f"http://{HOST}:{stack.ports['nginx_stream']}{path}"
    origin = f"http://{HOST}:{stack.ports['origin']}{path}"

    def run(url: str) -> Callable[[], float]:
        def once() -> float:
            size, seconds = loadgen.curl_stream(url)
            if size != STREAM_SIZE:
                raise RuntimeError(f"{url}: got {size} bytes, expected {STREAM_SIZE}")
            return size / seconds / 1e6

        return once

    res = interleaved({"gateway relay": run(gw_url), "nginx proxy_buffering off": run(ngx),
                       "origin direct": run(origin)}, settings.rounds)  # fmt: skip
    sec.rows = [{"target": k, "mbps": v} for k, v in res.items()]
    relay = res["gateway relay"]
    sec.ratios = [("gateway / nginx (MB/s)", paired_ratio(relay, res["nginx proxy_buffering off"]), ">= 1.0"),
                  ("gateway / origin direct (MB/s)", paired_ratio(relay, res["origin direct"]), "")]
    sec.notes = [
        "The origin is a second nginx serving a sparse 1 GiB file with sendfile for any path (almost no CPU), so "
        "the figure is the proxy's own cost; the simulator's streams are generated in Python and would be the "
        "bottleneck of both. Client: `curl -o /dev/null`. The gateway relays `/movie/u/p/1.ts` through "
        "gateway.clientside (64 KiB reads, each write awaited); nginx has `proxy_buffering off`, one worker.",
    ]
    sec.commands = [f"curl -s -o /dev/null -w '%{{size_download}} %{{time_total}}' '{_redact(u)}'"
                    for u in (gw_url, ngx, origin)]  # fmt: skip
    return sec


# --- 5. many slow streams --------------------------------------------------------------------------------------


def bench_slow(stack: Stack, settings: Settings) -> Section:
    n = settings.slow_streams
    sec = Section("slow", f"5. {n} concurrent slow stream clients: resident memory per stream")
    gw = stack.gateways["stream"]
    assert gw.proc is not None
    gpid = gw.proc.pid
    # Warm-up: one short stream, so the relay's client session and code paths exist before the baseline.
    loadgen.curl_stream(gw.url("/movie/u/p/0.ts"), limit_seconds=1)
    time.sleep(0.5)
    out: dict[str, Any] = {}
    workers = children(stack.nginx_proxy_pid)
    # A movie is relayed per viewer, with back-pressure to the panel: what the <= 80 KiB target (#21) is about. A live
    # channel is shared (section 7): its pump never waits for a viewer, so one slower than the channel holds its
    # queue up to `viewer_buffer` (1 MiB by default) and is skipped forward; measured too, without a target.
    vod, live = "/movie/benchuser/benchpass/{n}.ts", "/live/benchuser/benchpass/{n}.ts"
    targets = [("gateway", gw.port, gpid, vod)] + ([("nginx (worker)", stack.ports["nginx_stream"], workers[0], vod)]
                                                   if workers else [])  # fmt: skip
    targets.append(("gateway, live channels (shared)", gw.port, gpid, live))
    for name, port, pid, path_fmt in targets:
        base = rss_kib(pid)
        clients = loadgen.SlowClients(port=port, path_fmt=path_fmt, count=n)
        samples = asyncio.run(clients.run(settings.slow_hold, functools.partial(rss_kib, pid)))
        time.sleep(2.0)
        after = rss_kib(pid)
        steady = statistics.median(samples[len(samples) // 2 :])
        per = (steady - base) / max(1, clients.opened)
        out[name] = per
        sec.rows.append({"target": name, "baseline_kib": base, "steady_kib": steady, "peak_kib": max(samples),
                         "after_close_kib": after, "opened": clients.opened, "failed": clients.failed,
                         "per_stream_kib": per, "mb_read": clients.received / 1e6})  # fmt: skip
        print(f"    {name}: base {base} KiB, steady {steady} KiB, {clients.opened} opened -> {per:.1f} KiB/stream",
              flush=True)
    sec.ratios = [("gateway RSS growth per stream (KiB)", out["gateway"], "<= 80"),
                  ("gateway RSS growth per viewer of a shared live channel slower than it (KiB)",
                   out["gateway, live channels (shared)"], "")]  # fmt: skip
    if "nginx (worker)" in out:
        sec.ratios.append(("nginx worker RSS growth per stream (KiB)", out["nginx (worker)"], ""))
        sec.ratios.append(("gateway / nginx per-stream memory", out["gateway"] / max(out["nginx (worker)"], 0.01),
                           ""))  # fmt: skip
    sec.notes = [
        f"{n} clients open `/movie/u/p/N.ts` (an endless-looking 1 GiB stream from the origin), each reading "
        f"{loadgen.SlowClients.rate // 1024} KiB/s in 4 reads a second, held {settings.slow_hold:g} s; RSS "
        "(`/proc/PID/status` VmRSS) is sampled every second; growth = median of the second half of the samples "
        "minus the baseline taken after one warm-up stream, divided by the streams opened. Kernel socket buffers "
        "are not process memory and are not counted.",
        f"`gateway, live channels (shared)`: the same {n} clients on `/live/u/p/N.ts`, {n} channels of one viewer "
        "each. A live channel's bytes are read as the panel sends them (here as fast as it can: a file, not a "
        "live encoder) and queued per viewer up to `viewer_buffer` (1 MiB), then skipped forward: the figure is "
        "about half that bound by design. Viewers that keep up with the channel hold ~20 KiB (section 7).",
    ]
    return sec


# --- 6. workers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metered:
    """A wrk run with the CPU time the gateway's processes and wrk itself spent during it, in cores."""

    wrk: WrkResult
    gateway_cores: float
    wrk_cores: float


def _metered(run: Callable[[], WrkResult], pids: list[int], seconds: float) -> Callable[[], Metered]:
    def metered() -> Metered:
        gateway, wrk_before = sum(cpu_seconds(p) for p in pids), _children_cpu()
        result = run()
        gateway, wrk_used = sum(cpu_seconds(p) for p in pids) - gateway, _children_cpu() - wrk_before
        return Metered(result, gateway / seconds, wrk_used / seconds)

    return metered


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
    return usage.ru_utime + usage.ru_stime


PIPELINE_DEPTH = 8  # requests wrk writes at once in section 6's pipelined rows


def bench_workers(stack: Stack, settings: Settings) -> Section:
    sec = Section("workers", "6. `--workers 2` vs 1 on the cached read")
    one = stack.gateways["cached"]
    two = stack.start_gateway(stack.gateway_config("workers2", cache=True, workers=2), workers=2)
    path = f"/admin/admin/index.php?{stack.list_query(stack.reseller_key)}"
    for gw in (one, two):
        loadgen.wrk(gw.url(path), seconds=2, connections=settings.connections)  # warms each worker's cache
        _, headers, _ = fetch(gw.url(path))
        assert headers.get("X-Cache") == "HIT"
    assert one.proc is not None and two.proc is not None
    # with 2 workers: the supervisor, its workers and the resource tracker of multiprocessing's spawn
    pids = {"--workers 1": [one.proc.pid], "--workers 2": [two.proc.pid, *children(two.proc.pid)]}
    assert len(pids["--workers 2"]) >= 3, pids
    pipelined = loadgen.pipeline_script(stack.tmp / "pipeline.lua", depth=PIPELINE_DEPTH)
    targets = {name + suffix: _metered(_wrk(settings, gw.url(path), script=script), pids[name], settings.seconds)
            for suffix, script in (("", None), (" pipelined", pipelined))
            for name, gw in (("--workers 1", one), ("--workers 2", two))}  # fmt: skip
    res = interleaved(targets, settings.rounds)
    stack.stop(two.proc)
    sec.rows = wrk_rows({name: [m.wrk for m in runs] for name, runs in res.items()})
    w1, w2 = res["--workers 1"], res["--workers 2"]
    p1, p2 = res["--workers 1 pipelined"], res["--workers 2 pipelined"]
    sec.ratios = [
        ("workers 2 / workers 1 (req/s)", paired_ratio([m.wrk.rps for m in w2], [m.wrk.rps for m in w1]), ">= 1.8"),
        ("cores the gateway used, workers 1", statistics.median(m.gateway_cores for m in w1), ""),
        ("cores the gateway used, workers 2", statistics.median(m.gateway_cores for m in w2), ""),
        ("cores wrk used, workers 2", statistics.median(m.wrk_cores for m in w2), ""),
        ("workers 2 / workers 1 (requests per gateway CPU-second)",
         paired_ratio([m.wrk.rps / m.gateway_cores for m in w2], [m.wrk.rps / m.gateway_cores for m in w1]), ""),
        (f"workers 2 / workers 1, wrk pipelining {PIPELINE_DEPTH} (req/s)",
         paired_ratio([m.wrk.rps for m in p2], [m.wrk.rps for m in p1]), ""),
        ("cores the gateway used, workers 2, pipelined", statistics.median(m.gateway_cores for m in p2), ""),
        ("cores wrk used, workers 2, pipelined", statistics.median(m.wrk_cores for m in p2), ""),
        ("workers 2 / workers 1, pipelined (requests per gateway CPU-second)",
         paired_ratio([m.wrk.rps / m.gateway_cores for m in p2], [m.wrk.rps / m.gateway_cores for m in p1]), ""),
    ]  # fmt: skip
    sec.notes = [
        "Each worker has its own memory cache (warmed before measuring). The cores are the CPU time (/proc utime + "
        "stime) of the gateway's processes (with 2 workers: the supervisor and both workers) and of wrk, over the "
        "run's seconds. On 2 cores wrk's thread takes a share of what the second worker would use, so 2x is out of "
        "reach here: the throughput ratio is about the cores the two workers got, and the ratio of requests per "
        "CPU-second says whether a worker does less per core when there are two (1.0: no cost for running two).",
        f"The pipelined rows are the same load with wrk writing {PIPELINE_DEPTH} requests at once on each "
        "connection (wrk's own pipeline example): wrk then makes one write and one read per "
        f"{PIPELINE_DEPTH} answers and leaves more of the two cores to the workers. The gateway answers each "
        "request as before (aiohttp takes them one at a time per connection); what changes is the load "
        "generator's share of the machine. It flatters two workers somewhat: each, short of a core, finds more "
        "requests waiting per read and does more per CPU-second (its own ratio below). The target stays on the "
        "plain ratio.",
    ]
    sec.commands = [_cmd(one.url(path), settings) + "   # against `panelgate serve --workers 1` and `--workers 2`",
                    _cmd(one.url(path), settings, script="-s pipeline.lua")
                    + f"   # pipeline.lua: {pipelined.read_text()!r}"]
    return sec


# --- 10. instructions -------------------------------------------------------------------------------------------


def bench_instructions(stack: Stack, settings: Settings) -> Section:
    sec = Section("instructions", "10. Instructions per request (callgrind): the cached read and the pass-through")
    counted = instructions.bench_instructions(stack)
    sec.rows = [{"target": name, "instructions per request (thousands)": value / 1000}
                for name, value in counted.items()]  # fmt: skip
    sec.ratios = [("gateway cache hit / bare aiohttp handler (instructions)",
                   counted["gateway cache hit"] / counted["bare aiohttp handler"], ""),
                  ("gateway pass-through / bare aiohttp forwarder (instructions)",
                   counted["gateway pass-through"] / counted["bare aiohttp forwarder"], "")]  # fmt: skip
    sec.notes = [
        "The same servers as sections 1 and 2 (the bare handler answering the hit's bytes, the bare forwarder "
        "making the pass-through's panel call), each under "
        f"`valgrind --tool=callgrind`: {instructions.WARM} requests on one keep-alive connection to warm up, the "
        f"counters zeroed, then {instructions.COUNTS['hit']} hits (or {instructions.COUNTS['pass']} pass-throughs) "
        "counted. User-space instructions of the server process only: not the kernel's socket work, not the "
        "panel simulator's. Unlike the req/s above, these repeat to within a fraction of a percent on this "
        "machine, so they show a change of a few percent that the timings cannot (bench/notes.md, changes 16, "
        "24, 25).",
    ]
    sec.commands = ["valgrind --tool=callgrind --callgrind-out-file=TMP/callgrind.%p python -m gateway serve -c ...",
                    "callgrind_control -z PID; (requests); callgrind_control -d PID   # total / requests"]
    return sec


# --- driver ----------------------------------------------------------------------------------------------------


def check_tools() -> list[str]:
    return [t for t in ("wrk", "nginx", "curl", "valgrind", "callgrind_control") if shutil.which(t) is None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--seconds", type=float, default=Settings.seconds)
    parser.add_argument("--slow-streams", type=int, default=Settings.slow_streams)
    parser.add_argument("--out", help="write the report here (default: docs/benchmarks.md on a full run)")
    args = parser.parse_args(argv)
    missing = check_tools()
    if missing:
        print(f"bench: missing {', '.join(missing)} (scripts/ensure-bench-tools.sh installs them as root)",
              file=sys.stderr)  # fmt: skip
        return 2
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    settings = Settings(rounds=args.rounds, seconds=args.seconds, slow_streams=args.slow_streams)
    full = set(only) == set(SECTIONS)
    out = Path(args.out) if args.out else (REPO / "docs" / "benchmarks.md" if full else None)
    started = time.monotonic()
    stack = Stack.create()
    sections: list[Section] = []
    profiles: list[profile.Profile] = []
    try:
        print(f"bench: temp dir {stack.tmp}", flush=True)
        stack.start_sim()
        stack.start_nginx()
        stack.start_gateway(stack.gateway_config("cached", cache=True))
        stack.start_gateway(stack.gateway_config("pass", cache=False))
        stack.start_gateway(stack.gateway_config("stream", cache=False, stream_origin=True))
        steps: dict[str, Callable[[Stack, Settings], Section | list[Section]]] = {
            "cached": bench_cached, "pass": bench_pass, "write": bench_write, "stream": bench_stream,
            "slow": bench_slow, "workers": bench_workers, "slots": live.bench_slots,
            "playlist": player.bench_playlist, "player_cache": player.bench_player_cache,
            "instructions": bench_instructions,
        }  # fmt: skip
        for name in only:
            if name == "profile":
                continue
            print(f"bench: {name}", flush=True)
            done = steps[name](stack, settings)
            for sec in done if isinstance(done, list) else [done]:
                sections.append(sec)
                report.print_section(sec)
        if "profile" in only:
            print("bench: profile", flush=True)
            profiles = profile.run(stack, settings.profile_seconds)
    finally:
        stack.close()
    elapsed = time.monotonic() - started
    if out is not None:
        out.write_text(report.markdown(sections, profiles, settings, elapsed))
        print(f"bench: wrote {out} ({elapsed:.0f} s)")
    shutil.rmtree(stack.tmp, ignore_errors=True)
    return 0
