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

from gateway.sim.xtream_masters import XtreamMastersSim


async def serve(port: int, access_code: str, api_key: str, reseller_lines: int) -> None:
    sim = XtreamMastersSim(access_code=access_code, api_key=api_key)
    for n in range(reseller_lines):
        answer = sim.answer({"api_key": api_key, "action": "create_line", "username": f"bench_r88_{n}",
                             "password": f"pw{n}", "member_id": "88", "exp_date": "2031-01-01"})  # fmt: skip
        assert answer.get("status") == "STATUS_SUCCESS", answer
    sim.received = _Discard()  # nothing reads it here: do not let it grow for the length of the run
    runner = web.AppRunner(sim.app(), access_log=None)
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.access_code, args.api_key, args.reseller_lines))


if __name__ == "__main__":
    main()
