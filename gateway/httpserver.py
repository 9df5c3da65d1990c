"""The HTTP server layer under the gateway's applications: what aiohttp answers and logs on its own.

aiohttp answers a request it cannot parse itself, before any application code runs, and by default:
- logs the parser's exception with a full traceback (one malformed request, one traceback: an easy log flood),
  and the exception's text quotes the raw request line, key and all;
- answers 400 with that same text, echoing the raw request (with its `api_key`) back to whoever sent it;
- names itself and its Python version in a `Server` header on every answer.

`GatewayRunner` serves an application with `GatewayRequestHandler`, which logs one scrubbed line per malformed
request, answers it with a fixed body, and never names a version. `hide_server_banner` does the same for the
answers the applications make.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_response
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.accesslog import scrub

SERVER_NAME = "panelgate"  # what the Server header says: no version, no framework, no Python
log = logging.getLogger("panelgate.http")


class GatewayRequestHandler(RequestHandler):
    """aiohttp's connection handler, with the error answers and logs above."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            # Not the client's fault: keep the traceback for the operator, scrubbed of credentials.
            log.error("error handling a request from %s: %s", request.remote or "?", scrub(repr(exc)),
                      exc_info=exc)  # fmt: skip
        else:
            reason = type(exc).__name__ if exc is not None else f"HTTP {status}"
            log.info("malformed request from %s refused: %s", request.remote or "?", reason)
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; the error cannot be sent")
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        response = web.Response(status=status, text=f"{status} {phrase}\n", headers={"Server": SERVER_NAME})
        response.force_close()
        return response


class _GatewayServer(web.Server):
    def __call__(self) -> RequestHandler:
        return GatewayRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """AppRunner whose connections are handled by GatewayRequestHandler."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        kwargs: dict[str, Any] = dict(server._kwargs)
        return _GatewayServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **kwargs,
        )


def hide_server_banner() -> None:
    """Every answer says `Server: panelgate` instead of aiohttp's and Python's versions.

    aiohttp fills in a missing Server header from a constant of its web_response module as it sends an answer's
    headers; that constant is replaced here, for every application of the process (the gateway's two listeners,
    and the simulated panels `make demo` and the tests run beside them; the client's User-Agent comes from
    another). An on_response_prepare signal did the same per answer: about 2 % of a cache hit's instructions
    (bench/notes.md, change 16). Called by each application the gateway builds; tests/reliability/test_leaks.py
    holds every kind of answer to it.
    """
    web_response.SERVER_SOFTWARE = SERVER_NAME
