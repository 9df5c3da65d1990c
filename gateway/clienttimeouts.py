"""Client timeouts like nginx's, so slow clients cannot hold sockets: a request's header must arrive within
`header` seconds (of the connection's start, or of the request's first byte on a kept-alive connection), its
body within `body` seconds of the header, and a connection may idle between requests for `keepalive` seconds.
Connections closed by them are counted in `panelgate_client_timeouts_total{phase}` (header, body, idle).

aiohttp (3.14) has only the keep-alive timer, which also runs from a connection's start; nothing stops a header
or a body trickled a byte at a time. Here one timer per connection, in a RequestHandler subclass, watches the
bytes as they arrive: it is armed at the connection's start and at the first byte of each further request, moves
to the body when the header is parsed, and is let go when the body is complete. An expired one closes the
connection (no answer: the client is not reading one, as nginx does for a header timeout). The body deadline is
for the whole body, stricter than nginx's time between two reads, which a client trickling one byte per period
satisfies forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.web_protocol import RequestHandler

from gateway.httpserver import GatewayRequestHandler, GatewayRunner
from gateway.listeners import ClientTimeouts

OnTimeout = Callable[[str], None]  # called with the phase (header, body, idle) of a connection it closed


class _GuardedHandler(GatewayRequestHandler):
    def __init__(self, manager: web.Server, *, timeouts: ClientTimeouts, on_timeout: OnTimeout, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._timeouts = timeouts
        self._on_timeout = on_timeout
        self._phase = ""  # "header" or "body" while a deadline runs
        self._timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._phase, self._body = None, "", None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self._phase != phase or self.transport is None:
            return
        self._on_timeout(phase)
        self._disarm()
        self.force_close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm("header", self._timeouts.header)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and not self._phase and not self._request_in_progress and not self._messages:
            # The first byte of the next request on a kept-alive connection.
            queued = len(self._messages)
            super().data_received(data)
            if len(self._messages) > queued and self._messages[-1][1].is_eof():
                return  # the whole request in this one read (most GETs): nothing left to watch, no timer
            self._arm("header", self._timeouts.header)
            # aiohttp's keep-alive timer would still close it at the end of the idle time: its deadline moves
            # past the header's.
            loop_time = asyncio.get_running_loop().time()
            if hasattr(self, "_next_keepalive_close_time"):
                self._next_keepalive_close_time = max(self._next_keepalive_close_time,
                                                      loop_time + self._timeouts.header + 1)  # fmt: skip
            if len(self._messages) > queued:  # the header arrived, the body has not ended
                self._arm("body", self._timeouts.body)
                self._body = self._messages[-1][1]
            return
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued and (self._phase == "header" or not self._messages[-1][1].is_eof()):
            # a request's header is complete: the one being watched, or the next one arriving (pipelined, or sent
            # before the answer) while a request is handled, whose body is watched from here like any other
            payload = self._messages[-1][1]
            if payload.is_eof():
                self._disarm()
            else:
                self._arm("body", self._timeouts.body)
                self._body = payload
        elif self._phase == "body" and self._body is not None and self._body.is_eof():
            self._disarm()

    def _process_keepalive(self) -> None:
        was_open = self.transport is not None
        super()._process_keepalive()
        if was_open and self.transport is None:
            self._on_timeout("idle")


class _GuardedServer(web.Server):
    """The server aiohttp built for the app, making guarded handlers for its connections."""

    def __init__(self, base: web.Server, timeouts: ClientTimeouts, on_timeout: OnTimeout) -> None:
        # Adopted rather than rebuilt: the app's handler, request factory and handler arguments as aiohttp set them.
        self.__dict__.update(vars(base))
        self._timeouts = timeouts
        self._on_timeout = on_timeout

    def __call__(self) -> RequestHandler:
        return _GuardedHandler(self, loop=self._loop, timeouts=self._timeouts, on_timeout=self._on_timeout,
                               **self._kwargs)  # fmt: skip


class GuardedRunner(GatewayRunner):
    """The gateway's runner (gateway.httpserver), its connections held to `timeouts`."""

    def __init__(self, app: web.Application, *, timeouts: ClientTimeouts, on_timeout: OnTimeout,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(app, keepalive_timeout=timeouts.keepalive, **kwargs)
        self._timeouts = timeouts
        self._on_timeout = on_timeout

    async def _make_server(self) -> web.Server:
        return _GuardedServer(await super()._make_server(), self._timeouts, self._on_timeout)
