"""HTTP/1.1 to the panels' admin APIs: kept-alive connections, one exchange at a time on each, answers parsed by
llhttp (httptools, uvicorn's parser) and held to a size limit as they arrive.

Why not aiohttp's client, which the players' side keeps using: an admin call is one small request and one
answer read whole, and aiohttp's general machinery (its request object, the header merges, the URL handling, the
payload, the response stream) cost a quarter of the gateway's CPU for a pass-through (bench/notes.md, change
17). This module does that one exchange and nothing else; what it must do like aiohttp, it does:

- an answer ends where HTTP says (Content-Length, the last chunk, or the connection's end when it gives
  neither), arriving in any number of pieces; a connection that ends before the answer does is `AnswerCut`;
- a gzip or deflate answer (the request says it accepts them, as aiohttp's did) is inflated, held to the limit;
- nothing is kept between calls but the connection itself: no cookies, no credentials, no redirects followed;
- at most `PER_ORIGIN` connections to one panel (no total across panels: they are the few the config names); a
  call waits for one within its connect timeout; an idle one is closed after `IDLE_SECONDS`.

Not kept: aiohttp's DNS cache (a name is resolved for each new connection, which keep-alive makes rare).
HTTP/1.1 cannot tell one answer from another: a panel that answers a call twice has that connection closed when
the second answer arrives while it is idle, but one arriving after the next call was sent is taken for its
answer (as with any HTTP/1.1 client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from dataclasses import dataclass
from typing import Any

import httptools

from gateway.bodyread import TooLarge
from gateway.upstream_settings import Origin

PER_ORIGIN = 64  # connections to one panel (php-fpm runs a few dozen workers at most)
IDLE_SECONDS = 15.0  # an idle connection is closed after this, before the panel's own keep-alive timeout (nginx:
# 75 s) would close it while a request is on the way, which would fail that request
MAX_HEAD_BYTES = 64 << 10  # status line and headers: a panel's are a few hundred bytes
FRAMING_PER_CHUNK = 64  # a chunk's size line and its CRLFs: "1f40\r\n...\r\n", extensions allowed some room


class ConnectFailed(OSError):
    """No connection within the connect timeout (refused, unresolvable, silent): the panel got nothing."""


class Saturated(ConnectFailed):
    """Every one of the gateway's connections to the panel stayed in use for the connect timeout: the gateway's
    own queue, which says nothing of the panel's health. The panel got nothing."""


class AnswerCut(ConnectionError):
    """The connection ended, or was reset, before the whole answer had arrived."""


class NotHttp(ConnectionError):
    """The panel's bytes are not an HTTP/1.x answer."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    retry_after: str | None = None  # the Retry-After header, as sent


class _Connection(asyncio.Protocol):
    """One kept-alive connection; `waiter` is the exchange in progress, if any."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.limit = 0
        self.closed = False
        self.idle_until: asyncio.TimerHandle | None = None  # closes the connection when idle too long
        self._reset()

    def _reset(self) -> None:
        self.body = bytearray()  # one buffer: a list of llhttp's pieces costs ~90x a body sent in 1-byte chunks
        self.received = 0  # every byte of this answer, framing included
        self.chunks = 0
        self.headers: dict[bytes, bytes] = {}
        self.head_done = False
        self.keep_alive = False

    # --- asyncio.Protocol ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self._fail(NotHttp("bytes from the panel when no request was waiting"))  # never reused then
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(NotHttp("the panel switched protocols"))
            return
        except httptools.HttpParserError as exc:
            self._fail(exc.__context__ if isinstance(exc.__context__, TooLarge) else NotHttp(str(exc)))
            return
        # httptools holds an unfinished header or trailer line whole, growing it by copies: what is not body (the
        # head, the chunks' size lines, the trailers) is held to MAX_HEAD_BYTES and a few bytes a chunk
        self.received += len(data)
        if self.received - len(self.body) > MAX_HEAD_BYTES + FRAMING_PER_CHUNK * self.chunks:
            self._fail(TooLarge(MAX_HEAD_BYTES))

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        chunked = self.headers.get(b"transfer-encoding", b"").rsplit(b",", 1)[-1].strip().lower() == b"chunked"
        if exc is None and self.head_done and b"content-length" not in self.headers and not chunked:
            self.on_message_complete()  # an answer that ends with its connection, as HTTP/1.0 allows (not a reset)
        else:
            self._fail(AnswerCut("the panel closed the connection before its answer was complete"))

    # --- httptools callbacks ------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():  # more than one answer to one request: not reusable
            self._fail(NotHttp("the panel sent a second answer"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_done:  # a trailer (after the last chunk) neither frames nor describes the answer
            self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        length = self.headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            raise TooLarge(self.limit)
        self.head_done = True

    def on_chunk_header(self) -> None:
        self.chunks += 1

    def on_body(self, piece: bytes) -> None:
        if len(self.body) + len(piece) > self.limit:
            raise TooLarge(self.limit)
        self.body += piece

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._reset()
            return
        # kept only when the panel says so and has read all of the request (one that answered early has not)
        self.keep_alive = (not self.closed and self.parser.should_keep_alive() and self.transport is not None
                           and not self.transport.get_write_buffer_size())  # fmt: skip
        body = bytes(self.body)
        encoding = self.headers.get(b"content-encoding", b"").strip().lower()
        try:
            if body and encoding in (b"gzip", b"x-gzip", b"deflate"):  # an empty body is empty in any coding
                body = _inflate(body, encoding, self.limit)
        except TooLarge as exc:
            self._fail(exc)
            return
        except zlib.error:
            self._fail(NotHttp(f"a {encoding.decode()} body that does not inflate"))
            return
        retry_after = self.headers.get(b"retry-after")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Reply(status, body, retry_after.decode("latin-1") if retry_after else None))

    # --- the exchange -------------------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.idle_until is not None:
            self.idle_until.cancel()
        if self.transport is not None:
            self.transport.close()

    def start(self, request: bytes, limit: int, waiter: asyncio.Future[Reply]) -> None:
        assert self.transport is not None
        self._reset()
        self.limit = limit
        self.waiter = waiter
        self.transport.write(request)


def _inflate(body: bytes, encoding: bytes, limit: int) -> bytes:
    """A compressed body, inflated to at most `limit` bytes (a small body may inflate to gigabytes)."""
    try:
        return _inflated(body, 47, limit)  # gzip or zlib framing, told apart by their headers
    except zlib.error:
        if encoding != b"deflate":
            raise
    return _inflated(body, -15, limit)  # a bare deflate stream, as some servers send "deflate"


def _inflated(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(limit)
    if not inflater.eof:
        raise zlib.error("the compressed body stops before its end")
    return out


class _Slots:
    """The connections of one origin: the idle ones (newest last), and a slot for each one in use or opening."""

    def __init__(self) -> None:
        self.idle: list[_Connection] = []
        self.in_use = asyncio.Semaphore(PER_ORIGIN)


class PanelHttp:
    """Exchanges with the panels, over pooled connections. Not shared between event loops."""

    def __init__(self, *, user_agent: str = "panelgate", tls: ssl.SSLContext | None = None) -> None:
        self._slots: dict[Origin, _Slots] = {}
        self._lookups: dict[tuple[str, int], asyncio.Future[list[Any]]] = {}  # names being resolved (_resolve)
        self._tls = tls  # certificates checked against the system's authorities unless another context is given
        self._closed = False
        self._fixed = f"User-Agent: {user_agent}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
        _check_header_value(user_agent)

    async def exchange(self, origin: Origin, method: str, target: str, *, body: bytes | None,
                       headers: tuple[tuple[str, str], ...] = (), timeout: float, connect_timeout: float,
                       limit: int, idempotent: bool = False) -> Reply:  # fmt: skip
        """One request and its whole answer. Raises ConnectFailed (nothing sent), TimeoutError (sent, then no
        whole answer within `timeout` of the call), AnswerCut or NotHttp (sent), TooLarge (past `limit`).
        An `idempotent` request a reused connection lost before any answer is sent once more, on a new one."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        slots = self._slots.get(origin) or self._slots.setdefault(origin, _Slots())
        request = self._request(origin, method, target, body, headers)
        while True:
            conn, reused = await self._take(loop, origin, slots, now + min(connect_timeout, timeout))
            try:
                waiter: asyncio.Future[Reply] = loop.create_future()
                timer = loop.call_at(now + timeout, _time_out, waiter, timeout)
                try:
                    conn.start(request, limit, waiter)
                    return await waiter
                finally:
                    timer.cancel()
            except AnswerCut:
                conn.close()
                # A kept-alive connection the panel closed as this request went out (its keep-alive timeout, a
                # restart): not a byte of an answer came back. A read is sent again on a new connection, within
                # the same deadline; a write may have been applied and is not.
                if not (idempotent and reused and not conn.received):
                    raise
            except BaseException:
                conn.close()  # cut mid-answer (a timeout, a cancelled call, a bad answer): never reused
                raise
            finally:
                conn.waiter = None
                self._give_back(loop, slots, conn)

    def _request(self, origin: Origin, method: str, target: str, body: bytes | None,
                 headers: tuple[tuple[str, str], ...]) -> bytes:  # fmt: skip
        head = f"{method} {origin.prefix}{target} HTTP/1.1\r\nHost: {origin.authority}\r\n{self._fixed}"
        if origin.authorization:
            head += f"Authorization: {origin.authorization}\r\n"
        for name, value in headers:
            _check_header_value(value)
            head += f"{name}: {value}\r\n"
        if body is None:
            return (head + "\r\n").encode("latin-1")
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body

    async def _take(self, loop: asyncio.AbstractEventLoop, origin: Origin, slots: _Slots,
                    connect_by: float) -> tuple[_Connection, bool]:  # fmt: skip
        if slots.in_use.locked():  # every connection in use: wait for one, within the connect timeout
            try:
                async with asyncio.timeout_at(connect_by):
                    await slots.in_use.acquire()
            except TimeoutError:
                raise Saturated(f"no free connection to {origin.authority} in time") from None
        else:
            await slots.in_use.acquire()
        try:
            while slots.idle:
                conn = slots.idle.pop()
                if not conn.closed:
                    assert conn.idle_until is not None
                    conn.idle_until.cancel()
                    return conn, True
            return await self._open(loop, origin, connect_by), False
        except BaseException:
            slots.in_use.release()
            raise

    async def _open(self, loop: asyncio.AbstractEventLoop, origin: Origin, connect_by: float) -> _Connection:
        tls = self._tls_context() if origin.tls else None
        try:
            async with asyncio.timeout_at(connect_by):
                addresses = await self._resolve(loop, origin.host, origin.port)
                failure: OSError = OSError(f"{origin.host} has no address")
                for address in addresses:  # in the resolver's order, as create_connection tries them
                    try:
                        _, conn = await loop.create_connection(
                            _Connection, address, origin.port, ssl=tls, server_hostname=origin.host if tls else None)
                        return conn
                    except OSError as exc:
                        failure = exc
                raise failure
        except TimeoutError:
            raise ConnectFailed(f"no connection to {origin.authority} in time") from None
        except OSError as exc:  # refused, unreachable, unresolvable, a TLS handshake that failed
            raise ConnectFailed(f"cannot connect to {origin.authority}: {exc}") from exc

    async def _resolve(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
        """The addresses of `host`. A lookup runs in one of the event loop's few executor threads and goes on
        when its caller gives up (the connect timeout): calls for one name share the lookup in progress, so a
        panel whose DNS hangs holds one thread, not one per call, and the other panels' lookups still run."""
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        lookup = self._lookups.get((host, port))
        if lookup is None:
            lookup = self._lookups[(host, port)] = asyncio.ensure_future(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))

            def done(finished: asyncio.Future[list[Any]]) -> None:
                self._lookups.pop((host, port), None)
                if not finished.cancelled():
                    finished.exception()  # retrieved: every caller may have given up before it ended

            lookup.add_done_callback(done)
        infos = await asyncio.shield(lookup)  # a caller's timeout does not cancel the others' lookup
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()  # certificates checked, as aiohttp's client did
        return self._tls

    def _give_back(self, loop: asyncio.AbstractEventLoop, slots: _Slots, conn: _Connection) -> None:
        if conn.keep_alive and not conn.closed and not self._closed:
            conn.idle_until = loop.call_later(IDLE_SECONDS, conn.close)
            slots.idle.append(conn)
        else:
            conn.close()
        slots.in_use.release()

    async def close(self) -> None:
        """Close every idle connection; those in use close as their exchanges end."""
        self._closed = True
        for slots in self._slots.values():
            for conn in slots.idle:
                conn.close()
            slots.idle.clear()
        self._slots.clear()


def _time_out(waiter: asyncio.Future[Reply], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no whole answer within {timeout:g}s"))


def _check_header_value(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"a header value with a line break: {value!r}")
