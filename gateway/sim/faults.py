"""Fault injection for the simulated panels: a middleware that makes a panel misbehave on purpose.

Wrap any simulator's app (`FaultInjector().wrap(sim.app())`) and choose, for every request or per action, one of:

- `slow`: sleep `delay` seconds before answering (past the gateway's timeout); released early by `release()`;
- `drop`: read the request, then close the connection without a byte of answer (the panel got it, then died);
- `reset`: the panel's real answer, cut after half its body (`cut_after` bytes of a streamed one) by a TCP reset;
- `die`: the same cut by a closed connection (FIN): the panel's process died mid-body;
- `silence`: the same cut, then nothing: the connection stays open, no byte more, until `release()`;
- `drip`: the whole real answer, `drip_piece` bytes every `drip_pause` seconds (a saturated link);
- `truncated`: a complete HTTP answer whose JSON body stops half-way;
- `html`: HTTP 200 with an HTML error page (a PHP fatal error behind a friendly nginx);
- `http500`: HTTP 500 with an empty body;
- `wrong_type`: HTTP 200 with an XML document (`application/xml`);
- `huge`: HTTP 200 streaming `huge_bytes` of JSON-looking filler (default: more than the gateway's
  `MAX_ANSWER_BYTES`), with or without a Content-Length (`huge_length`).

Refused connections are not a per-request fault: close the simulator's listener (`TestServer.close()`).

Every request that reaches the middleware is counted by action (`hits`), faulted or not, and its
`X-Request-Id` is remembered (`request_ids`), so a test can prove that a refused request never reached the
panel and that a write reached it exactly once. The action is the panel's own name: the Xtream-Masters
`action`, XC v2 `action/sub`, or the MidnightStreamer `group/verb` path.

The cuts and the drip are the simulated network's (`gateway.sim.network`): they apply on top of its pieces.
Imports nothing from the gateway (GATEWAY_MAX_ANSWER_BYTES is a copy, checked against the gateway's by a test).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from gateway.sim.network import LOOPBACK, Cut, drip, wire_of

FAULTS = ("slow", "drop", "reset", "die", "silence", "drip", "truncated", "html", "http500", "wrong_type", "huge")
CUTS = ("reset", "die", "silence")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# gateway.upstream.MAX_ANSWER_BYTES, copied (tests/unit/test_sim_network.py keeps the two equal): a `huge`
# answer must pass it
GATEWAY_MAX_ANSWER_BYTES = 32 << 20

_HTML = (
    b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Whoops, something went wrong.</h1>"
    b"<p>Fatal error: Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused</p></body></html>"
)
_TRUNCATED = b'{"status":"STATUS_SUCCESS","result":true,"data":[{"id":"1","username":"trunc'
_XML = b'<?xml version="1.0"?><error><code>500</code><message>backend down</message></error>'


@dataclass
class FaultInjector:
    """Per-action (or global) faults in front of a simulated panel, and a count of what reached it."""

    default: str | None = None  # the fault for every request without a per-action rule; None = answer normally
    delay: float = 30.0  # seconds a `slow` answer waits (release() ends every wait at once)
    huge_bytes: int = GATEWAY_MAX_ANSWER_BYTES + (1 << 20)
    huge_length: bool = False  # send a Content-Length with a `huge` answer
    cut_after: int = 64 * 1024  # where a cut stops a streamed answer (one of known length: half-way)
    drip_piece: int = 4
    drip_pause: float = 0.05
    rules: dict[str, str | None] = field(default_factory=dict)  # action -> fault (None: answer normally)
    hits: Counter[str] = field(default_factory=Counter)  # action -> requests that reached the panel
    faulted: Counter[str] = field(default_factory=Counter)  # fault -> requests it was applied to
    request_ids: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # raw request targets, as the panel saw them
    _released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def set(self, action: str, fault: str | None) -> None:
        """Make `action` fail with `fault` (None: answer it normally even under a `default` fault)."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; use one of {', '.join(FAULTS)}")
        self.rules[action] = fault

    def clear(self) -> None:
        self.default = None
        self.rules.clear()

    def release(self) -> None:
        """End every `slow` wait and every `silence` now (tests call it before closing the simulator)."""
        self._released.set()

    def total(self) -> int:
        return sum(self.hits.values())

    def wrap(self, app: web.Application) -> web.Application:
        app.middlewares.append(self.middleware)
        return app

    @staticmethod
    async def action_of(request: web.Request) -> str:
        path = request.path
        if path.startswith("/api/"):
            return "/".join([s for s in path.split("/")[2:] if s][:2])
        params = dict(request.query)
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            with contextlib.suppress(ValueError):
                form = await request.post()  # cached by aiohttp: the simulator reads it again
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        action, sub = params.get("action", ""), params.get("sub")
        if path.endswith("/api.php"):
            return f"{action}/{sub or ''}" if action else ""
        return action

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        action = await self.action_of(request)
        self.hits[action] += 1
        self.request_ids.append(request.headers.get("X-Request-Id", ""))
        self.paths.append(request.raw_path)
        fault = self.rules.get(action, self.default)
        if fault is None:
            return await handler(request)
        self.faulted[fault] += 1
        return await self._fail(fault, request, handler)

    async def _fail(self, fault: str, request: web.Request, handler: Handler) -> web.StreamResponse:
        if fault == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.delay)
            return await handler(request)
        if fault == "drop":
            _abort(request)
            raise asyncio.CancelledError  # nothing more is written on this connection
        if fault in CUTS:
            return await self._cut(fault, request, handler)
        if fault == "drip":
            wire_of(request).shape = drip(self.drip_pause, self.drip_piece)
            return await handler(request)
        if fault == "truncated":
            return web.Response(body=_TRUNCATED, content_type="application/json")
        if fault == "html":
            return web.Response(body=_HTML, content_type="text/html")
        if fault == "http500":
            return web.Response(status=500, body=b"")
        if fault == "wrong_type":
            return web.Response(body=_XML, content_type="application/xml")
        if fault == "huge":
            return await self._huge(request)
        raise AssertionError(fault)

    async def _cut(self, mode: str, request: web.Request, handler: Handler) -> web.StreamResponse:
        wire = wire_of(request)
        cut = wire.cut = Cut(self.cut_after, mode, self._released)
        response = await handler(request)
        if isinstance(response, web.Response) and not response.prepared and isinstance(response.body, bytes):
            cut.after = min(cut.after, max(1, len(response.body) // 2))  # sent by aiohttp after this returns
        return response

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        wire_of(request).shape = LOOPBACK  # as fast as the socket takes it: the size is the fault, not the pace
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if self.huge_length:
            response.content_length = self.huge_bytes
        await response.prepare(request)
        chunk = b"[" + b'"x",' * ((1 << 16) // 4 - 1) + b'"'
        sent = 0
        try:
            while sent < self.huge_bytes:
                piece = chunk[: self.huge_bytes - sent]
                await response.write(piece)
                sent += len(piece)
        except (ConnectionError, RuntimeError):
            return response  # the reader gave up: what a huge answer should make it do
        await response.write_eof()
        return response


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
