"""The reference for the pass-through: a bare aiohttp handler that forwards each request to the panel over the
gateway's own connection pool (gateway.panel_http), as the gateway's call (a POST of the same form), and
answers the panel's bytes. No pipeline, no access log: what any Python forwarder on aiohttp costs.

`python -m bench.bare_forward --port P --panel URL --path PATH --form FORM`
"""

from __future__ import annotations

import argparse

from aiohttp import web

from gateway.panel_http import PanelHttp
from gateway.upstream_settings import parse_origin

FORM_TYPE = (("Content-Type", "application/x-www-form-urlencoded"),)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--panel", required=True, help="the panel's base URL")
    parser.add_argument("--path", required=True, help="the admin path the gateway posts to")
    parser.add_argument("--form", required=True, help="the form the gateway sends (key, action, args)")
    args = parser.parse_args()
    origin, path, form = parse_origin(args.panel), args.path, args.form.encode()
    http = PanelHttp()

    async def handle(_: web.Request) -> web.Response:
        reply = await http.exchange(origin, "POST", path, body=form, headers=FORM_TYPE, timeout=10.0,
                                    connect_timeout=5.0, limit=64 << 20)  # fmt: skip
        return web.Response(status=reply.status, body=reply.body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=1024)


if __name__ == "__main__":
    main()
