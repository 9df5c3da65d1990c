"""A mixed read/write soak across the three client dialects: no unexpected error, no leaked socket or file
descriptor, bounded memory, every write made exactly once (counted on the simulators).

CI size: 3,000 requests at 32 concurrent. `PANELGATE_SOAK=full` runs the issue's 20,000 at 64 (figures of a full
run are in docs/reliability.md).
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

from gateway.app import LIVE
from tests.reliability import workload
from tests.reliability.conftest import MakeGateway

FULL = os.environ.get("PANELGATE_SOAK") == "full"
TOTAL, CONCURRENCY = (20_000, 64) if FULL else (3_000, 32)
WARM_UP = 400
RSS_GROWTH_LIMIT = 64 << 20  # bytes the process may grow by between warm-up and the end of the soak


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_mixed_soak_across_all_dialects(make_gateway: MakeGateway) -> None:
    fds_before = open_fds()
    gw = await make_gateway(timeout=10, cache={"backend": "memory", "ttl": 1})
    warm = await workload.run(gw, WARM_UP, CONCURRENCY, run_id="warm")
    assert not warm.failures, warm.failures[:5]
    gc.collect()
    fds_warm, rss_warm = open_fds(), rss()

    async def trim(i: int) -> None:
        # The simulators keep every request they saw; that is their memory, not the gateway's.
        if i % 500 == 0:
            for sim in (gw.panels.xm, gw.panels.xc, gw.panels.ms):
                sim.received.clear()
            for injector in gw.panels.faults.values():
                injector.request_ids.clear()
                injector.paths.clear()

    started = time.monotonic()
    report = await workload.run(gw, TOTAL, CONCURRENCY, run_id="soak", between=trim)
    took = time.monotonic() - started
    gc.collect()
    fds_after, rss_after = open_fds(), rss()
    print(f"\nsoak: {TOTAL} requests at {CONCURRENCY} in {took:.1f}s ({TOTAL / took:.0f}/s), slowest "
          f"{report.slowest * 1000:.0f} ms, fds {fds_before}->{fds_warm}->{fds_after}, "
          f"rss {rss_warm >> 20}->{rss_after >> 20} MiB")  # fmt: skip

    assert not report.failures, f"{len(report.failures)} failures, first: {report.failures[:5]}"
    workload.assert_writes_made_once(gw, warm, report)
    # Connections are pooled: at most a client socket, its accepted twin and a panel connection pair per
    # concurrent request, whatever the number of requests (a leak per request would be thousands).
    assert fds_after - fds_before <= 4 * CONCURRENCY + 16, f"file descriptors: {fds_before} -> {fds_after}"
    assert rss_after - rss_warm < RSS_GROWTH_LIMIT, f"RSS grew by {(rss_after - rss_warm) >> 20} MiB"
    metrics = gw.client.app[LIVE].state.metrics.render().decode()
    assert 'outcome="internal"' not in metrics

    await gw.session.close()
    await gw.client.close()
    for server in gw.panels.servers.values():
        await server.close()
    gc.collect()
    assert open_fds() <= fds_before + 2, f"file descriptors left open: {fds_before} before, {open_fds()} after"
