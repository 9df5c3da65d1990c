"""An admin answer sent as one buffer: its status line and headers joined here, its body after them.

aiohttp's `web.Response` keeps its headers in a CIMultiDict, completes them as it prepares (keep-alive, Date,
Server, Content-Length, in several passes over the dict), serializes them, then sends the body through two
more coroutines: for a cache hit of the admin API that was 8 % of its instructions (bench/notes.md, change 24).
An admin answer is always whole and known before anything is sent (a status, a content type, a few headers the
gateway itself set, bytes), so `WholeAnswer` writes it as aiohttp would (the same status line and headers, the
same Connection rule), as one string of headers and one write on the request's transport, counted in its
writer's output and drained as aiohttp drains (a client that does not read holds the next answer back).

What it leaves to `web.Response` (`answer` picks): an answer that must have no body (HEAD, 1xx, 204, 304), a
status without a reason phrase, and any header with a control character (aiohttp refuses it: header injection)
or a lone surrogate (which aiohttp drops and `str.encode` cannot write).
The gateway's applications register no `on_response_prepare` signal (the Server header is set once,
gateway.httpserver), which this response would not run: tests/integration/test_whole_answer.py holds them to that.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import HttpVersion10, HttpVersion11
from aiohttp.web_request import BaseRequest

from gateway.httpserver import SERVER_NAME

_NO_BODY = frozenset({204, 304}) | frozenset(range(100, 200))
# as aiohttp's _safe_header: control characters but TAB; and lone surrogates, which str.encode refuses (aiohttp's C
# serializer drops them): both go to web.Response, which answers as it always did
_REFUSED = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
# whether asyncio's writelines sends a large answer's head and body without joining them (as aiohttp's http_writer
# decides: before these versions it joins them, or misbehaves)
_WRITELINES = not (sys.version_info < (3, 12, 9) or (3, 13, 0) <= sys.version_info < (3, 13, 2))
_PHRASES = {s.value: s.phrase for s in HTTPStatus}


class WholeAnswer(web.StreamResponse):
    """A whole answer: `headers` (names and values the gateway chose), then Content-Type, Content-Length, Date,
    Server and, where the connection's fate needs saying, Connection, in that order (as aiohttp writes them)."""

    def __init__(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self._whole_body = body
        self._whole_type = content_type

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        if self._eof_sent:
            return None
        if self._payload_writer is not None:
            return self._payload_writer
        writer = self._payload_writer = request.writer
        keep_alive = self._keep_alive
        if keep_alive is None:
            keep_alive = self._keep_alive = request.keep_alive
        version = request.version
        body = self._whole_body
        head = "".join(
            [
                f"HTTP/{version.major}.{version.minor} {self._status} {self._reason}\r\n",
                *[f"{name}: {value}\r\n" for name, value in self._headers.items()],
                f"Content-Type: {self._whole_type}\r\nContent-Length: {len(body)}\r\n",
                f"Date: {rfc822_formatted_time()}\r\nServer: {SERVER_NAME}\r\n",
                _CONNECTION.get((keep_alive, version), "\r\n"),
            ]
        ).encode()
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        # one send: two writes would be two packets (the socket has TCP_NODELAY)
        if _WRITELINES and len(body) >= 2048:
            transport.writelines((head, body))
        else:
            transport.write(head + body)
        writer.output_size += len(head) + len(body)
        await writer.drain()  # as aiohttp's own write_eof: a client that does not read holds the next answer back
        return writer

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        writer = self._payload_writer
        assert writer is not None, "Response has not been started"
        if data:
            await writer.write_eof(data)
        self._eof_sent = True
        self._req = None
        self._body_length = writer.output_size
        self._payload_writer = None


# the Connection header where the version's default is not what happens (aiohttp's own rule), with the blank line
_CONNECTION = {
    (True, HttpVersion10): "Connection: keep-alive\r\n\r\n",
    (False, HttpVersion11): "Connection: close\r\n\r\n",
}


def answer(request: BaseRequest, status: int, body: bytes, content_type: str,
           headers: Mapping[str, str]) -> web.StreamResponse:  # fmt: skip
    """The response for an admin answer: a WholeAnswer where it may be one, else aiohttp's own Response."""
    if (request.method == "HEAD" or status in _NO_BODY or status not in _PHRASES
            or _REFUSED.search("\t".join((content_type, *headers, *headers.values())))):  # fmt: skip
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)
    return WholeAnswer(status, body, content_type, headers)
