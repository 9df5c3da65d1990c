"""The reference for the cached read: a bare aiohttp handler answering fixed bytes, in its own process.

`python -m bench.bare --port P --body FILE --content-type TYPE [--access-log]`

With `--access-log` it logs each request as the gateway does (its AccessLogger, the same logging set-up, to
stderr): the cost of that log line alone, measured beside the gateway.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from gateway.accesslog import AccessLogger, configure_logging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    body = Path(args.body).read_bytes()
    content_type = args.content_type

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    if args.access_log:
        configure_logging()  # as gateway.cli does for `serve`
    access_log = logging.getLogger("panelgate.access") if args.access_log else None
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=access_log, access_log_class=AccessLogger,
                print=None, backlog=1024)


if __name__ == "__main__":
    main()
