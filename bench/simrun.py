"""A simulated Xtream-Masters panel in its own process, without an access log (its lines would cost the panel,
not the gateway, CPU on both sides of every comparison).

`python -m bench.simrun --port P --api-key K [--reseller-lines N]`: N extra lines are created for reseller 88
before serving, so a reseller's `get_lines&limit=25` returns 25 rows (the seed gives it 23).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

from bench import bigpanel
from gateway.sim.player_data import add_line
from gateway.sim.player_hls import LiveHls
from gateway.sim.xtream_masters import XtreamMastersSim


async def serve(port: int, access_code: str, api_key: str, reseller_lines: int, live_rate: float | None = None,
                viewer_lines: int = 0, hls_seconds: float = 0.0, big_panel: bool = False) -> None:  # fmt: skip
    sim = XtreamMastersSim(access_code=access_code, api_key=api_key)
    if big_panel:  # the player-side benchmarks' 30k-channel panel (bench.bigpanel)
        bigpanel.populate(sim.tables, f"127.0.0.1:{port}")
        bigpanel.memoise(sim.player)
    sim.player.live_rate = live_rate
    if hls_seconds:  # live HLS as XC_VM serves it with allow_cdn_access (the token in the query)
        sim.player.live_hls = LiveHls(segment_seconds=hls_seconds, window=5, cdn=True,
                                      segment_bytes=int((live_rate or 500_000) * hls_seconds))  # fmt: skip
    for n in range(viewer_lines):  # the live benchmark's viewers (benchv{n}/pw{n}) and its provider line (provider)
        add_line(sim.tables, f"benchv{n}", f"pw{n}", 1)
    if viewer_lines:
        add_line(sim.tables, "provider", "provider-secret", 100)
    for n in range(reseller_lines):
        answer = sim.answer({"api_key": api_key, "action": "create_line", "username": f"bench_r88_{n}",
                             "password": f"pw{n}", "member_id": "88", "exp_date": "2031-01-01"})  # fmt: skip
        assert answer.get("status") == "STATUS_SUCCESS", answer
    sim.received = _Discard()  # nothing reads it here: do not let it grow for the length of the run
    app = sim.app()

    async def open_streams(_: web.Request) -> web.Response:  # what the live benchmark counts
        return web.json_response({"open": sim.player.open_streams, "by_line": dict(sim.player.open_by_line)})

    async def hls_fetches(_: web.Request) -> web.Response:  # what the HLS comparison counts
        hls = sim.player.live_hls
        if hls is None:
            return web.json_response({})
        return web.json_response({"segments": sum(hls.segment_fetches.values()), "distinct": len(hls.segment_fetches),
                                  "playlists": sum(hls.playlist_fetches.values()), "connections": len(hls.connections)})

    app.router.add_get("/_bench/open_streams", open_streams)
    app.router.add_get("/_bench/hls", hls_fetches)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"sim ready on {port}", flush=True)
    await stop.wait()
    await runner.cleanup()


class _Discard(list[tuple[str, dict[str, object]]]):
    def append(self, _item: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-code", default="admin")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--reseller-lines", type=int, default=0)
    parser.add_argument("--live-rate", type=float, default=None, help="bytes a second of each live channel")
    parser.add_argument("--viewer-lines", type=int, default=0)
    parser.add_argument("--hls-seconds", type=float, default=0.0, help="serve live HLS, segments of this length")
    parser.add_argument("--big-panel", action="store_true", help="30k channels, 1,000 lines (bench.bigpanel)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.access_code, args.api_key, args.reseller_lines, args.live_rate,
                          args.viewer_lines, args.hls_seconds, args.big_panel))  # fmt: skip


if __name__ == "__main__":
    main()
