"""`/get.php` (M3U playlists) and `/xmltv.php` (EPG): streamed through, rewritten on the way, never held whole.

The upstream body is read in fixed-size chunks and cut after the last newline (or `>` for XML), which no URL
spans; only the remainder (bounded) waits for the next chunk.

Also as the panel's aliases (XC_VM's nginx): `/playlist/{username}/{password}[/{type}]` is get.php and
`/epg/{username}/{password}[/gz]` is xmltv.php, sent to the panel under those scripts, which every panel has.
A line may name itself by its access `token`. get.php passes `key` (the stream types wanted: `live,movie`) and
`nocache` (the panel regenerates; the gateway's cache is bypassed too). The EPG as `gz` (or `gzip=1`) is fetched as
XML, rewritten, and compressed here: the panel's stored `epg.xml.gz` could not be rewritten without unpacking it.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable

import aiohttp
from aiohttp import web

from gateway.cache import ResponseCache
from gateway.clientside import cached
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import end_broken, forward_headers, response_headers, stream_timeout
from gateway.clientside.rewrite import split_complete
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.config import Config
from gateway.model import Reason
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

MAX_CARRY = 1 << 20  # a line longer than this is passed through unchanged
# read size of the documents rewritten on the way: a few passes of C per piece, so fewer larger pieces cost less
# Python per byte (256 KiB: +20-30 % req/s on a 30k-channel m3u_plus against 64 KiB, 1 MiB no better)
DOCUMENT_CHUNK = 256 * 1024
GET_PARAMS = ("username", "password", "token", "type", "output", "key", "nocache")
XMLTV_PARAMS = ("username", "password", "token", "prev_days", "next_days")


def params_of(request: web.Request, names: tuple[str, ...]) -> dict[str, str]:
    """The parameters passed to the panel: the query's known ones, with an alias path's line and type."""
    query = {k: request.query[k] for k in names if k in request.query}
    info = request.match_info
    if "u" in info:
        query.update(username=info["u"], password=info["p"])
        query.pop("token", None)
    if "type" in info:
        query["type"] = info["type"]
    return query


def _names_a_line(query: dict[str, str]) -> bool:
    if query.get("username") and query.get("password"):
        return True
    return bool(query.get("token")) and "username" not in query and "password" not in query


class _Gzip:
    """The rewritten document compressed on the way (a gzip member, as `epg.xml.gz` is)."""

    def __init__(self, inner: Callable[[bytes], bytes]) -> None:
        self.inner = inner
        self._zip = zlib.compressobj(6, zlib.DEFLATED, 31)

    def __call__(self, block: bytes) -> bytes:
        return self._zip.compress(self.inner(block))

    def end(self) -> bytes:
        return self._zip.flush()


class Kept:
    """What was sent, kept for the cache while it stays under `cached.MAX_CACHED_BODY` (dropped past it)."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, block: bytes) -> bytes:
        if self.on:
            self.size += len(block)
            if self.size > cached.MAX_CACHED_BODY:
                self.on = False
                self.parts.clear()
            else:
                self.parts.append(block)
        return block


async def stream_document(request: web.Request, runtime: ClientSideRuntime, config: Config, script: str,
                          query: dict[str, str], rewrite: Callable[[bytes], bytes],
                          marks: tuple[bytes, ...], cache: ResponseCache | None = None,
                          ) -> web.StreamResponse:  # fmt: skip
    if not _names_a_line(query):
        raise Refusal(401, Reason.NO_CREDENTIALS)
    name = None if query.get("nocache") else cached.name_for(script.removesuffix(".php"), query)
    found = await cached.lookup(cache, config, upstream_of(config).name, name, query)
    if found is not None and found.status == "HIT" and found.entry is not None:
        return found.respond(found.entry, "HIT")
    try:
        return await _relay_document(request, runtime, config, script, query, rewrite, marks, found)
    except Refusal as refusal:
        stale = found.stale() if found is not None and found.status == "MISS" and refusal.status == 502 else None
        if found is None or stale is None:
            raise
        return found.respond(stale, "STALE")


async def _relay_document(request: web.Request, runtime: ClientSideRuntime, config: Config, script: str,
                          query: dict[str, str], rewrite: Callable[[bytes], bytes], marks: tuple[bytes, ...],
                          found: cached.Lookup | None) -> web.StreamResponse:  # fmt: skip
    headers = forward_headers(request)
    headers.pop("Range", None)
    headers.pop("Accept-Encoding", None)
    try:
        upstream = await runtime.session().get(
            f"{upstream_of(config).url}/{script}", params=query, headers=headers,
            timeout=stream_timeout(config.client_side),
        )  # fmt: skip
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, script) from None
    try:
        if upstream.status >= 400:
            raise Refusal.upstream_status(upstream.status)
        out_headers = response_headers(upstream)
        out_headers.pop("Content-Length", None)  # rewriting changes it
        if isinstance(rewrite, _Gzip):
            out_headers.update({"Content-Type": "application/octet-stream",
                                "Content-Disposition": 'attachment; filename="epg.xml.gz"'})  # fmt: skip
        if found is not None:
            out_headers["X-Cache"] = found.status
            if found.status == "MISS":
                found.mark("MISS")
        kept = Kept(found is not None and found.status == "MISS" and upstream.status == 200)
        resp = web.StreamResponse(status=upstream.status, headers=out_headers)
        await resp.prepare(request)
        carry = b""
        try:
            while chunk := await next_piece(upstream, resp, script):  # a piece at a time, to the end
                ready, carry = split_complete(carry + chunk, MAX_CARRY, marks)
                if ready:
                    await resp.write(kept.add(rewrite(ready)))
            if carry:
                await resp.write(kept.add(rewrite(carry)))
            if isinstance(rewrite, _Gzip):
                await resp.write(rewrite.end())
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            return resp  # the player went away; the upstream is closed below, nothing is stored
        if kept.on and found is not None:
            await found.store(b"".join(kept.parts), out_headers)
        return resp
    finally:
        upstream.close()


async def next_piece(upstream: aiohttp.ClientResponse, resp: web.StreamResponse, script: str) -> bytes:
    """The upstream's next piece (b"" at the end). A panel that fails mid-body (reset, closed early, silent past
    stream_read_timeout) ends the player's response as it stands: Broken, and nothing is stored."""
    try:
        return await upstream.content.read(DOCUMENT_CHUNK)
    except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
        log.warning("%s upstream failed mid-body: %s", script, type(exc).__name__)
        raise await end_broken(resp, Reason.UPSTREAM_BROKEN) from None


async def get_php(request: web.Request, runtime: ClientSideRuntime, config: Config,
                  cache: ResponseCache | None = None) -> web.StreamResponse:  # fmt: skip
    return await stream_document(request, runtime, config, "get.php", params_of(request, GET_PARAMS),
                                 runtime.rewriter(config).m3u, (b"\n",), cache)  # fmt: skip


async def xmltv_php(request: web.Request, runtime: ClientSideRuntime, config: Config) -> web.StreamResponse:
    rewrite: Callable[[bytes], bytes] = runtime.rewriter(config).chunk
    if request.path.endswith("/gz") or request.query.get("gzip") == "1":
        rewrite = _Gzip(rewrite)
    query = params_of(request, XMLTV_PARAMS)
    return await stream_document(request, runtime, config, "xmltv.php", query, rewrite, (b"\n", b">"))
