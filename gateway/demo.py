"""`make demo`: a simulated panel and the gateway in front of it, with fresh keys and curl examples.

Keys are generated at start-up and handed to config/demo.yaml through the environment, so nothing secret is
ever written to disk or committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from gateway.config import ConfigError, load_config
from gateway.keys import digest_of, new_key
from gateway.server import start
from gateway.sim.xtream_masters import XtreamMastersSim

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"


def _examples(base: str, admin_key: str, reseller_key: str, metrics: str) -> str:
    api = f"{base}/admin/admin/index.php"
    return f"""
panelgate demo is running.
  gateway:   {base}  (Xtream-Masters admin API at /{{code}}/admin/index.php)
  metrics:   {metrics}/metrics   health: {metrics}/healthz   status page: {metrics}/status
  admin key:    {admin_key}
  reseller key: {reseller_key}   (policy `reseller`, bound to reseller 88)

For the README's examples (`Moving off mysql_query`, `Idempotent writes`), in your shell:
  export API={api} ADMIN_KEY={admin_key} RESELLER_KEY={reseller_key}

Try:
  # create a line (note the panel's own quirks: bouquets as a JSON string, exp_date as a date)
  curl -s '{api}' -d api_key={admin_key} -d action=create_line \\
       -d username=demo_user -d password=demo_pass -d exp_date=2030-12-31 \\
       -d bouquets_selected='[1,2]' -d max_connections=2

  # list lines, 5 per page
  curl -s '{api}?api_key={admin_key}&action=get_lines&limit=5'

  # raw SQL is blocked for every key unless its policy names sql.query in full
  curl -s '{api}' -d api_key={admin_key} -d action=mysql_query -d 'query=SELECT * FROM users'

  # a reseller key may not touch streams
  curl -s '{api}' -d api_key={reseller_key} -d action=delete_stream -d id=1

  # a wrong key gets the panel's own answer, and never reaches the panel
  curl -s '{api}' -d api_key=wrong -d action=get_lines

Audit trail: {os.environ.get("DEMO_AUDIT_LOG", "demo-audit.jsonl")}   Stop with Ctrl-C.
"""


async def run_demo() -> int:
    upstream_key = new_key()
    admin_key, reseller_key = new_key(), new_key()
    os.environ["DEMO_UPSTREAM_KEY"] = upstream_key
    os.environ["DEMO_ADMIN_DIGEST"] = digest_of(admin_key)
    os.environ["DEMO_RESELLER_DIGEST"] = digest_of(reseller_key)
    try:
        config = load_config(DEMO_CONFIG)
    except ConfigError as exc:
        print(f"demo config is broken: {exc}", file=sys.stderr)
        return 2
    upstream = config.upstreams["main"]
    parts = urlsplit(upstream.url)
    sim = XtreamMastersSim(access_code=upstream.access_code, api_key=upstream_key)
    sim_runner = web.AppRunner(sim.app(), access_log=None)
    await sim_runner.setup()
    try:
        await web.TCPSite(sim_runner, parts.hostname, parts.port).start()
        _, runners = await start(config)
    except OSError as exc:
        await sim_runner.cleanup()
        print(f"cannot start the demo: {exc} (is another demo already running?)", file=sys.stderr)
        return 1
    base = f"http://{config.listen.host}:{config.listen.port}"
    metrics = f"http://{config.admin_listen.host}:{config.admin_listen.port}"
    print(_examples(base, admin_key, reseller_key, metrics), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in reversed(runners):
        await runner.cleanup()
    await sim_runner.cleanup()
    return 0


def main() -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo())
    return 0


if __name__ == "__main__":
    sys.exit(main())
