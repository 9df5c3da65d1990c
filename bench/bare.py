"""The reference for the cached read: a bare aiohttp handler answering fixed bytes, in its own process.

`python -m bench.bare --port P --body FILE --content-type TYPE`
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    body = Path(args.body).read_bytes()
    content_type = args.content_type

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=1024)


if __name__ == "__main__":
    main()
